"""Command lines of training and evaluation.

    python -m nnef_dists.models.<name>.train --data data/x.pkl [--epochs N] [--lr LR]
        [--batch-size B] [--hidden-sizes 64,64] [--output-dir D] [--seed S]
        [--num-devices D] [--force]
    nnef train --model <name> ...   or   nnef train --config configs/train/<name>.yaml ...
    nnef evaluate --model DIR --data FILE [--split test]

Flags override the config file; the model's input and output sizes come from
the data. Training ends by evaluating the model on the test split (metrics
table, ``metrics.json``, plots) and writes the model directory atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnef_dists import runtime
from nnef_dists.config import ConfigError, parse_train_config, read_yaml

#: flag -> TrainConfig field, for the flags that override the config.
OVERRIDES = {
    "model": "model",
    "data": "data",
    "output_dir": "output_dir",
    "hidden_sizes": "hidden_sizes",
    "epochs": "epochs",
    "lr": "lr",
    "batch_size": "batch_size",
    "seed": "seed",
    "loss": "loss",
    "jacobian_weight": "jacobian_weight",
    "patience": "patience",
    "num_devices": "num_devices",
}


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 64,64, got {text!r}") from None
    return sizes


def train_parser(model: str | None) -> argparse.ArgumentParser:
    prog = f"python -m nnef_dists.models.{model}.train" if model else "nnef train"
    parser = argparse.ArgumentParser(prog=prog, description="Train an ET network eta -> mu_T.")
    parser.add_argument("--config", help="YAML training config (configs/train/*.yaml)")
    if model is None:
        parser.add_argument("--model", help="registered model name (nnef_dists.models)")
    parser.add_argument("--data", help="data set pickle from generate_data")
    parser.add_argument("--output-dir", help="model directory (default artifacts/<data>_<model>)")
    parser.add_argument("--hidden-sizes", type=_sizes, help="widths, e.g. 64,64")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--loss", choices=["mse", "noise_weighted"])
    parser.add_argument("--jacobian-weight", type=float, help="weight of the cov_TT term")
    parser.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    parser.add_argument(
        "--num-devices",
        type=int,
        help="devices to split each minibatch's rows over (batch size a multiple of it); "
        "default: every GPU or TPU, one device on CPU, where splitting is slower",
    )
    parser.add_argument("--force", action="store_true", help="overwrite the model directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    return parser


def train_config_from_args(args, model: str | None):
    """The TrainConfig of a config file (if any) with the command-line flags on top."""
    raw = dict(read_yaml(args.config)) if args.config else {}
    if model is not None:
        if raw.get("model", model) != model:
            raise ConfigError(
                f"{args.config}: model is {raw['model']!r}, but this is {model}'s trainer"
            )
        raw["model"] = model
    for flag, name in OVERRIDES.items():
        value = getattr(args, flag, None)
        if value is not None:
            raw[name] = value
    for required in ("model", "data"):
        if required not in raw:
            raise ConfigError(f"--{required} is required (or give it in --config)")
    return parse_train_config(raw, source=args.config or "command line")


def default_output_dir(config) -> Path:
    return Path("artifacts") / f"{Path(config.data).stem}_{config.model}"


def train_main(argv=None, model: str | None = None) -> int:
    """Train, evaluate and save; returns the exit status (2 on a user error)."""
    args = train_parser(model).parse_args(argv)
    runtime.enable_compilation_cache()
    from nnef_dists.data import DatasetError
    from nnef_dists.training.checkpoint import ModelDirError
    from nnef_dists.training.run import train_and_save
    from nnef_dists.training.trainer import TrainingError

    try:
        config = train_config_from_args(args, model)
        output = Path(config.output_dir) if config.output_dir else default_output_dir(config)
        report = train_and_save(config, output, force=args.force, progress=not args.quiet)
    except (ConfigError, DatasetError, ModelDirError, TrainingError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(report)
    return 0


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnef evaluate", description="Score a trained ET network on a data set."
    )
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--data", required=True, help="data set pickle")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--output", help="folder for metrics.json and plots (default: the model)")
    return parser


def evaluate_main(argv=None) -> int:
    args = evaluate_parser().parse_args(argv)
    runtime.enable_compilation_cache()
    from nnef_dists.data import DatasetError, load_dataset
    from nnef_dists.training.checkpoint import ModelDirError, load_model
    from nnef_dists.training.evaluate import evaluate, format_metrics, write_report

    try:
        model = load_model(args.model)
        data = load_dataset(args.data)
        if data["eta"].shape[1] != model.record["eta_dim"]:
            raise DatasetError(
                f"{args.data}: eta has {data['eta'].shape[1]} columns but the model in "
                f"{args.model} takes {model.record['eta_dim']}"
            )
        metrics, arrays = evaluate(model, data, args.split)
        write_report(Path(args.output or args.model), metrics, arrays)
    except (DatasetError, ModelDirError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_metrics(metrics))
    return 0
