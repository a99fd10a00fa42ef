"""Writing files and folders atomically: complete, or not there at all.

Every output of the package goes through these two: a temporary sibling
(same folder, so the final ``os.replace`` is atomic on one file system),
flushed and synced, then renamed over the target. An interruption or error
leaves the previous file or folder untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from nnef_dists.errors import ConfigError, OutputExistsError


@contextmanager
def atomic_file(path, mode: str = "wb"):
    """Yield an open temporary file that replaces ``path`` when the block succeeds.

    Args:
      path: the target; its parent folders are created.
      mode: ``"wb"`` (binary) or ``"w"`` (text, newline="" for csv).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, newline=None if "b" in mode else "") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_output(path, force: bool, reads=()) -> None:
    """Raise, before any work, when ``path`` is not an output a command may write.

    OutputExistsError: ``path`` exists and ``force`` is not set. ConfigError:
    ``path`` is or lies inside one of ``reads``, the folders the command only
    reads (a model directory); or its folder cannot be written (the nearest
    existing folder above it is not writable, or is a file).
    """
    path = Path(path)
    for folder in reads:
        if path.resolve().is_relative_to(Path(folder).resolve()):
            raise ConfigError(
                f"{path}: inside {folder}, which this command only reads; choose an output "
                "outside it"
            )
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists; use --force to overwrite it")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot write there: {parent} is not a writable folder")


@contextmanager
def atomic_directory(directory, force: bool = False):
    """Yield a temporary folder that replaces ``directory`` when the block succeeds.

    Without ``force`` an existing ``directory`` is an OutputExistsError; with
    it, the old one is removed only after the new one is complete.
    """
    directory = Path(directory)
    check_output(directory, force)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield tmp
        if directory.exists():
            old = tmp.with_name(tmp.name + ".old")
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old)
        else:
            os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
