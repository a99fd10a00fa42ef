"""Name -> family class registry, and lookup by import path ``pkg.module:Class``."""

from __future__ import annotations

from nnef_dists.errors import FamilyError
from nnef_dists.families.base import ExponentialFamily
from nnef_dists.registry import Registry

FAMILIES = Registry("family", ExponentialFamily)
register_family = FAMILIES.register
list_families = FAMILIES.names
family_class = FAMILIES.get_class


def get_family(name: str, *, search=(), **params) -> ExponentialFamily:
    """Instantiate a family by registry name or import path with constructor params.

    ``search``: folders to look in for a user's module (``registry.import_user_module``).

    Raises:
      ConfigError: no such family.
      FamilyError: the parameters do not fit the family, or it breaks the contract.
    """
    cls = family_class(name, search)
    try:
        return cls(**params)
    except FamilyError:
        raise
    except (TypeError, ValueError) as err:
        raise FamilyError(f"bad parameters for family {name!r}: {err}") from err
