"""Finished batches of a generation run, kept on disk until the data file is written.

``<output>.partial/`` (``.partial.<i>/`` for process i of several) holds one
``batch_NNNNNN.npz`` per finished batch, each written atomically, and a
fingerprint of the config and the eta grid, which guards against resuming
with different settings. A batch file that cannot be read (damaged outside
the package) is discarded and redone, with a line on stderr saying so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from pathlib import Path

import jax
import numpy as np

from nnef_dists.atomic import atomic_file
from nnef_dists.errors import ConfigError


def fingerprint(config, eta: np.ndarray, batch_size: int, chunk_size: int | None = None) -> str:
    """What a resumed run must share with the interrupted one: config, grid, batches, chunks.

    chunk_size: the eta one device samples side by side (its default differs
    between CPU and GPU, and an eta's draws depend on it); None for quadrature.
    """
    text = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    text += f" batch_size={batch_size} processes={jax.process_count()} chunk_size={chunk_size}"
    return hashlib.sha256(text.encode() + eta.tobytes()).hexdigest()


def beside(output: Path) -> Path:
    """The folder of this process's finished batches for ``output``: ``<output>.partial``."""
    suffix = ".partial" if jax.process_count() == 1 else f".partial.{jax.process_index()}"
    return output.with_name(output.name + suffix)


class PartialResults:
    """The store of ``sampling.estimate.estimate_batches``: load(index), save(index, arrays)."""

    def __init__(self, output: Path, fingerprint: str):
        self.folder = beside(output)
        self.fingerprint = fingerprint
        self.resumed_rows = 0  # eta of batches read back, finished by an earlier run

    def open(self, fresh: bool) -> None:
        """Create the folder; ``fresh`` discards what is there, else it must match."""
        stamp = self.folder / "fingerprint.txt"
        if fresh and self.folder.exists():
            shutil.rmtree(self.folder)
        if stamp.exists() and stamp.read_text() != self.fingerprint:
            raise ConfigError(
                f"{self.folder}: holds batches of a run with another config or grid; "
                "rerun with --force to discard them"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(self.fingerprint)

    def _path(self, index: int) -> Path:
        return self.folder / f"batch_{index:06d}.npz"

    def load(self, index: int) -> dict | None:
        """The arrays of batch ``index``, or None when it is not there or is damaged."""
        path = self._path(index)
        if not path.exists():
            return None
        try:
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as stored:
                arrays = dict(stored)
            rows = {len(value) for value in arrays.values()}
            if len(rows) != 1:
                raise ValueError("arrays of different lengths")
        except Exception as err:  # a truncated or foreign file: zip, npy and shape errors
            print(f"{path}: a damaged batch ({type(err).__name__}); redoing it", file=sys.stderr)
            path.unlink()
            return None
        self.resumed_rows += rows.pop()
        return arrays

    def save(self, index: int, arrays: dict) -> None:
        with atomic_file(self._path(index)) as handle:
            np.savez(handle, **arrays)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
