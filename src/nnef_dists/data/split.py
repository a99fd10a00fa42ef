"""Train/validation/test splits: 80/10/10 (data sets) or 80/20 (flows), randomised by a seed."""

from __future__ import annotations

import jax
import numpy as np


def split_indices(n: int, seed: int) -> dict:
    """Disjoint row indices covering range(n): dict(train=, val=, test=), int arrays.

    val and test get n // 10 rows each and train the rest (80/10/10), drawn
    by a permutation from ``np.random.default_rng(seed)``.
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_val = n_test = n // 10
    n_train = n - n_val - n_test
    return {
        "train": perm[:n_train],
        "val": perm[n_train : n_train + n_val],
        "test": perm[n_train + n_val :],
    }


def split_dataset(data: dict, seed: int) -> dict:
    """Split a data set row-wise: dict(train=, val=, test=), each with data's keys."""
    n = len(data["eta"])
    return {
        part: {key: value[index] for key, value in data.items()}
        for part, index in split_indices(n, seed).items()
    }


def train_validation_indices(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) row indices of range(n), 80/20 (at least 1 validation row), drawn by
    ``jax.random.permutation(jax.random.key(seed), n)``."""
    order = np.asarray(jax.random.permutation(jax.random.key(seed), n))
    n_val = max(1, int(round(0.2 * n)))
    return order[n_val:], order[:n_val]
