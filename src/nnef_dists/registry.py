"""The one registry pattern of the package: name -> class, or ``package.module:Class``.

Families and models each keep a ``Registry``. Classes register themselves
with a decorator; built-in entries may instead be named with the module that
defines them, imported on first use (so a command imports only what it runs).
"""

from __future__ import annotations

import importlib

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

    def get_class(self, name: str) -> type:
        """The class for a registered name or an import path ``package.module:Class``.

        Raises:
          ConfigError: no such name, or the path does not import a subclass of ``base``.
        """
        if ":" in name:
            module_name, _, attr = name.partition(":")
            try:
                cls = getattr(importlib.import_module(module_name), attr)
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
