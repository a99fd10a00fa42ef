"""Numeric CSV files for the command line: strict reading, atomic writing.

Every problem in a file a user gives (a ragged row, text, NaN or inf, a
column count that does not match the model, no such file) raises one
DataError whose message names the file, the line and the column, e.g.

    F.csv, line 7, column 3: 'abc' is not a number
"""

from __future__ import annotations

import csv
import math

import numpy as np

from nnef_dists.atomic import atomic_file
from nnef_dists.errors import DataError


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
      DataError: no rows, a row of a different length, a field that is not a
        finite number.
    """
    rows, lines = [], []
    try:
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
    except OSError as err:
        raise DataError(f"{path}: cannot read the CSV file: {err.strerror}") from None
    if not rows:
        raise DataError(f"{path}: no data rows")
    expected = columns if columns is not None else len(rows[0])
    values = np.empty((len(rows), expected))
    for r, (fields, line) in enumerate(zip(rows, lines, strict=True)):
        if len(fields) != expected:
            what = "the model" if columns is not None else "the first row"
            column = min(len(fields), expected) + 1
            raise DataError(
                f"{_where(path, line, column)}: the row has {len(fields)} columns but "
                f"{what} has {expected}"
            )
        for c, field in enumerate(fields):
            try:
                value = float(field)
            except ValueError:
                raise DataError(f"{_where(path, line, c + 1)}: {field!r} is not a number") from None
            if not math.isfinite(value):
                raise DataError(f"{_where(path, line, c + 1)}: {field.strip()!r} is not finite")
            values[r, c] = value
    return values


def write_csv(path, header: list[str], rows, digits: int = 9) -> None:
    """Write ``header`` and ``rows`` (sequences of numbers or labels) atomically, numbers
    to ``digits`` significant digits (17: float64 exactly)."""
    with atomic_file(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([_format(v, digits) for v in row])


def _format(value, digits: int) -> str:
    if isinstance(value, str | bool | int | np.integer | np.bool_):
        return str(int(value)) if isinstance(value, bool | np.bool_) else str(value)
    return f"{float(value):.{digits}g}"
