"""newton_rows: every row's answer is newton_inverse's, whichever rows run long."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.families import get_family
from nnef_dists.toolkit import toolkit
from nnef_dists.toolkit.newton import FIRST_STEPS, STRAGGLER_SHARE, newton_inverse, newton_rows


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def _solve_both(eta, start):
    """(newton_rows, newton_inverse row by row) for the gamma means of eta from start."""
    tk = toolkit(get_family("gamma"))
    mu = tk.mean(eta)
    args = (tk.moments, tk.in_space)
    rows = jax.jit(lambda m, s: newton_rows(*args, m, s, tk.log_partition_fn))(mu, start)
    each = jax.jit(jax.vmap(lambda m, s: newton_inverse(*args, m, s, tk.log_partition_fn)))
    return rows, each(mu, start)


@pytest.mark.parametrize("hard_rows", [1, 40], ids=["few run long", "many run long"])
def test_rows_match_row_by_row_solves(hard_rows):
    """From a start next to the answer, rows stop within FIRST_STEPS; from far away
    (eta 1e9) they need more. Either way each row ends where its own solve does."""
    rng = np.random.default_rng(0)
    n = 40 * STRAGGLER_SHARE // 2
    eta = jnp.asarray(np.column_stack([rng.uniform(0.5, 5.0, n), rng.uniform(-5.0, -0.5, n)]))
    start = eta * (1 + 1e-3)
    start = start.at[:hard_rows].set(jnp.asarray([1e9, -1e9]))
    rows, each = _solve_both(eta, start)
    assert int(jnp.min(rows.steps[:hard_rows])) > FIRST_STEPS  # the case is what it says
    assert int(jnp.max(rows.steps[hard_rows:])) < FIRST_STEPS
    assert bool(rows.converged.all()) and bool(each.converged.all())
    np.testing.assert_allclose(rows.eta, each.eta, rtol=1e-12)
    np.testing.assert_allclose(rows.eta, eta, rtol=1e-10)


def test_natural_keeps_any_batch_shape_and_an_empty_batch():
    tk = toolkit(get_family("gamma"))
    eta = jnp.asarray([[1.5, -2.0], [0.3, -0.5], [4.0, -1.0]]).reshape(3, 1, 2)
    result = tk.natural(tk.mean(eta))
    assert result.eta.shape == (3, 1, 2) and result.converged.shape == (3, 1)
    np.testing.assert_allclose(result.eta, eta, rtol=1e-10)
    assert tk.natural(jnp.zeros((0, 2))).eta.shape == (0, 2)
