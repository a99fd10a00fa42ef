"""Generate (eta, mu_T, cov_TT, ess) from a data config (configs/data/*.yaml).

Finished batches are kept in <output>.partial/, so rerunning an interrupted
command continues where it stopped; the data file and its .meta.json are
written atomically at the end. No existing output is overwritten without
--force.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def _distributed(args, raw):
    """The config's ``distributed:`` with the flags on top: DistributedConfig or None."""
    from nnef_dists.data.config import DistributedConfig
    from nnef_dists.schema import parse

    flags = {
        "coordinator_address": args.coordinator_address,
        "num_processes": args.num_processes,
        "process_id": args.process_id,
    }
    given = {name: value for name, value in flags.items() if value is not None}
    section = raw.get("distributed") if isinstance(raw, dict) else None
    if section is None and not (args.distributed or given):
        return None
    if section is None or isinstance(section, dict):
        section = {**(section or {}), **given}
    return parse(DistributedConfig, section, source=args.config, where="distributed")


def run(args) -> None:
    import jax

    from nnef_dists import runtime
    from nnef_dists.data import load_data_config, with_overrides
    from nnef_dists.schema import read_yaml

    distributed = _distributed(args, read_yaml(args.config))
    # Before anything starts JAX's backends (checking the family computes).
    runtime.start_processes(distributed)
    config = with_overrides(
        load_data_config(args.config),
        args.output,
        args.num_points,
        args.seed,
        None if distributed is None else dataclasses.asdict(distributed),
    )
    from nnef_dists.data.generate import format_summary
    from nnef_dists.data.generate import run as generate
    from nnef_dists.sampling.mcmc import chunk_advice

    advice = chunk_advice(config.sampling, config.grid.num_points)
    if advice and jax.process_index() == 0:  # before the sampling it is about
        print(f"warning: {advice}", file=sys.stderr)
    output, summary = generate(config, force=args.force, progress=not args.quiet)
    if jax.process_index() == 0:
        if not args.quiet:
            print(f"wrote {output} ({summary['seconds']:.1f} s)\n{format_summary(summary)}")
        for line in summary["warnings"]:
            print(f"warning: {line}", file=sys.stderr)


def interrupted(args) -> str:
    return "finished batches are kept in <output>.partial/; rerun the same command to continue"
