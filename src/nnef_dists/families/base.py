"""The ExponentialFamily base class (README: Defining a family).

A family is

    log p(x | eta) = eta . T(x) + log h(x) - A(eta),

given by its sufficient statistics T (a dict of named arrays), its support and
optionally its base measure h. Natural parameters and statistics travel as
flat vectors of length ``stat_dim`` (the named statistics flattened row-major
in ``stat_shapes`` order).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.families.check import check_family, make_eager
from nnef_dists.families.domains import Box, Domain

#: Families already checked (equal families are checked once).
_CHECKED: set = set()


class _CheckedOnBuild(type):
    """Metaclass: every family is checked (``check.check_family``) once it is built."""

    def __call__(cls, *args, **kwargs):
        family = super().__call__(*args, **kwargs)
        try:
            seen = family in _CHECKED
        except TypeError:  # unhashable parameters: check every time
            seen = False
        if not seen:
            check_family(family)
            try:
                _CHECKED.add(family)
            except TypeError:
                pass
        return family


@dataclass(frozen=True)
class ExponentialFamily(metaclass=_CheckedOnBuild):
    """Base class. Subclasses define ``stat_shapes`` and ``_compute_stats``.

    Optional overrides: ``x_bounds``, ``domain``, ``log_base_measure``,
    ``eta_bounds``, ``in_natural_space``, ``reparam_eta``,
    ``quadrature_breakpoints`` and the exact answers ``log_partition``,
    ``exact_mu_T``, ``exact_cov_TT``. When only ``log_partition`` is given,
    mu_T = grad A and Cov[T] = hess A follow by autodiff.

    Every member may compute with NumPy or ``jax.numpy``: ``x_bounds``,
    ``domain`` and ``eta_bounds`` are evaluated eagerly even while a sampler
    traces (``check.make_eager``), and the family is checked when it is built
    (T(x) matches ``stat_shapes``, T and log h are finite on the support, the
    bounds are consistent): a FamilyError names the family and the member.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        make_eager(cls)

    x_shape: tuple = (1,)

    # ---- required -----------------------------------------------------------
    @cached_property
    def stat_shapes(self) -> dict:
        """Ordered dict: statistic name -> shape of that statistic."""
        raise NotImplementedError

    def _compute_stats(self, x) -> dict:
        """T(x) for a single x of shape x_shape, as a dict like stat_shapes."""
        raise NotImplementedError

    # ---- optional -----------------------------------------------------------
    def x_bounds(self):
        """(lower, upper) arrays of shape x_shape; infinite entries allowed."""
        return np.full(self.x_shape, -np.inf), np.full(self.x_shape, np.inf)

    @property
    def domain(self) -> Domain:
        """The support of x; by default the box given by ``x_bounds``."""
        lower, upper = self.x_bounds()
        return Box(np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))

    def log_base_measure(self, x):
        """log h(x) for a single x; 0 by default."""
        return jnp.zeros((), dtype=jnp.result_type(x))

    def eta_bounds(self) -> dict:
        """Per-statistic open interval (lo, hi) of valid natural parameters.

        Statistics that are absent are unbounded. Families whose natural
        parameter space is not a box also override ``in_natural_space``.
        """
        return {}

    def in_natural_space(self, eta):
        """Whether eta (shape (..., stat_dim)) is a valid natural parameter."""
        eta = jnp.asarray(eta)
        ok = jnp.ones(eta.shape[:-1], dtype=bool)
        for name, (lo, hi) in self.eta_bounds().items():
            part = self.unflatten(eta)[name].reshape(*eta.shape[:-1], -1)
            ok = ok & jnp.all((part > lo) & (part < hi), axis=-1)
        return ok

    def reference_eta(self):
        """An eta (stat_dim,) inside the natural parameter space, where ``natural`` starts.

        By default, per statistic: 0 if its ``eta_bounds`` interval holds 0,
        else 1 inside its finite bound (gamma: log_x 0, x -1, the exponential
        distribution). Families whose natural space is not a box override it.
        """
        eta = np.zeros(self.stat_dim)
        start = 0
        for name, size in self.stat_sizes.items():
            lo, hi = self.eta_bounds().get(name, (-np.inf, np.inf))
            if not lo < 0.0 < hi:
                value = lo + 1.0 if np.isinf(hi) else hi - 1.0 if np.isinf(lo) else 0.5 * (lo + hi)
                eta[start : start + size] = value
            start += size
        return eta

    def natural_guess(self, mu):
        """An approximate eta (stat_dim,) with E[T | eta] = mu (stat_dim,), or None.

        Optional: where a family knows a cheap approximate inverse, ``natural``
        starts from it (when it beats the anchors), and Newton polishes it.
        """
        return None

    def reparam_eta(self, eta):
        """Map a raw grid point (stat_dim,) to the eta that is sampled and stored."""
        return eta

    def quadrature_breakpoints(self) -> tuple:
        """Points of x (1-D families) where the density is not smooth."""
        return ()

    def log_partition(self, eta):
        """A(eta) for eta of shape (stat_dim,), where known in closed form."""
        raise NotImplementedError(f"{self.name} has no closed-form log-partition")

    # ---- derived ------------------------------------------------------------
    @property
    def name(self) -> str:
        """Registry name, or ``module:Class`` for a user's own family."""
        cls = type(self)
        return cls.__dict__.get("registry_name") or f"{cls.__module__}:{cls.__qualname__}"

    @cached_property
    def stat_sizes(self) -> dict:
        return {k: int(np.prod(s, dtype=int)) for k, s in self.stat_shapes.items()}

    @property
    def stat_dim(self) -> int:
        return sum(self.stat_sizes.values())

    @property
    def eta_dim(self) -> int:
        return self.stat_dim

    def stat_labels(self) -> list[str]:
        """One label per flat entry, e.g. ['x[0]', 'xxT[0,0]', ...]."""
        labels = []
        for name, shape in self.stat_shapes.items():
            for idx in np.ndindex(*shape):
                labels.append(f"{name}[{','.join(map(str, idx))}]" if idx else name)
        return labels

    def flatten(self, stats: dict):
        """Dict of arrays (..., *shape) -> flat array (..., stat_dim)."""
        parts = []
        for name, shape in self.stat_shapes.items():
            value = jnp.asarray(stats[name])
            batch = value.shape[: value.ndim - len(shape)]
            parts.append(value.reshape(*batch, -1))
        return jnp.concatenate(parts, axis=-1)

    def unflatten(self, flat) -> dict:
        """Flat array (..., stat_dim) -> dict of arrays (..., *shape)."""
        out, start = {}, 0
        batch = jnp.shape(flat)[:-1]
        for name, shape in self.stat_shapes.items():
            size = self.stat_sizes[name]
            out[name] = jnp.asarray(flat)[..., start : start + size].reshape(*batch, *shape)
            start += size
        return out

    def compute_stats_flat(self, x):
        """T(x) as a flat vector (stat_dim,) for a single x of shape x_shape."""
        return self.flatten(self._compute_stats(x))

    def log_unnormalized(self, x, eta):
        """eta . T(x) + log h(x) for a single x and eta of shape (stat_dim,)."""
        return jnp.dot(eta, self.compute_stats_flat(x)) + self.log_base_measure(x)

    def log_density_unconstrained(self, u, eta):
        """Target of the samplers: log p(forward(u) | eta) + log|J|, up to A(eta)."""
        domain = self.domain
        return self.log_unnormalized(domain.forward(u), eta) + domain.log_det_jacobian(u)

    @property
    def has_exact(self) -> bool:
        """True when exact_mu_T / exact_cov_TT are available in closed form."""
        cls = type(self)
        return (
            cls.log_partition is not ExponentialFamily.log_partition
            or cls.exact_mu_T is not ExponentialFamily.exact_mu_T
        )

    def exact_mu_T(self, eta):
        """E[T(x) | eta], shape (stat_dim,): grad of ``log_partition``."""
        return jax.grad(self.log_partition)(eta)

    def exact_cov_TT(self, eta):
        """Cov[T(x) | eta], shape (stat_dim, stat_dim): Hessian of ``log_partition``."""
        return jax.hessian(self.log_partition)(eta)


make_eager(ExponentialFamily)
