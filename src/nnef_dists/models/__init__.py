"""ET networks: eta -> mu_T, one sub-package per model (model.py, train.py)."""

from nnef_dists.models.base import ETModel, Normalization
from nnef_dists.models.registry import BUILTIN_MODELS, get_model, list_models, register_model

__all__ = [
    "BUILTIN_MODELS",
    "ETModel",
    "Normalization",
    "get_model",
    "list_models",
    "register_model",
]
