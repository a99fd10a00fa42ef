"""Densities integrate to 1 (quadrature on a grid) and samples follow them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.flows import FLOWS, ConditionalDensityEstimator
from tests.flows.conftest import make_flow

KINDS = list(FLOWS)


def _grid(lo, hi, n, dim):
    axis = np.linspace(lo, hi, n)
    points = np.stack(np.meshgrid(*[axis] * dim, indexing="ij"), -1).reshape(-1, dim)
    return points.astype(np.float32), (axis[1] - axis[0]) ** dim


@pytest.mark.parametrize("kind", KINDS)
def test_untrained_density_integrates_to_one_1d(kind):
    flow = make_flow(kind, 1, 2, seed=3)
    x, cell = _grid(-25.0, 25.0, 20001, 1)
    context = jnp.broadcast_to(jnp.array([0.7, -1.2]), (len(x), 2))
    density = np.exp(np.asarray(jax.jit(flow.log_prob)(x, context), np.float64))
    assert density.sum() * cell == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_untrained_density_integrates_to_one_2d_and_samples_follow_it(kind):
    flow = make_flow(kind, 2, 1, seed=4)
    x, cell = _grid(-30.0, 30.0, 1201, 2)
    context = jnp.full((len(x), 1), 0.5)
    density = np.exp(np.asarray(jax.jit(flow.log_prob)(x, context), np.float64)) * cell
    assert density.sum() == pytest.approx(1.0, abs=5e-3)
    n = 20000
    draws = jax.jit(flow.sample, static_argnums=1)(jax.random.key(0), (n,), context[:n])
    draws = np.asarray(draws)
    # the joint CDF at 9 points, by quadrature and by sampling (robust to heavy tails)
    centre = density @ x / density.sum()
    for a in centre[0] + np.array([-1.0, 0.0, 1.0]):
        for b in centre[1] + np.array([-1.0, 0.0, 1.0]):
            mass = density[(x[:, 0] < a) & (x[:, 1] < b)].sum()
            frac = np.mean((draws[:, 0] < a) & (draws[:, 1] < b))
            assert frac == pytest.approx(mass, abs=5 * np.sqrt(0.25 / n) + 5e-3)


def _ring(n, seed):
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 3.0 + 0.3 * rng.standard_normal(n)
    return 10.0 + np.column_stack([radius * np.cos(angle), 2.0 * radius * np.sin(angle)])


@pytest.mark.parametrize(
    "kind", ["nsf", *[pytest.param(k, marks=pytest.mark.slow) for k in KINDS if k != "nsf"]]
)
def test_trained_density_integrates_to_one_in_raw_units(kind):
    """After a brief fit on raw (unstandardised) data the density of raw values,
    standardisation Jacobian included, still integrates to 1: its integral over a box
    is the share of the model's draws inside it (nearly all of them)."""
    est = ConditionalDensityEstimator(kind, hidden=16, blocks=2)
    est.fit(None, _ring(1000, 0), epochs=5, lr=3e-3, batch_size=100, progress=False)
    axis_x, axis_y = np.linspace(0, 20, 401), np.linspace(-5, 25, 601)
    points = np.stack(np.meshgrid(axis_x, axis_y, indexing="ij"), -1).reshape(-1, 2)
    cell = (axis_x[1] - axis_x[0]) * (axis_y[1] - axis_y[0])
    total = np.exp(est.log_prob(points).astype(np.float64)).sum() * cell
    draws = est.sample(jax.random.key(0), None, 20000)
    inside = np.mean((np.abs(draws[:, 0] - 10) < 10) & (np.abs(draws[:, 1] - 10) < 15))
    assert inside > 0.95
    assert total == pytest.approx(inside, abs=5e-3)
