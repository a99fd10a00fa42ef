"""Calibration of a conditional density estimator on held-out (features, params) pairs.

Two checks, both exact for a perfect model:

- base-space radius: the flow maps theta ~ p(. | x) to u ~ N(0, I_D), so
  ||u||^2 ~ chi^2_D and the joint level-a region {chi^2_D.cdf(||u||^2) <= a}
  covers the true params with probability a;
- ranks (simulation-based calibration, Talts et al. 2018): the rank of the
  true theta_j among L posterior draws is uniform on 0..L, so central
  intervals of level a cover with probability a and a histogram of ranks is
  flat (tested by chi-square).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from nnef_dists.atomic import atomic_file
from nnef_dists.figures import pyplot

LEVELS = (0.5, 0.8, 0.9, 0.95)


@dataclass
class Calibration:
    """Coverage of held-out params.

    Attributes:
      levels: (Q,) nominal levels; radius: (Q,) joint coverage by the base radius;
      marginal: (Q, D) coverage of central intervals per param; rank_hist:
      (D, B) rank counts; rank_expected: (B,) expected counts; rank_p: (D,)
      chi-square p-values of flat ranks; radius_p: KS p-value of the radius
      levels; nll: mean -log p(params | features); rows N, samples L.
    """

    levels: np.ndarray
    radius: np.ndarray
    marginal: np.ndarray
    rank_hist: np.ndarray
    rank_expected: np.ndarray
    rank_p: np.ndarray
    radius_p: float
    nll: float
    rows: int
    samples: int


def calibrate(estimator, features, params, key, samples: int = 100, levels=LEVELS, bins: int = 10):
    """The Calibration of ``estimator`` on features (N, C) (or None) and true params (N, D)."""
    params = np.asarray(params, np.float64).reshape(len(params), -1)
    levels = np.asarray(levels, np.float64)
    u = estimator.to_normal(params, features)
    radius_level = stats.chi2.cdf(np.sum(np.asarray(u, np.float64) ** 2, -1), u.shape[-1])
    draws = estimator.sample(key, features, samples)
    if features is None:
        draws = np.broadcast_to(draws, (len(params), *draws.shape))
    ranks = np.sum(draws < params[:, None, :], axis=1)  # (N, D) in 0..L
    centred = np.abs((ranks + 0.5) / (samples + 1) - 0.5)
    bin_of = ranks * bins // (samples + 1)
    hist = np.stack([np.bincount(b, minlength=bins) for b in bin_of.T])
    expected = (
        len(params) * np.bincount(np.arange(samples + 1) * bins // (samples + 1)) / (samples + 1)
    )
    return Calibration(
        levels=levels,
        radius=np.array([np.mean(radius_level <= a) for a in levels]),
        marginal=np.array([np.mean(centred <= a / 2, axis=0) for a in levels]),
        rank_hist=hist,
        rank_expected=expected,
        rank_p=np.array([stats.chisquare(h, expected).pvalue for h in hist]),
        radius_p=float(stats.kstest(radius_level, "uniform").pvalue),
        nll=float(-np.mean(estimator.log_prob(params, features))),
        rows=len(params),
        samples=samples,
    )


def format_calibration(cal: Calibration, labels=None) -> str:
    """A plain-text table: one row per level, the radius and every param's coverage."""
    labels = labels or [f"p{j}" for j in range(cal.marginal.shape[1])]
    head = ["level", "radius", *labels]
    width = max(10, *(len(h) + 2 for h in head))
    lines = [
        f"calibration on {cal.rows} held-out rows ({cal.samples} posterior draws each); "
        f"mean NLL {cal.nll:.4f}",
        "coverage (fraction of true params inside the level-a region):",
        "".join(f"{h:>{width}}" for h in head),
    ]
    for q, level in enumerate(cal.levels):
        cells = [level, cal.radius[q], *cal.marginal[q]]
        lines.append("".join(f"{c:>{width}.3f}" for c in cells))
    p_values = [cal.radius_p, *cal.rank_p]
    lines.append(f"{'p-value':>{width}}" + "".join(f"{p:>{width}.2e}" for p in p_values))
    lines.append(
        "(p-values: KS test of the radius levels; chi-square test of flat rank histograms)"
    )
    return "\n".join(lines)


def plot_calibration(cal: Calibration, path, labels=None) -> None:
    """Coverage against level, and rank histograms, as a PNG at ``path`` (written atomically)."""
    plt = pyplot()
    dim = cal.marginal.shape[1]
    labels = labels or [f"p{j}" for j in range(dim)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    grid = np.concatenate([[0.0], cal.levels, [1.0]])
    left.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
    left.plot(grid, np.concatenate([[0.0], cal.radius, [1.0]]), "k-o", label="radius (joint)")
    for j in range(dim):
        left.plot(grid, np.concatenate([[0.0], cal.marginal[:, j], [1.0]]), "-o", ms=3)
    left.set(xlabel="nominal level", ylabel="empirical coverage", title="coverage")
    left.legend(["ideal", "radius (joint)", *labels], fontsize=8)
    edges = np.arange(len(cal.rank_expected) + 1)
    for j in range(dim):
        right.stairs(cal.rank_hist[j], edges, label=labels[j])
    right.stairs(cal.rank_expected, edges, color="grey", ls=":", label="uniform")
    right.set(xlabel="rank bin", ylabel="count", title="rank histograms (SBC)")
    right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
