"""training.defaults.resolve: what the fields a config leaves out become, for a training split."""

import numpy as np
import pytest

from nnef_dists.models import BUILTIN_MODELS, get_model
from nnef_dists.training import parse_train_config
from nnef_dists.training.defaults import (
    MAX_EPOCHS,
    MIN_EPOCHS,
    TARGET_STEPS,
    moving_average_decay,
    resolve,
)


def split(n, exact=False):
    """A training split of n eta (only its size and its ess matter here)."""
    ess = np.full((n, 2), np.inf if exact else 500.0)
    return {"eta": np.zeros((n, 2)), "ess": ess}


def config(**fields):
    return parse_train_config({"model": "mlp_et", "data": "x.pkl"} | fields)


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (6554, 1471),  # 102 minibatches of 64: ceil(150000 / 102)
        (100_000, MIN_EPOCHS),  # 1562 minibatches: 96 epochs, raised to the minimum
        (200, MAX_EPOCHS),  # 3 minibatches: 50000 epochs, capped
    ],
)
def test_epochs_scale_with_the_data_within_bounds(n, epochs):
    resolved = resolve(config(), split(n))
    assert resolved.epochs == epochs
    assert resolved.patience == epochs  # the whole run
    if MIN_EPOCHS < epochs < MAX_EPOCHS:  # about TARGET_STEPS optimiser steps
        assert abs(epochs * (n // 64) - TARGET_STEPS) < n // 64


def test_a_model_may_take_a_share_of_the_epochs():
    """geometric_flow_et's ``epoch_share``, after the common epochs' clamp: an eighth on
    MCMC targets (184 of 1471 at 6554 eta, 38 of 300 at 100,000, 375 of 3000 at 640), half
    on exact targets (736 of 1471); epochs given in the config win."""
    geometric = config(model="geometric_flow_et")
    assert resolve(geometric, split(6554)).epochs == 184
    assert resolve(geometric, split(100_000)).epochs == 38
    assert resolve(geometric, split(640)).epochs == 375
    assert resolve(geometric, split(6554, exact=True)).epochs == 736
    assert resolve(config(model="geometric_flow_et", epochs=7), split(6554)).epochs == 7


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_polish_steps_from_the_model_unless_given(name):
    """potential_et polishes with L-BFGS by default (4000 iterations), geometric_flow_et on
    MCMC targets only (400), the others do not; a config's value wins."""
    expected = {"potential_et": 4000, "geometric_flow_et": 400}.get(name, 0)
    assert resolve(config(model=name), split(1000)).polish_steps == expected
    exact = {"potential_et": 4000}.get(name, 0)
    assert resolve(config(model=name), split(1000, exact=True)).polish_steps == exact
    for given in (0, 7):  # 0 turns the polish off, also for potential_et
        assert resolve(config(model=name, polish_steps=given), split(1000)).polish_steps == given


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_ema_decay_from_the_model_unless_given(name):
    """potential_et validates a moving average of its parameters by default (0.99 at its
    default epochs), the others the parameters themselves; a config's value
    wins, 0 included."""
    assert resolve(config(model=name), split(1000)).ema_decay == pytest.approx(
        0.99 if name == "potential_et" else 0.0
    )
    for given in (0.0, 0.5):
        assert resolve(config(model=name, ema_decay=given), split(1000)).ema_decay == given


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_the_model_defaults_fill_what_is_left_out(name):
    defaults = get_model(name).training_defaults
    resolved = resolve(config(model=name), split(1000))
    assert resolved.loss == defaults["loss"]
    assert resolved.jacobian_weight == defaults["jacobian_weight"]
    assert resolved.hidden_sizes == tuple(defaults["hidden_sizes"])


@pytest.mark.parametrize(
    ("name", "loss"),
    [
        ("mlp_et", "mse"),
        ("potential_et", "whitened"),
        ("glow_et", "whitened"),
        ("geometric_flow_et", "whitened"),
    ],
)
def test_exact_targets_have_their_own_loss(name, loss):
    assert resolve(config(model=name), split(1000, exact=True)).loss == loss


def test_a_model_without_exact_values_takes_the_base_loss_on_exact_targets(monkeypatch):
    """A model whose training_defaults have no ``exact`` entry (a user's) gets ETModel's
    exact loss (mse) on exact targets, its own loss on MCMC targets."""
    mlp = get_model("mlp_et")
    monkeypatch.setattr(
        mlp,
        "training_defaults",
        {"loss": "noise_weighted", "jacobian_weight": 1.0, "hidden_sizes": (8,)},
    )
    assert resolve(config(), split(1000, exact=True)).loss == "mse"
    assert resolve(config(), split(1000)).loss == "noise_weighted"


def test_what_the_config_sets_is_kept():
    fields = {"epochs": 7, "patience": 3, "loss": "mse", "jacobian_weight": 0.0}
    resolved = resolve(config(hidden_sizes=[8], **fields), split(1000, exact=True))
    assert (resolved.epochs, resolved.patience, resolved.loss) == (7, 3, "mse")
    assert resolved.jacobian_weight == 0.0 and resolved.hidden_sizes == (8,)


def test_moving_average_spans_at_most_a_tenth_of_the_run():
    """d = 1 - 1 / min(span, epochs / 10): a short run does not keep its first epochs."""
    assert moving_average_decay(100, 1471) == pytest.approx(0.99)
    assert moving_average_decay(100, 368) == pytest.approx(1 - 1 / 36.8)
    assert moving_average_decay(100, 20) == pytest.approx(0.5)
    assert moving_average_decay(100, 10) == 0.0 and moving_average_decay(0, 1471) == 0.0
    epochs = resolve(config(model="potential_et", epochs=20), split(1000))
    assert epochs.ema_decay == pytest.approx(0.5)
