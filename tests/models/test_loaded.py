"""A loaded model predicts without importing its family; the family is built on first use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.errors import ConfigError
from nnef_dists.models import LoadedModel, Normalization, build_model, load_model, model_record
from nnef_dists.models.directory import write_model
from nnef_dists.training import parse_train_config

#: A family module that exists nowhere: as if the user's module were gone.
MISSING = {"name": "module_that_is_nowhere:MyFamily", "x_shape": None, "params": {}}


def test_mu_T_needs_no_family_module(tmp_path):
    config = parse_train_config({"model": "mlp_et", "data": "x.pkl", "hidden_sizes": [8]})
    model = build_model(config, 2, Normalization.identity(2))
    eta = np.array([[0.5, -1.0], [1.0, -2.0]])
    record = model_record(model, config, MISSING, ["a", "b"], eta)
    (tmp_path / "m").mkdir()
    write_model(tmp_path / "m", model, record)
    loaded = load_model(tmp_path / "m")
    expected = LoadedModel(model, record).mu_T(jnp.asarray(eta))
    np.testing.assert_array_equal(jax.jit(loaded.mu_T)(jnp.asarray(eta)), expected)
    assert loaded.in_domain(jnp.asarray(eta)).all()
    with pytest.raises(ConfigError, match="module_that_is_nowhere"):
        _ = loaded.family  # only what needs the family imports it


@pytest.mark.parametrize("name", ["potential_et", "glow_et"])
def test_eta_from_mu_in_chunks_any_batch_shape(tmp_path, monkeypatch, name):
    """Against the module's own eta_from_mu, row by row: the loaded inverse in chunks.

    INVERSE_CHUNK = 4 over 3 x 5 mu (15 rows, a last chunk padded), started
    from the training eta kept with the model; an untrained network is a
    well-posed inverse all the same (potential_et: strongly convex; glow_et:
    invertible by construction).
    """
    from nnef_dists.models import loaded as loaded_module

    monkeypatch.setattr(loaded_module, "INVERSE_CHUNK", 4)
    config = parse_train_config({"model": name, "data": "x.pkl"})
    model = build_model(config, 2, Normalization.identity(2))
    train_eta = np.random.default_rng(0).normal(size=(40, 2))
    record = model_record(model, config, MISSING, ["a", "b"], train_eta)
    (tmp_path / "m").mkdir()
    write_model(tmp_path / "m", model, record)
    loaded = load_model(tmp_path / "m")
    mu = jax.vmap(model.mu_T)(
        jnp.asarray(np.random.default_rng(1).normal(size=(15, 2)), jnp.float32)
    )
    expected = np.asarray(jax.vmap(model.eta_from_mu)(mu))
    got = np.asarray(jax.jit(loaded.eta_from_mu)(mu.reshape(3, 5, 2)))
    assert got.shape == (3, 5, 2)
    np.testing.assert_allclose(got.reshape(15, 2), expected, rtol=1e-4, atol=1e-4)
