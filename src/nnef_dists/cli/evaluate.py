"""Score a trained ET network on a data set: errors against the targets and the truth.

    nnef evaluate --model artifacts/gamma_mlp_et --data data/gamma.pkl [--split test]
        [--output DIR] [--force]

Prints the table of errors per statistic and writes metrics.json and the
predicted-against-exact plot into --output (default: MODEL_on_DATA_SPLIT
beside the model directory, which is only read: its training metrics stay).
The data must be of the model's family (from the data file's metadata).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--data", required=True, help="data set pickle")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument(
        "--output", help="folder for metrics.json and plots (default: MODEL_on_DATA_SPLIT)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --output if it exists")


def run(args) -> None:
    from pathlib import Path

    from nnef_dists.atomic import atomic_directory, check_output
    from nnef_dists.data import load_dataset
    from nnef_dists.errors import DataError
    from nnef_dists.models import load_model
    from nnef_dists.training.evaluate import evaluate, format_metrics, write_report
    from nnef_dists.training.run import data_provenance

    model_dir, data_file = Path(args.model), Path(args.data)
    output = (
        Path(args.output)
        if args.output
        else model_dir.with_name(f"{model_dir.name}_on_{data_file.stem}_{args.split}")
    )
    check_output(output, args.force, reads=[model_dir])  # before any work
    model = load_model(model_dir)
    data = load_dataset(data_file)
    if data["eta"].shape[1] != model.record["eta_dim"]:
        raise DataError(
            f"{data_file}: eta has {data['eta'].shape[1]} columns but the model in "
            f"{model_dir} takes {model.record['eta_dim']}"
        )
    trained_on, evaluated_on = model.record.get("family"), data_provenance(data_file)[0]
    if trained_on and evaluated_on and _family(trained_on) != _family(evaluated_on):
        raise DataError(
            f"{data_file}: data of family {_family(evaluated_on)}, but the model in "
            f"{model_dir} was trained on {_family(trained_on)}"
        )
    metrics, arrays = evaluate(model, data, args.split)
    with atomic_directory(output, force=args.force) as folder:
        write_report(folder, metrics, arrays)
    print(format_metrics(metrics))
    print(f"report: {output}")


def _family(ef: dict) -> str:
    """A data config's ``ef:`` as text: its name and parameters."""
    params = ", ".join(f"{k}={v}" for k, v in sorted((ef.get("params") or {}).items()))
    return f"{ef.get('name')}({params})"
