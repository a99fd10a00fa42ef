"""The Sinkhorn objective (flows/transport.py): the divergence against a closed form, and
fits by samples alone of a flow (through the estimator) and of a density-free Generator."""

import jax
import numpy as np
import pytest
from flax import nnx

pytest.importorskip("ott")

from nnef_dists.flows import (
    ConditionalDensityEstimator,  # noqa: E402
    transport,  # noqa: E402
)
from nnef_dists.training.config import LoopConfig  # noqa: E402


def test_divergence_of_a_translated_cloud_is_the_squared_shift():
    """For the cost |x - y|^2, OT_eps(a, a + s) = OT_eps(a, a) + |s|^2 (the cross term is
    fixed by the marginals), so S_eps(a, a + s) = |s|^2 exactly, for any eps."""
    a = jax.random.normal(jax.random.key(0), (300, 2))
    shift = np.array([0.6, -0.3])
    for eps in (0.05, 0.5):
        value = transport.sinkhorn_divergence(a, a + shift, eps)
        np.testing.assert_allclose(value, np.sum(shift**2), rtol=1e-3)
    assert abs(transport.sinkhorn_divergence(a, a, 0.05)) < 1e-5


def _gaussian_rows(n, seed):
    """theta | x ~ N(x / 2 + 1, (0.6 + 0.2 x)^2), x ~ U(-2, 2). The noise is of the order of
    the signal: conditionals much narrower than the data's spread come out too narrow from
    minibatch Sinkhorn fits (module docstring of flows/transport.py)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 1))
    return x, x / 2 + 1 + (0.6 + 0.2 * x) * rng.standard_normal((n, 1))


PROBES = np.array([[-1.5], [1.5]])
MEANS, STDS = PROBES / 2 + 1, 0.6 + 0.2 * PROBES


def test_estimator_fits_a_conditional_gaussian_by_draws_alone():
    x, y = _gaussian_rows(3000, 0)
    est = ConditionalDensityEstimator("maf", hidden=16, blocks=2)
    history = est.fit(
        x, y, epochs=40, lr=5e-3, batch_size=512, progress=False, objective="sinkhorn"
    )
    assert est.fit_settings["objective"] == "sinkhorn" and history.best_val < 0.05
    stats = est.stats(jax.random.key(1), PROBES, 4000)
    np.testing.assert_allclose(stats["mean"], MEANS, atol=0.1)
    np.testing.assert_allclose(stats["std"], STDS, rtol=0.2)


def test_a_generator_without_density_fits_by_draws_alone():
    x, y = _gaussian_rows(3000, 1)
    xs, ys = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
    gen = transport.Generator(1, 1, hidden=32, rngs=nnx.Rngs(0))
    config = LoopConfig(epochs=40, lr=5e-3, batch_size=512, seed=0)
    transport.fit(gen, xs, ys, config, progress=False)
    probes = (PROBES - x.mean()) / x.std()
    draws = (
        np.asarray(gen.sample_rows(jax.random.key(2), probes, 4000))[..., 0] * y.std() + y.mean()
    )
    np.testing.assert_allclose(draws.mean(1), MEANS[:, 0], atol=0.1)
    np.testing.assert_allclose(draws.std(1), STDS[:, 0], rtol=0.2)


def test_unknown_objective_is_named():
    from nnef_dists.errors import ConfigError

    est = ConditionalDensityEstimator("maf", hidden=8, blocks=1)
    with pytest.raises(ConfigError, match="objective must be 'nll' or 'sinkhorn'"):
        est.fit(*_gaussian_rows(20, 2), epochs=1, objective="wasserstein")


@pytest.mark.parametrize("flow", ["made-mog", "maf-mog"])
def test_mixture_bases_are_refused_for_the_sinkhorn_objective(flow):
    """Their component draw is an argmax: no gradient would reach the mixture weights."""
    from nnef_dists.errors import ConfigError

    est = ConditionalDensityEstimator(flow, hidden=8, blocks=1)
    with pytest.raises(ConfigError, match="no gradient reaches the weights"):
        est.fit(*_gaussian_rows(20, 2), epochs=1, objective="sinkhorn")


def test_sinkhorn_trains_through_the_bisection_inverses():
    """Gaussianization and planar layers sample by bisection and Newton; their implicit
    gradients train the flow by draws alone: the divergence falls."""
    x, y = _gaussian_rows(1000, 3)
    est = ConditionalDensityEstimator(manifold="e1", layers="gp", hidden=16)
    history = est.fit(
        x, y, epochs=15, lr=5e-3, batch_size=256, progress=False, objective="sinkhorn"
    )
    assert history.best_val < 0.5 * history.val[0]
