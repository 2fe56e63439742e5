# %% [markdown]
# # Propagation of chaos for qubits
#
# A closed system of N qubits with a random two-body interaction starts in the product state
# rho0^(x)N. We measure how far the exact state drifts from the mean-field product rho(t)^(x)N, and
# how that distance shrinks with N.
#
# This page was executed when the documentation was built, at the small size
# (`QMF_TUTORIAL_SMALL=1`: N = 2, 4, 8, 11 times, a few seconds); the full size (N up to 64, 41
# times: about 10 s on 2 cores) runs with `python docs/tutorials/propagation_of_chaos.py`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import qmeanfield as qmf
from qmeanfield.diagnostics import fit_inverse_N, fit_power_law
from qmeanfield.operators import pauli, random_interaction

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
P = pauli()
model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1))
rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], beta=1.0)
Ns = [2, 4, 8] if small else [2, 4, 8, 16, 32, 64]
times = np.linspace(0, 2, 11 if small else 41)

# %% [markdown]
# `compare` picks the engine per N (dense for the smallest, the symmetric Schur-Weyl engine beyond)
# and returns an xarray Dataset.

# %%
ds = qmf.compare(model, rho0, N=Ns, times=times, entropy_identity=False)
print(ds.engine.values)
print("H_N(t_final):", ds.relative_entropy.values[:, -1])

# %% [markdown]
# The entropy method predicts `H_N(t) = O(1)` in N, so the marginal distance
# `||R^(1) - rho||_1 <= sqrt(2 H_N / N)` decays at least like `N^-1/2`. In practice it decays faster:

# %%
dist = ds.trace_distance.sel(k=1).max("time").values
fit = fit_power_law(Ns, dist)
print(f"max_t ||R1 - rho||_1 ~ N^{fit.exponent:.2f} +- {fit.exponent_ci:.2f} (Pinsker: N^-0.5)")
limit = fit_inverse_N(Ns, ds.relative_entropy.values[:, -1])
print(f"H_N(t_final) -> {limit.limit:.4f} +- {limit.limit_ci:.2g} as N -> infinity" + (" (poor fit)" if limit.poor else ""))
assert fit.exponent < -0.4  # the rate of the entropy method, at least

# %% [markdown]
# The relative entropy stays of order one while the one-body distance falls with N, below its
# Pinsker bound:

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
for n in Ns:
    left.plot(times, ds.relative_entropy.sel(N=n), label=f"N = {n}")
left.set_xlabel("time t")
left.set_ylabel("H(R_N | rho(t)^(x)N)")
left.legend(fontsize=8)
bound = ds.marginal_bound.sel(k=1).max("time").values
right.loglog(Ns, dist, "o-", label="max_t ||R1 - rho||_1")
right.loglog(Ns, bound, "s--", label="Pinsker bound sqrt(2 H_N / N)")
right.loglog(Ns, fit.prefactor * np.asarray(Ns, float) ** fit.exponent, "k:", label=f"fit N^{fit.exponent:.2f}")
right.set_xlabel("N")
right.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Save, reload and draw the report from Python:

# %%
import tempfile
from pathlib import Path

from qmeanfield.report import write_report
from qmeanfield.results import summarize_comparison

out = Path(tempfile.mkdtemp())
qmf.save_dataset(ds, out / "results.nc")
back = qmf.load_dataset(out / "results.nc")
write_report(back, summarize_comparison(back), out)
print("report:", out / "report.html")
