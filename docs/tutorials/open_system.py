# %% [markdown]
# # An open system and its steady states
#
# Qubits with a random interaction, decay `sqrt(0.3) sigma_-` and dephasing on every particle. The
# permutational engine evolves the N-body Lindblad equation on Schur-Weyl blocks; at long times
# the N-body steady state is compared with the mean-field fixed point(s).
#
# Executed when the documentation was built at the small size (`QMF_TUTORIAL_SMALL=1`: N up to 8
# for the dynamics and 10 for the steady states, seconds); the full size (N up to 32 and 40: about
# a minute on 2 cores) runs with `python docs/tutorials/open_system.py`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import qmeanfield as qmf
from qmeanfield.operators import pauli, random_interaction, sigma_minus

small = os.environ.get("QMF_TUTORIAL_SMALL") == "1"
P = pauli()
model = qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=2),
                  jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * P["z"]])
rho0 = qmf.states.thermal(P["z"], beta=1.0)

# %%
ds = qmf.compare(model, rho0, N=[4, 8] if small else [4, 8, 16, 32], times=np.linspace(0, 2, 11),
                 observables=["jz", "jx"])
print(ds.engine.values, "min dissipation:", np.nanmin(ds.dissipation.values))
assert np.nanmin(ds.dissipation.values) > -1e-8   # D_N >= 0: the entropy production identity of open systems

# %% [markdown]
# The collective observables `<Jz>/N` and `Var(Jz)/N` beside the mean-field product state's
# (`observables=` works like QuTiP's `e_ops`), and the dissipation `D_N(t) >= 0`:

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
t = ds.time.values
for n in ds.N.values:
    axes[0].plot(t, ds.observable_mean.sel(N=n, observable="jz"), label=f"N = {n}")
    axes[1].plot(t, ds.observable_variance.sel(N=n, observable="jz"), label=f"N = {n}")
    axes[2].plot(t, ds.dissipation.sel(N=n), label=f"N = {n}")
axes[0].plot(t, ds.observable_meanfield.sel(observable="jz"), "k--", label="mean field")
axes[1].plot(t, ds.observable_variance_meanfield.sel(observable="jz"), "k--", label="mean field")
for ax, label in zip(axes, ("<Jz>/N", "Var(Jz)/N", "dissipation D_N")):
    ax.set_xlabel("time t")
    ax.set_ylabel(label)
axes[0].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Mean-field fixed points (each with its linear stability) and the N-body steady states:

# %%
fps = qmf.meanfield_fixed_points(model)
print(len(fps), "fixed point(s); stable:", [fp.stable for fp in fps], "unsettled starts:", fps.unsettled_starts)
st = qmf.steady_state_comparison(model, N=[5, 10] if small else [5, 10, 20, 40], fixed_points=fps)
print("||R1_ss - rho*||_1:", st.trace_distance.sel(k=1).values[:, 0])
print("fitted slope in N:", st.attrs["exponent_one_body"])

# %%
fig, ax = plt.subplots(figsize=(5, 3.6))
ax.loglog(st.N, st.trace_distance.sel(k=1).isel(fixed_point=0), "o-", label="||R1_ss - rho*||_1")
ax.loglog(st.N, st.trace_distance.sel(k=2).isel(fixed_point=0), "s-", label="||R2_ss - rho*^(x)2||_1")
ax.set_xlabel("N")
ax.legend(fontsize=8)
ax.set_title("steady state against the mean-field fixed point")
fig.tight_layout()
