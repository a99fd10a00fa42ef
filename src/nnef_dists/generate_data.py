"""Generate a data set from a YAML config (DESIGN 3.3, 3.4).

    python -m nnef_dists.generate_data --config configs/data/gamma.yaml
        [--output P] [--force] [--num-points N] [--seed S]

Finished batches are kept in ``<output>.partial/`` so that an interrupted
run continues where it stopped; the data file and its ``.meta.json`` are
written atomically at the end and the partial folder is removed.
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
from tqdm.auto import tqdm

from nnef_dists.config import ConfigError, load_data_config, with_overrides
from nnef_dists.data import DatasetError, save_dataset
from nnef_dists.sampling.estimate import estimate_padded, iter_batches
from nnef_dists.sampling.grid import make_eta_grid

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
    return parser


class PartialResults:
    """Finished batches of one run, kept on disk until the data file is written.

    A fingerprint of the config and the eta grid guards against resuming
    with different settings.
    """

    def __init__(self, output: Path, fingerprint: str):
        self.folder = output.with_name(output.name + ".partial")
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


def _fingerprint(config, eta: np.ndarray) -> str:
    text = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode() + eta.tobytes()).hexdigest()


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
    """Generate the data set of ``config``; returns (output path, run summary)."""
    output = Path(config.output)
    if output.exists() and not force:
        raise ConfigError(f"{output}: already exists; use --force to overwrite it")
    start = time.perf_counter()
    family = config.ef.build()
    grid_key, sample_key = jax.random.split(jax.random.key(config.seed))
    grid = make_eta_grid(family, config.grid, grid_key)
    partial = PartialResults(output, _fingerprint(config, grid.eta))
    partial.open(fresh=force)

    batch_size = min(config.grid.batch_size, len(grid.eta))  # no padding beyond the data
    parts = []
    batches = list(iter_batches(len(grid.eta), batch_size))
    for index, rows in tqdm(batches, disable=not progress, unit="batch", desc=family.name):
        result = partial.load(index)
        if result is None:
            key = jax.random.fold_in(sample_key, index)
            result = estimate_padded(family, config.sampling, key, grid.eta[rows], batch_size)
            partial.save(index, result)
        parts.append(result)
    results = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    summary = summarize(results, time.perf_counter() - start)

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
    partial.remove()
    return output, summary


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = with_overrides(
            load_data_config(args.config), args.output, args.num_points, args.seed
        )
        output, summary = run(config, force=args.force, progress=not args.quiet)
    except (ConfigError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"wrote {output} ({summary['seconds']:.1f} s)\n{format_summary(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
