"""The one registry pattern of the package: name -> class, or ``package.module:Class``.

Families and models each keep a ``Registry``. Classes register themselves
with a decorator; built-in entries may instead be named with the module that
defines them, imported on first use (so a command imports only what it runs).

A user's own module (``my_module:MyFamily``) is found the same way by every
entry point (``nnef``, ``python -m``, tests, ``load_model``): first where
Python finds modules (``sys.path``, installed packages), then in the folders
the caller names (e.g. the config file's folder), then in the working
directory (``import_user_module``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys

from nnef_dists.errors import ConfigError


class Registry:
    """Name -> subclass of ``base``; also resolves import paths ``package.module:Class``.

    Args:
      kind: what is registered, for messages ("family", "model").
      base: the class every entry must subclass.
      lazy: name -> module that registers that name when imported.
    """

    def __init__(self, kind: str, base: type, lazy: dict[str, str] | None = None):
        self.kind = kind
        self.base = base
        self._classes: dict[str, type] = {}
        self._lazy = dict(lazy or {})

    def register(self, name: str):
        """Class decorator: make the class available under ``name``."""

        def decorate(cls):
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} name {name!r} is already registered")
            cls.registry_name = name
            self._classes[name] = cls
            return cls

        return decorate

    def names(self) -> list[str]:
        """Registered names (lazy ones included), sorted."""
        return sorted(set(self._classes) | set(self._lazy))

    def get_class(self, name: str, search=()) -> type:
        """The class for a registered name or an import path ``package.module:Class``.

        Args:
          name: the registry name or import path.
          search: folders to look in for the module of an import path, after
            ``sys.path`` and before the working directory.

        Raises:
          ConfigError: no such name, or the path does not import a subclass of ``base``.
        """
        if ":" in name:
            module_name, _, attr = name.partition(":")
            try:
                cls = getattr(import_user_module(module_name, search), attr)
            except (ImportError, AttributeError) as err:
                raise ConfigError(f"cannot import {self.kind} {name!r}: {err}") from err
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise ConfigError(f"{name!r} is not a {self.base.__name__} subclass")
            return cls
        if name not in self._classes and name in self._lazy:
            importlib.import_module(self._lazy[name])
        if name not in self._classes:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}, "
                "or give an import path 'package.module:Class'"
            )
        return self._classes[name]


def import_user_module(name: str, search=()):
    """Import module ``name``: from ``sys.path``, else from ``search`` or the working directory.

    The top-level package of ``name`` is looked up in each folder of
    ``search``, then in the working directory, and loaded from the first that
    holds it (``importlib.machinery.PathFinder``; ``sys.path`` is left alone).

    Raises:
      ModuleNotFoundError: nowhere to be found.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        top = name.partition(".")[0]
        if err.name not in (name, top):
            raise  # the module exists but imports something missing
        for folder in [*map(str, search), os.getcwd()]:
            spec = importlib.machinery.PathFinder.find_spec(top, [folder])
            if spec is not None:
                module = importlib.util.module_from_spec(spec)
                sys.modules[top] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[top]
                    raise
                return importlib.import_module(name)
        raise
