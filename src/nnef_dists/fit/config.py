"""The config of ``nnef fit``: a family and its eta ranges, optionally how to sample and train.

ef: {name: my_module:MyFamily}     # as in a data config (README: Config reference)
grid: {num_points: 4096, eta_range: {...}}
sampling: {method: hmc, ...}       # optional: quadrature where the support allows, else HMC
train: {model: potential_et, ...}  # optional: any training config field but data, output_dir
target: 5.0e-3                     # optional: see fit.workflow
max_rounds: 4
seed: 0
"""

from __future__ import annotations

from dataclasses import dataclass

from nnef_dists.errors import ConfigError
from nnef_dists.families.config import FamilyConfig
from nnef_dists.sampling.config import GridConfig, SamplingConfig, resolve_eta_range
from nnef_dists.schema import (
    OPTIONAL_POSITIVE,
    POSITIVE,
    at_least,
    checked,
    folder_of,
    parse,
    read_yaml,
)
from nnef_dists.training import TrainConfig, parse_train_config

#: The model nnef fit trains unless train: names another.
DEFAULT_MODEL = "potential_et"


@dataclass(frozen=True)
class FitConfig:
    """A whole fit config (module docstring)."""

    ef: FamilyConfig
    grid: GridConfig
    sampling: SamplingConfig | None = None
    train: dict = checked(default_factory=dict)
    target: float | None = checked(OPTIONAL_POSITIVE, default=None)
    max_rounds: int = checked(POSITIVE, default=4)
    seed: int = checked(at_least(0), default=0)

    def train_config(self, data, output_dir) -> TrainConfig:
        """The training config of one round: ``train:`` with its data and output."""
        raw = {"model": DEFAULT_MODEL, "seed": self.seed, **self.train}
        return parse_train_config(raw | {"data": str(data), "output_dir": str(output_dir)})


def parse_fit_config(mapping, source: str = "<dict>") -> FitConfig:
    """Validate a mapping into a FitConfig; every problem is one ConfigError naming source.

    A family given as ``my_module:MyFamily`` is looked for in the folder of
    ``source`` (when it is a file) too.
    """
    try:
        config = parse(FitConfig, mapping)
        resolve_eta_range(config.ef.build(search=folder_of(source)), config.grid)
        for reserved in ("data", "output_dir"):
            if reserved in config.train:
                raise ConfigError(f"train.{reserved}: set by nnef fit, not in the config")
        config.train_config("data.pkl", "out")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return config


def load_fit_config(path) -> FitConfig:
    """Read and validate a YAML fit config."""
    return parse_fit_config(read_yaml(path), source=str(path))
