"""Target spaces of flows, as strings: blocks of R^N, spheres, intervals and simplices.

``"e4+s2+e1"``: blocks joined by ``+``, ``eN`` (R^N), ``sN`` (the sphere S^N as
unit vectors in R^{N+1}; N = 1 or 2), ``iN`` (the open box (0, 1)^N), ``xN``
(the simplex of N + 1 positive components summing to 1). This module parses
them and checks data points against them; ``flows.manifold`` flows on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from nnef_dists.data.standardize import Standardizer
from nnef_dists.errors import DataError

#: tolerance on |x| = 1 (spheres) and sum x = 1 (simplices) of input points
ON_MANIFOLD_TOL = 1e-3


@dataclass(frozen=True)
class Block:
    """One factor of a manifold: ``kind`` (e, s, i, x) and its dimension n."""

    kind: str
    n: int

    @property
    def ambient(self) -> int:
        """Columns of data it takes: n + 1 for spheres and simplices, else n."""
        return self.n + (self.kind in "sx")

    def __str__(self) -> str:
        return f"{self.kind}{self.n}"


def parse_manifold(spec: str) -> tuple[Block, ...]:
    """``"e4+s2+e1"`` -> its blocks; ValueError naming the bad part."""
    blocks = []
    for part in str(spec).replace(" ", "").split("+"):
        match = re.fullmatch(r"([esix])([1-9][0-9]*)", part)
        if not match:
            raise ValueError(
                f"manifold {spec!r}: {part!r} is not a block (eN, sN, iN or xN, N >= 1)"
            )
        block = Block(match[1], int(match[2]))
        if block.kind == "s" and block.n > 2:
            raise ValueError(f"manifold {spec!r}: spheres S^1 and S^2 are supported, not {part}")
        blocks.append(block)
    return tuple(blocks)


def euclidean_columns(blocks: tuple[Block, ...]) -> np.ndarray:
    """(D,) bool: the data columns of Euclidean blocks (the ones to standardise)."""
    return np.concatenate([np.full(b.ambient, b.kind == "e") for b in blocks])


def on_manifold(blocks: tuple[Block, ...], x: np.ndarray, what: str = "params") -> np.ndarray:
    """Rows x (N, D) checked to lie on the manifold, then projected onto it exactly.

    ValueError naming the block, its columns and the first bad row otherwise.
    """
    x = np.array(x, np.float64)
    if x.ndim != 2 or x.shape[1] != sum(b.ambient for b in blocks):
        raise ValueError(
            f"{what} must have {sum(b.ambient for b in blocks)} columns for manifold "
            f"{'+'.join(map(str, blocks))}, got shape {x.shape}"
        )
    start = 0
    for block in blocks:
        cols = slice(start, start + block.ambient)
        v = x[:, cols]
        bad = {
            "e": ~np.all(np.isfinite(v), 1),
            "i": ~np.all((v > 0) & (v < 1), 1),
            "s": np.abs(np.linalg.norm(v, axis=1) - 1) > ON_MANIFOLD_TOL,
            "x": ~np.all(v > 0, 1) | (np.abs(v.sum(1) - 1) > ON_MANIFOLD_TOL),
        }[block.kind]
        if bad.any():
            need = {
                "e": "finite values",
                "i": "values strictly between 0 and 1",
                "s": f"unit vectors (norm 1 within {ON_MANIFOLD_TOL})",
                "x": f"positive components summing to 1 (within {ON_MANIFOLD_TOL})",
            }[block.kind]
            raise ValueError(
                f"{what} columns {start + 1}-{start + block.ambient} (block {block}) must be "
                f"{need}; row {int(np.argmax(bad)) + 1} is not ({bad.sum()} rows are not)"
            )
        if block.kind == "s":
            x[:, cols] = v / np.linalg.norm(v, axis=1, keepdims=True)
        elif block.kind == "x":
            x[:, cols] = v / v.sum(1, keepdims=True)
        start += block.ambient
    return x


def points(manifold: str, x) -> np.ndarray:
    """Rows x (N, D) checked and projected onto ``manifold``, in float32 (interval values kept
    inside (0, 1), simplex components above 0); DataError naming the block, its columns and
    a bad row."""
    blocks = parse_manifold(manifold)
    try:
        x = on_manifold(blocks, x)
    except ValueError as err:
        raise DataError(str(err)) from None
    kinds = np.concatenate([np.full(b.ambient, b.kind) for b in blocks])
    eps, tiny = np.finfo(np.float32).epsneg, np.finfo(np.float32).tiny
    x[:, kinds == "i"] = np.clip(x[:, kinds == "i"], eps, 1 - eps)  # not rounded onto 0, 1
    x[:, kinds == "x"] = np.maximum(x[:, kinds == "x"], tiny)
    return x.astype(np.float32)


def standardizer(manifold: str, y) -> Standardizer:
    """The Standardizer of params y (N, D) on ``manifold`` ("": R^D): Euclidean columns by
    their mean and std, the others left as they are (mean 0, scale 1), on the manifold."""
    fitted = Standardizer.fit(y)
    if not manifold:
        return fitted
    keep = euclidean_columns(parse_manifold(manifold))
    mean, scale = np.where(keep, fitted.mean, 0.0), np.where(keep, fitted.scale, 1.0)
    return Standardizer(mean.astype(np.float32), scale.astype(np.float32))
