"""The one place that builds an ET network from its description."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from flax import nnx

from nnef_dists.errors import ConfigError
from nnef_dists.models.base import ETModel, Normalization
from nnef_dists.models.registry import get_model
from nnef_dists.schema import NON_EMPTY, OPTIONAL_NON_EMPTY, POSITIVE_ENTRIES, at_least, checked


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """An ET network's architecture: registry name, block widths, options, init seed.

    The training config (``training.TrainConfig``) extends it, and a model
    directory stores it, so a trained model is rebuilt from exactly this.
    """

    model: str = checked(NON_EMPTY)
    # None: the model's default (its training_defaults)
    hidden_sizes: tuple[int, ...] | None = checked(
        OPTIONAL_NON_EMPTY, POSITIVE_ENTRIES, default=None
    )
    model_options: dict = field(default_factory=dict)  # model-specific constructor keywords
    seed: int = checked(at_least(0), default=0)  # initialisation (and, training, the run)

    def spec_dict(self) -> dict:
        """The ModelSpec fields only, as plain values (for config.yaml)."""
        out = {f.name: getattr(self, f.name) for f in fields(ModelSpec)}
        sizes = self.hidden_sizes or get_model(self.model).training_defaults["hidden_sizes"]
        return out | {"hidden_sizes": list(sizes)}


def build_model(spec: ModelSpec, eta_dim: int, normalization: Normalization) -> ETModel:
    """A freshly initialised ET network of ``spec`` for eta of dimension ``eta_dim``.

    Raises:
      ConfigError: an unknown model name or model option.
    """
    cls = get_model(spec.model)
    try:
        return cls(
            eta_dim,
            normalization,
            hidden_sizes=tuple(spec.hidden_sizes or cls.training_defaults["hidden_sizes"]),
            rngs=nnx.Rngs(spec.seed),
            **spec.model_options,
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model_options for {spec.model}: {err}") from None
