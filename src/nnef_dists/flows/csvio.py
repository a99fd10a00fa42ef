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


def write_csv(path, columns: dict, digits: int = 9) -> None:
    """Write named columns, each (N,) numbers or labels, atomically as N rows.

    Floats get ``digits`` significant digits (17: float64 exactly), integers
    and booleans are written as integers, anything else as text. Formatting
    is one ``%`` per row, not one call per value.
    """
    values = [np.asarray(column) for column in columns.values()]
    if len({len(v) for v in values}) > 1:
        raise ValueError(f"columns of different lengths: {[len(v) for v in values]}")
    line = ",".join(_format(v.dtype, digits) for v in values) + "\n"
    cells = [_cells(v) for v in values]
    with atomic_file(path, "w") as handle:
        handle.write(",".join(columns) + "\n")
        handle.writelines(line % row for row in zip(*cells, strict=True))


def _format(dtype, digits: int) -> str:
    return f"%.{digits}g" if dtype.kind == "f" else "%d" if dtype.kind in "iub" else "%s"


def _cells(values: np.ndarray) -> list:
    if values.dtype.kind == "f":
        return values.astype(np.float64).tolist()
    return values.astype(int).tolist() if values.dtype.kind in "iub" else values.tolist()
