"""fit with its minibatches split over 4 CPU devices gives the 1-device losses.

The device count is fixed when JAX starts, so the training runs in a
subprocess (this module as a script) with
XLA_FLAGS=--xla_force_host_platform_device_count=4; it saves the per-epoch
losses to an .npz that the test compares.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import digamma, polygamma

from nnef_dists.cli import build_parser
from nnef_dists.cli.train import train_config
from nnef_dists.data import split_dataset
from nnef_dists.errors import ConfigError
from nnef_dists.models import Normalization, build_model
from nnef_dists.training import fit, parse_train_config

DEVICES, EPOCHS = 4, 4
ROOT = Path(__file__).parents[2]


def config(**fields):
    """mlp_et (16, 16), noise_weighted loss with a Jacobian term: every part of the loss."""
    base = {
        "model": "mlp_et",
        "data": "gamma.pkl",
        "hidden_sizes": [16, 16],
        "epochs": EPOCHS,
        "batch_size": 16,
        "warmup_epochs": 1,
        "loss": "noise_weighted",
        "jacobian_weight": 0.1,
    }
    return parse_train_config(base | fields)


def gamma_data(n: int) -> dict:
    """n rows of exact gamma moments, ess 400: for a = eta_0 + 1 and b = -eta_1,
    mu_T = (digamma(a) - log b, a / b), cov_TT = ((trigamma(a), 1 / b), (1 / b, a / b^2)).

    In NumPy and SciPy: quicker to start than sampling.exact_moments (JAX, float64).
    """
    rng = np.random.default_rng(5)
    eta = np.column_stack([rng.uniform(-0.5, 3.0, n), rng.uniform(-4.0, -0.5, n)])
    a, b = eta[:, 0] + 1, -eta[:, 1]
    cov = np.stack([np.stack([polygamma(1, a), 1 / b], -1), np.stack([1 / b, a / b**2], -1)], -2)
    mu_T = np.column_stack([digamma(a) - np.log(b), a / b])
    return {"eta": eta, "mu_T": mu_T, "cov_TT": cov, "ess": np.full(eta.shape, 400.0)}


def train_all(path: str) -> None:
    """Train on DEVICES devices and on 1 (same seed, same data); save the losses to ``path``,
    with the error of a batch size that DEVICES does not divide."""
    # 210 rows: 168 training (10 minibatches of 16, 4 rows per device), 21 validation
    # (XLA pads them to 24: 6 rows per device)
    splits = split_dataset(gamma_data(210), seed=0)
    norm = Normalization.from_data(splits["train"]["eta"], splits["train"]["mu_T"])
    train, val = splits["train"], splits["val"]
    out = {}
    for devices in (DEVICES, 1):
        cfg = config(num_devices=devices)
        history = fit(build_model(cfg, 2, norm), train, val, cfg, progress=False)
        out |= {f"{devices}/train": history.train, f"{devices}/val": history.val}
    cfg = config(batch_size=18, num_devices=DEVICES)
    try:
        fit(build_model(cfg, 2, norm), train, val, cfg, progress=False)
    except ValueError as err:
        out["error"] = str(err)
    np.savez(path, **out)


def test_four_devices_give_the_one_device_losses(tmp_path):
    # compares the per-epoch training and validation losses of the same run on 4 devices
    # (minibatch rows split, parameters replicated) and on 1: equal up to float32 sums
    path = tmp_path / "losses.npz"
    env = os.environ | {"XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.training.test_data_parallel", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(path)
    for losses in ("train", "val"):
        sharded, single = out[f"{DEVICES}/{losses}"], out[f"1/{losses}"]
        assert len(sharded) == EPOCHS
        np.testing.assert_allclose(sharded, single, rtol=1e-4, err_msg=losses)
    assert out["1/val"][-1] < 0.5 * out["1/val"][0]  # it trained
    assert "batch_size 18" in str(out["error"]) and f"over {DEVICES} devices" in str(out["error"])


def test_num_devices_flag_reaches_the_config():
    args = build_parser("train").parse_args(
        ["train", "--model", "mlp_et", "--data", "x.pkl", "--num-devices", "2"]
    )
    assert train_config(args).num_devices == 2
    assert config().num_devices is None
    with pytest.raises(ConfigError, match="num_devices: must be positive"):
        config(num_devices=0)


def test_more_devices_than_there_are_is_a_clear_error():
    splits = split_dataset(gamma_data(40), seed=0)
    cfg = config(num_devices=2)  # the test process has one CPU device
    model = build_model(cfg, 2, Normalization.identity(2))
    with pytest.raises(ValueError, match="num_devices: 2 asked for, 1 local device"):
        fit(model, splits["train"], splits["val"], cfg, progress=False)


if __name__ == "__main__":
    train_all(sys.argv[1])
