"""Generating a data set from a data config: grid, estimates, file (README: Data file).

Finished batches are kept in ``<output>.partial/`` (``data.partial``) so that
an interrupted run continues where it stopped; the data file and its
``.meta.json`` are written atomically at the end and the partial folder is
removed.

With several processes (``jax.distributed``, see ``runtime.start_processes``)
process i takes batches i, i + P, i + 2P, ..., and process 0 gathers every
batch and writes the one data file. The file is the same as one process
would write: an eta's key depends on the seed and its index alone.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from nnef_dists.atomic import check_output
from nnef_dists.data.config import DataConfig
from nnef_dists.data.io import save_dataset
from nnef_dists.data.partial import PartialResults, fingerprint
from nnef_dists.errors import ConfigError
from nnef_dists.versions import installed_version

DATA_KEYS = ("mu_T", "cov_TT", "ess")


def effective_batch_size(batch_size: int, num_points: int) -> int:
    """grid.batch_size, but no larger than needed to give every process a batch.

    Raises:
      ConfigError: fewer eta than processes.
    """
    processes = jax.process_count()
    if num_points < processes:
        raise ConfigError(
            f"grid.num_points: {num_points} eta cannot be shared by {processes} processes"
        )
    return min(batch_size, -(-num_points // processes))


def run(config: DataConfig, force=False, progress=True, eta=None) -> tuple[Path, dict]:
    """Generate the data set of ``config``; returns (output path, run summary).

    With several processes every one of them calls this; process 0 writes the file.
    ``eta`` (N, k): estimate at these natural parameters (in the family's
    natural parameter space) instead of the config's grid.

    Raises:
      OutputExistsError: the output exists and not ``force``.
      ConfigError: a partial folder of another run, or too few eta for the processes.
    """
    # Imported here: importing BlackJAX starts JAX's backends, which
    # jax.distributed.initialize (runtime.start_processes) must precede.
    from nnef_dists.data.screen import screen
    from nnef_dists.sampling.estimate import concatenate, estimate_batches, iter_batches
    from nnef_dists.sampling.grid import EtaGrid, make_eta_grid
    from nnef_dists.sampling.mcmc import chunk_size

    output = Path(config.output)
    check_output(output, force)
    start = time.perf_counter()
    family = config.ef.build()
    grid_key, sample_key = jax.random.split(jax.random.key(config.seed))
    if eta is None:
        grid = make_eta_grid(family, config.grid, grid_key)
    else:
        grid = EtaGrid(np.asarray(eta, np.float32), num_rejected=0, num_drawn=len(eta))
    batch_size = effective_batch_size(config.grid.batch_size, len(grid.eta))
    chunk = None if config.sampling.method == "quadrature" else chunk_size(config.sampling)
    partial = PartialResults(output, fingerprint(config, grid.eta, batch_size, chunk))
    partial.open(fresh=force)
    batches = list(iter_batches(len(grid.eta), batch_size))
    mine = batches[jax.process_index() :: jax.process_count()]
    parts = estimate_batches(
        family, config.sampling, sample_key, grid.eta, batch_size, mine, partial, progress
    )
    if jax.process_count() > 1:
        parts = gather_batches(parts, batches, batch_size)
    results = concatenate(parts)
    transitions = config.sampling.num_samples * config.sampling.num_chains
    rows, report, warnings = screen(results, grid.eta, transitions, grid)
    seconds = time.perf_counter() - start
    summary = summarize(results, seconds, partial.resumed_rows) | report.pop("summary")
    summary["warnings"] = warnings
    if jax.process_index() == 0:
        kept = {name: value[rows] for name, value in results.items()}
        report["chunk_size"] = chunk
        write_data_file(output, config, family, grid, rows, kept, summary, report)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("nnef_dists.data.generate: file written")
    partial.remove()
    return output, summary


def gather_batches(local: dict, batches: list, batch_size: int) -> dict:
    """Every process's finished batches, on every process.

    Args:
      local: {batch index: result dict} of this process's batches (i, i + P, ...).
      batches: every (batch index, rows) of the run.

    Returns:
      {batch index: result dict} of all batches. Arrays travel bit for bit
      (float64 as pairs of uint32, which process_allgather keeps as they are).
    """
    processes, me = jax.process_count(), jax.process_index()
    per_process = -(-len(batches) // processes)
    names = sorted(next(iter(local.values())))

    def padded(result: dict, name: str) -> np.ndarray:
        value = np.ascontiguousarray(result[name])
        rows = np.zeros((batch_size - len(value), *value.shape[1:]), value.dtype)
        return np.concatenate([value, rows]).view(np.uint32)

    mine = [index for index, _ in batches[me::processes]]
    mine += mine[-1:] * (per_process - len(mine))  # equal shapes on every process
    stacked = {name: np.stack([padded(local[i], name) for i in mine]) for name in names}
    gathered = multihost_utils.process_allgather(stacked)  # (P, per_process, ...)
    dtypes = {name: local[mine[0]][name].dtype for name in names}
    return {
        index: {
            name: gathered[name][index % processes, index // processes].view(dtypes[name])[
                : rows.stop - rows.start
            ]
            for name in names
        }
        for index, rows in batches
    }


def summarize(results: dict, seconds: float, resumed: int = 0) -> dict:
    """Run-level diagnostics for the metadata and the printed summary.

    resumed: eta finished by an earlier, interrupted run (read back, not
    sampled now): eta_per_second counts only the others.
    """
    ess = results["ess"]
    summary = {
        "seconds": seconds,
        "eta_per_second": (len(ess) - resumed) / seconds,
        "eta_resumed": resumed,
        "ess_min": float(np.min(ess)),
        "ess_median": float(np.median(ess)),
    }
    if "rhat" in results:
        rhat = results["rhat"]
        summary.update(
            rhat_max=float(np.nanmax(rhat)),
            num_divergent=int(results["num_divergent"].sum()),
            acceptance_rate_mean=float(results["acceptance_rate"].mean()),
        )
    return summary


def format_summary(summary: dict) -> str:
    """The summary as aligned ``name: value`` lines (its ``warnings`` apart)."""
    lines = [
        f"{k:>34}: {v:.4g}" if isinstance(v, float) else f"{k:>34}: {v}"
        for k, v in summary.items()
        if k != "warnings"
    ]
    return "\n".join(lines)


def write_data_file(output: Path, config, family, grid, rows, results, summary, report) -> None:
    """The data file of the eta ``rows`` of the grid and its metadata, written atomically.

    The metadata (README: Data file) holds the family, the config, the grid's
    counts, the run's summary (``diagnostics``), what ``report`` holds (the
    flagged eta (row indices) or the rejected ones (their eta), the chunk size
    the sampler used), and the package versions.
    """
    data = {"eta": grid.eta[rows].astype(np.float64), **{k: results[k] for k in DATA_KEYS}}
    meta = {
        "family": family.name,
        "stat_labels": family.stat_labels(),
        "config": dataclasses.asdict(config),
        "grid": {
            "num_points": len(grid.eta),
            "num_rejected": grid.num_rejected,
            "num_drawn": grid.num_drawn,
        },
        "diagnostics": summary,
        **report,
        "versions": {
            pkg: installed_version(pkg) for pkg in ("nnef-dists", "jax", "blackjax", "numpy")
        },
    }
    save_dataset(output, data, meta)
