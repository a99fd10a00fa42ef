"""Run a CAVI example config and compare two sets of providers side by side.

    nnef cavi --config configs/cavi/normal_gamma.yaml [--train-missing]

The run providers (float32) and the reference providers (float64) each solve
the example of the config; the posterior means and variances of mu and tau of
both are printed with their differences (and, for normal_gamma, the
closed-form fixed point), with the sweeps, ELBO, extrapolated iterates and
time of each run. --train-missing first trains every network provider whose
model directory is missing (mlp_et on quadrature data over the box of the
exact-provider iterates).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML CAVI config (configs/cavi/*.yaml)")
    parser.add_argument(
        "--train-missing",
        action="store_true",
        help="train the missing network providers first (quadrature data, mlp_et)",
    )


def run(args) -> None:
    from nnef_dists.inference.example_runs import run_example

    print(run_example(args.config, args.train_missing)["report"])
