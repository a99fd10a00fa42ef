"""The report of ``nnef fit``: report.md and heldout_error.png in the model directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnef_dists.atomic import atomic_file
from nnef_dists.figures import pyplot
from nnef_dists.models.directory import METRICS_FILE
from nnef_dists.training.evaluate import format_metrics


def summary(state: dict, labels: list) -> str:
    """One line per round: eta, the held-out error per statistic (its 95 % upper
    confidence bound in brackets: the target is met when every bound is below it)."""
    width = max(20, *(len(label) + 2 for label in labels))
    head = f"{'round':>6} {'eta':>7} " + "".join(f"{label:>{width}}" for label in labels)
    lines = [
        f"held-out {state['measure']} per statistic [95 % upper bound] "
        f"(target {state['target']:g}):",
        head,
    ]
    for r in state["rounds"]:
        cells = "".join(
            f"{f'{e:.3g} [{u:.3g}]':>{width}}" for e, u in zip(r["errors"], r["upper"], strict=True)
        )
        lines.append(f"{r['round']:>6} {r['num_eta']:>7} {cells}  {'met' if r['met'] else ''}")
    return "\n".join(lines)


def write(out: Path, state: dict, family) -> None:
    """report.md (the rounds, then the final model's test metrics) and heldout_error.png."""
    labels = family.stat_labels()
    metrics = json.loads((out / METRICS_FILE).read_text())
    met = state["rounds"][-1]["met"]
    verdict = "met" if met else "NOT met: more rounds (max_rounds), points or epochs may help"
    body = [
        f"# nnef fit: {family.name}",
        "",
        f"Target {verdict}.",
        "",
        "```",
        summary(state, labels),
        "",
        format_metrics(metrics),
        "```",
        "",
        "![held-out error per round](heldout_error.png)",
        "",
        "![predicted against exact](predicted_vs_exact.png)"
        if (out / "predicted_vs_exact.png").exists()
        else "",
    ]
    with atomic_file(out / "report.md", "w") as handle:
        handle.write("\n".join(body) + "\n")
    _plot(out / "heldout_error.png", state, labels)


def _plot(path: Path, state: dict, labels: list) -> None:
    plt = pyplot()
    rounds = [r["round"] for r in state["rounds"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for j, label in enumerate(labels):
        error = np.array([r["errors"][j] for r in state["rounds"]])
        upper = np.array([r["upper"][j] for r in state["rounds"]])
        ax.errorbar(
            rounds,
            error,
            yerr=[np.zeros_like(error), upper - error],
            fmt="-o",
            capsize=3,
            label=f"{label} (bar: 95 % upper bound)",
        )
    ax.set_yscale("log")
    ax.axhline(state["target"], color="grey", ls=":", label="target")
    ax.set(xlabel="round", ylabel=f"held-out {state['measure']}", xticks=rounds)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
