"""JAX settings for the command-line entry points (call before any computation)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jax
import jax.numpy as jnp

from nnef_dists.errors import ConfigError
from nnef_dists.numerics import MATMUL_PRECISION

#: Where compiled programs are kept between runs; NNEF_JAX_CACHE_DIR="" turns it off.
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "nnef_dists" / "jax"


def _default_xla_flag(name: str, value) -> None:
    """Add --name=value to XLA_FLAGS unless the user has set that flag."""
    flags = os.environ.get("XLA_FLAGS", "")
    if name not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --{name}={value}".strip()


def use_every_cpu_core() -> None:
    """Expose one JAX CPU device per core (XLA runs a vectorised loop on one core).

    Only sets ``--xla_force_host_platform_device_count`` when the user has not
    set it; has no effect once JAX has started its backends, and none on GPU
    or TPU, where the accelerators are the devices.
    """
    _default_xla_flag("xla_force_host_platform_device_count", len(os.sched_getaffinity(0)))


def compile_faster() -> None:
    """Let LLVM optimise CPU code at level 2 instead of 3 (``--xla_backend_optimization_level``).

    XLA's CPU compilation of the sampler takes about a third less time at level 2
    (3.8 s -> 2.7 s on a 2-core CPU), and the compiled programs ran as fast
    (``benchmarks/generate.py``). Not set when the user sets the flag; has no
    effect once JAX has started its backends.
    """
    _default_xla_flag("xla_backend_optimization_level", 2)


def enable_compilation_cache() -> None:
    """Keep compiled programs on disk so that a rerun skips compilation.

    Every program is kept, not only those that took JAX's default of 1 s to
    compile (unless JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS is set): a
    command compiles tens of small programs (a flow's initialisation, its
    epoch, its validation), each under a second, and together they were a
    quarter of a one-epoch ``nnef cde train`` (Lorenz CSV files, 2-core CPU:
    5.3-5.5 s -> 4.0-4.6 s on a rerun; the cache grew by 0.3 MB). The cache
    has no bound (JAX_COMPILATION_CACHE_MAX_SIZE sets one, with the filelock
    package installed; with 2,100 entries that added 2 s to every command that
    compiles something new, as each write scans the folder).
    """
    cache_dir = os.environ.get("NNEF_JAX_CACHE_DIR", str(DEFAULT_CACHE_DIR))
    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def use_full_precision_matmuls() -> None:
    """Compute float32 matrix products in full float32 (``numerics.MATMUL_PRECISION``).

    JAX's default trades precision for speed on accelerators (TensorFloat-32 on
    NVIDIA GPUs since Ampere, bfloat16 passes on TPU); no effect on a CPU. Not
    set when a precision is chosen already (e.g. JAX_DEFAULT_MATMUL_PRECISION).
    """
    if jax.config.jax_default_matmul_precision is None:
        jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION)


def configure() -> None:
    """All of the above: what ``nnef`` commands call first."""
    use_full_precision_matmuls()
    use_every_cpu_core()
    compile_faster()
    enable_compilation_cache()


def start_processes(distributed) -> None:
    """Join the processes of a multi-process run (``jax.distributed.initialize``).

    Call before anything starts JAX's backends. Fields left as None are found
    by JAX in the environment (SLURM, TPU pods, ...).

    Args:
      distributed: a ``data.config.DistributedConfig`` (or any dataclass of
        ``jax.distributed.initialize`` keywords), or None for one process.

    Raises:
      ConfigError: JAX could not set up the processes; the message says why.
    """
    if distributed is None:
        return
    given = {k: v for k, v in dataclasses.asdict(distributed).items() if v is not None}
    try:
        jax.distributed.initialize(**given)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"distributed: jax.distributed.initialize failed: {err}") from err


def float_dtype():
    """float32, or float64 when JAX runs with 64-bit floats (``JAX_ENABLE_X64=1``).

    The one place that decides the working precision: arrays that the package
    creates for computation use this dtype instead of a fixed float32.
    """
    return jax.dtypes.canonicalize_dtype(jnp.float64)
