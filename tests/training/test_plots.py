"""The learning-curve figure: a flow's NLL can be negative, and must still be drawn."""

import warnings

import matplotlib.pyplot as plt
import pytest

from nnef_dists.training import plots


@pytest.mark.parametrize(
    ("losses", "scale"), [([3.0, 1.0, 0.5], "log"), ([1.5, -2.0, -9.8], "symlog")]
)
def test_learning_curve_draws_positive_and_negative_losses(tmp_path, monkeypatch, losses, scale):
    scales = []
    monkeypatch.setattr(plt, "close", lambda fig: scales.append(fig.axes[0].get_yscale()))
    history = {"train_loss": losses, "val_loss": [v + 0.1 for v in losses], "best_epoch": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cannot be log-scaled": every point is drawn
        plots.learning_curve(history, tmp_path / "curve.png", "t")
    assert scales == [scale]
    assert (tmp_path / "curve.png").stat().st_size > 0
