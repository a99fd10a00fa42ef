"""Name -> family class registry, and lookup by import path ``pkg.module:Class``."""

from __future__ import annotations

import importlib

from nnef_dists.families.base import ExponentialFamily

_FAMILIES: dict[str, type[ExponentialFamily]] = {}


def register_family(name: str):
    """Class decorator: make a family available as ``get_family(name)``."""

    def decorate(cls):
        if name in _FAMILIES and _FAMILIES[name] is not cls:
            raise ValueError(f"family name {name!r} is already registered")
        cls.registry_name = name
        _FAMILIES[name] = cls
        return cls

    return decorate


def list_families() -> list[str]:
    """Registered family names, sorted."""
    return sorted(_FAMILIES)


def family_class(name: str) -> type[ExponentialFamily]:
    """The class for a registry name or an import path ``package.module:Class``."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import family {name!r}: {err}") from err
        if not (isinstance(cls, type) and issubclass(cls, ExponentialFamily)):
            raise ValueError(f"{name!r} is not an ExponentialFamily subclass")
        return cls
    if name not in _FAMILIES:
        raise ValueError(
            f"unknown family {name!r}; registered: {', '.join(list_families())}, "
            "or give an import path 'package.module:Class'"
        )
    return _FAMILIES[name]


def get_family(name: str, **params) -> ExponentialFamily:
    """Instantiate a family by registry name or import path with constructor params."""
    cls = family_class(name)
    try:
        return cls(**params)
    except TypeError as err:
        raise ValueError(f"bad parameters for family {name!r}: {err}") from err
