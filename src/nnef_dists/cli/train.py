"""Train an ET network eta -> mu_T on a data set, evaluate it, save its model directory.

    nnef train --model mlp_et --data data/gamma.pkl [--epochs N] ...
    nnef train --config configs/train/potential_et.yaml [--data D] ...
    python -m nnef_dists.models.<model>.train --data data/gamma.pkl ...   (an alias)

Flags override the config file; the model's input and output sizes come from
the data. Training ends by evaluating the model on the test split (metrics
table, metrics.json, plots) and writes the model directory atomically
(default artifacts/<data file stem>_<model>), never over an existing one
without --force.
"""

from __future__ import annotations

import argparse


def _sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 64,64, got {text!r}") from None


#: flag -> TrainConfig field, for the flags that override the config.
OVERRIDES = (
    "model",
    "data",
    "output_dir",
    "hidden_sizes",
    "epochs",
    "lr",
    "batch_size",
    "seed",
    "loss",
    "jacobian_weight",
    "patience",
    "polish_steps",
    "ema_decay",
    "num_devices",
    "include_flagged",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML training config (configs/train/*.yaml)")
    parser.add_argument("--model", help="registered model name (nnef_dists.models)")
    parser.add_argument("--data", help="data set pickle from nnef generate")
    parser.add_argument("--output-dir", help="model directory (default artifacts/<data>_<model>)")
    parser.add_argument("--hidden-sizes", type=_sizes, help="widths, e.g. 64,64")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--loss", choices=["mse", "noise_weighted", "whitened"])
    parser.add_argument("--jacobian-weight", type=float, help="weight of the cov_TT term")
    parser.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    parser.add_argument(
        "--polish-steps",
        type=int,
        help="full-batch L-BFGS iterations after the epochs (rounded up to a multiple of "
        "100), the best on validation kept (default: the model's, 4000 for potential_et, 400 "
        "for geometric_flow_et on MCMC data, else 0)",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        help="d: validate and keep the moving average a <- d a + (1 - d) params of the "
        "epochs' parameters (default: the model's, for potential_et 0.99 in runs of 1000 "
        "epochs or more, else 0)",
    )
    parser.add_argument(
        "--num-devices",
        type=int,
        help="devices to split each minibatch's rows over (batch size a multiple of it); "
        "default: every GPU or TPU, one device on CPU, where splitting is slower",
    )
    parser.add_argument(
        "--include-flagged",
        action="store_true",
        default=None,
        help="train on the eta the generator flagged too (chains that did not mix)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite the model directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or tables")


def train_config(args):
    """The TrainConfig of a config file (if any) with the command-line flags on top."""
    from nnef_dists.errors import ConfigError
    from nnef_dists.schema import read_yaml
    from nnef_dists.training import parse_train_config

    raw = dict(read_yaml(args.config)) if args.config else {}
    for name in OVERRIDES:
        value = getattr(args, name)
        if value is not None:
            raw[name] = value
    for required in ("model", "data"):
        if required not in raw:
            raise ConfigError(f"--{required} is required (or give it in --config)")
    return parse_train_config(raw, source=args.config or "command line")


def run(args) -> None:
    from pathlib import Path

    from nnef_dists.training.run import default_output_dir, train_and_save

    config = train_config(args)
    output = Path(config.output_dir) if config.output_dir else default_output_dir(config)
    report = train_and_save(
        config, output, force=args.force, progress=not args.quiet, resume=args.resume
    )
    if not args.quiet:
        print(report)


def interrupted(args) -> str:
    return (
        "the training loop's checkpoint (a hidden .<model directory>.checkpoint beside "
        "it, saved every few seconds) is kept; rerun the same command with --resume"
    )
