"""Generate a data set from a YAML config (DESIGN 3.3, 3.4).

    python -m nnef_dists.generate_data --config configs/data/gamma.yaml
        [--output P] [--force] [--num-points N] [--seed S]

Finished batches are kept in ``<output>.partial/`` so that an interrupted
run continues where it stopped; the data file and its ``.meta.json`` are
written atomically at the end and the partial folder is removed.

With several processes (``jax.distributed``: ``--coordinator-address``,
``--num-processes``, ``--process-id``, the config's ``distributed:`` section,
or the environment of SLURM or a TPU pod), process i takes batches i, i + P,
i + 2P, ..., keeps them in ``<output>.partial.<i>/``, and process 0 gathers
every batch and writes the one data file. The file is the same as one
process would write: an eta's key depends on the seed and its index alone.
"""

from __future__ import annotations

from nnef_dists import runtime

if __name__ == "__main__":
    runtime.configure()  # before anything starts JAX's backends (importing blackjax does)

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
import time
from importlib.metadata import version
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from nnef_dists import runtime
from nnef_dists.config import ConfigError, load_data_config, with_overrides
from nnef_dists.data import DatasetError, save_dataset

DATA_KEYS = ("mu_T", "cov_TT", "ess")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnef generate", description="Generate (eta, mu_T, cov_TT, ess) from a data config."
    )
    parser.add_argument("--config", required=True, help="YAML data config (configs/data/*.yaml)")
    parser.add_argument("--output", help="output pickle (default: the config's output)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument("--num-points", type=int, help="override grid.num_points")
    parser.add_argument("--seed", type=int, help="override seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    group = parser.add_argument_group("several processes (jax.distributed; override distributed:)")
    group.add_argument(
        "--distributed",
        action="store_true",
        help="join the other processes of this job; settings not given below are found "
        "in the environment (SLURM, TPU pod)",
    )
    group.add_argument("--coordinator-address", help="host:port of process 0")
    group.add_argument("--num-processes", type=int, help="how many processes take part")
    group.add_argument("--process-id", type=int, help="this process's number, 0 to P - 1")
    return parser


class PartialResults:
    """Finished batches of one run, kept on disk until the data file is written.

    A fingerprint of the config and the eta grid guards against resuming
    with different settings.
    """

    def __init__(self, output: Path, fingerprint: str):
        suffix = ".partial" if jax.process_count() == 1 else f".partial.{jax.process_index()}"
        self.folder = output.with_name(output.name + suffix)
        self.fingerprint = fingerprint

    def open(self, fresh: bool) -> None:
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
        path = self._path(index)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as stored:
            return dict(stored)

    def save(self, index: int, arrays: dict) -> None:
        tmp = self._path(index).with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(self._path(index))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _fingerprint(config, eta: np.ndarray, batch_size: int) -> str:
    """What a resumed run must share with the interrupted one: config, grid, batches."""
    text = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    text += f" batch_size={batch_size} processes={jax.process_count()}"
    return hashlib.sha256(text.encode() + eta.tobytes()).hexdigest()


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


def summarize(results: dict, seconds: float) -> dict:
    """Run-level diagnostics for the metadata and the printed summary."""
    ess = results["ess"]
    summary = {
        "seconds": seconds,
        "eta_per_second": len(ess) / seconds,
        "ess_min": float(np.min(ess)),
        "ess_median": float(np.median(ess)),
    }
    if "rhat" in results:
        rhat = results["rhat"]
        summary.update(
            rhat_max=float(np.nanmax(rhat)),
            num_eta_rhat_above_1_01=int(np.sum(np.nanmax(rhat, axis=1) > 1.01)),
            num_divergent=int(results["num_divergent"].sum()),
            num_eta_with_divergences=int(np.sum(results["num_divergent"] > 0)),
            acceptance_rate_mean=float(results["acceptance_rate"].mean()),
        )
    return summary


def flagged_eta(results: dict) -> dict:
    """Row indices of the eta whose chains warrant a look (R-hat > 1.01, divergences)."""
    if "rhat" not in results:
        return {}
    return {
        "rhat_above_1_01": np.flatnonzero(np.nanmax(results["rhat"], axis=1) > 1.01).tolist(),
        "with_divergences": np.flatnonzero(results["num_divergent"] > 0).tolist(),
    }


def format_summary(summary: dict) -> str:
    lines = [
        f"{k:>26}: {v:.4g}" if isinstance(v, float) else f"{k:>26}: {v}" for k, v in summary.items()
    ]
    return "\n".join(lines)


def run(config, force: bool = False, progress: bool = True) -> tuple[Path, dict]:
    """Generate the data set of ``config``; returns (output path, run summary).

    With several processes every one of them calls this; process 0 writes the file.
    """
    # Imported here, not at the top: importing BlackJAX starts JAX's backends,
    # which jax.distributed.initialize (in main) must precede.
    from nnef_dists.sampling.estimate import estimate_rows, iter_batches
    from nnef_dists.sampling.grid import make_eta_grid

    output = Path(config.output)
    if output.exists() and not force:
        raise ConfigError(f"{output}: already exists; use --force to overwrite it")
    start = time.perf_counter()
    family = config.ef.build()
    grid_key, sample_key = jax.random.split(jax.random.key(config.seed))
    grid = make_eta_grid(family, config.grid, grid_key)
    batch_size = effective_batch_size(config.grid.batch_size, len(grid.eta))
    partial = PartialResults(output, _fingerprint(config, grid.eta, batch_size))
    partial.open(fresh=force)

    batches = list(iter_batches(len(grid.eta), batch_size))
    mine = batches[jax.process_index() :: jax.process_count()]
    parts = {}
    for index, rows in tqdm(mine, disable=not progress, unit="batch", desc=family.name):
        result = partial.load(index)
        if result is None:
            result = estimate_rows(family, config.sampling, sample_key, grid.eta, rows, batch_size)
            partial.save(index, result)
        parts[index] = result
    if jax.process_count() > 1:
        parts = gather_batches(parts, batches, batch_size)
    results = {name: np.concatenate([parts[i][name] for i, _ in batches]) for name in parts[0]}
    summary = summarize(results, time.perf_counter() - start)
    if jax.process_index() == 0:
        write_data_file(output, config, family, grid, results, summary)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("nnef_dists.generate_data: file written")
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


def write_data_file(output: Path, config, family, grid, results: dict, summary: dict) -> None:
    """The data file and its metadata (DESIGN 3.2), written atomically."""
    data = {"eta": grid.eta.astype(np.float64), **{k: results[k] for k in DATA_KEYS}}
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
        "flagged_eta": flagged_eta(results),
        "versions": {pkg: version(pkg) for pkg in ("nnef-dists", "jax", "blackjax", "numpy")},
    }
    save_dataset(output, data, meta)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        distributed = {
            "coordinator_address": args.coordinator_address,
            "num_processes": args.num_processes,
            "process_id": args.process_id,
        }
        if not args.distributed and all(v is None for v in distributed.values()):
            distributed = None
        config = with_overrides(
            load_data_config(args.config), args.output, args.num_points, args.seed, distributed
        )
        runtime.start_processes(config.distributed)
        output, summary = run(config, force=args.force, progress=not args.quiet)
    except (ConfigError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet and jax.process_index() == 0:
        print(f"wrote {output} ({summary['seconds']:.1f} s)\n{format_summary(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
