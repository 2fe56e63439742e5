# %% [markdown]
# # Driven superradiance: where the mean field and N bodies part
#
# Qubits driven by a field `Omega sigma_x / 2`, decaying collectively through the jump
# `sqrt(kappa_N) sum_j sigma_-^(j)` (kappa_N = 1/(N-1): the mean-field scaling), with weak local
# decay and dephasing. For `Omega` above the collective decay rate the mean-field equation has
# no stable fixed point: its magnetisation oscillates for ever (a boundary time crystal), while
# every finite N relaxes to a stationary state. The limits `N -> infinity` and `t -> infinity` do
# not commute; the exact N-body dynamics show at which time each N leaves the mean field.
#
# Executed when the documentation was built at the small size (`QMF_TUTORIAL_SMALL=1`: N = 4, 8
# to t = 8, a spectrum at N = 6; seconds); the full size (N = 10, 20, 40 to t = 16 and spectra at
# N = 10, 20: about 15 s on 2 cores) runs with `python docs/tutorials/driven_superradiance.py`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import qmeanfield as qmf
from qmeanfield.operators import pauli, sigma_minus

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
P = pauli()
omega = 2.0
model = qmf.Model(h=omega * P["x"] / 2, V=np.zeros((4, 4)), collective_jumps=[sigma_minus()],
                  jumps=[np.sqrt(0.05) * sigma_minus(), np.sqrt(0.05) * P["z"] / 2])
rho0 = np.diag([0.0, 1.0]).astype(complex) + 1e-3 * np.eye(2)     # nearly all down (full rank: H_N finite)
rho0 /= np.trace(rho0)
Ns = [4, 8] if small else [10, 20, 40]
times = np.linspace(0.0, 8.0 if small else 16.0, 41 if small else 161)

# %% [markdown]
# The magnetisation `<Jz>/N` of each N beside the mean field's, and the relative entropy
# `H_N` between the N-body state and the mean-field product state:

# %%
ds = qmf.compare(model, rho0, N=Ns, times=times, observables=["jz"], entropy_identity=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for n in ds.N.values:
    axes[0].plot(times, ds.observable_mean.sel(N=n, observable="jz"), label=f"N = {n}")
    axes[1].plot(times, ds.relative_entropy.sel(N=n) / n, label=f"N = {n}")
axes[0].plot(times, ds.observable_meanfield.sel(observable="jz"), "k--", label="mean field")
axes[0].set_ylabel("<Jz>/N")
axes[1].set_ylabel("H_N / N")
for ax in axes:
    ax.set_xlabel("time t")
    ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# The mean field keeps oscillating; each N follows it for a while and then damps out, later for
# larger N. `H_N / N` grows once the N-body state has left the product form. The Wineland
# squeezing parameter (computed for every qubit model) says whether the collective spin is
# squeezed on the way (`xi^2 < 1`):

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
for n in ds.N.values:
    ax.plot(times, ds.squeezing.sel(N=n), label=f"N = {n}")
ax.plot(times, ds.squeezing_meanfield, "k--", label="mean field")
ax.axhline(1.0, color="grey", ls=":")
ax.set_yscale("log")
ax.set_xlabel("time t")
ax.set_ylabel("xi^2")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# The N-body steady state radiates: its incoherent emission spectrum
# `S(omega) = int e^{-i omega tau} <J+(tau) J-(0)>_c d tau`, by the quantum regression theorem on
# the blocks, with its error estimate (the delays run until the correlation has decayed to `tol`
# of its largest value; what is left is in the estimate):

# %%
omegas = np.linspace(-4.0, 4.0, 81)
sp = qmf.spectrum(model, [6] if small else [10, 20], "sp", "sm", omegas, tol=1e-4 if small else 1e-5)
print("largest error estimate relative to the peak:",
      float(sp.spectrum_error.max() / np.abs(sp.spectrum).max()))
fig, ax = plt.subplots(figsize=(6, 3.6))
for n in sp.N.values:
    ax.plot(omegas, sp.spectrum.sel(N=n).real / n, label=f"N = {n}")
ax.set_xlabel("omega")
ax.set_ylabel("S(omega) / N")
ax.legend(fontsize=8)
fig.tight_layout()
