"""Strict YAML configs as frozen dataclasses: the helper every layer's schema is built on.

A schema is a frozen dataclass whose fields carry checks (``checked``); the
parser coerces each value to the field's annotated type (int, float, str,
bool, dict, ``tuple[T, ...]``, ``X | None`` or a nested schema) and raises
one ``ConfigError`` naming the file and the dotted field for every kind of
slip, e.g.

    configs/data/gamma.yaml: sampling.num_chain: unknown field; did you mean num_chains?

    @dataclass(frozen=True)
    class Solver:
        tol: float = checked(POSITIVE, default=1e-6)
        method: str = checked(one_of("cg", "lu"), default="cg")

    solver = load(Solver, "solver.yaml")        # or parse(Solver, mapping, source)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, field
from pathlib import Path

import yaml

from nnef_dists.errors import ConfigError

#: A field check: (predicate on the coerced value, the requirement in words).
Check = tuple[Callable[[typing.Any], bool], str]


def at_least(n: int, why: str = "") -> Check:
    """The value is at least ``n``."""
    return (lambda v: v >= n), f"must be at least {n}{why}"


def one_of(*choices: str) -> Check:
    """The value is one of ``choices``."""
    return (lambda v: v in choices), "must be one of " + ", ".join(map(repr, choices))


POSITIVE: Check = (lambda v: v > 0), "must be positive"
PROBABILITY: Check = (lambda v: 0 < v < 1), "must lie strictly between 0 and 1"
NON_EMPTY: Check = (lambda v: len(v) > 0), "must not be empty"
OPTIONAL_NON_EMPTY: Check = (lambda v: v is None or len(v) > 0), "must not be empty"
OPTIONAL_POSITIVE: Check = (lambda v: v is None or v > 0), "must be positive"
OPTIONAL_NON_NEGATIVE: Check = (lambda v: v is None or v >= 0), "must not be negative"
POSITIVE_ENTRIES: Check = (lambda v: v is None or all(d > 0 for d in v)), "entries must be positive"


def checked(*checks: Check, default=MISSING, default_factory=MISSING):
    """A dataclass field validated by ``checks`` when parsed."""
    return field(default=default, default_factory=default_factory, metadata={"checks": checks})


def did_you_mean(name: str, choices: Iterable[str], otherwise: str = "expected one of") -> str:
    """'did you mean X?' for the closest of ``choices``, else '<otherwise> a, b, c'."""
    choices = list(choices)
    close = difflib.get_close_matches(str(name), choices, n=1)
    return f"did you mean {close[0]}?" if close else f"{otherwise} {', '.join(choices)}"


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
        raise ConfigError(f"{path}: invalid YAML: {_one_line(err)}") from None
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty")
    return raw


def _one_line(err: yaml.YAMLError) -> str:
    """A YAML error as one line: what was wrong, and where (line and column, 1-based)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def folder_of(source) -> tuple:
    """(the folder of ``source``,) when it names a file, else (): where a config's own
    modules (a user's family) are looked for too."""
    path = Path(source)
    return (path.parent,) if path.is_file() else ()


def load(cls, path):
    """Read and validate the YAML file at ``path`` into schema ``cls``."""
    return parse(cls, read_yaml(path), source=str(path))


def parse(cls, mapping, source: str | None = None, where: str = ""):
    """Build schema ``cls`` from ``mapping``, checking every field.

    Args:
      cls: a dataclass whose fields may carry ``checked`` checks.
      mapping: e.g. parsed YAML.
      source: prefixes every error message (the file name); None: no prefix.
      where: the dotted path of ``mapping`` in its file ("" at the top).
    """
    try:
        return _parse(cls, mapping, where)
    except ConfigError as err:
        if source is None:
            raise
        raise ConfigError(f"{source}: {err}") from None


def join(where: str, name) -> str:
    """The dotted path of field ``name`` inside ``where``."""
    return f"{where}.{name}" if where else str(name)


def _parse(cls, mapping, where: str):
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where or 'top level'}: expected a mapping of fields, got {mapping!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in mapping:
        if key not in names:
            raise ConfigError(f"{join(where, key)}: unknown field; {did_you_mean(key, names)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        path = join(where, f.name)
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
    """``value`` as type ``hint``: int, float, str, bool, dict, tuple[T, ...], Optional, schema."""
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
