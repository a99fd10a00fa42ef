"""Training, evaluation and storage of ET networks (DESIGN 3.5)."""

from nnef_dists.training.checkpoint import LoadedModel, load_model
from nnef_dists.training.evaluate import evaluate
from nnef_dists.training.trainer import TrainingError, build_model, fit

__all__ = ["LoadedModel", "TrainingError", "build_model", "evaluate", "fit", "load_model"]
