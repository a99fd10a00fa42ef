"""Every ET model on the same data, scored against the truth.

For each case (a family and how its data were made) a data set is generated
once (kept under artifacts/bench/data/), every registered model is trained on
it with its configs/train/<model>.yaml (data and output replaced), and the
test-split metrics are printed in one table:

- error against the truth: the worst statistic's relative error (RMSE / RMS
  of the truth) and, for HMC data, its ratio to the noise floor (the RMSE of
  the training targets themselves against the truth; below 1 the network
  averages the noise out);
- Jacobian: median relative Frobenius error of d mu / d eta against the exact
  cov_TT, and the share of test points where it is symmetric PSD;
- training time, and predictions per second (jitted mu_T on 100,000 eta,
  compiled beforehand).

The truth is the closed form (gamma, multivariate_normal_tril, laplace_product)
or quadrature (polynomial, p = 4).

    python benchmarks/models.py [--num-points 8192] [--epochs 300] [--models a,b]
        [--cases gamma-hmc,...] [--set lr=1.0e-3 --set hidden_sizes=[128,128] ...]
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

from nnef_dists.data import load_metadata, parse_data_config
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
    wanted = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    if not output.exists() or load_metadata(output)["config"] != wanted:
        _, summary = generate(config, force=True, progress=False)
        print(f"  generated {output.name} in {summary['seconds']:.1f} s", flush=True)
    return output


def predictions_per_second(model_dir: Path, k: int) -> float:
    model = load_model(model_dir)
    eta = jax.random.normal(jax.random.key(0), (PREDICT_BATCH, k))
    mu_T = jax.jit(model.mu_T)
    jax.block_until_ready(mu_T(eta))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(mu_T(eta))
        times.append(time.perf_counter() - start)
    return PREDICT_BATCH / min(times)


def train_one(case: str, data: Path, model: str, epochs: int | None, settings: dict) -> dict:
    raw = yaml.safe_load((ROOT / "configs" / "train" / f"{model}.yaml").read_text())
    raw.update(settings, data=str(data))
    if epochs is not None:  # a longer cosine schedule: stop early only at its end
        raw["epochs"] = raw["patience"] = epochs
    config = parse_train_config(raw, source=model)
    output = OUT / "models" / f"{data.stem}_{model}"
    train_and_save(config, output, force=True, progress=False)
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["predictions_per_second"] = predictions_per_second(output, len(metrics["stat_labels"]))
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
    return (
        f"{case:>27} {model:>18} | {rel:9.2e} {ratio_text} | {jac['rel_error_median']:8.2e} "
        f"{100 * jac['fraction_symmetric_psd']:5.1f} | {m['training']['epochs_run']:6d} "
        f"{m['training']['seconds']:7.1f} | {m['predictions_per_second']:10.3g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=8192)
    parser.add_argument("--epochs", type=int, help="override every model's epochs")
    parser.add_argument("--models", default=",".join(BUILTIN_MODELS))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a training config field for every model, e.g. --set lr=1.0e-3 "
        "--set hidden_sizes=[128,128] (VALUE is read as YAML)",
    )
    args = parser.parse_args()
    settings = dict(parse_setting(text) for text in args.set)
    header = (
        f"{'case (family-data)':>27} {'model':>18} | {'rel err':>9} {'/floor':>6} | "
        f"{'jac err':>8} {'PSD %':>5} | {'epochs':>6} {'train s':>7} | {'pred/s':>10}"
    )
    print(f"{args.num_points} eta per data set, 80/10/10 split; metrics on the test split")
    if settings:
        print(f"every model's training config with {settings}")
    print("rel err and /floor: the worst statistic; /floor only for HMC data\n")
    print(header)
    print("-" * len(header), flush=True)
    summary = {}
    for case in args.cases.split(","):
        data = make_data(case, args.num_points)
        results = {}
        for model in args.models.split(","):
            results[model] = train_one(case, data, model, args.epochs, settings)
            print(row(case, model, results[model]), flush=True)
        key = "ratio_to_noise_floor" if case.endswith("-hmc") else "rel_error"
        best = min(results, key=lambda name: max(results[name]["vs_truth"][key]))
        summary[case] = (best, max(results[best]["vs_truth"][key]), key)
    print("\nbest model per case (the targets: HMC data, error at most 0.5 x the noise floor;")
    print("quadrature data of 1-D families, relative error below 1e-3):")
    for case, (best, value, key) in summary.items():
        print(f"  {case:>27}: {best:>18}  {key} {value:.3g}")


if __name__ == "__main__":
    main()
