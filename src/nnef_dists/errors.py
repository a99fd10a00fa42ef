"""The errors a user can cause, one hierarchy at the bottom of the package (README: Errors).

Library code raises them with a message that names the file, field, key or
row; only the command line (``nnef_dists.cli``) prints them, as one line
``error: ...``, and exits with status 2. Each kind also subclasses the
built-in exception it refines, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class NnefError(Exception):
    """Base class: an error the user can fix; the message says where and what."""


class ConfigError(NnefError, ValueError):
    """A config value, YAML field or command-line flag; names the file and the field."""


class FamilyError(NnefError, ValueError):
    """A family that cannot be built or used: bad parameters, members or eta."""


class DataError(NnefError, ValueError):
    """A data set, data file or CSV file that breaks its contract; names the file."""


class ModelDirError(NnefError, ValueError):
    """A model directory that cannot be read; names the file."""


class TrainingError(NnefError, RuntimeError):
    """Training cannot go on (a loss that is not finite); says when and what to try."""


class OutputExistsError(NnefError, FileExistsError):
    """An output that already exists, and no ``--force``; names the path."""


__all__ = [
    "ConfigError",
    "DataError",
    "FamilyError",
    "ModelDirError",
    "NnefError",
    "OutputExistsError",
    "TrainingError",
]
