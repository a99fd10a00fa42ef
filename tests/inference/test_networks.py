"""Quick networks for CAVI: the box of eta they are trained on, and the training itself."""

import numpy as np
import pytest

from nnef_dists.families import get_family
from nnef_dists.families.config import family_entry
from nnef_dists.inference import providers
from nnef_dists.inference.networks import covering_box, train_network
from nnef_dists.models import load_model
from nnef_dists.sampling.config import eta_range_entry


def test_covering_box_pads_but_stays_inside_the_natural_space():
    gamma = get_family("gamma")  # eta_1 > -1, eta_2 < 0
    eta = np.array([[-0.8, -2.0], [1.0, -0.2], [np.nan, 5.0]])  # the non-finite row is ignored
    lo, hi = covering_box(gamma, eta)
    # pad = 0.25 * width + 0.05 * max(|lo|, |hi|) + 1e-3 = (0.501, 0.551), at most a quarter
    # of the way to a bound: -0.8 - 0.501 < -0.85 and -0.2 + 0.551 > -0.15
    np.testing.assert_allclose(lo, [-0.85, -2.551])
    np.testing.assert_allclose(hi, [1.501, -0.15])


def test_data_config_entries():
    family = get_family("polynomial", p=4)
    assert family_entry(family) == {"name": "polynomial", "x_shape": [1], "params": {"p": 4}}
    ranges = eta_range_entry(family, np.arange(4.0), np.arange(4.0) + 1)
    assert ranges == {"x_powers": [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]}


@pytest.mark.slow
def test_train_network_gives_a_provider_on_the_box(tmp_path):
    gamma = get_family("gamma")
    lo, hi = np.array([1.0, -3.0]), np.array([3.0, -1.0])
    train_network(gamma, lo, hi, tmp_path / "gamma", num_points=512, epochs=50)
    assert (tmp_path / "gamma_data.pkl").exists()
    provider = providers.network(tmp_path / "gamma")
    domain = load_model(tmp_path / "gamma").domain
    box_lo, box_hi = domain.lo, domain.hi
    assert np.all(box_lo >= lo) and np.all(box_hi <= hi)
    assert np.all(box_lo < lo + 0.1) and np.all(box_hi > hi - 0.1)
    eta = np.array([2.0, -2.0], np.float32)  # Gamma(3, 2): E[x] = 1.5
    assert abs(float(provider.mu_T(eta, None)[1]) - 1.5) < 0.1
