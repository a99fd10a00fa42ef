"""training.history: what history.json and metrics.json keep of a run, values set by hand."""

from nnef_dists.training.history import History
from nnef_dists.training.polish import CHECK_EVERY


def test_a_run_without_a_polish_carries_no_polish_fields():
    """Flow estimators and ET networks with polish_steps 0: no empty polish entries."""
    history = History(train=[3.0, 2.0], val=[2.5, 2.2], best_epoch=1, seconds=1.0)
    assert "polish_val_loss" not in history.to_dict()
    summary = history.summary()
    assert "kept_val_loss" not in summary and summary["best_val_loss"] == 2.2
    assert history.kept_val == 2.2 and history.polish_iterations == 0


def test_a_polished_run_keeps_the_least_validation_loss():
    history = History(train=[3.0], val=[2.2], best_epoch=0, seconds=1.0)
    history.polish_val = [2.2, 1.9, 2.0]  # the start, then after each CHECK_EVERY iterations
    assert history.to_dict()["polish_val_loss"] == [2.2, 1.9, 2.0]
    assert history.summary()["kept_val_loss"] == 1.9
    assert history.polish_iterations == 2 * CHECK_EVERY
