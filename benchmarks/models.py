"""Every ET model at its default training settings, on the same data, scored against the truth.

For each case (a family and how its data were made) a data set is generated
once (kept under artifacts/bench/data/), every registered model is trained on
it as ``nnef train --model M --data D`` does, with no other setting (--set
overrides a field for every model), and the test-split metrics are printed
in one table:

- error against the truth: the worst statistic's relative error (RMSE / RMS
  of the truth) and, for HMC data, its ratio to the noise floor (the RMSE of
  the training targets themselves against the truth; below 1 the network
  averages the noise out);
- Jacobian: median relative Frobenius error of d mu / d eta against the exact
  cov_TT, and the share of test points where it is symmetric PSD;
- training time, and predictions per second (jitted mu_T on 100,000 eta,
  compiled beforehand, the best of 3 timings);
- for models with eta_from_mu, on quadrature data: the inverse against the
  true eta of the test split, |eta_from_mu(mu_T exact) - eta| / |eta| (median
  and 99th percentile), and inversions per second (jitted and vmapped, on
  100,000 mu, compiled beforehand, the best of 3 timings).

The truth is the closed form (gamma, multivariate_normal_tril, laplace_product)
or quadrature (polynomial, p = 4).

    python benchmarks/models.py [--num-points 8192] [--epochs N] [--models a,b]
        [--cases gamma-hmc,...] [--set lr=1.0e-3 --set hidden_sizes=[128,128] ...]
        [--reuse]

--reuse scores the models an earlier run left under artifacts/bench/models
again (their training time is the earlier run's) instead of training them:
for measuring a change to prediction or inversion alone.
"""

from __future__ import annotations

from nnef_dists import runtime

if __name__ == "__main__":
    runtime.configure()

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
import yaml

from nnef_dists.data import load_dataset, load_metadata, parse_data_config, split_dataset
from nnef_dists.data.generate import run as generate
from nnef_dists.models import BUILTIN_MODELS, load_model
from nnef_dists.training import parse_train_config
from nnef_dists.training.run import train_and_save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "bench"

#: case -> (data config, overrides of it)
CASES = {
    "gamma-hmc": ("gamma", {}),
    "gamma-quadrature": ("gamma", {"sampling": {"method": "quadrature"}}),
    "mvn_tril_d2-hmc": (
        "multivariate_normal_tril",
        {
            "ef": {"name": "multivariate_normal_tril", "params": {"d": 2}},
            "grid": {
                "eta_range": {
                    "x": [-2.0, 2.0],
                    "xxT_tril": [[-2.0, -0.5], [-0.5, 0.5], [-2.0, -0.5]],
                }
            },
        },
    ),
    "laplace_product-hmc": ("laplace_product", {}),
    "laplace_product-quadrature": ("laplace_product", {"sampling": {"method": "quadrature"}}),
    "polynomial_p4-quadrature": ("polynomial", {"sampling": {"method": "quadrature"}}),
}
#: The cases of the README's table.
DEFAULT_CASES = (
    "gamma-hmc",
    "laplace_product-hmc",
    "mvn_tril_d2-hmc",
    "polynomial_p4-quadrature",
    "gamma-quadrature",
)
PREDICT_BATCH = 100_000


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(base[key], value) if isinstance(value, dict) and key in base else value
    return out


def make_data(case: str, num_points: int) -> Path:
    """The case's data file, generated unless one from the same config is there."""
    name, override = CASES[case]
    raw = yaml.safe_load((ROOT / "configs" / "data" / f"{name}.yaml").read_text())
    raw = merge(raw, override)
    raw["grid"]["num_points"] = num_points
    output = OUT / "data" / f"{case}_{num_points}.pkl"
    raw["output"] = str(output)
    config = parse_data_config(raw, source=case)
    if not output.exists() or not same_config(load_metadata(output)["config"], config):
        _, summary = generate(config, force=True, progress=False)
        print(f"  generated {output.name} in {summary['seconds']:.1f} s", flush=True)
    return output


def same_config(recorded: dict, config) -> bool:
    """Whether a data file's recorded config is ``config``, wherever the clone lies."""
    wanted = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return {**recorded, "output": None} == {**wanted, "output": None}


def predictions_per_second(model_dir: Path, k: int) -> float:
    model = load_model(model_dir)
    eta = jax.random.normal(jax.random.key(0), (PREDICT_BATCH, k))
    return PREDICT_BATCH / best_seconds(jax.jit(model.mu_T), eta)


def best_seconds(fn, x, repeats: int = 3) -> float:
    """The least of ``repeats`` timings of fn(x), after one call that compiles it."""
    jax.block_until_ready(fn(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(x))
        times.append(time.perf_counter() - start)
    return min(times)


def inverse_metrics(model_dir: Path, data: Path) -> dict:
    """eta_from_mu of the exact mu_T of the test split against the true eta, and its speed."""
    model = load_model(model_dir)
    test = split_dataset(load_dataset(data), model.record["architecture"]["seed"])["test"]
    mu = jax.numpy.asarray(test["mu_T"], jax.numpy.float32)  # exact: quadrature data
    inverse = jax.jit(model.eta_from_mu)
    back = np.asarray(inverse(mu), np.float64)
    rel = np.linalg.norm(back - test["eta"], axis=1) / np.linalg.norm(test["eta"], axis=1)
    many = jax.numpy.resize(mu, (PREDICT_BATCH, mu.shape[1]))
    return {
        "median": float(np.median(rel)),
        "p99": float(np.quantile(rel, 0.99)),
        "per_second": PREDICT_BATCH / best_seconds(inverse, many),
    }


def train_one(
    case: str, data: Path, model: str, epochs: int | None, settings: dict, reuse: bool
) -> dict:
    raw = {"model": model, "data": str(data), **settings}
    if epochs is not None:  # a longer cosine schedule: stop early only at its end
        raw["epochs"] = raw["patience"] = epochs
    config = parse_train_config(raw, source=model)
    output = OUT / "models" / f"{data.stem}_{model}"
    if not (reuse and (output / "metrics.json").exists()):
        train_and_save(config, output, force=True, progress=False)
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["predictions_per_second"] = predictions_per_second(output, len(metrics["stat_labels"]))
    if case.endswith("-quadrature") and "round_trip" in metrics:
        metrics["inverse"] = inverse_metrics(output, data)
    metrics["config"] = dataclasses.asdict(config)
    return metrics


def parse_setting(text: str) -> tuple[str, object]:
    """'field=value' -> (field, value read as YAML)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set {text}: expected FIELD=VALUE")
    return name, yaml.safe_load(value)


def row(case: str, model: str, m: dict) -> str:
    truth = m["vs_truth"]
    rel = max(truth["rel_error"])
    ratio = max(truth["ratio_to_noise_floor"])
    ratio_text = f"{ratio:6.2f}" if np.isfinite(ratio) else f"{'-':>6}"
    jac = m["jacobian"]
    inv = m.get("inverse")
    inverse = (
        f"{inv['median']:8.1e} {inv['p99']:8.1e} {inv['per_second']:8.2g}" if inv else f"{'':26}"
    )
    return (
        f"{case:>27} {model:>18} | {rel:9.2e} {ratio_text} | {jac['rel_error_median']:8.2e} "
        f"{100 * jac['fraction_symmetric_psd']:5.1f} | {m['training']['epochs_run']:6d} "
        f"{m['training']['seconds']:7.1f} | {m['predictions_per_second']:10.3g} | {inverse}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=8192)
    parser.add_argument("--epochs", type=int, help="override every model's epochs")
    parser.add_argument("--models", default=",".join(BUILTIN_MODELS))
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=", ".join(CASES))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a training config field for every model, e.g. --set lr=1.0e-3 "
        "--set hidden_sizes=[128,128] (VALUE is read as YAML)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="score the models of an earlier run, untrained"
    )
    args = parser.parse_args()
    settings = dict(parse_setting(text) for text in args.set)
    header = (
        f"{'case (family-data)':>27} {'model':>18} | {'rel err':>9} {'/floor':>6} | "
        f"{'jac err':>8} {'PSD %':>5} | {'epochs':>6} {'train s':>7} | {'pred/s':>10} | "
        f"{'inv med':>8} {'inv p99':>8} {'inv/s':>8}"
    )
    print(f"{args.num_points} eta per data set, 80/10/10 split; metrics on the test split")
    if settings:
        print(f"every model's training config with {settings}")
    if args.reuse:
        print("models of an earlier run reused where there (train s: that run's)")
    print("rel err and /floor: the worst statistic; /floor only for HMC data")
    print("inv: eta_from_mu(exact mu_T) against the true eta, relative, on quadrature data\n")
    print(header)
    print("-" * len(header), flush=True)
    summary = {}
    for case in args.cases.split(","):
        data = make_data(case, args.num_points)
        results = {}
        for model in args.models.split(","):
            results[model] = train_one(case, data, model, args.epochs, settings, args.reuse)
            print(row(case, model, results[model]), flush=True)
        summary[case] = case_summary(case, results)
    print("\nper case (the targets: on HMC data the best model at most 0.5 x the noise floor,")
    print("every model at most 1.5 x, potential_et within 1.2 x of the best; on quadrature")
    print("data of a 1-D family, relative error below 1e-3; the inverse within 1e-2 median,")
    print("5e-2 p99, at 1e5 eta per second or more):")
    for case, line in summary.items():
        print(f"  {case:>27}: {line}")


def case_summary(case: str, results: dict) -> str:
    """One line: the best model, the worst, potential_et against the best, the slowest."""
    key = "ratio_to_noise_floor" if case.endswith("-hmc") else "rel_error"
    error = {name: max(m["vs_truth"][key]) for name, m in results.items()}
    best, worst = min(error, key=error.get), max(error, key=error.get)
    seconds = {name: m["training"]["seconds"] for name, m in results.items()}
    slowest = max(seconds, key=seconds.get)
    line = (
        f"{key} best {best} {error[best]:.3g}, worst {worst} {error[worst]:.3g}; "
        f"slowest {slowest} {seconds[slowest]:.0f} s"
    )
    if "potential_et" in error:
        line += f"; potential_et / best {error['potential_et'] / error[best]:.2f}"
    return line


if __name__ == "__main__":
    main()
