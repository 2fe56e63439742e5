# %% [markdown]
# # A parameter study: sweeping the interaction strength
#
# `sweep` runs one study (here `compare`) at every point of a grid of parameters, as independent
# tasks on a local process pool or on Dask, resumable, and consolidates one Dataset with the
# swept parameters as dimensions. Any study can be swept (`study = "certify"`, `"steady"`,
# `"semiclassical"`).
#
# Executed when the documentation was built at the small size (`QMF_TUTORIAL_SMALL=1`: 3 x 2
# points, N up to 6, seconds); the full size (5 x 3 points, N up to 12: about a minute on 2
# cores) runs with `python docs/tutorials/sweep_study.py`.

# %%
import os
import tempfile

import matplotlib.pyplot as plt

from qmeanfield.sweep import LocalBackend, sweep

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
config = {
    "name": "coupling-sweep",
    "parameters": {"g": 1.0},
    "model": {"h": "0.5*sx + 0.3*sz", "V": "g*kron(sz, sz) + 0.2*kron(sx, sx)"},
    "initial": {"state": "thermal", "h0": "sz + 0.3*sx", "beta": 1.0},
    "run": {"N": [2, 4, 6] if small else [2, 4, 6, 8, 12], "t_final": 2.0, "n_times": 11,
            "entropy_identity": False},
    "sweep": {"g": [0.25, 1.0, 4.0] if small else [0.25, 0.5, 1.0, 2.0, 4.0],
              "hbar": [0.5, 1.0] if small else [0.5, 1.0, 2.0]},
}
ds = sweep(config, tempfile.mkdtemp(), backend=LocalBackend(2))
print(ds.status.values)

# %% [markdown]
# The largest relative entropy over time at the largest N, and the fitted exponent of the
# one-body distance in N, against the coupling (one line per hbar):

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
for hbar in ds.hbar.values:
    left.semilogx(ds.g, ds.relative_entropy_max.sel(hbar=hbar).isel(N=-1), "o-", label=f"hbar = {hbar:g}")
    right.semilogx(ds.g, ds.distance_exponent.sel(hbar=hbar), "o-", label=f"hbar = {hbar:g}")
left.set_xlabel("coupling g")
left.set_ylabel(f"max_t H_N at N = {int(ds.N[-1])}")
right.set_xlabel("coupling g")
right.set_ylabel("exponent of max_t ||R1 - rho||_1 in N")
right.axhline(-0.5, color="k", lw=0.8, ls=":")
left.legend(fontsize=8)
fig.tight_layout()
assert (ds.status.values == "done").all()
