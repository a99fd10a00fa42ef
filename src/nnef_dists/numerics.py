"""Small numerically careful functions shared by the layers."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

#: ``jax.default_matmul_precision`` of our float32 matrix products. JAX's own default
#: is fast, not exact: TensorFloat-32 (10 mantissa bits) on NVIDIA GPUs since Ampere,
#: bfloat16 passes on TPU; on an H200 the trained networks were 1.1-3.9x less accurate
#: than on a CPU on exact targets (potential_et on gamma HMC data: 1.28 against 0.32 x
#: the noise floor).
MATMUL_PRECISION = "highest"


def full_precision_matmuls(fn):
    """``fn`` with the matrix products it traces computed in full float32 (MATMUL_PRECISION).

    The setting holds while ``fn`` runs, so it reaches everything ``fn`` traces
    (and ``jax.jit`` keys its cache by it); on a CPU it changes nothing. Where
    a precision is already chosen (``jax.default_matmul_precision``, the
    ``jax_default_matmul_precision`` option or JAX_DEFAULT_MATMUL_PRECISION),
    ``fn`` runs under that choice.
    """

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if jax.config.jax_default_matmul_precision is not None:
            return fn(*args, **kwargs)
        with jax.default_matmul_precision(MATMUL_PRECISION):
            return fn(*args, **kwargs)

    return wrapped


def soft_clamp(x, bound: float):
    """``bound * tanh(x / bound)``: slope 1 at zero, values smoothly limited to (-bound, bound)."""
    return bound * jnp.tanh(x / bound)


def log_cosh(x):
    """log cosh(x) = |x| + log1p(exp(-2|x|)) - log 2, without overflow for large |x|."""
    ax = jnp.abs(x)
    return ax + jnp.log1p(jnp.exp(-2.0 * ax)) - math.log(2.0)


#: ``spd_solve`` writes its Cholesky factorisation out for at most this many statistics.
UNROLLED_K = 8


def spd_solve(cov, b):
    """x (k,) with cov x = b, cov (k, k) symmetric positive definite, by Cholesky.

    For k <= UNROLLED_K the factorisation and substitutions are written out
    entry by entry: vectorised over 1e5 rows they are elementwise array
    operations, about 10 x faster on a CPU than batched LAPACK calls on 2 x 2
    to 5 x 5 matrices (measured). A cov that is not positive definite gives
    a non-finite x (as a singular one does with ``jnp.linalg.solve``).
    """
    k = b.shape[-1]
    if k > UNROLLED_K:
        return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(cov), True), b)
    low = [[None] * k for _ in range(k)]
    for j in range(k):
        low[j][j] = jnp.sqrt(cov[j, j] - sum(low[j][m] ** 2 for m in range(j)))
        for i in range(j + 1, k):
            low[i][j] = (cov[i, j] - sum(low[i][m] * low[j][m] for m in range(j))) / low[j][j]
    y = []
    for i in range(k):  # L y = b
        y.append((b[i] - sum(low[i][m] * y[m] for m in range(i))) / low[i][i])
    x = [None] * k
    for i in reversed(range(k)):  # L^T x = y
        x[i] = (y[i] - sum(low[m][i] * x[m] for m in range(i + 1, k))) / low[i][i]
    return jnp.stack(x)


def first_argmin(values, axis: int = -1):
    """Index of the least entry along ``axis`` (the first of equal ones; 0 where a NaN is).

    jnp.argmin, in two plain reductions: XLA's CPU argmin is a variadic reduce,
    about 3 x as slow on (2048, 512) float32 values (potential_et's anchor
    search: 0.48 against 1.5 us per row, matrix product included).
    """
    values = jnp.asarray(values)
    least = jnp.min(values, axis=axis, keepdims=True)
    hit = (values == least) | jnp.isnan(least)
    n = values.shape[axis]
    shape = [1] * values.ndim
    shape[axis] = n
    index = jnp.arange(n).reshape(shape)
    return jnp.min(jnp.where(hit, index, n), axis=axis)
