"""Splitting batches over the local devices: one 1-D mesh, rows along its axis.

Generation, training and CAVI all work on batches whose rows are independent
(eta, minibatch examples, CAVI problems). Each splits them the same way: a
1-D ``Mesh`` over the local devices (one per CPU core with
``nnef_dists.runtime.use_every_cpu_core``, every GPU, every TPU core), rows
padded to a multiple of the device count and placed with ``PartitionSpec(AXIS)``,
everything else replicated.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

#: Name of the mesh axis along which rows are split.
AXIS = "rows"


def local_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` local devices (default: all).

    Raises:
      ValueError: num_devices is not between 1 and the number of local devices.
    """
    devices = jax.local_devices()
    if num_devices is None:
        num_devices = len(devices)
    if not 1 <= num_devices <= len(devices):
        raise ValueError(
            f"num_devices: {num_devices} asked for, {len(devices)} local device(s) "
            f"available ({devices[0].platform})"
        )
    return Mesh(np.array(devices[:num_devices]), (AXIS,))


def accelerator_mesh(num_devices: int | None = None) -> Mesh:
    """``local_mesh`` for small per-row work (training steps, CAVI sweeps).

    None: every local GPU or TPU, but one device on CPU. There one device
    already keeps the cores busy on these sizes and splitting only adds
    overhead (2 CPU cores: an mlp_et epoch took 23 ms on 2 devices against 12
    ms on one; CAVI on 10,000 problems ran at the same speed, on 100 slower).
    """
    if num_devices is None and jax.default_backend() == "cpu":
        num_devices = 1
    return local_mesh(num_devices)


def pad_rows(tree, multiple: int):
    """Pad every leaf's first axis (all of length n) to a multiple of ``multiple``.

    Padding repeats the last row, so padded rows hold valid inputs whose results
    are simply dropped.

    Returns:
      (padded tree, n).
    """
    leaves = jax.tree.leaves(tree)
    n = leaves[0].shape[0]
    extra = -n % multiple

    def pad(x):
        if extra == 0:
            return x
        return jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree), n


def row_sharding(mesh: Mesh) -> NamedSharding:
    """Rows split along the mesh axis, the other axes whole."""
    return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """The whole array on every device of the mesh."""
    return NamedSharding(mesh, P())
