"""Exponential families: the base class, domains, registry and built-in families."""

from nnef_dists.families import builtin  # noqa: F401  (registers the built-in families)
from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.domains import Box, Domain, Simplex, Sphere
from nnef_dists.families.registry import family_class, get_family, list_families, register_family

__all__ = [
    "Box",
    "Domain",
    "ExponentialFamily",
    "Simplex",
    "Sphere",
    "family_class",
    "get_family",
    "list_families",
    "register_family",
]
