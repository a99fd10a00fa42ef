"""Conditional density estimation p(params | features) with normalising flows, from CSV files.

    nnef cde train --features F.csv --params P.csv --out DIR [--flow maf] [--hidden 64] ...
    nnef cde train ... --manifold e2+s2 [--layers gggg+n]    (params on a manifold)
    nnef cde infer --model DIR --features F.csv --out O.csv [--mode sample|stats|quantiles]
    nnef cde coverage --model DIR --features F.csv --params P.csv [--plot PNG]

Row i of the features file goes with row i of the params file. A malformed
CSV stops the command with one message naming the file, line and column;
output files are written atomically, never over an existing file without
--force, never inside the model directory that infer and coverage read.
"""

from __future__ import annotations

import argparse


def _quantile_list(text: str) -> list[float]:
    try:
        qs = [float(part) for part in text.split(",")]
    except ValueError:
        message = f"expected numbers like 0.05,0.5,0.95, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not all(0 < q < 1 for q in qs):
        raise argparse.ArgumentTypeError(f"quantiles must lie in (0, 1), got {text!r}")
    return qs


def _noise(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_train_arguments(train: argparse.ArgumentParser) -> None:
    """The flags of ``nnef cde train`` but the common ones (--seed, --skip-header, --quiet)."""
    from nnef_dists.flows.flow import FLOWS

    train.add_argument("--features", required=True, help="CSV, one row per example")
    train.add_argument("--params", required=True, help="CSV, the matching targets")
    train.add_argument("--out", required=True, help="model directory to write")
    train.add_argument(
        "--flow", choices=list(FLOWS), help="default: maf, or manifold with --manifold/--layers"
    )
    train.add_argument(
        "--manifold",
        help="the params' space as blocks, e.g. e4+s2+e1: eN (R^N), sN (sphere S^N as unit "
        "vectors, N = 1, 2), iN ((0, 1)^N), xN (simplex of N + 1 components)",
    )
    train.add_argument(
        "--layers",
        help="layer letters per manifold block, e.g. gggg+n+a: a affine, n spline, "
        "g Gaussianization, p planar (spheres: n); default nnnn per block",
    )
    train.add_argument("--hidden", type=_positive, default=64, help="MADE width")
    train.add_argument(
        "--blocks", type=_positive, default=5, help="flow layers (manifold flows: see --layers)"
    )
    train.add_argument("--epochs", type=_positive, default=100)
    train.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    train.add_argument("--batch", type=_positive, default=32, help="minibatch size")
    train.add_argument("--patience", type=_positive, default=20, help="early-stopping epochs")
    train.add_argument(
        "--feature-noise",
        type=_noise,
        help="std of the Gaussian noise added to the standardised training features "
        "(regularisation for few rows or many features; 0: none), or 'auto' (default): "
        "the flow learns every level from 0 to 1.6 at once and keeps the one of least "
        "validation NLL; with --load, the saved model's unless given",
    )
    train.add_argument(
        "--objective",
        choices=["nll", "sinkhorn"],
        default="nll",
        help="nll: maximum likelihood; sinkhorn: Sinkhorn divergence between draws and data "
        "(fitting by samples alone; needs ott-jax; use --batch of a few hundred)",
    )
    train.add_argument("--load", help="resume from this saved model (its architecture is kept)")
    train.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    train.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nnef_dists.cli import cde_commands
    from nnef_dists.cli.cde_commands import DEFAULT_SAMPLES

    sub = parser.add_subparsers(dest="cde_command", required=True)
    train = sub.add_parser("train", help="fit p(params | features) and save the model")
    _add_train_arguments(train)

    infer = sub.add_parser("infer", help="posterior draws, statistics or quantiles per row")
    infer.add_argument("--model", required=True)
    infer.add_argument("--features", required=True)
    infer.add_argument("--out", required=True, help="output CSV")
    infer.add_argument("--mode", default="sample", choices=list(DEFAULT_SAMPLES))
    infer.add_argument(
        "--samples", type=_positive, help="draws per row (default 8; 1000 for stats, quantiles)"
    )
    infer.add_argument("--quantiles-list", type=_quantile_list, default=[0.05, 0.5, 0.95])

    cov = sub.add_parser("coverage", help="calibration on held-out data: table and plot")
    cov.add_argument("--model", required=True)
    cov.add_argument("--features", required=True)
    cov.add_argument("--params", required=True)
    cov.add_argument("--samples", type=_positive, default=100, help="posterior draws per row")
    cov.add_argument("--plot", help="PNG path (default DIR_coverage.png, beside DIR)")
    for command in (infer, cov):
        command.add_argument("--force", action="store_true", help="overwrite the output")

    for name, command in (("train", train), ("infer", infer), ("coverage", cov)):
        command.add_argument("--seed", type=int, default=0)
        command.add_argument("--skip-header", action="store_true", help="first line is a header")
        command.add_argument("--quiet", action="store_true", help="no progress bar or report")
        command.set_defaults(cde_run=getattr(cde_commands, name))


def run(args) -> None:
    args.cde_run(args)


def interrupted(args) -> str:
    if args.cde_run.__name__ == "train":
        return (
            "the training loop's checkpoint (a hidden .<out>.checkpoint beside --out, saved "
            "every few seconds) is kept; rerun the same command with --resume"
        )
    return "nothing was written"
