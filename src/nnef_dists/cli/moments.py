"""A family's moments at each eta of a CSV file: mu_T, A and the entropy where known.

    nnef moments (--family NAME [--param K=V ...] | --model DIR) --eta ETA.csv
        [--covariance] [--out OUT.csv] [--force]

ETA.csv has one eta per row (k columns, an optional header). OUT.csv (default
ETA_moments.csv) has eta, then mean_<label> per statistic, log_partition and
entropy where the backend gives them (closed form, quadrature; a network
with A: potential_et), and with --covariance the k x k covariance row-major.
A family runs in float64 (17 significant digits written), a model in its own
float32.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nnef_dists.cli.toolkit_args import add_source_arguments

    add_source_arguments(parser, "eta")
    parser.add_argument("--covariance", action="store_true", help="also write Cov[T]")


def run(args) -> None:
    import jax
    import numpy as np

    from nnef_dists.cli.toolkit_args import load_toolkit, output_path, read_rows
    from nnef_dists.flows.csvio import write_csv

    out = output_path(args, "eta", "moments")
    with jax.enable_x64(args.family is not None):
        tk, labels = load_toolkit(args)
        eta = jax.numpy.asarray(read_rows(args.eta, tk.eta_dim))
        columns = dict(zip([f"eta_{x}" for x in labels], np.asarray(eta).T, strict=True))
        mean = np.asarray(tk.mean(eta)).T
        columns |= dict(zip([f"mean_{x}" for x in labels], mean, strict=True))
        for member in ("log_partition", "entropy"):
            try:
                columns[member] = np.asarray(getattr(tk, member)(eta))
            except NotImplementedError:
                pass
        if args.covariance:
            cov = np.asarray(tk.covariance(eta)).reshape(len(eta), -1)
            names = [f"cov_{a}_{b}" for a in labels for b in labels]
            columns |= dict(zip(names, cov.T, strict=True))
    write_csv(out, columns, digits=17)
    print(f"{len(eta)} rows of {', '.join(columns)} -> {out}")
