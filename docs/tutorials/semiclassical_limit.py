# %% [markdown]
# # The semiclassical limit: Hartree against Vlasov in W2
#
# A one-dimensional mean-field problem on the torus (the Hamiltonian Mean-Field model, pair
# potential `-cos x`, a cold Maxwellian with a small perturbation): the quantum (Hartree) solution
# from the Toeplitz state of f0, and the classical (Vlasov) one from f0, compared in the quadratic
# Wasserstein distance between the Husimi function of the quantum state and the Vlasov density.
# Each W2 comes with an error interval (solver, epsilon and grid errors).
#
# Executed when the documentation was built at the small size (`QMF_TUTORIAL_SMALL=1`: two values
# of hbar, t up to 1, a 128 x 128 grid: about 20 s); the full size (four hbar, t up to 5, the default
# grids: about 2 minutes on 2 cores) runs with `python docs/tutorials/semiclassical_limit.py`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from qmeanfield.semiclassical import scan
from qmeanfield.semiclassical.config import parse_semiclassical

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
table = {"domain": "periodic", "length": 2 * np.pi, "external": "0", "pair": "-cos(x)",
         "hbar": [0.4, 0.2] if small else [0.2, 0.1, 0.05, 0.025], "t_final": 1.0 if small else 5.0,
         "n_times": 3 if small else 11, "emd_cells": 0,
         "initial": {"kind": "hmf_thermal", "temperature": 0.25, "amplitude": 0.05}}
if small:
    table.update(cells=[128, 128])
cfg = parse_semiclassical({"semiclassical": table})
ds = scan(cfg.problem, options=cfg.options, progress=False)
print(ds.w2_husimi_vlasov.values)

# %% [markdown]
# W2 against time for each hbar, with its interval, and the certificate `B(t)` (loose: it grows
# like `exp(Lambda t / 2)`):

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
t = ds.time.values
for hbar in ds.hbar.values:
    w = ds.w2_husimi_vlasov.sel(hbar=hbar)
    line, = left.plot(t, w, "o-", ms=3, label=f"hbar = {hbar:g}")
    left.fill_between(t, ds.w2_lower.sel(hbar=hbar), ds.w2_upper.sel(hbar=hbar), color=line.get_color(), alpha=0.25)
left.set_xlabel("time t")
left.set_ylabel("W2(Husimi(R(t)), f(t))")
left.legend(fontsize=8)
right.loglog(ds.hbar, ds.w2_husimi_vlasov.isel(time=-1), "o-", label="W2 at t_final")
right.loglog(ds.hbar, ds.w2_bound.isel(time=-1), "s--", label="certificate B(t_final)")
right.set_xticks(ds.hbar.values, [f"{h:g}" for h in ds.hbar.values])
right.minorticks_off()
right.set_xlabel("hbar")
right.legend(fontsize=8)
fig.tight_layout()
print("fitted exponent of W2 in hbar at t_final:", float(ds.w2_exponent.isel(time=-1)))
assert np.all(ds.w2_lower.values <= ds.w2_husimi_vlasov.values)
assert np.all(ds.w2_husimi_vlasov.values <= ds.w2_upper.values)
