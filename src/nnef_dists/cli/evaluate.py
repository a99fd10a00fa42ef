"""Score a trained ET network on a data set: errors against the targets and the truth.

    nnef evaluate --model artifacts/gamma_mlp_et --data data/gamma.pkl [--split test]

Prints the table of errors per statistic and writes metrics.json and the
predicted-against-exact plot into --output (default: the model directory).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--data", required=True, help="data set pickle")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--output", help="folder for metrics.json and plots (default: the model)")


def run(args) -> None:
    from pathlib import Path

    from nnef_dists.data import load_dataset
    from nnef_dists.errors import DataError
    from nnef_dists.models import load_model
    from nnef_dists.training.evaluate import evaluate, format_metrics, write_report

    model = load_model(args.model)
    data = load_dataset(args.data)
    if data["eta"].shape[1] != model.record["eta_dim"]:
        raise DataError(
            f"{args.data}: eta has {data['eta'].shape[1]} columns but the model in "
            f"{args.model} takes {model.record['eta_dim']}"
        )
    metrics, arrays = evaluate(model, data, args.split)
    write_report(Path(args.output or args.model), metrics, arrays)
    print(format_metrics(metrics))
