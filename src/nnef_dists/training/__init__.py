"""Training and evaluation of ET networks, and the one training loop (README: Model directories).

config = parse_train_config(read_yaml("configs/train/mlp_et.yaml"))
report = train_and_save(config, "artifacts/gamma_mlp_et")
"""

from nnef_dists.training.config import LoopConfig, TrainConfig, parse_train_config
from nnef_dists.training.evaluate import evaluate
from nnef_dists.training.history import History
from nnef_dists.training.loop import fit_module
from nnef_dists.training.run import train_and_save
from nnef_dists.training.trainer import fit

__all__ = [
    "History",
    "LoopConfig",
    "TrainConfig",
    "evaluate",
    "fit",
    "fit_module",
    "parse_train_config",
    "train_and_save",
]
