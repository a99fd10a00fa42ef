"""Every registered ET model: shapes, jit/vmap/grad, fitting, save/load, CLI flags.

Fitting is checked on gamma data computed from the closed form (digamma and
a / b, via autodiff of log Gamma(a) - a log b), with no noise.
"""

import importlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from flax import nnx

from nnef_dists import models
from nnef_dists.data import split_dataset
from nnef_dists.data.standardize import Standardizer
from nnef_dists.models import (
    BUILTIN_MODELS,
    Normalization,
    build_model,
    get_model,
    list_models,
    load_model,
    model_record,
)
from nnef_dists.models.directory import write_model
from nnef_dists.training import fit, parse_train_config
from nnef_dists.training.losses import batch_loss
from nnef_dists.training.trainer import as_device_arrays
from tests.conftest import gamma_dataset

MODELS = list(BUILTIN_MODELS)


def fast_for(*names):
    """MODELS as pytest params, those not in names marked slow (run by make test-all)."""
    return [n if n in names else pytest.param(n, marks=pytest.mark.slow) for n in MODELS]


def small_config(name, **overrides):
    raw = {"model": name, "data": "unused.pkl", "hidden_sizes": [16, 16], "seed": 0}
    return parse_train_config(raw | overrides)


def random_normalization(k, seed=0):
    rng = np.random.default_rng(seed)
    eta = Standardizer(rng.normal(size=k), rng.uniform(0.5, 2, k))
    mu = Standardizer(rng.normal(size=k), rng.uniform(0.5, 2, k))
    return Normalization(
        *(Standardizer(*(jnp.asarray(v, jnp.float32) for v in s)) for s in (eta, mu))
    )


def test_registry_lists_every_builtin_model():
    assert set(BUILTIN_MODELS) <= set(list_models())
    # every model sub-package is registered, so the tests over BUILTIN_MODELS cover it
    packages = {p.parent.name for p in Path(models.__file__).parent.glob("*/model.py")}
    assert packages == set(BUILTIN_MODELS)
    for name in MODELS:
        assert get_model(name).registry_name == name


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="unknown model 'mpl_et'.*mlp_et"):
        get_model("mpl_et")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("k", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_shapes_and_jit_vmap_grad(name, k):
    model = build_model(small_config(name), k, random_normalization(k))
    eta = jax.random.normal(jax.random.key(1), (7, k))
    graphdef, state = nnx.split(model)

    def mu(e):
        return nnx.merge(graphdef, state).mu_T(e)

    def loss(e):
        return jnp.sum(mu(e) ** 2)

    vmapped = jax.vmap(mu)(eta)
    assert vmapped.shape == (7, k) and bool(jnp.all(jnp.isfinite(vmapped)))
    np.testing.assert_allclose(mu(eta[3]), vmapped[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.vmap(mu))(eta), vmapped, rtol=1e-5, atol=1e-6)
    grad = jax.jit(jax.grad(loss))(eta[0])
    # against central differences of the same function (float32, h = 1e-2)
    h, steps = 1e-2, jnp.eye(k) * 1e-2
    fd = jax.jit(jax.vmap(lambda v: (loss(eta[0] + v) - loss(eta[0] - v)) / (2 * h)))(steps)
    np.testing.assert_allclose(grad, fd, rtol=2e-2, atol=2e-2 * float(jnp.max(jnp.abs(grad))))
    assert jax.jit(model.jacobian)(eta[0]).shape == (k, k)


@pytest.mark.parametrize("name", fast_for("mlp_et", "potential_et"))
def test_fits_a_small_data_set_well_below_its_initial_loss(name):
    data = gamma_dataset(256, seed=2)
    splits = split_dataset(data, seed=0)
    weight = get_model(name).training_defaults["jacobian_weight"]
    config = small_config(
        name, epochs=150, lr=3e-3, batch_size=64, patience=150, loss="mse", jacobian_weight=weight
    )
    model = build_model(
        config, 2, Normalization.from_data(splits["train"]["eta"], splits["train"]["mu_T"])
    )
    val = as_device_arrays(splits["val"])
    before = float(batch_loss(model, val, "mse", weight)[0])
    history = fit(model, splits["train"], splits["val"], config, progress=False)
    after = float(batch_loss(model, val, "mse", weight)[0])
    # the best parameters restored: of the epochs, or of the L-BFGS polish after them
    assert after == pytest.approx(history.kept_val, rel=1e-4)
    assert history.kept_val <= min(history.val) * (1 + 1e-4)
    assert after < 0.02 * before, (before, after)


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load_reproduce_predictions_exactly(name, tmp_path):
    config = small_config(name)
    model = build_model(config, 3, random_normalization(3))
    record = model_record(model, config, None, ["a", "b", "c"])
    write_model(tmp_path, model, record)
    loaded = load_model(tmp_path)
    eta = jax.random.normal(jax.random.key(2), (5, 4, 3))  # any leading batch shape
    expected = jax.vmap(jax.vmap(model.mu_T))(eta)
    np.testing.assert_array_equal(loaded.mu_T(eta), expected)
    np.testing.assert_array_equal(
        jax.jit(loaded.mu_T)(eta), jax.jit(jax.vmap(jax.vmap(model.mu_T)))(eta)
    )
    assert jax.grad(lambda e: loaded.mu_T(e).sum())(eta[0, 0]).shape == (3,)
    assert loaded.stat_labels == ["a", "b", "c"]


@pytest.mark.parametrize("name", fast_for("mlp_et"))
def test_command_line_flags_reach_the_model(name, gamma_file, tmp_path):
    argv = [
        "--data",
        str(gamma_file),
        "--hidden-sizes",
        "8,12",
        "--epochs",
        "3",
        "--lr",
        "0.002",
        "--batch-size",
        "32",
        "--seed",
        "5",
        "--output-dir",
        str(tmp_path / "m"),
        "--quiet",
    ]
    assert importlib.import_module(f"nnef_dists.models.{name}.train").main(argv) == 0
    loaded = load_model(tmp_path / "m")
    assert yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())["model"] == name
    record = loaded.record["training"]
    assert record["hidden_sizes"] == [8, 12] and record["epochs"] == 3
    assert record["lr"] == 0.002 and record["batch_size"] == 32 and record["seed"] == 5
    metrics = yaml.safe_load((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == 3

    def shapes(module):
        return [p.shape for p in jax.tree.leaves(nnx.state(module, nnx.Param))]

    norm = loaded.module.norm
    assert shapes(loaded.module) == shapes(
        build_model(small_config(name, hidden_sizes=[8, 12]), 2, norm)
    )
    assert shapes(loaded.module) != shapes(build_model(small_config(name), 2, norm))
