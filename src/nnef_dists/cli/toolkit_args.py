"""What ``nnef moments`` and ``nnef natural`` share: the toolkit to use, the CSV in and out."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from nnef_dists.errors import ConfigError


def add_source_arguments(parser: argparse.ArgumentParser, rows: str) -> None:
    """--family NAME [--param K=V ...] | --model DIR; the CSV of ``rows``; --out, --force."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--family", help="a built-in family's name, or module:Class")
    source.add_argument("--model", help="a trained model directory")
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="a family parameter"
    )
    parser.add_argument(
        f"--{rows}", required=True, help=f"CSV of {rows} rows (a header line is skipped)"
    )
    parser.add_argument("--out", help=f"the CSV to write (default: beside --{rows})")
    parser.add_argument("--force", action="store_true", help="overwrite --out")


def load_toolkit(args):
    """(Toolkit, statistic labels) for --family / --model."""
    from nnef_dists.families import get_family
    from nnef_dists.toolkit import toolkit

    if args.model:
        from nnef_dists.models import load_model

        model = load_model(args.model)
        labels = model.stat_labels or [f"T{i}" for i in range(model.module.eta_dim)]
        return toolkit(model), list(labels)
    family = get_family(args.family, search=(Path.cwd(),), **_params(args.param))
    return toolkit(family), family.stat_labels()


def read_rows(path, k: int) -> np.ndarray:
    """The (N, k) numbers of a CSV whose first line is a header if it is not numeric."""
    from nnef_dists.flows.csvio import read_csv

    first = Path(path).read_text().lstrip().split("\n", 1)[0] if Path(path).exists() else ""
    header = bool(first) and not _numeric(first.split(",")[0])
    return read_csv(path, skip_header=header, columns=k)


def output_path(args, rows: str, suffix: str) -> Path:
    """--out, or FILE_<suffix>.csv beside the input, checked (``atomic.check_output``)."""
    from nnef_dists.atomic import check_output

    source = Path(getattr(args, rows))
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}_{suffix}.csv")
    check_output(out, args.force, reads=(source,))
    return out


def _params(pairs) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: expected KEY=VALUE, e.g. --param K=5")
        params[key] = yaml.safe_load(value)
    return params


def _numeric(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
