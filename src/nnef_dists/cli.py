"""The ``nnef`` console script: one entry point for every command.

nnef generate --config configs/data/gamma.yaml [--output P] [--force] ...
nnef train --model mlp_et --data data/gamma.pkl [--epochs N] ...
nnef evaluate --model artifacts/gamma_mlp_et --data data/gamma.pkl
nnef cavi --config configs/cavi/normal_gamma.yaml [--train-missing]
"""

from __future__ import annotations

import importlib
import sys

from nnef_dists import runtime

#: command -> (module, function(argv) -> exit status that runs it, one-line description)
COMMANDS = {
    "generate": ("nnef_dists.generate_data", "main", "generate a data set from a YAML config"),
    "train": ("nnef_dists.training.cli", "train_main", "train an ET network on a data set"),
    "evaluate": ("nnef_dists.training.cli", "evaluate_main", "score a trained ET network"),
    "cavi": ("nnef_dists.inference.cli", "main", "run a CAVI example config (configs/cavi)"),
    "cde": ("nnef_dists.flows.cli", "main", "conditional density estimation (normalising flows)"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {text}" for name, (*_, text) in COMMANDS.items()]
        print("usage: nnef COMMAND [options]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nerror: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    runtime.configure()  # before the command's imports start JAX's backends
    module, function, _ = COMMANDS[argv[0]]
    return getattr(importlib.import_module(module), function)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
