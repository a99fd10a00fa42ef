"""Many CAVI problems at once, split over the local devices (``nnef_dists.parallel``)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from nnef_dists import parallel
from nnef_dists.inference.cavi import CAVIResult, cavi


@partial(jax.jit, static_argnames=("px", "py", "max_iter", "num_devices"))
def cavi_batch(
    model, px, py, eta_x0, eta_y0, tol=1e-6, max_iter=100, damping=0.0, key=None, num_devices=None
) -> CAVIResult:
    """``cavi`` on B independent problems at once, split over the local devices.

    The B problems are padded to a multiple of the device count D
    (``parallel.pad_rows``), each device solves its B' / D of them with
    ``jax.vmap(cavi)`` (``jax.shard_map`` over ``parallel.local_mesh``), and
    the padding is dropped. Problem i gets the key ``split(key, B)[i]``
    whatever D, so results do not depend on the number of devices.

    Args:
      model: BilinearModel with A (B, k_x, k_y), b_x (B, k_x), b_y (B, k_y).
      eta_x0: (B, k_x) or one start (k_x,) for all; eta_y0 likewise.
      key: one key, split into B (needed for mc providers).
      num_devices: how many local devices to split the problems over
        (default: every GPU or TPU, one CPU device; see
        ``parallel.accelerator_mesh``); static.
      Others as for ``cavi``.

    Returns:
      CAVIResult whose every array has a leading axis B. Problems that stop
      early keep their values while the others go on.
    """
    batch = model.A.shape[0]
    mesh = parallel.accelerator_mesh(num_devices)
    rows = (
        model,
        jnp.broadcast_to(eta_x0, (batch, jnp.shape(eta_x0)[-1])),
        jnp.broadcast_to(eta_y0, (batch, jnp.shape(eta_y0)[-1])),
        None if key is None else jax.random.split(key, batch),
    )
    rows, _ = parallel.pad_rows(rows, mesh.size)

    def local(rows, tol, damping):
        """The vmapped ``cavi`` on one device's rows (B' / D problems)."""

        def one(model, eta_x0, eta_y0, key):
            return cavi(model, px, py, eta_x0, eta_y0, tol, max_iter, damping, key)

        return jax.vmap(one)(*rows)

    solve = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(parallel.AXIS), P(), P()),
        out_specs=P(parallel.AXIS),
        # cavi's while_loop starts from constants (replicated) and carries rows
        # (varying over the mesh): not a mix that the check of varying axes admits.
        check_vma=False,
    )
    return jax.tree.map(lambda a: a[:batch], solve(rows, tol, damping))
