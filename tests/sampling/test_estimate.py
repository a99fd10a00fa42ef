"""generate(): the quadrature path, NUTS, and batching."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.families import get_family
from nnef_dists.sampling import SamplingConfig, generate

GAMMA_ETA = np.array([[-0.5, -0.3], [0.0, -1.0], [2.0, -4.0], [3.5, -0.2], [1.0, -2.0]])


def exact_mu(family, eta):
    with jax.enable_x64(True):
        return np.asarray(jax.vmap(family.exact_mu_T)(jnp.asarray(eta, dtype=jnp.float64)))


def test_quadrature_method_gives_exact_moments_and_infinite_ess():
    """Reference: the closed-form gradient of gamma's log-partition, in float64."""
    family = get_family("gamma")
    out = generate(family, GAMMA_ETA, SamplingConfig(method="quadrature"), jax.random.key(0), 2)
    np.testing.assert_allclose(out["mu_T"], exact_mu(family, GAMMA_ETA), rtol=1e-10)
    assert out["cov_TT"].shape == (5, 2, 2) and np.all(np.isinf(out["ess"]))


def test_nuts_estimates_agree_with_the_closed_form_within_their_error_bars():
    """BlackJAX NUTS on 40 gamma eta: z-scores against the closed form.

    With 40 eta the standard deviation of z is estimated to about 11%, so
    [0.6, 1.5] fails an ESS that is off by a factor of 3.
    """
    family = get_family("gamma")
    rng = np.random.default_rng(1)
    eta = np.stack([rng.uniform(-0.5, 4.0, 40), rng.uniform(-5.0, -0.1, 40)], axis=1)
    config = SamplingConfig(method="nuts", num_samples=400, num_warmup=300, num_chains=2)
    out = generate(family, eta.astype(np.float32), config, jax.random.key(3), batch_size=40)
    stderr = np.sqrt(np.diagonal(out["cov_TT"], axis1=1, axis2=2) / out["ess"])
    z = (out["mu_T"] - exact_mu(family, eta.astype(np.float32))) / stderr
    assert np.all((z.std(0) > 0.6) & (z.std(0) < 1.5)), z.std(0)
    assert np.all(np.abs(z.mean(0)) < 0.5), z.mean(0)
    assert np.max(out["rhat"]) < 1.1


@pytest.mark.parametrize("method", ["hmc", "nuts"])
def test_estimates_depend_on_the_key_and_eta_index_alone_not_on_the_batch_size(method):
    """5 eta in batches of 2 (last one padded), 3 or 5, chunks of 4: the same bits."""
    family = get_family("gamma")
    config = SamplingConfig(
        method=method,
        num_samples=50,
        num_warmup=30,
        num_chains=2,
        num_integration_steps=3,
        chunk_size=4,
    )
    eta = GAMMA_ETA.astype(np.float32)
    out = generate(family, eta, config, jax.random.key(0), batch_size=5)
    assert out["mu_T"].shape == (5, 2) and out["rhat"].shape == (5, 2)
    assert np.all(np.isfinite(out["mu_T"]))
    for batch_size in (2, 3):
        again = generate(family, eta, dataclasses.replace(config), jax.random.key(0), batch_size)
        for name in out:
            np.testing.assert_array_equal(again[name], out[name], err_msg=name)
    other_key = generate(family, eta, config, jax.random.key(1), batch_size=5)
    assert not np.any(other_key["mu_T"] == out["mu_T"])
