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
