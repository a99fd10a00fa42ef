"""From T(x) to a moment map you can trust: generate data, train, evaluate, refine.

    nnef fit --config F.yaml --out DIR [--target R] [--force] [--quiet]

F.yaml holds the ef: and grid: sections of a data config, and optionally
sampling: (default: quadrature where the support has dimension <= 2, else
HMC), train: (training config fields; default model potential_et), target:,
max_rounds: and seed:. The held-out error per statistic must reach the
target: relative RMSE against the exact answers where the family has them
(default 5e-3), else the error over the noise floor of the estimates
(default 0.5). While it does not, eta are added where the error is largest
and training goes on. DIR ends as a model directory (report.md, plots) for
providers.network; a rerun of the same command resumes an interrupted fit.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML fit config")
    parser.add_argument("--out", required=True, help="the model directory to write")
    parser.add_argument("--target", type=float, help="override the config's target")
    parser.add_argument("--force", action="store_true", help="start afresh over --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or report")


def run(args) -> None:
    from nnef_dists.fit import fit, load_fit_config
    from nnef_dists.fit.report import summary
    from nnef_dists.schema import folder_of

    config = load_fit_config(args.config)
    state = fit(
        config, args.out, args.target, args.force, not args.quiet, search=folder_of(args.config)
    )
    if not args.quiet:
        print(summary(state, config.ef.build(search=folder_of(args.config)).stat_labels()))
        print(f"model directory: {args.out} (report.md)")
    if not state["rounds"][-1]["met"]:
        return 1


def interrupted(args) -> str:
    return f"finished rounds are kept in {args.out}/fit/; rerun the same command to continue"
