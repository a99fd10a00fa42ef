"""The toolkit of a trained model directory: the network's own A, mu and Cov, consistently.

An untrained potential_et is an exact exponential family of its own (its
potential is a strictly convex A), so the identities checked here are exact
up to float32 round-off: natural inverts mean, KL(p || p) = 0 and the
entropy is A - eta . mu (gamma: log h = 0).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from nnef_dists.models import Normalization, build_model, load_model, model_record
from nnef_dists.models.directory import write_model
from nnef_dists.toolkit import toolkit
from nnef_dists.training import parse_train_config

GAMMA = {"name": "gamma", "x_shape": [1], "params": {}}
ETA = np.array([[1.0, -1.5], [0.4, -0.8], [2.0, -2.5]])


def saved(tmp_path, name):
    config = parse_train_config({"model": name, "data": "x.pkl"})
    norm = Normalization.from_data(ETA, ETA * np.array([0.5, -2.0]))
    model = build_model(config, 2, norm)
    record = model_record(model, config, GAMMA, ["log_x", "x"], ETA)
    (tmp_path / name).mkdir()
    write_model(tmp_path / name, model, record)
    return tmp_path / name


def test_potential_et_toolkit_is_consistent(tmp_path):
    directory = saved(tmp_path, "potential_et")
    tk, loaded = toolkit(directory), load_model(directory)
    eta = jnp.asarray(ETA, jnp.float32)
    assert tk.source == "network"
    np.testing.assert_array_equal(tk.mean(eta), loaded.mu_T(eta))
    np.testing.assert_array_equal(tk.covariance(eta), loaded.cov_TT(eta))
    result = tk.natural(tk.mean(eta))
    assert bool(result.converged.all()), result
    np.testing.assert_allclose(result.eta, eta, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(tk.kl(eta, eta), 0.0, atol=1e-5)
    assert bool((tk.kl(eta, eta[jnp.array([1, 2, 0])]) > 0).all())  # Gibbs
    entropy = loaded.log_partition(eta) - jnp.sum(eta * loaded.mu_T(eta), axis=-1)
    np.testing.assert_allclose(tk.entropy(eta), entropy, rtol=1e-6)


def test_a_network_without_a_log_partition_says_so(tmp_path):
    tk = toolkit(saved(tmp_path, "mlp_et"))
    with pytest.raises(NotImplementedError, match="does not provide entropy"):
        tk.entropy(jnp.asarray(ETA[0], jnp.float32))


def test_a_model_whose_family_module_is_gone_still_gives_its_moments(tmp_path):
    config = parse_train_config({"model": "mlp_et", "data": "x.pkl"})
    model = build_model(config, 2, Normalization.from_data(ETA, ETA))
    nowhere = {"name": "module_that_is_nowhere:MyFamily", "x_shape": None, "params": {}}
    (tmp_path / "m").mkdir()
    write_model(tmp_path / "m", model, model_record(model, config, nowhere, ["a", "b"], ETA))
    tk = toolkit(tmp_path / "m")
    np.testing.assert_array_equal(tk.mean(jnp.asarray(ETA)), load_model(tmp_path / "m").mu_T(ETA))
    with pytest.raises(NotImplementedError, match="does not provide log_prob"):
        tk.log_prob(jnp.ones(1), jnp.asarray(ETA[0]))
    with pytest.raises(NotImplementedError, match="does not provide sample"):
        tk.sample(jax.random.key(0), jnp.asarray(ETA[0]), 10)


def test_a_model_samples_its_family(tmp_path):
    """Draws need T(x) and the domain only, not the network: a gamma model draws the gamma
    distribution at eta (scipy's gamma, shape eta_0 + 1, rate -eta_1; KS test)."""
    tk = toolkit(saved(tmp_path, "mlp_et"))
    x = np.asarray(tk.sample(jax.random.key(0), jnp.asarray([1.0, -1.5]), 5000))[:, 0]
    assert stats.kstest(x, stats.gamma(2.0, scale=1 / 1.5).cdf).pvalue > 1e-3
