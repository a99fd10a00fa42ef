"""Saving and loading data set files: a pickle plus a ``<file>.meta.json`` side-car.

Both files are written atomically (``nnef_dists.atomic.atomic_file``), the
side-car first, so a crash never leaves a half-written file nor a data file
without its metadata, and a failed write leaves any previous file untouched.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np

from nnef_dists.atomic import atomic_file
from nnef_dists.data.dataset import KEYS, check_dataset
from nnef_dists.data.safe_pickle import load_arrays
from nnef_dists.errors import DataError

#: Pickle protocol of the files written (4: arrays need only _reconstruct).
PROTOCOL = 4


def meta_path(path) -> Path:
    """The side-car of a data file: ``<path>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def save_dataset(path, data: dict, meta: dict) -> None:
    """Write a data set (keys eta, mu_T, cov_TT, ess) and its metadata.

    Arrays may be anything ``np.asarray`` takes (JAX arrays included) and are
    stored as float64; shapes eta (N, k), mu_T (N, k), cov_TT (N, k, k),
    ess (N, k). ``meta`` must be JSON-able after converting NumPy values,
    tuples, paths and dataclasses; NaN and +-inf become the strings "NaN",
    "Infinity", "-Infinity". Creates parent directories; raises DataError
    before writing anything when data or meta is not valid.
    """
    path = Path(path)
    source = f"data for {path}"
    arrays = check_dataset(_as_float_arrays(data, source), source)
    meta_text = json.dumps(_jsonable(meta, "meta"), indent=2, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as data_file:
        pickle.dump(arrays, data_file, protocol=PROTOCOL)
        with atomic_file(meta_path(path)) as meta_file:  # replaced first, as it closes first
            meta_file.write(meta_text.encode())


def load_dataset(path) -> dict:
    """Read a data file safely: a dict of float64 arrays, keys as in ``save_dataset``.

    Only NumPy arrays are unpickled; anything else (code, other classes), a
    file that is not a pickle, missing or extra keys or inconsistent shapes
    raise DataError naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            data = load_arrays(file, source=str(path))
    except OSError as err:
        raise DataError(f"{path}: cannot read the data file: {err.strerror}") from None
    return check_dataset(data, source=str(path))


def load_metadata(path) -> dict:
    """The side-car metadata of data file ``path`` (the ``.meta.json`` itself also works)."""
    path = Path(path)
    side = path if path.name.endswith(".meta.json") else meta_path(path)
    try:
        meta = json.loads(side.read_text())
    except OSError as err:
        raise DataError(f"{side}: cannot read the metadata: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{side}: not valid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise DataError(f"{side}: expected a JSON object, got {type(meta).__name__}")
    return meta


def _as_float_arrays(data, source: str) -> dict:
    """Cast the known keys to float64 NumPy arrays; others are left for the check."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in KEYS:
        if key in out:
            try:
                out[key] = np.asarray(out[key], dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise DataError(f"{source}: {key}: cannot convert to floats: {err}") from None
    return out


def _jsonable(obj, where: str):
    """``obj`` as plain JSON values; non-finite floats as strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biu":
        return obj.tolist()  # integers (e.g. the rows of a million flagged eta): as they are
    if isinstance(obj, np.ndarray | np.generic):
        obj = obj.tolist()
    if isinstance(obj, os.PathLike):
        obj = os.fspath(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if obj is None or isinstance(obj, str | int | float):  # bool is an int
        return obj
    raise DataError(f"{where}: cannot store a {type(obj).__name__} in JSON metadata")
