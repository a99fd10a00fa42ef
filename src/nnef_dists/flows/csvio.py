"""Numeric CSV files for the command line: strict reading, atomic writing.

Every problem in a file a user gives (a ragged row, text, NaN or inf, a
column count that does not match the model) raises one CSVError whose
message names the file, the line and the column, e.g.

    F.csv, line 7, column 3: 'abc' is not a number
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class CSVError(ValueError):
    """A malformed CSV file; the message names the file, line and column."""


def _where(path, line: int, column: int | None = None) -> str:
    return f"{path}, line {line}" + (f", column {column}" if column is not None else "")


def read_csv(path, skip_header: bool = False, columns: int | None = None) -> np.ndarray:
    """The numbers of a CSV file as float64 (N, K).

    Args:
      path: the file; blank lines are skipped.
      skip_header: ignore the first non-blank line.
      columns: the number of columns K the caller needs (e.g. the model's);
        None takes it from the first row.

    Raises:
      CSVError: no rows, a row of a different length, a field that is not a
        finite number.
      FileNotFoundError: no such file.
    """
    rows, lines = [], []
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header_pending = skip_header
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if header_pending:
                header_pending = False
                continue
            rows.append(fields)
            lines.append(reader.line_num)
    if not rows:
        raise CSVError(f"{path}: no data rows")
    expected = columns if columns is not None else len(rows[0])
    values = np.empty((len(rows), expected))
    for r, (fields, line) in enumerate(zip(rows, lines, strict=True)):
        if len(fields) != expected:
            what = "the model" if columns is not None else "the first row"
            column = min(len(fields), expected) + 1
            raise CSVError(
                f"{_where(path, line, column)}: the row has {len(fields)} columns but "
                f"{what} has {expected}"
            )
        for c, field in enumerate(fields):
            try:
                value = float(field)
            except ValueError:
                raise CSVError(f"{_where(path, line, c + 1)}: {field!r} is not a number") from None
            if not math.isfinite(value):
                raise CSVError(f"{_where(path, line, c + 1)}: {field.strip()!r} is not finite")
            values[r, c] = value
    return values


@contextmanager
def atomic_file(path, mode: str = "w"):
    """Yield a temporary file that replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode, newline="" if "b" not in mode else None) as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_csv(path, header: list[str], rows) -> None:
    """Write ``header`` and ``rows`` (sequences of numbers or labels) atomically."""
    with atomic_file(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([_format(v) for v in row])


def _format(value) -> str:
    if isinstance(value, str | int | np.integer):
        return str(value)
    return f"{float(value):.9g}"
