"""The inverse map: the natural parameter eta with E[T | eta] = mu, for each mu of a CSV.

    nnef natural (--family NAME [--param K=V ...] | --model DIR) --mu MU.csv
        [--out OUT.csv] [--force]

MU.csv has one mean vector per row. OUT.csv (default MU_natural.csv) has
mu, eta, residual (the Newton decrement: the distance of mean(eta) from mu in
the Fisher metric) and converged (1 or 0). A mu that is the mean of no member
of the family (outside the interior of the convex hull of T(x)) gets eta nan
and converged 0, never a silent number, and the command then exits with
status 1, saying how many rows failed.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nnef_dists.cli.toolkit_args import add_source_arguments

    add_source_arguments(parser, "mu")


def run(args):
    import jax
    import numpy as np

    from nnef_dists.cli.toolkit_args import load_toolkit, output_path, read_rows
    from nnef_dists.flows.csvio import write_csv

    out = output_path(args, "mu", "natural")
    with jax.enable_x64(args.family is not None):
        tk, labels = load_toolkit(args)
        mu = read_rows(args.mu, tk.eta_dim)
        result = jax.jit(tk.natural)(jax.numpy.asarray(mu))
    converged = np.asarray(result.converged)
    eta = np.where(converged[:, None], np.asarray(result.eta), np.nan)  # no number for a failure
    columns = dict(zip([f"mu_{x}" for x in labels], np.asarray(mu).T, strict=True))
    columns |= dict(zip([f"eta_{x}" for x in labels], eta.T, strict=True))
    columns |= {"residual": np.asarray(result.residual), "converged": converged}
    write_csv(out, columns, digits=17)
    print(f"{int(converged.sum())} of {len(mu)} mu solved -> {out}")
    if not converged.all():
        bad = np.flatnonzero(~converged)
        print(
            f"{bad.size} rows not solved (rows {(bad + 1)[:5].tolist()}...): their mu is the "
            "mean of no member of the family (outside the interior of the convex hull of "
            "T(x)) or too close to its boundary; they are written with converged = 0",
            file=sys.stderr,
        )
        return 1
