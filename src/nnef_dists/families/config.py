"""The ``ef:`` section of a data config: which family, with which parameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nnef_dists.errors import ConfigError, FamilyError
from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import family_class, get_family
from nnef_dists.schema import NON_EMPTY, POSITIVE_ENTRIES, checked


@dataclass(frozen=True)
class FamilyConfig:
    """``ef:`` registry name or ``package.module:Class``, x_shape and constructor params."""

    name: str = checked(NON_EMPTY)
    x_shape: tuple[int, ...] | None = checked(POSITIVE_ENTRIES, default=None)
    params: dict = checked(default_factory=dict)

    def build(self, search=()) -> ExponentialFamily:
        """The family instance: ``get_family(name, **params, x_shape=x_shape)``.

        ``search``: folders to look in for a user's module, after ``sys.path``
        and before the working directory (e.g. the config file's folder).
        """
        try:
            family_class(self.name, search)
        except ConfigError as err:
            raise ConfigError(f"ef.name: {err}") from None
        params = {k: _lists_to_tuples(v) for k, v in self.params.items()}  # keep it hashable
        if self.x_shape is not None:
            if "x_shape" in params:
                raise ConfigError("ef.params: x_shape is given twice; set it as ef.x_shape only")
            params["x_shape"] = tuple(self.x_shape)
        try:
            return get_family(self.name, search=search, **params)
        except FamilyError as err:
            where = "ef.params" if str(err).startswith("bad parameters") else "ef.name"
            raise ConfigError(f"{where}: {err}") from None


def family_entry(family: ExponentialFamily) -> dict:
    """The ``ef:`` mapping of a family instance (the inverse of ``FamilyConfig.build``)."""
    params = {
        f.name: getattr(family, f.name) for f in dataclasses.fields(family) if f.name != "x_shape"
    }
    return {"name": family.name, "x_shape": list(family.x_shape), "params": params}


def _lists_to_tuples(value):
    return tuple(map(_lists_to_tuples, value)) if isinstance(value, list) else value
