"""Command line of conditional density estimation (``nnef cde``).

    python -m nnef_dists.flows.cli train --features F.csv --params P.csv --out DIR
        [--flow maf|maf-mog|made|made-mog|nsf] [--hidden 64] [--blocks 5] [--epochs 100]
        [--lr 1e-3] [--batch 32] [--seed 0] [--skip-header] [--load DIR] [--force]
    python -m nnef_dists.flows.cli infer --model DIR --features F.csv --out O.csv
        [--samples N] [--mode sample|stats|quantiles] [--quantiles-list 0.05,0.5,0.95]
        [--seed 0] [--skip-header]
    python -m nnef_dists.flows.cli coverage --model DIR --features F.csv --params P.csv
        [--samples 100] [--plot PNG] [--seed 0] [--skip-header]

Row i of the features file goes with row i of the params file. A malformed
CSV stops the command with one message naming the file, line and column, and
exit status 2; output files are written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnef_dists import runtime
from nnef_dists.flows.csvio import CSVError, read_csv, write_csv
from nnef_dists.flows.flow import FLOWS

#: --samples default per infer mode
DEFAULT_SAMPLES = {"sample": 8, "stats": 1000, "quantiles": 1000}


def _quantile_list(text: str) -> list[float]:
    try:
        qs = [float(part) for part in text.split(",")]
    except ValueError:
        message = f"expected numbers like 0.05,0.5,0.95, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not all(0 < q < 1 for q in qs):
        raise argparse.ArgumentTypeError(f"quantiles must lie in (0, 1), got {text!r}")
    return qs


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnef cde", description="Conditional density estimation with normalising flows."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="fit p(params | features) and save the model")
    train.add_argument("--features", required=True, help="CSV, one row per example")
    train.add_argument("--params", required=True, help="CSV, the matching targets")
    train.add_argument("--out", required=True, help="model directory to write")
    train.add_argument("--flow", default="maf", choices=list(FLOWS))
    train.add_argument("--hidden", type=_positive, default=64, help="MADE width")
    train.add_argument("--blocks", type=_positive, default=5, help="flow layers")
    train.add_argument("--epochs", type=_positive, default=100)
    train.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    train.add_argument("--batch", type=_positive, default=32, help="minibatch size")
    train.add_argument("--patience", type=_positive, default=20, help="early-stopping epochs")
    train.add_argument("--load", help="resume from this saved model (its architecture is kept)")
    train.add_argument("--force", action="store_true", help="overwrite --out if it exists")

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
    cov.add_argument("--plot", help="PNG path (default DIR/coverage.png)")

    for command in (train, infer, cov):
        command.add_argument("--seed", type=int, default=0)
        command.add_argument("--skip-header", action="store_true", help="first line is a header")
        command.add_argument("--quiet", action="store_true", help="no progress bar or report")
    return parser


def _read_pair(args, feature_dim=None, param_dim=None):
    """(features (N, C), params (N, D)) from --features and --params, rows checked."""
    x = read_csv(args.features, args.skip_header, feature_dim)
    y = read_csv(args.params, args.skip_header, param_dim)
    if len(x) != len(y):
        raise CSVError(f"{args.params} has {len(y)} data rows but {args.features} has {len(x)}")
    return x, y


def train_command(args) -> int:
    from nnef_dists.flows.estimator import ConditionalDensityEstimator

    if Path(args.out).exists() and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to overwrite it")
    if args.load:
        est = ConditionalDensityEstimator.load(args.load)
        x, y = _read_pair(args, est.feature_dim, est.param_dim)
    else:
        est = ConditionalDensityEstimator(
            args.flow, args.hidden, args.blocks, patience=args.patience
        )
        x, y = _read_pair(args)
    history = est.fit(x, y, args.epochs, args.lr, args.batch, args.seed, not args.quiet)
    est.save(args.out, force=args.force)
    if not args.quiet:
        print(
            f"{est.config.flow}: {history.epochs} epochs, best validation NLL "
            f"{history.val[history.best_epoch]:.4f} at epoch {history.best_epoch + 1}; "
            f"saved to {args.out}"
        )
    return 0


def infer_command(args) -> int:
    import jax

    from nnef_dists.flows.estimator import ConditionalDensityEstimator

    est = ConditionalDensityEstimator.load(args.model)
    x = read_csv(args.features, args.skip_header, est.feature_dim)
    n = args.samples or DEFAULT_SAMPLES[args.mode]
    key = jax.random.key(args.seed)
    names = [f"p{j}" for j in range(est.param_dim)]
    if args.mode == "sample":
        draws = est.sample(key, x, n)
        header = ["feature_idx", "sample_idx", *names]
        rows = ([i, s, *draws[i, s]] for i in range(len(x)) for s in range(n))
    elif args.mode == "stats":
        stats = est.stats(key, x, n)
        header = ["feature_idx", "stat", *names]
        rows = ([i, k, *stats[k][i]] for i in range(len(x)) for k in ("mean", "std"))
    else:
        qs = est.quantiles(key, x, args.quantiles_list, n)
        header = ["feature_idx", "quantile", *names]
        levels = list(enumerate(args.quantiles_list))
        rows = ([i, f"{q:g}", *qs[i, j]] for i in range(len(x)) for j, q in levels)
    write_csv(args.out, header, rows)
    if not args.quiet:
        print(f"wrote {args.out} ({args.mode}, {len(x)} feature rows, {n} draws each)")
    return 0


def coverage_command(args) -> int:
    import jax

    from nnef_dists.flows.calibration import calibrate, format_calibration, plot_calibration
    from nnef_dists.flows.estimator import ConditionalDensityEstimator

    est = ConditionalDensityEstimator.load(args.model)
    x, y = _read_pair(args, est.feature_dim, est.param_dim)
    cal = calibrate(est, x, y, jax.random.key(args.seed), samples=args.samples)
    plot = Path(args.plot) if args.plot else Path(args.model) / "coverage.png"
    plot_calibration(cal, plot)
    print(format_calibration(cal))
    print(f"plot: {plot}")
    return 0


COMMANDS = {"train": train_command, "infer": infer_command, "coverage": coverage_command}


def main(argv=None) -> int:
    """Run one command; returns the exit status (2 for a user error, named on stderr)."""
    args = build_parser().parse_args(argv)
    runtime.enable_compilation_cache()
    from nnef_dists.training.checkpoint import ModelDirError
    from nnef_dists.training.trainer import TrainingError

    try:
        return COMMANDS[args.command](args)
    except (CSVError, ModelDirError, TrainingError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    runtime.configure()
    sys.exit(main())
