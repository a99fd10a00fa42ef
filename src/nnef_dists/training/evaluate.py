"""Scoring a trained ET network on the test split, against the targets and the truth.

For the test rows of a data set (the split of the model's training seed):

- against the targets (the data's mu_T): RMSE and relative error per statistic;
- against the truth (closed form or quadrature, see sampling.exact_moments;
  for quadrature data the targets are the truth): RMSE and relative error,
  the noise floor (RMSE of the targets themselves against the truth) and the
  ratio of the model's error to it. A ratio below 1 means the network
  averages out the noise of its training targets;
- the Jacobian d mu / d eta against the exact cov_TT (relative Frobenius
  error, median and 90th percentile) and the fraction of points where it is
  symmetric positive semi-definite (asymmetry below SYMMETRY_RTOL and
  smallest eigenvalue above -PSD_RTOL of its norm);
- where the model has eta_from_mu, the round trip |eta_from_mu(mu_T(eta)) - eta|.

Relative error = RMSE / root mean square of the reference, per statistic.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from nnef_dists.data import split_dataset
from nnef_dists.models.directory import METRICS_FILE, write_json
from nnef_dists.numerics import full_precision_matmuls
from nnef_dists.sampling import exact_moments
from nnef_dists.training import plots

SYMMETRY_RTOL = 1e-4
PSD_RTOL = 1e-5
#: Rows per compiled call when predicting (bounds memory for Jacobians).
CHUNK = 4096


def _batched(fn, x):
    fn = jax.jit(fn)
    return np.concatenate([np.asarray(fn(x[i : i + CHUNK])) for i in range(0, len(x), CHUNK)])


def _rmse(a, b):
    return np.sqrt(np.mean((a - b) ** 2, axis=0))


def _errors(pred, reference) -> dict:
    rmse = _rmse(pred, reference)
    return {
        "rmse": rmse.tolist(),
        "rel_error": (rmse / np.sqrt(np.mean(reference**2, axis=0))).tolist(),
    }


def _jacobian_metrics(jac, cov) -> dict:
    norm = np.linalg.norm(jac, axis=(1, 2))
    rel = np.linalg.norm(jac - cov, axis=(1, 2)) / np.linalg.norm(cov, axis=(1, 2))
    asym = np.linalg.norm(jac - np.swapaxes(jac, 1, 2), axis=(1, 2))
    min_eig = np.linalg.eigvalsh(0.5 * (jac + np.swapaxes(jac, 1, 2)))[:, 0]
    ok = (asym <= SYMMETRY_RTOL * norm) & (min_eig >= -PSD_RTOL * norm)
    return {
        "rel_error_median": float(np.median(rel)),
        "rel_error_p90": float(np.quantile(rel, 0.9)),
        "fraction_symmetric_psd": float(ok.mean()),
    }


@full_precision_matmuls
def evaluate(model, data: dict, split: str = "test") -> tuple[dict, dict]:
    """Metrics of a LoadedModel on one split of a data set.

    Args:
      model: a LoadedModel (``nnef_dists.models.load_model``).
      data: a data set dict (README: Data file) with eta of shape (N, model eta_dim).
      split: "train", "val" or "test" (80/10/10 by the model's training seed).

    Returns:
      (metrics dict, arrays dict with eta, pred, targets and truth (or None)).
    """
    seed = model.record["architecture"]["seed"]  # the training seed, which drew the split
    part = split_dataset(data, seed)[split]
    eta = part["eta"]
    pred = _batched(model.mu_T, eta)
    metrics = {
        "model": model.name,
        "split": split,
        "num_points": len(eta),
        "stat_labels": model.stat_labels,
        "vs_targets": _errors(pred, part["mu_T"]),
    }
    if np.all(np.isinf(part["ess"])):
        truth = {"mu_T": part["mu_T"], "cov_TT": part["cov_TT"], "source": "targets (exact data)"}
    else:
        truth = exact_moments(model.family, eta) if model.family is not None else None
    jac = _batched(model.jacobian, eta)
    if truth is not None:
        floor = _rmse(part["mu_T"], truth["mu_T"])
        errors = _errors(pred, truth["mu_T"])
        with np.errstate(divide="ignore"):
            ratio = np.where(floor > 0, np.asarray(errors["rmse"]) / floor, np.inf)
        metrics["vs_truth"] = {
            "source": truth["source"],
            **errors,
            "noise_floor": floor.tolist(),
            "ratio_to_noise_floor": ratio.tolist(),
        }
        metrics["jacobian"] = _jacobian_metrics(jac, truth["cov_TT"])
    else:
        metrics["vs_truth"] = None
        metrics["jacobian"] = _jacobian_metrics(jac, part["cov_TT"]) | {"against": "targets"}
    if "eta_from_mu" in model.provides:
        back = _batched(model.eta_from_mu, pred)
        rel = np.linalg.norm(back - eta, axis=1) / np.maximum(np.linalg.norm(eta, axis=1), 1e-12)
        metrics["round_trip"] = {
            "rel_error_max": float(rel.max()),
            "rel_error_median": float(np.median(rel)),
        }
    arrays = {"eta": eta, "pred": pred, "targets": part["mu_T"], "truth": truth}
    return metrics, arrays


def write_report(folder: Path, metrics: dict, arrays: dict) -> None:
    """metrics.json and predicted_vs_exact.png (or _vs_targets without a truth) in folder."""
    folder = Path(folder)
    write_json(folder / METRICS_FILE, metrics)
    truth = arrays["truth"]
    reference, name = (
        (truth["mu_T"], "exact") if truth is not None else (arrays["targets"], "targets")
    )
    labels = metrics["stat_labels"] or [f"T{j}" for j in range(reference.shape[1])]
    plots.predicted_vs_reference(
        arrays["pred"], reference, labels, folder / f"predicted_vs_{name}.png", name
    )


def format_metrics(metrics: dict) -> str:
    """A table, one row per statistic, of the errors against targets and truth."""
    labels = metrics["stat_labels"] or [f"T{j}" for j in range(len(metrics["vs_targets"]["rmse"]))]
    truth = metrics["vs_truth"]
    header = f"{'statistic':>14} {'RMSE vs data':>13} {'rel':>9}"
    if truth:
        header += f" | {'RMSE vs truth':>13} {'rel':>9} {'noise floor':>11} {'ratio':>6}"
    lines = [f"{metrics['model']} on the {metrics['split']} split ({metrics['num_points']} eta)"]
    lines += [header, "-" * len(header)]
    for j, label in enumerate(labels):
        row = (
            f"{label:>14} {metrics['vs_targets']['rmse'][j]:13.4g} "
            f"{metrics['vs_targets']['rel_error'][j]:9.2e}"
        )
        if truth:
            floor, ratio = truth["noise_floor"][j], truth["ratio_to_noise_floor"][j]
            floor_cells = (
                f"{floor:11.4g} {ratio:6.2f}" if floor > 0 else f"{'- (exact)':>11} {'-':>6}"
            )
            row += f" | {truth['rmse'][j]:13.4g} {truth['rel_error'][j]:9.2e} {floor_cells}"
        lines.append(row)
    jac = metrics["jacobian"]
    against = jac.get("against", truth["source"] if truth else "targets")
    lines.append(
        f"Jacobian vs cov_TT ({against}): relative error median {jac['rel_error_median']:.3g}, "
        f"p90 {jac['rel_error_p90']:.3g}; symmetric PSD at "
        f"{100 * jac['fraction_symmetric_psd']:.1f}% of points"
    )
    if "round_trip" in metrics:
        rt = metrics["round_trip"]
        lines.append(
            f"eta_from_mu(mu_T(eta)): relative error max {rt['rel_error_max']:.2e}, "
            f"median {rt['rel_error_median']:.2e}"
        )
    if truth:
        lines.append(f"truth: {truth['source']}")
    return "\n".join(lines)
