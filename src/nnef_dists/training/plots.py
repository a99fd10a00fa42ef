"""Figures of training and evaluation, written as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnef_dists.figures import pyplot


def learning_curve(history: dict, path: Path, title: str = "") -> None:
    """Training and validation loss per epoch, the best epoch marked: on a log scale, or
    symmetric log where a loss is not positive (a flow's NLL)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="training")
    ax.plot(epochs, history["val_loss"], label="validation")
    positive = min(np.min(history["train_loss"]), np.min(history["val_loss"])) > 0
    ax.set_yscale("log" if positive else "symlog")
    ax.axvline(history["best_epoch"] + 1, color="grey", ls=":", label="best (kept)")
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def predicted_vs_reference(pred, reference, labels, path: Path, reference_name: str) -> None:
    """One panel per statistic: predicted mu_T against the reference, with the diagonal."""
    plt = pyplot()
    k = pred.shape[1]
    cols = min(k, 4)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for j, ax in enumerate(axes.flat):
        if j >= k:
            ax.axis("off")
            continue
        lo, hi = np.min(reference[:, j]), np.max(reference[:, j])
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.scatter(reference[:, j], pred[:, j], s=4, alpha=0.6)
        ax.set(title=labels[j], xlabel=reference_name, ylabel="predicted")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
