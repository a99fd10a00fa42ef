"""What ``nnef cde train``, ``infer`` and ``coverage`` do (``cli.cde`` parses their flags)."""

from __future__ import annotations

from pathlib import Path

from nnef_dists.atomic import check_output
from nnef_dists.errors import DataError
from nnef_dists.flows.csvio import read_csv, write_csv

#: --samples default per infer mode
DEFAULT_SAMPLES = {"sample": 8, "stats": 1000, "quantiles": 1000}


def _read_pair(args, feature_dim=None, param_dim=None):
    """(features (N, C), params (N, D)) from --features and --params, rows checked."""
    x = read_csv(args.features, args.skip_header, feature_dim)
    y = read_csv(args.params, args.skip_header, param_dim)
    if len(x) != len(y):
        raise DataError(f"{args.params} has {len(y)} data rows but {args.features} has {len(x)}")
    return x, y


def train(args) -> None:
    from nnef_dists.flows.estimator import ConditionalDensityEstimator
    from nnef_dists.training import checkpoint

    check_output(args.out, args.force, reads=[args.load] if args.load else [])
    saved = checkpoint.prepare(args.out, args.resume, args.force)
    if args.load:
        est = ConditionalDensityEstimator.load(args.load)
        x, y = _read_pair(args, est.feature_dim, est.param_dim)
    else:
        est = ConditionalDensityEstimator(
            args.flow, args.hidden, args.blocks, patience=args.patience
        )
        x, y = _read_pair(args)
    history = est.fit(
        x, y, args.epochs, args.lr, args.batch, args.seed, not args.quiet, saved, args.resume
    )
    est.save(args.out, force=args.force)
    saved.unlink(missing_ok=True)
    if not args.quiet:
        print(
            f"{est.config.flow}: {history.epochs} epochs, best validation NLL "
            f"{history.best_val:.4f} at epoch {history.best_epoch + 1}; saved to {args.out}"
        )


def infer(args) -> None:
    import jax

    from nnef_dists.flows.estimator import ConditionalDensityEstimator

    check_output(args.out, args.force, reads=[args.model])
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


def coverage(args) -> None:
    import jax

    from nnef_dists.flows.calibration import calibrate, format_calibration, plot_calibration
    from nnef_dists.flows.estimator import ConditionalDensityEstimator

    model = Path(args.model)
    plot = Path(args.plot) if args.plot else model.with_name(f"{model.name}_coverage.png")
    check_output(plot, args.force, reads=[model])
    est = ConditionalDensityEstimator.load(model)
    x, y = _read_pair(args, est.feature_dim, est.param_dim)
    cal = calibrate(est, x, y, jax.random.key(args.seed), samples=args.samples)
    plot_calibration(cal, plot)
    print(format_calibration(cal))
    print(f"plot: {plot}")
