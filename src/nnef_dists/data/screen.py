"""What a generation run keeps, flags and rejects, and what it says about it.

Nothing non-normalisable passes as data:

- grid points outside the family's natural parameter space are never drawn
  (``sampling.grid`` redraws them) and are counted;
- quadrature rejects eta whose normaliser diverges or whose mass lies within
  float64 rounding of a limit of the support (``quadrature.EDGE_LIMIT``):
  those rows are left out of the data file and listed in its metadata;
- MCMC flags eta whose chains did not mix (``diagnostics.flag_eta``: R-hat,
  ESS, divergences, non-finite moments): the rows stay in the file (its
  contract is every eta of the grid) and are listed in the metadata, and
  training leaves them out unless told otherwise.

Every count is in the run's summary; above WARN_SHARE of the eta it comes
with a warning.
"""

from __future__ import annotations

import numpy as np

#: Above this share of the eta, a count of rejected or flagged eta is a warning.
WARN_SHARE = 0.01
#: At most this many rejected eta are listed in the metadata.
MAX_LISTED = 1000


def screen(results: dict, eta: np.ndarray, transitions: int, grid) -> tuple[dict, dict, list]:
    """Split a run's results into what is written, what is reported, and the warnings.

    Args:
      results: NumPy arrays of every eta of the grid (``sampling.estimate``).
      eta: (N, k) the grid's eta; transitions: MCMC sampling transitions per
        eta (num_samples x num_chains); grid: the ``EtaGrid`` (rejection counts).

    Returns:
      (rows: the indices of the eta written, report: {"summary": counts,
      "flagged_eta" / "rejected_eta": for the metadata}, warnings: lines).
    """
    from nnef_dists.sampling.diagnostics import flag_eta  # BlackJAX: see data.generate.run

    n = len(eta)
    counts = {"grid_points_outside_natural_space": grid.num_rejected}
    report: dict = {}
    if "rejected" in results:  # quadrature
        rejected = results["rejected"] > 0
        counts["eta_rejected_not_normalisable"] = int(rejected.sum())
        report["rejected_eta"] = eta[rejected][:MAX_LISTED].tolist()
        rows = np.flatnonzero(~rejected)
    else:  # MCMC
        flags = flag_eta(results, transitions)
        excluded = np.logical_or.reduce(list(flags.values()))
        report["flagged_eta"] = {reason: np.flatnonzero(f).tolist() for reason, f in flags.items()}
        report["flagged_eta"]["excluded"] = np.flatnonzero(excluded).tolist()
        counts.update({f"eta_flagged_{reason}": int(f.sum()) for reason, f in flags.items()})
        counts["eta_flagged"] = int(excluded.sum())
        rows = np.arange(n)
    report["summary"] = counts
    return rows, report, _warnings(counts, n, grid.num_drawn)


#: count -> (what is counted, what it means), for the warnings.
WARNINGS = {
    "grid_points_outside_natural_space": (
        "grid points",
        "fell outside the natural parameter space and were redrawn: the eta ranges reach beyond it",
    ),
    "eta_rejected_not_normalisable": (
        "eta",
        "were rejected and left out of the data: their density is not normalisable (or its "
        "mass sits at a limit of the support); narrow the eta ranges or give the family "
        "eta_bounds",
    ),
    "eta_flagged": (
        "eta",
        "are flagged (chains that did not mix: R-hat, ESS, divergences; listed in the "
        "metadata) and training leaves them out; more warm-up or samples, or narrower eta "
        "ranges, may help",
    ),
}


def _warnings(counts: dict, n: int, drawn: int) -> list:
    """A line for each count above WARN_SHARE of what it counts (grid points drawn, or eta)."""
    lines = []
    for key, (what, means) in WARNINGS.items():
        bad, total = counts.get(key, 0), drawn if what == "grid points" else n
        if bad > WARN_SHARE * total:
            lines.append(f"{bad} of {total} {what} ({bad / total:.0%}) {means}")
    return lines
