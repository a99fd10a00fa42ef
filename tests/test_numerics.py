"""nnef_dists.numerics against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.numerics import UNROLLED_K, first_argmin, spd_solve


@pytest.mark.parametrize("k", [1, 2, 5, UNROLLED_K, UNROLLED_K + 1])
def test_spd_solve_matches_numpy(k):
    """Written out (k <= UNROLLED_K) or by LAPACK (larger k): numpy.linalg.solve's x."""
    rng = np.random.default_rng(k)
    a = rng.standard_normal((k, k))
    cov, b = a @ a.T + 0.1 * np.eye(k), rng.standard_normal(k)
    with jax.enable_x64(True):
        x = np.asarray(spd_solve(cov, b))
    np.testing.assert_allclose(x, np.linalg.solve(cov, b), rtol=1e-10, atol=1e-12)


def test_spd_solve_of_an_indefinite_matrix_is_not_finite():
    x = spd_solve(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([1.0, 0.0]))
    assert not np.all(np.isfinite(np.asarray(x)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_first_argmin_is_numpy_argmin(axis):
    """Against numpy.argmin, with ties (values rounded to 3 levels) the first index wins."""
    values = np.round(np.random.default_rng(abs(axis)).uniform(size=(64, 33)) * 3)
    np.testing.assert_array_equal(first_argmin(values, axis=axis), np.argmin(values, axis=axis))


def test_first_argmin_of_a_row_with_nan_is_zero():
    values = jnp.array([[3.0, jnp.nan, 1.0], [2.0, 1.0, 1.0]])
    np.testing.assert_array_equal(first_argmin(values), [0, 1])
