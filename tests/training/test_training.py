"""The trainer, its losses, model directories and evaluation."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.atomic import atomic_directory
from nnef_dists.cli import alias
from nnef_dists.data import load_dataset, save_dataset, split_dataset, split_indices
from nnef_dists.data.standardize import Standardizer
from nnef_dists.errors import ModelDirError, TrainingError
from nnef_dists.models import (
    ETModel,
    LoadedModel,
    Normalization,
    build_model,
    load_model,
    model_record,
    register_model,
)
from nnef_dists.models.directory import write_model
from nnef_dists.models.loaded import read_model
from nnef_dists.training import evaluate, fit, parse_train_config
from nnef_dists.training.losses import (
    SE_FLOOR,
    batch_loss,
    jacobian_residual,
    mu_residual,
)
from nnef_dists.training.trainer import as_device_arrays
from tests.conftest import gamma_dataset


@register_model("test_nan_et")
class NaNModel(ETModel):
    """Predicts NaN: the trainer must stop, not train on."""

    def build(self, hidden_sizes, rngs):
        self.w = nnx.Param(jnp.ones(self.eta_dim))

    def mu_T(self, eta):
        return self.w * jnp.log(-1.0)


def config(**fields):
    return parse_train_config({"model": "mlp_et", "data": "x.pkl", "hidden_sizes": [8]} | fields)


def test_normalization_is_the_training_mean_and_std():
    eta = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    mu = np.array([[1.0, -1.0], [1.0, 1.0], [4.0, 3.0]])
    norm = Normalization.from_data(eta, mu)
    np.testing.assert_allclose(norm.eta.mean, [2.0, 1.0])
    np.testing.assert_allclose(norm.eta.scale, [np.sqrt(8 / 3), 1.0])  # constant column: scale 1
    np.testing.assert_allclose(norm.mu.scale, [np.sqrt(2.0), np.sqrt(8 / 3)], rtol=1e-6)


def test_residuals_by_hand():
    norm = Normalization(
        Standardizer(jnp.zeros(2), jnp.array([2.0, 4.0])),
        Standardizer(jnp.zeros(2), jnp.array([2.0, 5.0])),
    )
    batch = {
        "mu_T": jnp.array([[1.0, 2.0]]),
        "cov_TT": jnp.array([[[4.0, 1.0], [1.0, 9.0]]]),
        "ess": jnp.array([[100.0, 25.0]]),
    }
    pred = jnp.array([[1.4, 2.3]])
    # mse: (0.4 / 2, 0.3 / 5)
    np.testing.assert_allclose(mu_residual(pred, batch, norm, "mse"), [[0.2, 0.06]], rtol=1e-6)
    # noise-weighted: standard errors sqrt(4 / 100) = 0.2 and sqrt(9 / 25) = 0.6, plus the floor
    se = np.sqrt(np.array([0.04, 0.36]) + (SE_FLOOR * np.array([2.0, 5.0])) ** 2)
    np.testing.assert_allclose(
        mu_residual(pred, batch, norm, "noise_weighted"), [[0.4, 0.3] / se], rtol=1e-5
    )
    # Jacobian: (J - cov)_ij * eta_scale_j / mu_scale_i
    jac = jnp.array([[[5.0, 1.0], [3.0, 9.0]]])
    np.testing.assert_allclose(
        jacobian_residual(jac, batch, norm), [[[1 * 2 / 2, 0.0], [2 * 2 / 5, 0.0]]], rtol=1e-6
    )


def test_a_nan_loss_stops_training_with_a_clear_message():
    data = split_dataset(gamma_dataset(40), seed=0)
    cfg = config(model="test_nan_et", epochs=5)
    model = build_model(cfg, 2, Normalization.identity(2))
    with pytest.raises(TrainingError, match="not finite at epoch 1"):
        fit(model, data["train"], data["val"], cfg, progress=False)


def test_early_stopping_keeps_the_best_parameters():
    data = split_dataset(gamma_dataset(200, seed=3), seed=0)
    # a large learning rate without decay makes the validation loss wander
    cfg = config(
        epochs=60,
        lr=0.05,
        patience=8,
        batch_size=16,
        warmup_epochs=0,
        loss="mse",
        jacobian_weight=0.0,
    )
    norm = Normalization.from_data(data["train"]["eta"], data["train"]["mu_T"])
    model = build_model(cfg, 2, norm)
    history = fit(model, data["train"], data["val"], cfg, progress=False)
    best = int(np.argmin(history.val))
    assert history.best_epoch == best
    assert history.epochs == best + 1 + cfg.patience or history.epochs == cfg.epochs
    record = model_record(model, cfg, None, None)
    metrics, _ = evaluate(LoadedModel(model, record), gamma_dataset(200, seed=3), "val")
    # the restored model's validation MSE (standardised) is the best epoch's loss
    resid = (np.asarray(metrics["vs_targets"]["rmse"]) / np.asarray(norm.mu.scale)) ** 2
    assert resid.mean() == pytest.approx(history.val[best], rel=1e-3)


def test_evaluation_noise_floor_and_ratio_are_computed_against_the_closed_form():
    data = gamma_dataset(400, seed=4, ess=100.0)
    cfg = config()
    model = build_model(cfg, 2, Normalization.from_data(data["eta"], data["mu_T"]))
    loaded = LoadedModel(model, model_record(model, cfg, {"name": "gamma"}, ["a", "b"]))
    metrics, arrays = evaluate(loaded, data, "test")
    test = split_dataset(data, seed=0)["test"]
    exact = gamma_dataset(400, seed=4)["mu_T"][split_indices(400, seed=0)["test"]]
    floor = np.sqrt(np.mean((test["mu_T"] - exact) ** 2, axis=0))
    np.testing.assert_allclose(metrics["vs_truth"]["noise_floor"], floor, rtol=1e-6)
    # the noise was drawn with standard error sqrt(var / 100): the floor is about that
    expected = np.sqrt(np.mean(np.diagonal(test["cov_TT"], axis1=1, axis2=2) / 100, axis=0))
    np.testing.assert_allclose(floor, expected, rtol=0.25)
    rmse = np.sqrt(np.mean((arrays["pred"] - exact) ** 2, axis=0))
    np.testing.assert_allclose(metrics["vs_truth"]["rmse"], rmse, rtol=1e-5)
    np.testing.assert_allclose(metrics["vs_truth"]["ratio_to_noise_floor"], rmse / floor, rtol=1e-5)
    assert metrics["vs_truth"]["source"] == "closed form"
    assert 0.0 <= metrics["jacobian"]["fraction_symmetric_psd"] <= 1.0


def test_atomic_directory_keeps_the_old_one_when_writing_fails(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="--force"):
        with atomic_directory(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(target, force=True) as folder:
            (folder / "new.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert (target / "old.txt").read_text() == "old"


def test_loading_a_directory_that_is_not_a_model_names_it(tmp_path):
    with pytest.raises(ModelDirError, match="not a model directory"):
        load_model(tmp_path)


def test_loaded_model_says_which_functions_it_lacks(tmp_path):
    cfg = config()
    model = build_model(cfg, 2, Normalization.identity(2))
    write_model(tmp_path, model, model_record(model, cfg, None, None))
    with pytest.raises(AttributeError, match="does not provide eta_from_mu; it provides mu_T"):
        load_model(tmp_path).eta_from_mu  # noqa: B018


def test_train_command_errors_are_one_line(gamma_file, tmp_path, capsys):
    assert alias("train")(["--model", "mpl_et", "--data", str(gamma_file)]) == 2
    assert "unknown model 'mpl_et'" in capsys.readouterr().err
    assert alias("train", "--model", "mlp_et")(["--data", str(tmp_path / "missing.pkl")]) == 2
    assert "missing.pkl" in capsys.readouterr().err
    assert alias("train", "--model", "mlp_et")(["--epochs", "3"]) == 2
    assert "--data is required" in capsys.readouterr().err
    out = tmp_path / "exists"
    out.mkdir()
    assert (
        alias("train", "--model", "mlp_et")(["--data", str(gamma_file), "--output-dir", str(out)])
        == 2
    )
    assert "--force" in capsys.readouterr().err


def test_train_config_file_and_flags(gamma_file, tmp_path, capsys):
    config_file = tmp_path / "train.yaml"
    config_file.write_text(
        f"model: mlp_et\ndata: {gamma_file}\nhidden_sizes: [8]\nepochs: 2\nlr: 1.0e-3\n"
        f"output_dir: {tmp_path / 'from_file'}\n"
    )
    assert alias("train")(["--config", str(config_file), "--epochs", "3", "--quiet"]) == 0
    record = load_model(tmp_path / "from_file").record["training"]
    assert record["epochs"] == 3 and record["hidden_sizes"] == [8]  # the flag wins
    config_file.write_text(f"model: mlp_et\ndata: {gamma_file}\nepoch: 2\n")
    assert alias("train")(["--config", str(config_file)]) == 2
    assert "epoch: unknown field; did you mean epochs?" in capsys.readouterr().err


def test_polish_steps_flag_is_recorded_with_its_validation_losses(gamma_file, tmp_path):
    """--polish-steps 200: the config keeps it, history.json the validation loss at the
    start and after each 100 iterations, and the kept one is the least of them."""
    out = tmp_path / "p"
    argv = ["--data", str(gamma_file), "--epochs", "2", "--hidden-sizes", "8"]
    argv += ["--polish-steps", "200", "--output-dir", str(out), "--quiet"]
    assert alias("train", "--model", "potential_et")(argv) == 0
    assert load_model(out).record["training"]["polish_steps"] == 200
    history = json.loads((out / "history.json").read_text())
    assert len(history["polish_val_loss"]) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["kept_val_loss"] <= metrics["training"]["best_val_loss"] * 1.0001
    # the saved parameters are the kept ones: their validation loss, computed here
    module, record = read_model(out)
    val = split_dataset(load_dataset(gamma_file), record["architecture"]["seed"])["val"]
    loss = batch_loss(module, as_device_arrays(val), record["training"]["loss"], 0.0)[0]
    assert float(loss) == pytest.approx(metrics["training"]["kept_val_loss"], rel=1e-5)


def test_ema_decay_flag_is_recorded_and_checked(gamma_file, tmp_path, capsys):
    """--ema-decay overrides the model's default and is stored (potential_et's default
    averages over a tenth of the run at most: 0.5 in 20 epochs); a value outside [0, 1)
    is refused naming the field, before anything is written."""

    def train(model, epochs, out, *flags):
        argv = ["--data", str(gamma_file), "--epochs", str(epochs), "--hidden-sizes", "8"]
        argv += ["--quiet", "--polish-steps", "0", "--output-dir", str(out), *flags]
        return alias("train", "--model", model)(argv)

    default, given, bad = tmp_path / "default", tmp_path / "given", tmp_path / "bad"
    assert train("potential_et", 20, default) == 0
    assert load_model(default).record["training"]["ema_decay"] == pytest.approx(0.5)
    assert train("potential_et", 2, given, "--ema-decay", "0.3") == 0  # the default in 2: 0
    assert load_model(given).record["training"]["ema_decay"] == 0.3
    assert train("mlp_et", 2, bad, "--ema-decay", "1.0") == 2
    assert "ema_decay: must be in [0, 1)" in capsys.readouterr().err
    assert not bad.exists()


def test_evaluate_command_writes_metrics(gamma_file, tmp_path, capsys):
    out = tmp_path / "m"
    assert (
        alias("train", "--model", "mlp_et")(
            [
                "--data",
                str(gamma_file),
                "--epochs",
                "2",
                "--output-dir",
                str(out),
                "--quiet",
                "--hidden-sizes",
                "8",
            ]
        )
        == 0
    )
    metrics_before = (out / "metrics.json").read_bytes()
    argv = ["--model", str(out), "--data", str(gamma_file)]
    assert alias("evaluate")(argv) == 0
    printed = capsys.readouterr().out
    report = tmp_path / f"m_on_{gamma_file.stem}_test"  # the default: beside the model
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["vs_truth"]["source"] == "closed form" and "noise floor" in printed
    assert (report / "predicted_vs_exact.png").stat().st_size > 1000
    assert (out / "metrics.json").read_bytes() == metrics_before  # the training summary stays
    nested = tmp_path / "not" / "yet" / "there"  # folders made as needed
    assert alias("evaluate")([*argv, "--output", str(nested)]) == 0
    assert (nested / "metrics.json").exists()
    assert alias("evaluate")(argv) == 2  # the report exists, no --force
    assert "--force" in capsys.readouterr().err
    assert alias("evaluate")([*argv, "--output", str(out / "eval")]) == 2  # into the model
    assert "only reads" in capsys.readouterr().err and not (out / "eval").exists()
    # data of another family (by its metadata): refused, naming both
    other = tmp_path / "laplace.pkl"
    meta = {"config": {"ef": {"name": "laplace_product", "x_shape": [2], "params": {}}}}
    save_dataset(other, load_dataset(gamma_file), meta)
    assert alias("evaluate")(["--model", str(out), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert "data of family laplace_product(), but the model" in err and "on gamma()" in err
