"""The ``grid:`` and ``sampling:`` sections of a data config, and eta ranges against a family.

``resolve_eta_range`` checks ``grid.eta_range`` against a family, so that a
config that parses is one the generator can run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nnef_dists.errors import ConfigError
from nnef_dists.families import ExponentialFamily
from nnef_dists.schema import (
    OPTIONAL_POSITIVE,
    POSITIVE,
    PROBABILITY,
    at_least,
    checked,
    did_you_mean,
    one_of,
)


@dataclass(frozen=True)
class GridConfig:
    """``grid:`` where the natural parameters eta are drawn (see sampling.grid)."""

    num_points: int = checked(POSITIVE)
    eta_range: dict = checked()
    spread: str = checked(one_of("uniform", "log"), default="uniform")
    batch_size: int = checked(POSITIVE, default=256)


@dataclass(frozen=True)
class SamplingConfig:
    """``sampling:`` how E[T | eta] and Cov[T | eta] are estimated at each eta."""

    method: str = checked(one_of("hmc", "nuts", "quadrature"), default="hmc")
    num_samples: int = checked(POSITIVE, default=1000)
    num_warmup: int = checked(at_least(0), default=500)
    num_chains: int = checked(
        at_least(2, " (the multi-chain diagnostics need 2 or more chains)"), default=4
    )
    num_integration_steps: int = checked(POSITIVE, default=10)
    step_size: float = checked(POSITIVE, default=0.1)
    target_acceptance_rate: float = checked(PROBABILITY, default=0.8)
    # eta sampled side by side by one device; an eta's draws depend on the seed, its
    # index and this number only. None: 256 on CPU, 4096 on GPU or TPU.
    chunk_size: int | None = checked(OPTIONAL_POSITIVE, default=None)


def resolve_eta_range(family: ExponentialFamily, grid: GridConfig):
    """Check ``grid.eta_range`` against ``family``; return per-entry bounds.

    Each statistic of ``family.stat_shapes`` needs a range: ``[lo, hi]`` for all
    its entries or a list of ``[lo, hi]``, one per flat entry. Returns
    ``(lo, hi)``, two float64 arrays of shape (stat_dim,).

    Raises:
      ConfigError: naming the ``grid.eta_range`` entry at fault.
    """
    ranges, sizes = grid.eta_range, family.stat_sizes
    for name in ranges:
        if name not in sizes:
            raise ConfigError(
                f"grid.eta_range.{name}: {family.name} has no such statistic; "
                + did_you_mean(name, sizes, otherwise="expected")
            )
    bounds = family.eta_bounds()
    pairs = []
    for name, size in sizes.items():
        if name not in ranges:
            raise ConfigError(f"grid.eta_range.{name}: missing range for statistic {name}")
        for where, lo, hi in _range_pairs(ranges[name], size, f"grid.eta_range.{name}"):
            _check_pair(where, lo, hi, grid.spread)
            b_lo, b_hi = bounds.get(name, (-np.inf, np.inf))
            if hi <= b_lo or lo >= b_hi:
                raise ConfigError(
                    f"{where}: [{lo!r}, {hi!r}] lies outside the natural parameter space of "
                    f"{family.name} ({_describe_bound(name, b_lo, b_hi)})"
                )
            pairs.append((lo, hi))
    lo, hi = np.array(pairs, dtype=np.float64).reshape(-1, 2).T
    return lo, hi


def eta_range_entry(family: ExponentialFamily, lo, hi) -> dict:
    """A ``grid.eta_range`` mapping: one [lo, hi] per flat entry of each statistic."""
    out, start = {}, 0
    for name, size in family.stat_sizes.items():
        out[name] = [[float(lo[i]), float(hi[i])] for i in range(start, start + size)]
        start += size
    return out


def describe_eta_bounds(family: ExponentialFamily) -> str:
    """The family's constraints on eta in words, e.g. 'log_x > -1, x < 0'."""
    parts = [_describe_bound(n, lo, hi) for n, (lo, hi) in family.eta_bounds().items()]
    if type(family).in_natural_space is not ExponentialFamily.in_natural_space:
        parts.append(f"see {type(family).__qualname__}.in_natural_space")
    return ", ".join(parts) or "no constraint"


def _describe_bound(name: str, lo: float, hi: float) -> str:
    if lo == -np.inf:
        return f"{name} < {hi:g}"
    if hi == np.inf:
        return f"{name} > {lo:g}"
    return f"{lo:g} < {name} < {hi:g}"


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _range_pairs(spec, size: int, where: str):
    """[(where, lo, hi)] with one entry per flat statistic entry, or one for all."""
    shape_hint = f"expected [lo, hi] or a list of {size} [lo, hi] pairs, got {spec!r}"
    if not isinstance(spec, list | tuple) or not spec:
        raise ConfigError(f"{where}: {shape_hint}")
    if all(_is_number(v) for v in spec):
        if len(spec) != 2:
            raise ConfigError(f"{where}: {shape_hint}")
        return [(where, float(spec[0]), float(spec[1]))] * size
    if len(spec) != size:
        raise ConfigError(f"{where}: {len(spec)} ranges given for {size} entries; {shape_hint}")
    out = []
    for i, pair in enumerate(spec):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(map(_is_number, pair))):
            raise ConfigError(f"{where}[{i}]: expected [lo, hi], got {pair!r}")
        out.append((f"{where}[{i}]", float(pair[0]), float(pair[1])))
    return out


def _check_pair(where: str, lo: float, hi: float, spread: str) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{where}: bounds must be finite, got [{lo!r}, {hi!r}]")
    if not lo < hi:
        raise ConfigError(f"{where}: lo must be below hi, got [{lo!r}, {hi!r}]")
    if spread == "log" and not lo * hi > 0:
        raise ConfigError(
            f"{where}: spread 'log' needs lo and hi nonzero and of the same sign, "
            f"got [{lo!r}, {hi!r}]"
        )
