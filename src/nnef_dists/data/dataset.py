"""The data set contract (README: Data file): which arrays, of which shapes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nnef_dists.errors import DataError

#: The keys of a data set, each a float64 array with N rows, k = stat_dim.
KEYS = ("eta", "mu_T", "cov_TT", "ess")


def check_dataset(data, source: str) -> dict:
    """Validate a data set; return it as a new dict of float64 arrays.

    ``data`` must be a dict with exactly the keys eta (N, k), mu_T (N, k),
    cov_TT (N, k, k) and ess (N, k), each a real floating NumPy array.
    ``source`` (a file name, or a description) starts every error message.
    """
    if not isinstance(data, Mapping):
        raise DataError(f"{source}: expected a dict of arrays, got {type(data).__name__}")
    missing = [k for k in KEYS if k not in data]
    extra = [repr(k) for k in data if k not in KEYS]
    if missing or extra:
        raise DataError(
            f"{source}: expected exactly the keys {', '.join(KEYS)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
        )
    for key in KEYS:
        value = data[key]
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise DataError(f"{source}: {key}: expected a floating NumPy array, got {kind}")
    if data["eta"].ndim != 2:
        raise DataError(f"{source}: eta: expected shape (N, k), got {data['eta'].shape}")
    n, k = data["eta"].shape
    for key, shape in (("mu_T", (n, k)), ("cov_TT", (n, k, k)), ("ess", (n, k))):
        if data[key].shape != shape:
            raise DataError(
                f"{source}: {key}: expected shape {shape} to match eta {(n, k)}, "
                f"got {data[key].shape}"
            )
    return {key: data[key].astype(np.float64, copy=False) for key in KEYS}


#: Fewest rows of a data set a network is trained on: 10 gives one validation
#: and one test row (split 80/10/10).
MIN_TRAINING_ROWS = 10


def check_trainable(data: dict, source: str, rows=None) -> None:
    """Raise DataError unless ``data`` (a checked data set) can train a network.

    Each problem has its own message naming ``source``, the key and the row:
    too few rows for the 80/10/10 split; a value of eta, mu_T or cov_TT that
    is not finite, or an ess that is NaN or negative; a column of eta or mu_T
    that is the same in every row (the network could not learn how mu_T
    depends on it). ``rows`` (N,): the rows' numbers in the file, where some
    were left out (default 0..N-1).
    """
    n = len(data["eta"])
    rows = np.arange(n) if rows is None else np.asarray(rows)
    if n < MIN_TRAINING_ROWS:
        raise DataError(
            f"{source}: {n} rows to train on are too few for the 80/10/10 split into "
            f"training, validation and test rows: need at least {MIN_TRAINING_ROWS}"
        )
    for key in ("eta", "mu_T", "cov_TT", "ess"):
        values = data[key].reshape(n, -1)
        bad = np.isnan(values) | (values < 0) if key == "ess" else ~np.isfinite(values)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            what = "NaN or negative" if key == "ess" else "not finite"
            raise DataError(
                f"{source}: {key}: row {rows[row]} has {values[row, column]} at index {column} "
                f"({what}; {int(bad.any(1).sum())} rows in all): remove those rows, or "
                "regenerate them"
            )
    for key in ("eta", "mu_T"):
        constant = np.flatnonzero(np.all(data[key] == data[key][:1], axis=0))
        if constant.size:
            j = int(constant[0])
            raise DataError(
                f"{source}: {key}: column {j} is {data[key][0, j]} in every row: a network "
                "cannot learn how mu_T depends on it; give eta a range in that coordinate"
            )
