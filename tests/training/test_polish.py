"""training.polish: full-batch L-BFGS after the epochs, the best on validation kept."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.training import polish as polish_module
from nnef_dists.training.polish import polish


def squared_error(model, rows, _key):
    return jnp.mean((model(rows[0]) - rows[1]) ** 2)


def line_data(seed, slope=2.0, n=200):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    y = x @ np.array([[slope], [-1.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((n, 1))
    return x, y.astype(np.float32)


def test_reaches_the_least_squares_solution():
    """A linear model: the minimiser is the least-squares fit (numpy lstsq, the reference)."""
    x, y = line_data(0)
    module = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    losses = polish(module, squared_error, (x, y), (x, y), 200, progress=False)
    design = np.column_stack([x, np.ones(len(x))]).astype(np.float64)
    exact, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    np.testing.assert_allclose(module.kernel.get_value()[:, 0], exact[:3, 0], atol=1e-4)
    np.testing.assert_allclose(module.bias.get_value()[0], exact[3, 0], atol=1e-4)
    assert len(losses) == 3  # the start, then every CHECK_EVERY = 100 iterations
    assert losses[-1] < losses[0]


def test_keeps_the_starting_parameters_when_validation_only_gets_worse():
    """Validation rows from another line: every L-BFGS step away from a model fitted to
    them raises their loss, so the start is kept exactly."""
    x, y = line_data(0)
    x_val, y_val = line_data(1, slope=-3.0)
    module = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    polish(module, squared_error, (x_val, y_val), (x_val, y_val), 100, progress=False)
    start = jax.tree.map(np.asarray, nnx.state(module, nnx.Param))
    losses = polish(module, squared_error, (x, y), (x_val, y_val), 100, progress=False)
    assert losses[1] > losses[0]
    for got, want in zip(
        jax.tree.leaves(nnx.state(module, nnx.Param)), jax.tree.leaves(start), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_stops_at_a_loss_that_is_not_finite_and_keeps_the_best():
    """NaN targets make the training loss NaN: the iterations end at the first check,
    and the starting parameters (the only finite validation loss) are kept."""
    x, y = line_data(0)
    module = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    start = jax.tree.map(np.asarray, nnx.state(module, nnx.Param))
    bad = (x, np.full_like(y, np.nan))
    losses = polish(module, squared_error, bad, (x, y), 500, progress=False)
    assert len(losses) == 2 and np.isfinite(losses[0]) and not np.isfinite(losses[1])
    for got, want in zip(
        jax.tree.leaves(nnx.state(module, nnx.Param)), jax.tree.leaves(start), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_keeps_the_least_validation_loss_when_it_falls_then_rises(monkeypatch):
    """One parameter w (a 1 x 1 linear map without bias at x = 1) walks from 0 towards
    the training optimum w = 2 of (w - 2)^4, passing the validation optimum w = 1 of
    (w - 1)^2: its validation loss falls, then rises. With a check after every
    iteration, the module ends at the iterate of least validation loss, neither the
    start nor the last."""
    monkeypatch.setattr(polish_module, "CHECK_EVERY", 1)
    ones = np.ones((4, 1), np.float32)

    def loss(model, rows, _key):
        target, power = rows
        return jnp.mean(jnp.abs(model(ones) - target) ** power)

    module = nnx.Linear(1, 1, use_bias=False, rngs=nnx.Rngs(0))
    module.kernel.set_value(jnp.zeros((1, 1)))
    train, val = (2 * ones, 4 * ones), (ones, 2 * ones)
    losses = polish(module, loss, train, val, 12, progress=False)
    best = int(np.argmin(losses))
    assert 0 < best < len(losses) - 1, losses  # a dip: the case this test is for
    w = float(module.kernel.get_value()[0, 0])
    assert (w - 1) ** 2 == pytest.approx(losses[best], rel=1e-6)


def test_no_steps_changes_nothing():
    x, y = line_data(0)
    module = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    start = jax.tree.map(np.asarray, nnx.state(module, nnx.Param))
    assert len(polish(module, squared_error, (x, y), (x, y), 0, progress=False)) == 1
    for got, want in zip(
        jax.tree.leaves(nnx.state(module, nnx.Param)), jax.tree.leaves(start), strict=True
    ):
        np.testing.assert_array_equal(got, want)
