import pytest


def test_time_estimates_grow_with_N_and_objects_without_estimate_are_refused():
    """plan.estimates: typed, finite and increasing in N for the built-in engines (open:
    permutational; closed: symmetric, whose estimate follows the blocks rho0 needs); an engine
    object without ``estimate`` (or a class) is refused naming what it lacks."""
    import numpy as np

    import qmeanfield as qmf
    from qmeanfield.api import estimate_steady, plan_comparison
    from qmeanfield.certificate import estimate_bound
    from qmeanfield.errors import EngineError
    from qmeanfield.estimates import Estimate, format_seconds
    from qmeanfield.operators import pauli, random_interaction, sigma_minus

    P = pauli()
    times = np.linspace(0, 2, 11)
    open_model = qmf.Model(h=P["x"], V=random_interaction(2, seed=1), jumps=[sigma_minus()])
    closed = qmf.Model(h=P["x"], V=random_interaction(2, seed=1))
    rho0 = qmf.states.thermal(P["z"], 1.0)
    for model, name in ((open_model, "permutational"), (closed, "symmetric")):
        plan = plan_comparison(model, rho0, [20, 40, 80], times, engine=name)
        est = plan.estimates()
        secs = [e.estimate.seconds for e in est]
        assert all(e.engine == name for e in est) and np.all(np.isfinite(secs)) and np.all(np.diff(secs) > 0)
        assert all(e.estimate.bytes > 0 for e in est)
        total = plan.estimate
        assert isinstance(total, Estimate) and np.isclose(total.seconds, sum(secs))
        assert total.bytes == max(e.estimate.bytes for e in est)   # run one after the other: the larger peak

    class Foreign:
        name = "mine"

        def supports(self, model, N):
            return True, ""

        def cost(self, model, N):
            return 1.0

        def evolve(self, *args, **kwargs):
            raise AssertionError("never called")

    with pytest.raises(EngineError, match="lacks \\['estimate'\\]"):
        plan_comparison(open_model, rho0, [4], times, engine=Foreign())
    with pytest.raises(EngineError, match="is a class"):
        plan_comparison(open_model, rho0, [4], times, engine=qmf.engines.SymmetricEngine)
    assert format_seconds(float("nan")) == "unknown" and format_seconds(90) == "~1.5 min"
    from qmeanfield import meanfield

    steady = [estimate_steady(open_model, n).seconds for n in (10, 40, 80, 160)]
    assert np.all(np.diff(steady[1:]) > 0) and 1 < steady[2] < 60          # N = 80: measured ~7 s
    # from the fixed point the solver works on windows: README model N = 320 measured 29 s (every entry: 25 min)
    fp = meanfield.fixed_points(open_model)[0].rho
    windowed = estimate_steady(open_model, 320, fp).seconds
    assert 10 < windowed < 100 < 600 < estimate_steady(open_model, 320).seconds
    assert estimate_steady(open_model, 80, gap=True).seconds > 10 * steady[2]   # the gap: ~16 solves
    cert = [estimate_bound([n], 21, 10).seconds for n in (10, 100, 1000)]
    assert np.all(np.diff(cert) > 0) and 60 < cert[2] < 1000                  # N = 1000: measured 236 s
