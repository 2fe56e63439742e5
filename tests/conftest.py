import numpy as np
import pytest

import qmeanfield as qmf
from qmeanfield.operators import pauli, random_density_matrix, random_interaction, sigma_minus

P = pauli()


@pytest.fixture
def qubit_closed():
    return qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=1))


@pytest.fixture
def qubit_open():
    return qmf.Model(h=0.5 * P["x"] + 0.3 * P["z"], V=random_interaction(2, seed=2),
                     jumps=[np.sqrt(0.3) * sigma_minus(), 0.2 * (sigma_minus() + 0.5 * P["z"])])


@pytest.fixture
def rho_qubit():
    return random_density_matrix(2, seed=7)
