"""The whole pipeline on a small built-in default (``make demo``), for the gamma family.

1. Generates ``data/demo/gamma.pkl`` from ``configs/data/gamma.yaml`` with a
   small grid, prints HMC estimates against the closed form and the z-score
   summary that says whether the reported error bars are honest:
   z = (mu_T - exact) / sqrt(diag(cov_TT) / ess) should have mean 0 and
   standard deviation 1.
2. Trains ``potential_et`` at its default settings on it into
   ``artifacts/demo/gamma_potential_et`` and prints its metrics on the test
   split against the closed form.
3. Runs both CAVI examples (configs/cavi/*.yaml) with network providers,
   training the networks they need first (``artifacts/cavi/``), against
   their references (closed form and quadrature).
4. Prints one summary table and writes ``artifacts/demo/report.md`` with
   plots: learning curves, predicted against exact, CAVI traces.

What is already there is reused; delete it to rebuild.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

CONFIG = Path("configs/data/gamma.yaml")
OUTPUT = Path("data/demo/gamma.pkl")
MODEL_DIR = Path("artifacts/demo/gamma_potential_et")
REPORT_DIR = Path("artifacts/demo")
CAVI_CONFIGS = (Path("configs/cavi/normal_gamma.yaml"), Path("configs/cavi/polynomial_prior.yaml"))


def z_scores(family, data) -> tuple[np.ndarray, np.ndarray]:
    """(exact mu_T (N, k), z-scores (N, k)) of a data set of a closed-form family."""
    from nnef_dists.sampling import exact_moments

    exact = exact_moments(family, data["eta"])["mu_T"]
    stderr = np.sqrt(np.diagonal(data["cov_TT"], axis1=1, axis2=2) / data["ess"])
    return exact, (data["mu_T"] - exact) / stderr


def format_table(family, data, exact, z, rows: int = 8) -> str:
    labels = family.stat_labels()
    header = f"{'eta':>22} | " + " | ".join(
        f"{label + ' est':>13} {'exact':>10} {'z':>6}" for label in labels
    )
    lines = [header, "-" * len(header)]
    for i in range(min(rows, len(z))):
        eta = ", ".join(f"{v:7.3f}" for v in data["eta"][i])
        cells = " | ".join(
            f"{data['mu_T'][i, j]:13.5f} {exact[i, j]:10.5f} {z[i, j]:6.2f}"
            for j in range(len(labels))
        )
        lines.append(f"{eta:>22} | {cells}")
    return "\n".join(lines)


def format_z_summary(family, z) -> str:
    lines = [
        f"{'statistic':>10} {'z mean':>8} {'z std':>7} {'|z|>3':>6}   (honest: mean ~ 0, std ~ 1)"
    ]
    for j, label in enumerate(family.stat_labels()):
        col = z[:, j]
        lines.append(
            f"{label:>10} {col.mean():8.3f} {col.std():7.3f} {int(np.sum(np.abs(col) > 3)):6d}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-points", type=int, default=2048, help="gamma eta to generate")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs of potential_et (default: from the data)"
    )


def run(args) -> None:
    from nnef_dists.data import load_data_config, load_dataset, with_overrides
    from nnef_dists.data.generate import format_summary
    from nnef_dists.data.generate import run as generate
    from nnef_dists.inference.example_runs import run_example

    config = with_overrides(load_data_config(CONFIG), output=OUTPUT, num_points=args.num_points)
    if OUTPUT.exists():
        print(f"reusing {OUTPUT} (delete it to regenerate)")
    else:
        _, summary = generate(config)
        print(format_summary(summary))
    family = config.ef.build()
    data = load_dataset(OUTPUT)
    exact, z = z_scores(family, data)
    print(f"\n{family.name}: HMC estimates of E[T] against the closed form\n")
    print(format_table(family, data, exact, z))
    print(f"\nz-scores over {len(z)} eta\n")
    print(format_z_summary(family, z))
    metrics = train_network(data, args.epochs)
    examples = {}
    for path in CAVI_CONFIGS:
        print(f"\n== CAVI: {path}")
        examples[path.stem] = run_example(path, train=True)
        print(examples[path.stem]["report"])
    table = summary_table(z, metrics, examples)
    print("\n" + table)
    write_report(table, examples)
    print(f"\nreport: {REPORT_DIR / 'report.md'}")


def summary_table(z, metrics, examples) -> str:
    """One table: honest error bars, the network's accuracy, CAVI agreement."""
    lines = [f"{'step':>34} | {'figure':>48}", "-" * 85]
    lines.append(
        f"{'HMC data: z std per statistic':>34} | {np.array2string(z.std(0), precision=3):>48}"
    )
    truth = metrics["vs_truth"]
    lines.append(
        f"{'potential_et: error / noise floor':>34} | "
        f"{np.array2string(np.asarray(truth['ratio_to_noise_floor']), precision=3):>48}"
    )
    lines.append(
        f"{'potential_et: Jacobian PSD share':>34} | "
        f"{metrics['jacobian']['fraction_symmetric_psd']:>48.3f}"
    )
    for name, ex in examples.items():
        run, ref = ex["summaries"]
        rel = max(abs(run[k] - ref[k]) / abs(ref[k]) for k in run)
        sweeps = int(ex["runs"][0]["result"].num_iter)
        lines.append(
            f"{name + ': network vs reference':>34} | "
            f"{f'max relative difference {rel:.2e} in {sweeps} sweeps':>48}"
        )
    return "\n".join(lines)


def write_report(table: str, examples) -> None:
    """artifacts/demo/report.md with the summary table and the figures."""
    from nnef_dists.inference.plots import cavi_traces

    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("learning_curve.png", "predicted_vs_exact.png"):
        shutil.copy(MODEL_DIR / name, REPORT_DIR / f"potential_et_{name}")
    figures = ["potential_et_learning_curve.png", "potential_et_predicted_vs_exact.png"]
    for name, ex in examples.items():
        traces = {
            label: r["result"].trace
            for label, r in zip(("network", "reference"), ex["runs"], strict=True)
        }
        cavi_traces(traces, REPORT_DIR / f"cavi_{name}.png", name)
        figures.append(f"cavi_{name}.png")
    body = [
        "# nnef-dists demo report",
        "",
        "```",
        table,
        "```",
        "",
        *(ex["report"].join(["```\n", "\n```\n"]) for ex in examples.values()),
        *(f"![{f}]({f})" for f in figures),
    ]
    (REPORT_DIR / "report.md").write_text("\n".join(body) + "\n")


def train_network(data, epochs: int | None) -> dict:
    """Train potential_et on the demo data (or reuse it); print and return its test metrics."""
    from nnef_dists.models import load_model
    from nnef_dists.training import parse_train_config, train_and_save
    from nnef_dists.training.evaluate import evaluate, format_metrics

    if MODEL_DIR.exists():
        print(f"\nreusing {MODEL_DIR} (delete it to retrain)")
    else:
        raw = {"model": "potential_et", "data": str(OUTPUT), "epochs": epochs}
        config = parse_train_config(raw, source="nnef demo")
        print(f"\ntraining potential_et on {OUTPUT} at the default settings")
        print(train_and_save(config, MODEL_DIR).splitlines()[0])
    metrics, _ = evaluate(load_model(MODEL_DIR), data, "test")
    print("\n" + format_metrics(metrics))
    return metrics
