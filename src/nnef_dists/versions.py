"""Versions of installed packages, for ``--version`` and the metadata of data files."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: What stands for the version of a package that runs without being installed.
NOT_INSTALLED = "not installed (source tree)"


def installed_version(package: str) -> str:
    """``package``'s installed version, or NOT_INSTALLED (e.g. run with PYTHONPATH=src)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return NOT_INSTALLED
