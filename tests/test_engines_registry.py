

def test_time_estimates_grow_with_N_and_are_unknown_for_foreign_engines():
    """plan.estimates: finite and increasing in N for the built-in engines (open: permutational;
    closed: symmetric, whose estimate follows the blocks rho0 needs), NaN for an engine object
    the calibration does not know."""
    import numpy as np

    import qmeanfield as qmf
    from qmeanfield.api import estimate_seconds, format_seconds, plan_comparison
    from qmeanfield.operators import pauli, random_interaction, sigma_minus

    P = pauli()
    times = np.linspace(0, 2, 11)
    open_model = qmf.Model(h=P["x"], V=random_interaction(2, seed=1), jumps=[sigma_minus()])
    closed = qmf.Model(h=P["x"], V=random_interaction(2, seed=1))
    rho0 = qmf.states.thermal(P["z"], 1.0)
    for model, name in ((open_model, "permutational"), (closed, "symmetric")):
        est = plan_comparison(model, rho0, [20, 40, 80], times, engine=name).estimates(model)
        secs = [e["seconds"] for e in est]
        assert all(e["engine"] == name for e in est) and np.all(np.isfinite(secs)) and np.all(np.diff(secs) > 0)
        assert all(e["memory_bytes"] > 0 for e in est)

    class Foreign:
        name = "mine"

    assert np.isnan(estimate_seconds(Foreign(), open_model, 10, 50, 2.0))
    assert format_seconds(float("nan")) == "unknown" and format_seconds(90) == "~1.5 min"
    from qmeanfield import meanfield
    from qmeanfield.api import estimate_certificate_seconds, estimate_steady_seconds

    steady = [estimate_steady_seconds(open_model, n) for n in (10, 40, 80, 160)]
    assert np.all(np.diff(steady[1:]) > 0) and 1 < steady[2] < 60          # N = 80: measured ~7 s
    # from the fixed point the solver works on windows: README model N = 320 measured 29 s (every entry: 25 min)
    fp = meanfield.fixed_points(open_model)[0].rho
    windowed = estimate_steady_seconds(open_model, 320, fp)
    assert 10 < windowed < 100 < 600 < estimate_steady_seconds(open_model, 320)
    cert = [estimate_certificate_seconds([n], 21, 10) for n in (10, 100, 1000)]
    assert np.all(np.diff(cert) > 0) and 60 < cert[2] < 1000                  # N = 1000: measured 236 s
