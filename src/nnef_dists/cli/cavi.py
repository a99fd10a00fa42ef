"""Run a CAVI example config and compare two sets of providers side by side.

    nnef cavi --config configs/cavi/normal_gamma.yaml [--no-train]

The run providers (float32) and the reference providers (float64) each solve
the example of the config; the posterior means and variances of mu and tau of
both are printed with their differences (and, for normal_gamma, the
closed-form fixed point), with the sweeps, ELBO, extrapolated iterates and
time of each run. Every network provider whose model directory is missing is
trained first (mlp_et on quadrature data over the box of the exact-provider
iterates, about a minute each on 2 CPU cores); --no-train makes that an
error instead. A network answers inside its training domain and its fallback
(exact by default) outside it; the report counts those iterates.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML CAVI config (configs/cavi/*.yaml)")
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="do not train missing network providers (quadrature data, mlp_et): an error instead",
    )


def run(args) -> None:
    from nnef_dists.inference.example_runs import run_example

    print(run_example(args.config, train=not args.no_train)["report"])
