"""Checking a family once, when it is built: its members against the contract.

Every member a family defines may compute with NumPy or ``jax.numpy``; the
optional ones that describe the support and the natural parameter space
(``x_bounds``, ``domain``, ``eta_bounds``) are evaluated eagerly
(``jax.ensure_compile_time_eval``), even when a sampler calls them while it
traces, and their values are NumPy. ``check_family`` then evaluates T(x),
the base measure and the bounds at a few points of the support, outside any
trace, and raises one ``FamilyError`` naming the family and the member at
fault.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from nnef_dists.errors import FamilyError

#: Points of the support at which T(x) and log h(x) are evaluated.
NUM_PROBES = 8
#: Members evaluated eagerly, whatever their context (see ``eager``).
EAGER_MEMBERS = ("x_bounds", "domain", "eta_bounds")


def eager(member):
    """``member`` (a method or a property's getter) evaluated outside any trace.

    jnp values it computes are concrete, so ``np.asarray`` of them works even
    when the caller is being traced by ``jax.jit``.
    """

    @functools.wraps(member)
    def wrapper(*args, **kwargs):
        with jax.ensure_compile_time_eval():
            return member(*args, **kwargs)

    return wrapper


def make_eager(cls) -> None:
    """Wrap the members of EAGER_MEMBERS that ``cls`` itself defines with ``eager``."""
    for name in EAGER_MEMBERS:
        member = cls.__dict__.get(name)
        if isinstance(member, property):
            setattr(cls, name, property(eager(member.fget), doc=member.__doc__))
        elif callable(member):
            setattr(cls, name, eager(member))


def check_family(family) -> None:
    """Check ``family`` against the contract; FamilyError naming the family and member."""
    with jax.ensure_compile_time_eval():
        shapes = _stat_shapes(family)
        domain = _domain(family)
        _eta_bounds(family, shapes)
        _statistics(family, domain, shapes)


def _fail(family, member: str, problem: str):
    raise FamilyError(f"family {family.name}: {member}: {problem}")


def _stat_shapes(family) -> dict:
    shapes = family.stat_shapes
    if not isinstance(shapes, dict) or not shapes:
        _fail(family, "stat_shapes", f"expected a non-empty dict name -> shape, got {shapes!r}")
    for name, shape in shapes.items():
        if not (
            isinstance(name, str)
            and isinstance(shape, tuple)
            and all(isinstance(n, int | np.integer) and n > 0 for n in shape)
        ):
            _fail(family, "stat_shapes", f"{name!r}: {shape!r} is not a tuple of positive ints")
    return shapes


def _domain(family):
    mro = type(family).__mro__
    # the base class (last before object) makes the domain from x_bounds
    member = "x_bounds" if next(c for c in mro if "domain" in vars(c)) is mro[-2] else "domain"
    try:
        domain = family.domain
    except (TypeError, ValueError) as err:
        _fail(family, member, str(err))
    if tuple(domain.x_shape) != tuple(family.x_shape):
        _fail(
            family,
            "domain",
            f"x has shape {tuple(domain.x_shape)}, x_shape says {tuple(family.x_shape)}",
        )
    return domain


def _eta_bounds(family, shapes: dict) -> None:
    bounds = family.eta_bounds()
    if not isinstance(bounds, dict):
        _fail(family, "eta_bounds", f"expected a dict name -> (lo, hi), got {bounds!r}")
    for name, pair in bounds.items():
        if name not in shapes:
            _fail(family, "eta_bounds", f"{name!r} is not a statistic of stat_shapes")
        try:
            lo, hi = (float(v) for v in pair)
        except (TypeError, ValueError):
            _fail(family, "eta_bounds", f"{name}: expected (lo, hi), got {pair!r}")
        if not lo < hi:
            _fail(family, "eta_bounds", f"{name}: lo must be below hi, got ({lo}, {hi})")


def _statistics(family, domain, shapes: dict) -> None:
    """T(x) and log h(x) at NUM_PROBES points of the support: right names, shapes, finite."""
    rng = np.random.default_rng(0)
    for u in rng.standard_normal((NUM_PROBES, domain.unconstrained_dim)):
        x = domain.forward(u)
        stats = family._compute_stats(x)
        if not isinstance(stats, dict) or set(stats) != set(shapes):
            got = sorted(stats) if isinstance(stats, dict) else type(stats).__name__
            _fail(family, "_compute_stats", f"returned {got}, stat_shapes has {sorted(shapes)}")
        for name, shape in shapes.items():
            value = np.asarray(stats[name])
            if value.shape != tuple(shape):
                _fail(
                    family,
                    "_compute_stats",
                    f"{name} has shape {value.shape}, stat_shapes says {tuple(shape)}",
                )
            if not np.all(np.isfinite(value)):
                _fail(family, "_compute_stats", f"{name} is not finite at x = {np.asarray(x)}")
        log_h = np.asarray(family.log_base_measure(x))
        if log_h.shape != () or not np.isfinite(log_h):
            _fail(
                family,
                "log_base_measure",
                f"expected a finite scalar at x = {np.asarray(x)}, got {log_h}",
            )
