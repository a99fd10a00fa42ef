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


def _check_manifold(est, params, path) -> None:
    """DataError naming ``path`` unless the params rows lie on the estimator's manifold."""
    from nnef_dists.flows import spaces

    if est.config.manifold:
        try:
            spaces.points(est.config.manifold, params)
        except DataError as err:
            raise DataError(f"{path}: {err}") from None


def train(args) -> None:
    from nnef_dists.flows.estimator import ConditionalDensityEstimator
    from nnef_dists.training import checkpoint

    check_output(args.out, args.force, reads=[args.load] if args.load else [])
    saved = checkpoint.prepare(args.out, args.resume, args.force)
    if args.load:
        est = ConditionalDensityEstimator.load(args.load)
        x, y = _read_pair(args, est.feature_dim, est.param_dim)
    else:
        space = {k: v for k, v in (("manifold", args.manifold), ("layers", args.layers)) if v}
        est = ConditionalDensityEstimator(
            args.flow, args.hidden, args.blocks, patience=args.patience, **space
        )
        x, y = _read_pair(args)
    _check_manifold(est, y, args.params)
    if args.feature_noise is not None:  # else the estimator's default, or the loaded model's
        est.feature_noise = args.feature_noise
    history = est.fit(
        x,
        y,
        args.epochs,
        args.lr,
        args.batch,
        args.seed,
        not args.quiet,
        saved,
        args.resume,
        objective=args.objective,
    )
    est.save(args.out, force=args.force)
    saved.unlink(missing_ok=True)
    if not args.quiet:
        loss = "NLL" if args.objective == "nll" else "Sinkhorn divergence"
        tried = est.fit_settings.get("feature_noise_validation")
        if tried:
            values = ", ".join(f"{level:.3g}: {value:.4f}" for level, value in tried.items())
            print(f"feature noise {est.noise_level:.3g} chosen, of validation {loss} {values}")
        print(
            f"{est.config.flow}: {history.epochs} epochs, best validation {loss} "
            f"{history.best_val:.4f} at epoch {history.best_epoch + 1}; saved to {args.out}"
        )


def infer(args) -> None:
    import jax
    import numpy as np

    from nnef_dists.flows.estimator import ConditionalDensityEstimator

    check_output(args.out, args.force, reads=[args.model])
    est = ConditionalDensityEstimator.load(args.model)
    x = read_csv(args.features, args.skip_header, est.feature_dim)
    n = args.samples or DEFAULT_SAMPLES[args.mode]
    key = jax.random.key(args.seed)
    if args.mode == "sample":
        values = est.sample(key, x, n)  # (N, n, D)
        labels = {"sample_idx": np.tile(np.arange(n), len(x))}
    elif args.mode == "stats":
        stats = est.stats(key, x, n)
        values = np.stack([stats["mean"], stats["std"]], axis=1)  # (N, 2, D)
        labels = {"stat": np.tile(["mean", "std"], len(x))}
    else:
        values = est.quantiles(key, x, args.quantiles_list, n)  # (N, Q, D)
        labels = {"quantile": np.tile([f"{q:g}" for q in args.quantiles_list], len(x))}
    columns = {"feature_idx": np.repeat(np.arange(len(x)), values.shape[1])} | labels
    flat = values.reshape(-1, est.param_dim)
    columns |= {f"p{j}": flat[:, j] for j in range(est.param_dim)}
    write_csv(args.out, columns)
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
    _check_manifold(est, y, args.params)
    cal = calibrate(est, x, y, jax.random.key(args.seed), samples=args.samples)
    plot_calibration(cal, plot)
    print(format_calibration(cal))
    print(f"plot: {plot}")
