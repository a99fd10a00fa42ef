"""Reading pickles that may hold NumPy arrays and nothing else.

A pickle can name any importable callable and call it while loading; the
restricted unpickler resolves only the few NumPy names an array needs (checked
with ``pickletools`` on NumPy 1.x and 2.x, pickle protocols 2 to 5), so a file
that would run code is refused before anything in it runs.
"""

from __future__ import annotations

import codecs
import pickle

import numpy as np

from nnef_dists.errors import DataError

try:  # NumPy 2 moved numpy.core to numpy._core; pickles name either
    from numpy._core import multiarray, numeric
except ImportError:  # pragma: no cover  (NumPy 1.x)
    from numpy.core import multiarray, numeric

_SAFE = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
for _core in ("numpy.core", "numpy._core"):
    _SAFE[f"{_core}.multiarray._reconstruct"] = multiarray._reconstruct  # ndarray, protocol <= 4
    _SAFE[f"{_core}.multiarray.scalar"] = multiarray.scalar  # NumPy scalars
    _SAFE[f"{_core}.numeric._frombuffer"] = numeric._frombuffer  # ndarray, protocol 5
# Protocol 2 stores the raw array bytes as str and encodes them back with
# _codecs.encode(text, 'latin1'): a pure text -> bytes conversion.
_SAFE["_codecs.encode"] = codecs.encode


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _SAFE[f"{module}.{name}"]
        except KeyError:
            raise DataError(
                f"{self.source}: refusing to unpickle '{module}.{name}' "
                "(only NumPy arrays are allowed)"
            ) from None


def load_arrays(file, source: str):
    """Unpickle ``file`` (a binary file object) allowing only NumPy arrays.

    Plain containers (dict, list, str, numbers) need no imports and load as
    usual; anything that names another class or function raises DataError.
    """
    try:
        return _ArrayUnpickler(file, source).load()
    except DataError:
        raise
    except Exception as err:  # whatever a corrupt or foreign file makes pickle raise
        raise DataError(
            f"{source}: not a data set file (cannot unpickle it: {type(err).__name__}: {err})"
        ) from None
