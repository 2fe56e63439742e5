# %% [markdown]
# # An open system and its steady states
#
# Qubits with a random interaction, decay `sqrt(0.3) sigma_-` and dephasing on every particle. The
# permutational engine evolves the N-body Lindblad equation on Schur-Weyl blocks; at long times
# the N-body steady state is compared with the mean-field fixed point(s).

# %%
import os

import numpy as np

import qmeanfield as qmf
from qmeanfield.operators import pauli, random_interaction, sigma_minus

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
P = pauli()
model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=2),
                  jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * P["z"]])
rho0 = qmf.states.thermal(P["z"], beta=1.0)

# %%
ds = qmf.compare(model, rho0, N=[4, 8] if small else [4, 8, 16, 32], times=np.linspace(0, 2, 11))
print(ds.engine.values, "min dissipation:", np.nanmin(ds.dissipation.values))
assert np.nanmin(ds.dissipation.values) > -1e-8   # D_N >= 0: the entropy production identity of open systems

# %% [markdown]
# Mean-field fixed points (each with its linear stability) and the N-body steady states:

# %%
fps = qmf.meanfield_fixed_points(model)
print(len(fps), "fixed point(s); stable:", [fp.stable for fp in fps], "unsettled starts:", fps.unsettled_starts)
st = qmf.steady_state_comparison(model, N=[5, 10] if small else [5, 10, 20, 40], fixed_points=fps)
print("||R1_ss - rho*||_1:", st.trace_distance.sel(k=1).values[:, 0])
print("fitted slope in N:", st.attrs["exponent_one_body"])
