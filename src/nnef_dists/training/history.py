"""The losses of a training run, per epoch, and how a model directory keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nnef_dists.models.directory import HISTORY_FILE, write_json
from nnef_dists.training import plots
from nnef_dists.training.polish import CHECK_EVERY


@dataclass
class History:
    """Per-epoch losses: training (mean over the epoch's minibatches) and validation."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 0-based index into val
    seconds: float = 0.0
    # validation losses of training.polish: at its start, then every CHECK_EVERY iterations
    polish_val: list[float] = field(default_factory=list)

    def add(self, train_loss: float, val_loss: float) -> None:
        """The losses of one more epoch."""
        self.train.append(train_loss)
        self.val.append(val_loss)

    @property
    def epochs(self) -> int:
        return len(self.train)

    @property
    def best_val(self) -> float:
        """The best validation loss of the epochs."""
        return self.val[self.best_epoch]

    @property
    def polish_iterations(self) -> int:
        """The L-BFGS iterations of the polish that ran (a multiple of CHECK_EVERY)."""
        return (len(self.polish_val) - 1) * CHECK_EVERY if self.polish_val else 0

    @property
    def kept_val(self) -> float:
        """The validation loss of the parameters kept (after the polish, if any)."""
        return min(self.polish_val, default=self.best_val)

    def to_dict(self) -> dict:
        """The run for history.json; ``polish_val_loss`` only where a polish ran."""
        polished = {"polish_val_loss": self.polish_val} if self.polish_val else {}
        return {
            "train_loss": self.train,
            "val_loss": self.val,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs,
            "seconds": self.seconds,
        } | polished

    def summary(self) -> dict:
        """The run in a few numbers, for metrics.json; ``kept_val_loss`` where a polish ran."""
        per_epoch = {"train_loss", "val_loss"}
        run = {k: v for k, v in self.to_dict().items() if k not in per_epoch}
        kept = {"kept_val_loss": self.kept_val} if self.polish_val else {}
        return run | {"best_val_loss": self.best_val} | kept

    def save(self, folder, title: str = "") -> None:
        """history.json and learning_curve.png in a model directory."""
        folder = Path(folder)
        write_json(folder / HISTORY_FILE, self.to_dict())
        plots.learning_curve(self.to_dict(), folder / "learning_curve.png", title)
