"""The grid of natural parameters at which moments are estimated.

Raw points are drawn uniformly (or log-uniformly in |eta|) in the configured
box, mapped by ``family.reparam_eta`` and kept only where
``family.in_natural_space`` holds: points outside are rejected and redrawn,
never clipped, so the kept points are uniform on the valid part of the box.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.errors import ConfigError
from nnef_dists.families import ExponentialFamily
from nnef_dists.sampling.config import GridConfig, describe_eta_bounds, resolve_eta_range

#: Raw points drawn per round (at least num_points); the first round decides
#: whether the ranges are hopeless.
MIN_ROUND_SIZE = 10_000
#: Below this acceptance rate in the first round the ranges are refused.
MIN_ACCEPTANCE = 1e-3


@dataclass(frozen=True)
class EtaGrid:
    """Grid points and how many raw draws it took.

    eta: float32 array (num_points, stat_dim), all in the natural space.
    num_drawn: raw points consumed; num_rejected = num_drawn - num_points of
    them fell outside the natural space.
    """

    eta: np.ndarray
    num_rejected: int
    num_drawn: int


def make_eta_grid(family: ExponentialFamily, grid: GridConfig, key) -> EtaGrid:
    """Draw ``grid.num_points`` valid natural parameters for ``family``.

    Rounds of raw points (fixed size, keys ``fold_in(key, round)``) are drawn
    until enough are valid; points are kept in draw order, so the same key
    gives the same grid bit for bit. Raises ConfigError for ranges that do not
    fit the family, or whose acceptance rate is hopeless (< MIN_ACCEPTANCE).
    """
    lo, hi = resolve_eta_range(family, grid)
    round_size = max(grid.num_points, MIN_ROUND_SIZE)
    draw = jax.jit(lambda k: _draw_round(family, grid.spread, lo, hi, k, round_size))

    kept, num_kept, num_drawn = [], 0, 0
    for i in itertools.count():
        eta, ok = (np.asarray(a) for a in draw(jax.random.fold_in(key, i)))
        if i == 0 and ok.mean() < MIN_ACCEPTANCE:
            raise ConfigError(
                f"grid.eta_range: only {int(ok.sum())} of {round_size} points drawn lie in the "
                f"natural parameter space of {family.name} ({describe_eta_bounds(family)}); "
                "narrow the ranges to the valid region"
            )
        index = np.flatnonzero(ok)[: grid.num_points - num_kept]
        kept.append(eta[index])
        num_kept += len(index)
        if num_kept == grid.num_points:
            num_drawn += int(index[-1]) + 1  # draws after the last kept one are unused
            break
        num_drawn += round_size
    return EtaGrid(
        eta=np.concatenate(kept).astype(np.float32),
        num_rejected=num_drawn - num_kept,
        num_drawn=num_drawn,
    )


def _draw_round(family, spread: str, lo, hi, key, size: int):
    """``size`` raw draws: (eta (size, stat_dim) float32, valid (size,) bool)."""
    u = jax.random.uniform(key, (size, lo.shape[0]), dtype=jnp.float32)
    if spread == "log":  # log-uniform in |eta| between |lo| and |hi|; same sign
        a, b = np.log(np.abs(lo)), np.log(np.abs(hi))
        raw = _f32(np.sign(lo)) * jnp.exp(_f32(a) + u * _f32(b - a))
    else:
        raw = _f32(lo) + u * _f32(hi - lo)
    eta = jax.vmap(family.reparam_eta)(raw)
    return eta, family.in_natural_space(eta)


def _f32(a):
    """float32 constants keep the draw identical with and without jax_enable_x64."""
    return np.asarray(a, dtype=np.float32)
