"""One object with the whole toolkit of an exponential family, whatever backs it.

    log p(x | eta) = eta . T(x) + log h(x) - A(eta)

Members, each a pure JAX function (jit, vmap, grad) vectorised over leading
axes of its arguments (k = stat_dim):

- ``log_partition(eta)`` A: (..., k) -> (...);
- ``mean(eta)`` mu = E[T] = grad A: (..., k) -> (..., k);
- ``covariance(eta)`` Cov[T] = hess A, the Fisher information in eta: (..., k, k);
- ``natural(mu)`` the inverse map, with its residual and a converged flag
  (``newton.NaturalResult``); ``natural(mu, strict=True)`` raises instead of
  returning an unconverged eta (outside jit);
- ``entropy(eta)`` H = A - eta . mu - E[log h(x)]: (..., k) -> (...);
- ``kl(eta_p, eta_q)`` KL(p || q) = A(eta_q) - A(eta_p) - (eta_q - eta_p) . mu_p;
- ``log_prob(x, eta)`` eta . T(x) + log h(x) - A(eta);
- ``sample(key, eta, n)``: (n, *x_shape) draws at one eta;
- ``fit(x)`` maximum likelihood from draws x (n, *x_shape): ``natural`` of the mean of T.

Built by ``toolkit(family)`` (closed form, else quadrature) or
``toolkit(model_directory)`` (a trained network), in ``toolkit.build``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.toolkit.newton import NaturalResult, newton_rows


class NotConvergedError(ValueError):
    """``natural(mu, strict=True)`` found no eta with mean(eta) = mu."""


@dataclass(frozen=True, eq=False)
class Toolkit:
    """The toolkit of one family (module docstring), from these functions of one eta (k,).

    Attributes:
      name: the family's (or the model's) name; source: "closed form",
        "quadrature" or "network".
      mean_fn: eta -> mean (k,) alone (no covariance computed).
      moments: eta -> (mean (k,), covariance (k, k)).
      log_partition_fn: eta -> A (), or None where A is not known.
      in_space: eta -> bool, inside the natural parameter space.
      start: mu (N, k) -> eta (N, k), where ``natural`` starts its Newton steps.
      statistics: x (*x_shape) -> T(x) (k,); log_base: x -> log h(x) ();
        expected_log_base: eta -> E[log h(x)] (); None where unknown.
      sampler: (key, eta (k,), n) -> x (n, *x_shape), or None.
    """

    name: str
    source: str
    eta_dim: int
    mean_fn: Callable
    moments: Callable
    log_partition_fn: Callable | None
    in_space: Callable
    start: Callable
    statistics: Callable | None = None
    log_base: Callable | None = None
    expected_log_base: Callable | None = None
    sampler: Callable | None = None

    # ---- moments --------------------------------------------------------------------
    def log_partition(self, eta):
        """A(eta): (..., k) -> (...)."""
        return _vectorize(self._need(self.log_partition_fn, "log_partition"), "(k)->()")(eta)

    def mean(self, eta):
        """mu_T(eta) = E[T(x)]: (..., k) -> (..., k)."""
        return _vectorize(self.mean_fn, "(k)->(k)")(eta)

    def covariance(self, eta):
        """Cov[T(x)], the Fisher information in eta: (..., k) -> (..., k, k)."""
        return _vectorize(lambda e: self.moments(e)[1], "(k)->(k,k)")(eta)

    # ---- the inverse map --------------------------------------------------------------
    def natural(self, mu, strict: bool = False) -> NaturalResult:
        """The eta with mean(eta) = mu: (..., k) -> NaturalResult of (..., k) and (...).

        strict: raise NotConvergedError for any mu not solved (not under jit:
        it reads the converged flags).
        """
        mu = jnp.asarray(mu)
        rows = mu.reshape(int(np.prod(mu.shape[:-1])), mu.shape[-1])
        start = self.start(rows) if rows.shape[0] else rows  # no rows: nothing to start
        flat = newton_rows(self.moments, self.in_space, rows, start, self.log_partition_fn)
        batch = mu.shape[:-1]
        result = NaturalResult(flat.eta.reshape(mu.shape), *(a.reshape(batch) for a in flat[1:]))
        if strict:
            _raise_unless_converged(self.name, mu, result)
        return result

    # ---- derived from A and mu --------------------------------------------------------
    def entropy(self, eta):
        """H(eta) = A - eta . mu - E[log h(x)]: (..., k) -> (...)."""
        log_partition = self._need(self.log_partition_fn, "entropy (it needs A)")
        expected_log_base = self._need(self.expected_log_base, "entropy (it needs E[log h])")

        def one(e):
            return log_partition(e) - e @ self.mean_fn(e) - expected_log_base(e)

        return _vectorize(one, "(k)->()")(eta)

    def kl(self, eta_p, eta_q):
        """KL(p || q) = A(eta_q) - A(eta_p) - (eta_q - eta_p) . mu(eta_p): (..., k) x 2 -> (...)."""
        log_partition = self._need(self.log_partition_fn, "kl (it needs A)")

        def one(p, q):
            return log_partition(q) - log_partition(p) - (q - p) @ self.mean_fn(p)

        return _vectorize(one, "(k),(k)->()")(eta_p, eta_q)

    def log_prob(self, x, eta):
        """log p(x | eta) = eta . T(x) + log h(x) - A(eta), for one x (*x_shape) and eta (k,)."""
        statistics = self._need(self.statistics, "log_prob (it needs T(x))")
        log_partition = self._need(self.log_partition_fn, "log_prob (it needs A)")
        return eta @ statistics(x) + self.log_base(x) - log_partition(eta)

    # ---- draws ------------------------------------------------------------------------
    def sample(self, key, eta, n: int):
        """n draws (n, *x_shape) at one eta (k,)."""
        return self._need(self.sampler, "sample")(key, jnp.asarray(eta), n)

    def fit(self, x, strict: bool = False) -> NaturalResult:
        """Maximum likelihood from draws x (n, *x_shape): ``natural`` of the mean of T(x)."""
        statistics = self._need(self.statistics, "fit (it needs T(x))")
        return self.natural(jnp.mean(jax.vmap(statistics)(jnp.asarray(x)), axis=0), strict)

    def _need(self, member, what: str):
        if member is None:
            raise NotImplementedError(f"{self.name} ({self.source}) does not provide {what}")
        return member


def _vectorize(fn, signature: str):
    return jnp.vectorize(fn, signature=signature)


def _raise_unless_converged(name: str, mu, result: NaturalResult) -> None:
    converged = np.asarray(result.converged)
    if converged.all():
        return
    bad = np.flatnonzero(~converged.ravel())
    first = np.asarray(mu).reshape(-1, np.shape(mu)[-1])[bad[0]]
    raise NotConvergedError(
        f"{name}: natural(mu) did not converge for {bad.size} of {converged.size} mu "
        f"(first: mu = {np.array2string(first, precision=6)}, residual "
        f"{float(np.asarray(result.residual).ravel()[bad[0]]):.3g} after "
        f"{int(np.asarray(result.steps).ravel()[bad[0]])} steps): such a mu is the mean of "
        "no member of the family (outside the interior of the convex hull of T(x)), or "
        "too close to its boundary"
    )
