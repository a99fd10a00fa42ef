"""Figures of CAVI runs, written as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnef_dists.atomic import atomic_file
from nnef_dists.figures import pyplot


def cavi_traces(traces: dict, path: Path, title: str = "") -> None:
    """Change per sweep (log scale) and ELBO of CAVI runs: traces = label -> CAVITrace."""
    plt = pyplot()
    fig, (ax_delta, ax_elbo) = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, trace in traces.items():
        delta, elbo = np.asarray(trace.delta), np.asarray(trace.elbo)
        sweeps = np.arange(len(delta))
        ax_delta.semilogy(sweeps, delta, marker="o", ms=3, label=label)
        ax_elbo.plot(sweeps, elbo, marker="o", ms=3, label=label)
    ax_delta.set(xlabel="sweep", ylabel="relative change of eta", title=title)
    ax_elbo.set(xlabel="sweep", ylabel="ELBO (up to a constant)")
    ax_delta.legend()
    fig.tight_layout()
    with atomic_file(path) as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)
