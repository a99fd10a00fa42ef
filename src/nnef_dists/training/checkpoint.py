"""Checkpoints of the training loop: a run killed at any point resumes to the same parameters.

A checkpoint holds everything the loop carries from one epoch to the next:
the parameters, the other module state, the optimiser state, the best
parameters so far with their validation loss, and the losses per epoch. The
random keys of later epochs are derived from the seed alone, so a resumed run
on CPU ends with the same parameters, bit for bit, as one never interrupted.
It is written atomically (``atomic.atomic_file``) and carries a fingerprint
of the run (its settings and training rows): a checkpoint of another run is
refused, a damaged one discarded (with a line saying so) for a fresh start.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from nnef_dists.atomic import atomic_file
from nnef_dists.errors import ConfigError
from nnef_dists.training.history import History

#: Seconds between checkpoints (and one after the last epoch); the environment
#: variable NNEF_CHECKPOINT_SECONDS sets it (0: after every epoch).
EVERY_SECONDS = float(os.environ.get("NNEF_CHECKPOINT_SECONDS", "10"))


def beside(output) -> Path:
    """The checkpoint of the run that writes ``output``: a hidden file beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.checkpoint")


def prepare(output, resume: bool, force: bool) -> Path:
    """Before a run writing ``output``: its checkpoint path (``beside``), kept only to
    resume from, and never dropped silently.

    Raises:
      ConfigError: a checkpoint is there, and neither --resume nor --force.
    """
    path = beside(output)
    if path.exists() and not resume:
        if not force:
            raise ConfigError(
                f"{path}: an interrupted run's checkpoint; --resume continues it, "
                "--force starts afresh"
            )
        path.unlink()
    return path


def fingerprint(description: str, rows) -> str:
    """A digest of a run: its settings (text) and its training rows (a pytree of arrays)."""
    digest = hashlib.sha256(description.encode())
    for leaf in jax.tree.leaves(rows):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()


def save(path: Path, run: str, epoch: int, finished: bool, carried, best, best_val, history):
    """Write the loop's state after ``epoch`` (0-based) to ``path``, atomically.

    finished: the loop ended there (early stopping or its last epoch).
    """
    record = {
        "run": run,
        "epoch": epoch,
        "finished": finished,
        "seconds": history.seconds,
        "carried": [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(carried))],
        "best": [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(best))],
        "best_val": best_val,
        "train": list(history.train),
        "val": list(history.val),
        "best_epoch": history.best_epoch,
    }
    with atomic_file(path) as handle:
        handle.write(serialization.msgpack_serialize(record))


def load(path: Path, run: str, carried, best):
    """(epoch, finished, carried, best, best_val, history) from ``path``, or None.

    carried, best: templates of the trees (structure, shapes and dtypes). A
    damaged checkpoint (truncated, or not one of ours) is discarded, with a
    line on stderr saying so, and None returned: the run starts afresh.

    Raises:
      ConfigError: the checkpoint of another run (other settings or data).
    """
    try:
        record = serialization.msgpack_restore(Path(path).read_bytes())
        other = record["run"] != run
        if not other:
            trees = [_like(carried, record["carried"]), _like(best, record["best"])]
            history = History(
                list(record["train"]),
                list(record["val"]),
                int(record["best_epoch"]),
                float(record["seconds"]),
            )
            epoch, finished = int(record["epoch"]), bool(record["finished"])
    except Exception as err:  # a truncated or foreign file: msgpack, key and shape errors
        print(
            f"{path}: a damaged checkpoint ({type(err).__name__}); starting afresh", file=sys.stderr
        )
        Path(path).unlink()
        return None
    if other:
        raise ConfigError(
            f"{path}: the checkpoint of another run (other settings or data); "
            "--force starts this one afresh"
        )
    return epoch, finished, *trees, float(record["best_val"]), history


def _like(template, leaves):
    """``leaves`` (a list of arrays) in the structure, shapes and dtypes of ``template``."""
    expected = jax.tree.leaves(template)
    if len(leaves) != len(expected) or any(
        np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype
        for a, b in zip(leaves, expected, strict=True)
    ):
        raise ValueError("the arrays do not match the model")
    return jax.tree.unflatten(jax.tree.structure(template), [np.asarray(a) for a in leaves])
