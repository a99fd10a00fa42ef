"""Checkpoints: an interrupted training run resumes to the same parameters, bit for bit (CPU).

Against an uninterrupted run of the same command: the interruption is a
KeyboardInterrupt raised right after the checkpoint of a chosen epoch is
saved (``checkpoint.EVERY_SECONDS`` = 0: one after every epoch), as Ctrl-C
would at that moment.
"""

import numpy as np
import pytest

from nnef_dists.cli import alias
from nnef_dists.errors import ConfigError
from nnef_dists.flows.estimator import ConditionalDensityEstimator
from nnef_dists.training import checkpoint

TRAIN = ["--hidden-sizes", "8", "--epochs", "6", "--quiet"]


@pytest.fixture
def every_epoch(monkeypatch):
    monkeypatch.setattr(checkpoint, "EVERY_SECONDS", 0.0)


def count_epochs(monkeypatch) -> list:
    """The epochs the loop runs from now on (with a checkpoint after each): a list it fills."""
    save, run = checkpoint.save, []

    def counted(path, name, at, *rest):
        run.append(at)
        save(path, name, at, *rest)

    monkeypatch.setattr(checkpoint, "save", counted)
    return run


def interrupt_after(monkeypatch, epoch: int):
    """Make the loop stop with a KeyboardInterrupt once the checkpoint of ``epoch`` is saved."""
    save = checkpoint.save

    def save_then_stop(path, run, at, *rest):
        save(path, run, at, *rest)
        if at == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_stop)


@pytest.mark.parametrize("epoch", [0, 3, 5])
def test_train_resumes_to_the_same_model_bit_for_bit(
    gamma_file, tmp_path, monkeypatch, capsys, every_epoch, epoch
):
    """epoch 5 is the last: killed after training, before the directory was written."""
    train = alias("train", "--model", "mlp_et", "--data", str(gamma_file), *TRAIN)
    assert train(["--output-dir", str(tmp_path / "whole")]) == 0
    out = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        interrupt_after(patch, epoch)
        assert train(["--output-dir", str(out)]) == 130
    assert "rerun the same command with --resume" in capsys.readouterr().err
    assert checkpoint.beside(out).exists() and not out.exists()
    assert train(["--output-dir", str(out)]) == 2  # neither --resume nor --force
    assert "--resume continues it, --force starts afresh" in capsys.readouterr().err
    ran = count_epochs(monkeypatch)
    assert train(["--output-dir", str(out), "--resume"]) == 0
    assert ran == list(range(epoch + 1, 6))  # resumed, not restarted
    whole = (tmp_path / "whole" / "params.msgpack").read_bytes()
    assert (out / "params.msgpack").read_bytes() == whole
    assert not checkpoint.beside(out).exists()


def test_a_damaged_or_foreign_checkpoint_is_never_resumed(gamma_file, tmp_path, capsys):
    """Damaged: discarded with a line, the run starts afresh (same model as a fresh run)."""
    train = alias("train", "--model", "mlp_et", "--data", str(gamma_file), *TRAIN)
    assert train(["--output-dir", str(tmp_path / "fresh")]) == 0
    out = tmp_path / "m"
    saved = checkpoint.beside(out)
    saved.write_bytes(b"\x93truncated")
    assert train(["--output-dir", str(out), "--resume"]) == 0
    assert f"{saved}: a damaged checkpoint (" in capsys.readouterr().err
    assert not saved.exists()
    fresh = (tmp_path / "fresh" / "params.msgpack").read_bytes()
    assert (out / "params.msgpack").read_bytes() == fresh
    # the checkpoint of a 6-epoch run is not one of a 7-epoch run
    other = tmp_path / "other"
    checkpoint.save(checkpoint.beside(other), "another run", 0, False, (), (), 1.0, _history())
    assert train(["--output-dir", str(other), "--epochs", "7", "--resume"]) == 2
    assert "the checkpoint of another run" in capsys.readouterr().err


def _history():
    from nnef_dists.training.history import History

    return History([1.0], [1.0], 0, 0.1)


def test_flow_estimator_resumes_bit_for_bit(tmp_path, monkeypatch, every_epoch):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (120, 1))
    y = x + 0.3 * rng.standard_normal((120, 1))

    def fit(resume=False):
        est = ConditionalDensityEstimator("maf", 8, 2, patience=10)
        est.fit(x, y, 5, 1e-3, 20, 0, False, tmp_path / "ckpt", resume)
        return est

    whole = fit()
    (tmp_path / "ckpt").unlink()
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        interrupt_after(patch, 2)
        fit()
    ran = count_epochs(monkeypatch)
    resumed = fit(resume=True)
    assert ran == [3, 4]
    draws = [e.sample(__import__("jax").random.key(1), x[:4], 3) for e in (whole, resumed)]
    np.testing.assert_array_equal(*draws)
    assert resumed.history.val == whole.history.val


def test_checkpoint_of_a_run_is_checked_before_use(tmp_path, capsys):
    """An empty file and one whose arrays do not fit the model: discarded, None."""
    path = tmp_path / "c"
    path.write_bytes(b"")
    assert checkpoint.load(path, "run", (np.zeros(2),), (np.zeros(2),)) is None
    assert not path.exists() and "a damaged checkpoint" in capsys.readouterr().err
    checkpoint.save(path, "run", 0, False, (np.zeros(3),), (np.zeros(3),), 1.0, _history())
    assert checkpoint.load(path, "run", (np.zeros(2),), (np.zeros(2),)) is None
    with pytest.raises(ConfigError, match="the checkpoint of another run"):
        checkpoint.save(path, "run", 0, False, (np.zeros(2),), (np.zeros(2),), 1.0, _history())
        checkpoint.load(path, "another", (np.zeros(2),), (np.zeros(2),))
