"""The Jacobian term's random-probe estimate against the exact term (training.losses)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.models import ModelSpec, Normalization, build_model
from nnef_dists.training.losses import (
    JACOBIAN_PROBES,
    batch_loss,
    jacobian_residual,
    probed_residuals,
)

K = 5  # a 2-d normal's (x, xx^T lower triangle)


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, K, K))
    return {
        "eta": jnp.asarray(rng.normal(size=(n, K))),
        "mu_T": jnp.asarray(rng.normal(size=(n, K))),
        "cov_TT": jnp.asarray(a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(K)),
        "ess": jnp.asarray(rng.uniform(50, 500, size=(n, K))),
    }


def _model(name, batch):
    norm = Normalization.from_data(np.asarray(batch["eta"]) * 3.0, np.asarray(batch["mu_T"]) * 0.5)
    return build_model(ModelSpec(model=name, hidden_sizes=(16,)), K, norm)


@pytest.mark.parametrize(
    "name, loss",
    [
        ("mlp_et", "mse"),  # autodiff
        ("mlp_et", "whitened"),
        ("geometric_flow_et", "mse"),  # its own cov_TT
        pytest.param("mlp_et", "noise_weighted", marks=pytest.mark.slow),
        pytest.param("geometric_flow_et", "noise_weighted", marks=pytest.mark.slow),
        pytest.param("geometric_flow_et", "whitened", marks=pytest.mark.slow),
    ],
)
def test_probed_residual_is_the_exact_residual_matrix_times_the_probe(name, loss):
    batch = _batch()
    model = _model(name, batch)
    key = jax.random.key(3)
    mu, probed = probed_residuals(model, batch, model.norm, loss, key)
    # The same sign vectors, drawn again; the exact R from the full Jacobian.
    v = jax.random.rademacher(key, (16, JACOBIAN_PROBES, K), dtype=batch["eta"].dtype)
    exact = jacobian_residual(jax.vmap(model.jacobian)(batch["eta"]), batch, model.norm, loss)
    np.testing.assert_allclose(mu, jax.vmap(model.mu_T)(batch["eta"]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        probed, jnp.einsum("nij,npj->npi", exact, v), rtol=2e-4, atol=2e-4 * jnp.abs(exact).max()
    )


def test_the_probed_jacobian_loss_averages_to_the_exact_one():
    # E[v v^T] = I for random signs: the mean over keys tends to the exact term;
    # 400 keys x 16 rows x 2 probes put the Monte Carlo error near 1 %.
    batch = _batch(seed=1)
    model = _model("mlp_et", batch)
    exact = float(batch_loss(model, batch, "mse", 1.0)[1]["jacobian"])
    probed = jax.jit(lambda key: batch_loss(model, batch, "mse", 1.0, key)[1]["jacobian"])
    estimates = np.array([float(probed(jax.random.key(i))) for i in range(400)])
    standard_error = estimates.std() / np.sqrt(len(estimates))
    assert abs(estimates.mean() - exact) < 4 * standard_error, (estimates.mean(), exact)
    assert standard_error < 0.05 * exact  # the check has power


def test_without_a_jacobian_weight_the_key_changes_nothing():
    batch = _batch(seed=2)
    model = _model("mlp_et", batch)
    exact = batch_loss(model, batch, "mse", 0.0)
    probed = batch_loss(model, batch, "mse", 0.0, jax.random.key(0))
    assert float(exact[0]) == float(probed[0]) and "jacobian" not in probed[1]
