"""YAML configs (data: DESIGN 3.3; training) as frozen dataclasses, strictly validated.

Every field is checked against its annotated type and its ``checks``: an
unknown, misspelt, mistyped, missing or out-of-range field raises one
``ConfigError`` whose message names the file and the dotted field, e.g.

    configs/data/gamma.yaml: sampling.num_chain: unknown field; did you mean num_chains?

Parsing a data config also builds the family and checks ``grid.eta_range``
against it, so a config that loads is one the generator can run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nnef_dists.families import ExponentialFamily, family_class, get_family


class ConfigError(ValueError):
    """A config value a user can fix; the message names the file and the field."""


# ---- field checks: (predicate on the parsed value, what it must satisfy) -----


def _at_least(n: int, why: str = ""):
    return (lambda v: v >= n), f"must be at least {n}{why}"


def _one_of(*choices: str):
    return (lambda v: v in choices), "must be one of " + ", ".join(map(repr, choices))


_POSITIVE = (lambda v: v > 0), "must be positive"
_PROBABILITY = (lambda v: 0 < v < 1), "must lie strictly between 0 and 1"
_NON_EMPTY = (lambda v: len(v) > 0), "must not be empty"
_OPTIONAL_POSITIVE = (lambda v: v is None or v > 0), "must be positive"
_OPTIONAL_NON_NEGATIVE = (lambda v: v is None or v >= 0), "must not be negative"
_POSITIVE_ENTRIES = (lambda v: v is None or all(d > 0 for d in v)), "entries must be positive"


def _field(*checks, default=MISSING, default_factory=MISSING):
    return field(default=default, default_factory=default_factory, metadata={"checks": checks})


# ---- the configs --------------------------------------------------------------


@dataclass(frozen=True)
class FamilyConfig:
    """``ef:`` which family to sample: registry name or ``package.module:Class``."""

    name: str = _field(_NON_EMPTY)
    x_shape: tuple[int, ...] | None = _field(_POSITIVE_ENTRIES, default=None)
    params: dict = _field(default_factory=dict)

    def build(self) -> ExponentialFamily:
        """The family instance: ``get_family(name, **params, x_shape=x_shape)``."""
        try:
            family_class(self.name)
        except ValueError as err:
            raise ConfigError(f"ef.name: {err}") from None
        params = {k: _lists_to_tuples(v) for k, v in self.params.items()}  # keep it hashable
        if self.x_shape is not None:
            if "x_shape" in params:
                raise ConfigError("ef.params: x_shape is given twice; set it as ef.x_shape only")
            params["x_shape"] = tuple(self.x_shape)
        try:
            return get_family(self.name, **params)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"ef.params: {err}") from None


def _lists_to_tuples(value):
    return tuple(map(_lists_to_tuples, value)) if isinstance(value, list) else value


@dataclass(frozen=True)
class GridConfig:
    """``grid:`` where the natural parameters eta are drawn (see sampling.grid)."""

    num_points: int = _field(_POSITIVE)
    eta_range: dict = _field()
    spread: str = _field(_one_of("uniform", "log"), default="uniform")
    batch_size: int = _field(_POSITIVE, default=256)


@dataclass(frozen=True)
class SamplingConfig:
    """``sampling:`` how E[T | eta] and Cov[T | eta] are estimated at each eta."""

    method: str = _field(_one_of("hmc", "nuts", "quadrature"), default="hmc")
    num_samples: int = _field(_POSITIVE, default=1000)
    num_warmup: int = _field(_at_least(0), default=500)
    num_chains: int = _field(
        _at_least(2, " (the multi-chain diagnostics need 2 or more chains)"), default=4
    )
    num_integration_steps: int = _field(_POSITIVE, default=10)
    step_size: float = _field(_POSITIVE, default=0.1)
    target_acceptance_rate: float = _field(_PROBABILITY, default=0.8)
    # eta sampled side by side by one device; an eta's draws depend on the seed, its
    # index and this number only. None: 256 on CPU, 4096 on GPU or TPU.
    chunk_size: int | None = _field(_OPTIONAL_POSITIVE, default=None)


@dataclass(frozen=True)
class DistributedConfig:
    """``distributed:`` several processes (hosts) share the eta through jax.distributed.

    Fields left out are found by JAX in the environment that SLURM or a TPU pod
    sets up; command-line flags override them.
    """

    coordinator_address: str | None = None  # host:port of process 0
    num_processes: int | None = _field(_OPTIONAL_POSITIVE, default=None)
    process_id: int | None = _field(_OPTIONAL_NON_NEGATIVE, default=None)


@dataclass(frozen=True)
class DataConfig:
    """A whole data config file (DESIGN 3.3)."""

    ef: FamilyConfig
    grid: GridConfig
    sampling: SamplingConfig
    seed: int = _field(_at_least(0), default=42)
    output: str = _field(_NON_EMPTY, default="data/out.pkl")
    distributed: DistributedConfig | None = None  # None: one process


@dataclass(frozen=True)
class TrainConfig:
    """A training config (``configs/train/*.yaml``); command-line flags override it."""

    model: str = _field(_NON_EMPTY)
    data: str = _field(_NON_EMPTY)
    output_dir: str | None = None  # default: artifacts/<data file stem>_<model>
    hidden_sizes: tuple[int, ...] = _field(_NON_EMPTY, _POSITIVE_ENTRIES, default=(64, 64))
    model_options: dict = _field(default_factory=dict)  # model-specific constructor keywords
    epochs: int = _field(_POSITIVE, default=300)
    lr: float = _field(_POSITIVE, default=3e-3)  # peak learning rate
    batch_size: int = _field(_POSITIVE, default=64)
    weight_decay: float = _field(_OPTIONAL_NON_NEGATIVE, default=0.0)
    warmup_epochs: int = _field(_at_least(0), default=5)
    clip_norm: float = _field(_POSITIVE, default=1.0)
    patience: int = _field(_POSITIVE, default=50)  # epochs without a better validation loss
    loss: str = _field(_one_of("mse", "noise_weighted"), default="mse")
    # weight of the cov_TT term; None: the model's default
    jacobian_weight: float | None = _field(_OPTIONAL_NON_NEGATIVE, default=None)
    seed: int = _field(_at_least(0), default=0)  # initialisation, split and minibatches
    # devices the minibatch rows are split over; None: one on CPU, every GPU or TPU
    num_devices: int | None = _field(_OPTIONAL_POSITIVE, default=None)


def parse_train_config(mapping, source: str = "<dict>") -> TrainConfig:
    """Validate a mapping into a TrainConfig; errors are ConfigErrors prefixed by source."""
    try:
        return _parse(TrainConfig, mapping, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


# ---- parsing ------------------------------------------------------------------


def load_data_config(path) -> DataConfig:
    """Read and validate a YAML data config; every problem is one ConfigError."""
    return parse_data_config(read_yaml(path), source=str(path))


def read_yaml(path):
    """The parsed YAML file at ``path`` (duplicate keys refused), or a ConfigError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file: {err.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty")
    return raw


def parse_data_config(mapping, source: str = "<dict>") -> DataConfig:
    """Validate a mapping (e.g. parsed YAML) into a DataConfig.

    Also builds the family and checks ``grid.eta_range`` against it.
    ``source`` prefixes every error message (the file name).
    """
    try:
        config = _parse(DataConfig, mapping, "")
        resolve_eta_range(config.ef.build(), config.grid)
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


def _join(where: str, name) -> str:
    return f"{where}.{name}" if where else str(name)


def _parse(cls, mapping, where: str):
    """Build dataclass ``cls`` from ``mapping``, checking every field."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where or 'top level'}: expected a mapping of fields, got {mapping!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in mapping:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(names)}"
            raise ConfigError(f"{_join(where, key)}: unknown field; {hint}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        path = _join(where, f.name)
        if f.name not in mapping:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"{path}: missing required field")
            continue
        value = _coerce(hints[f.name], mapping[f.name], path)
        for ok, requirement in f.metadata.get("checks", ()):
            if not ok(value):
                raise ConfigError(f"{path}: {requirement}, got {value!r}")
        values[f.name] = value
    return cls(**values)


def _coerce(hint, value, where: str):
    """``value`` as type ``hint``: int, float, str, dict, tuple[T, ...], Optional, dataclass."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value, where)
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    if hint is str and isinstance(value, str):
        return value
    if hint is dict and isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return dict(value)
    if typing.get_origin(hint) is tuple and isinstance(value, list | tuple):
        (item, _) = typing.get_args(hint)  # tuple[item, ...]
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    raise ConfigError(f"{where}: expected {_describe(hint)}, got {value!r}{_yaml_hint(value)}")


def _describe(hint) -> str:
    if typing.get_origin(hint) is tuple:
        return "a list"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a finite number",
        str: "a string",
        dict: "a mapping with string keys",
    }[hint]


def _yaml_hint(value) -> str:
    """YAML 1.1 reads ``1e-3`` as a string; say so when that is the likely slip."""
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
        return " (YAML reads numbers like 1e-3 as strings; write 1.0e-3)"
    return ""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# ---- eta ranges against a family ------------------------------------------------


def resolve_eta_range(family: ExponentialFamily, grid: GridConfig):
    """Check ``grid.eta_range`` against ``family``; return per-entry bounds.

    Each statistic of ``family.stat_shapes`` needs a range: ``[lo, hi]`` for all
    its entries or a list of ``[lo, hi]``, one per flat entry. Returns
    ``(lo, hi)``, two float64 arrays of shape (stat_dim,).
    """
    ranges, sizes = grid.eta_range, family.stat_sizes
    for name in ranges:
        if name not in sizes:
            close = difflib.get_close_matches(str(name), list(sizes), n=1)
            hint = f"did you mean {close[0]}?" if close else f"expected {', '.join(sizes)}"
            raise ConfigError(f"grid.eta_range.{name}: {family.name} has no such statistic; {hint}")
    bounds = family.eta_bounds()
    pairs = []
    for name, size in sizes.items():
        if name not in ranges:
            raise ConfigError(f"grid.eta_range.{name}: missing range for statistic {name}")
        for where, lo, hi in _range_pairs(ranges[name], size, f"grid.eta_range.{name}"):
            _check_pair(where, lo, hi, grid.spread)
            b_lo, b_hi = bounds.get(name, (-np.inf, np.inf))
            if hi <= b_lo or lo >= b_hi:
                raise ConfigError(
                    f"{where}: [{lo!r}, {hi!r}] lies outside the natural parameter space of "
                    f"{family.name} ({_describe_bound(name, b_lo, b_hi)})"
                )
            pairs.append((lo, hi))
    lo, hi = np.array(pairs, dtype=np.float64).reshape(-1, 2).T
    return lo, hi


def describe_eta_bounds(family: ExponentialFamily) -> str:
    """The family's constraints on eta in words, e.g. 'log_x > -1, x < 0'."""
    parts = [_describe_bound(n, lo, hi) for n, (lo, hi) in family.eta_bounds().items()]
    if type(family).in_natural_space is not ExponentialFamily.in_natural_space:
        parts.append(f"see {type(family).__qualname__}.in_natural_space")
    return ", ".join(parts) or "no constraint"


def _describe_bound(name: str, lo: float, hi: float) -> str:
    if lo == -np.inf:
        return f"{name} < {hi:g}"
    if hi == np.inf:
        return f"{name} > {lo:g}"
    return f"{lo:g} < {name} < {hi:g}"


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _range_pairs(spec, size: int, where: str):
    """[(where, lo, hi)] with one entry per flat statistic entry, or one for all."""
    shape_hint = f"expected [lo, hi] or a list of {size} [lo, hi] pairs, got {spec!r}"
    if not isinstance(spec, list | tuple) or not spec:
        raise ConfigError(f"{where}: {shape_hint}")
    if all(_is_number(v) for v in spec):
        if len(spec) != 2:
            raise ConfigError(f"{where}: {shape_hint}")
        return [(where, float(spec[0]), float(spec[1]))] * size
    if len(spec) != size:
        raise ConfigError(f"{where}: {len(spec)} ranges given for {size} entries; {shape_hint}")
    out = []
    for i, pair in enumerate(spec):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(map(_is_number, pair))):
            raise ConfigError(f"{where}[{i}]: expected [lo, hi], got {pair!r}")
        out.append((f"{where}[{i}]", float(pair[0]), float(pair[1])))
    return out


def _check_pair(where: str, lo: float, hi: float, spread: str) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{where}: bounds must be finite, got [{lo!r}, {hi!r}]")
    if not lo < hi:
        raise ConfigError(f"{where}: lo must be below hi, got [{lo!r}, {hi!r}]")
    if spread == "log" and not lo * hi > 0:
        raise ConfigError(
            f"{where}: spread 'log' needs lo and hi nonzero and of the same sign, "
            f"got [{lo!r}, {hi!r}]"
        )
