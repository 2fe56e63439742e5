# %% [markdown]
# # Propagation of chaos for qubits
#
# A closed system of N qubits with a random two-body interaction starts in the product state
# rho0^(x)N. We measure how far the exact state drifts from the mean-field product rho(t)^(x)N, and
# how that distance shrinks with N. (Executed by the test suite at small sizes: QMF_TUTORIAL_SMALL=1.)

# %%
import os

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
