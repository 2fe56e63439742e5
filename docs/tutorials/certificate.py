# %% [markdown]
# # The certificate beside the exact value
#
# The entropy method bounds `H_N(t)` a priori through `Lambda_N(eta, t)`, computed block by block.
# Here the bound and the exact value side by side, and how the bound behaves in N.

# %%
import os

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

# %% [markdown]
# The bound alone runs much further in N (no exact dynamics needed):

# %%
big = qmf.certify(model, rho0, N=[50] if small else [100, 300], times=times, exact=False)
print("bound(t_final) at large N:", big.bound.values[:, -1])
