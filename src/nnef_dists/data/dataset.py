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
