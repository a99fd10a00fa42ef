"""A data config file (README: Config reference): family, grid, sampler, seed, output, processes.

Parsing also builds the family and checks ``grid.eta_range`` against it, so a
config that loads is one the generator can run. Every problem is one
``ConfigError`` naming the file and the dotted field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nnef_dists.errors import ConfigError
from nnef_dists.families.config import FamilyConfig
from nnef_dists.sampling.config import GridConfig, SamplingConfig, resolve_eta_range
from nnef_dists.schema import (
    NON_EMPTY,
    OPTIONAL_NON_NEGATIVE,
    OPTIONAL_POSITIVE,
    at_least,
    checked,
    folder_of,
    parse,
    read_yaml,
)


@dataclass(frozen=True)
class DistributedConfig:
    """``distributed:`` several processes (hosts) share the eta through jax.distributed.

    Fields left out are found by JAX in the environment that SLURM or a TPU pod
    sets up; command-line flags override them.
    """

    coordinator_address: str | None = None  # host:port of process 0
    num_processes: int | None = checked(OPTIONAL_POSITIVE, default=None)
    process_id: int | None = checked(OPTIONAL_NON_NEGATIVE, default=None)


@dataclass(frozen=True)
class DataConfig:
    """A whole data config file (README: Config reference)."""

    ef: FamilyConfig
    grid: GridConfig
    sampling: SamplingConfig
    seed: int = checked(at_least(0), default=42)
    output: str = checked(NON_EMPTY, default="data/out.pkl")
    distributed: DistributedConfig | None = None  # None: one process


def load_data_config(path) -> DataConfig:
    """Read and validate a YAML data config; every problem is one ConfigError."""
    return parse_data_config(read_yaml(path), source=str(path))


def parse_data_config(mapping, source: str = "<dict>") -> DataConfig:
    """Validate a mapping (e.g. parsed YAML) into a DataConfig.

    Also builds the family and checks ``grid.eta_range`` against it.
    ``source`` prefixes every error message (the file name).
    """
    try:
        config = parse(DataConfig, mapping)
        resolve_eta_range(config.ef.build(search=folder_of(source)), config.grid)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return config


def with_overrides(
    config: DataConfig,
    output=None,
    num_points: int | None = None,
    seed: int | None = None,
    distributed: dict | None = None,
) -> DataConfig:
    """A copy of ``config`` with command-line overrides, validated like the file.

    ``distributed``: None, or DistributedConfig fields (an empty dict turns
    several processes on, with JAX finding the settings in the environment);
    those not None override the config's.
    """
    raw = dataclasses.asdict(config)
    if distributed is not None:
        given = {name: value for name, value in distributed.items() if value is not None}
        raw["distributed"] = {**(raw["distributed"] or {}), **given}
    if output is not None:
        raw["output"] = str(output)
    if num_points is not None:
        raw["grid"]["num_points"] = num_points
    if seed is not None:
        raw["seed"] = seed
    return parse_data_config(raw, source="command line")
