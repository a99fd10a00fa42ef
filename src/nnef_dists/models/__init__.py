"""ET networks: eta -> mu_T, one sub-package per model (model.py, train.py).

Build one from a ``ModelSpec`` (``build_model``), load a trained one from
its model directory (``load_model``) as pure JAX functions.
"""

from nnef_dists.models.base import ETModel, Normalization
from nnef_dists.models.build import ModelSpec, build_model
from nnef_dists.models.loaded import LoadedModel, load_model, model_record
from nnef_dists.models.registry import BUILTIN_MODELS, get_model, list_models, register_model

__all__ = [
    "BUILTIN_MODELS",
    "ETModel",
    "LoadedModel",
    "ModelSpec",
    "Normalization",
    "build_model",
    "get_model",
    "list_models",
    "load_model",
    "model_record",
    "register_model",
]
