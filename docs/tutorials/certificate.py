# %% [markdown]
# # The certificate beside the exact value
#
# The entropy method bounds `H_N(t)` a priori through `Lambda_N(eta, t)`, computed block by block.
# Here the bound and the exact value side by side, and how the bound behaves in N.
#
# Executed when the documentation was built at the small size (`QMF_TUTORIAL_SMALL=1`: N = 4, 8
# and the bound alone at N = 50, seconds); the full size (N up to 32 exact and 300 for the bound
# alone: about a minute on 2 cores) runs with `python docs/tutorials/certificate.py`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import qmeanfield as qmf
from qmeanfield.operators import pauli, random_interaction

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
P = pauli()
model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1))
rho0 = qmf.states.thermal(P["z"] + 0.3 * P["x"], beta=1.0)
times = np.linspace(0, 1, 6 if small else 21)

# %%
cert = qmf.certify(model, rho0, N=[4, 8] if small else [4, 8, 16, 32], times=times)
print("bound(t_final):", cert.bound.values[:, -1])
print("exact(t_final):", cert.relative_entropy.values[:, -1])
assert np.all(cert.bound.values >= cert.relative_entropy.values - 1e-10)   # the bound holds

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
for n in cert.N.values:
    line, = ax.semilogy(times, cert.bound.sel(N=n), label=f"bound, N = {n}")
    ax.semilogy(times, cert.relative_entropy.sel(N=n), "--", color=line.get_color(), label=f"exact H_N, N = {n}")
ax.set_xlabel("time t")
ax.legend(fontsize=8)
ax.set_title("a-priori bound (solid) and the exact relative entropy (dashed)")
fig.tight_layout()

# %% [markdown]
# The bound alone runs much further in N (no exact dynamics needed):

# %%
big = qmf.certify(model, rho0, N=[50] if small else [100, 300], times=times, exact=False)
print("bound(t_final) at large N:", big.bound.values[:, -1])
