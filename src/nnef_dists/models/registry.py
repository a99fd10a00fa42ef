"""The model registry: ``get_model(name)`` and ``list_models()``."""

from __future__ import annotations

from nnef_dists.models.base import ETModel
from nnef_dists.registry import Registry

#: Built-in models, each in nnef_dists.models.<name> with model.py and train.py.
BUILTIN_MODELS = (
    "mlp_et",
    "glu_et",
    "quadratic_et",
    "glow_et",
    "geometric_flow_et",
    "potential_et",
)

MODELS = Registry(
    "model", ETModel, lazy={name: f"nnef_dists.models.{name}.model" for name in BUILTIN_MODELS}
)
register_model = MODELS.register
list_models = MODELS.names


def get_model(name: str) -> type[ETModel]:
    """The model class for a registry name or an import path ``package.module:Class``."""
    return MODELS.get_class(name)
