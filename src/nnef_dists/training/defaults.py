"""Training settings that scale with the data: what a field left out of a config becomes.

``nnef train --model M --data D`` with no other flag leaves ``epochs``,
``patience``, ``loss``, ``jacobian_weight``, ``hidden_sizes``,
``polish_steps`` and ``ema_decay`` to be resolved here, when the size of the
training split is known, each from the model's ``training_defaults``
where it has one (``ETModel``), for exact targets (quadrature, ess = inf)
its ``exact`` values first:

- epochs: about TARGET_STEPS optimiser steps (epochs x minibatches), within
  [MIN_EPOCHS, MAX_EPOCHS]: 1471 epochs for 6,554 training eta in minibatches
  of 64; a model may take a share of them, after that clamp (``epoch_share``:
  geometric_flow_et an eighth on MCMC targets, 184 epochs there, 38 to 375
  in all, and half on exact targets). Measured on 8192 HMC eta of gamma:
  the error against the truth kept falling up to 1500 epochs (glu_et: 1.31,
  0.74, 0.39 x the noise floor at 300, 600, 1500); a model takes 30 s to
  2 min on 2 CPU cores (README: Default training settings);
- patience: the whole run (the learning rate decays on a cosine to the end,
  where the best epochs come; the best parameters are kept anyway);
- loss, jacobian_weight, hidden_sizes: the model's; on exact targets
  ``whitened``, the error in the Fisher metric, for the models whose inverse eta_from_mu or
  Sigma matters (its error is the inverse's; potential_et on gamma: relative
  error 4.6e-3 against 7.7e-3 for mse, the inverse 2.7e-3 against 1.3e-2),
  ``mse`` for the residual networks (mlp_et on gamma: 5.5e-4 against 1.3e-2
  for whitened). On MCMC targets every model but potential_et fits the
  noise-weighted residuals (on gamma, glow_et 0.86 and geometric_flow_et 0.65
  x the noise floor against 2.24 and 2.03 with mse), the residual networks
  and geometric_flow_et also the cov_TT term, which halved the residual
  networks' error; potential_et fits mu_T alone (mse), with three hidden
  layers (``ETModel.training_defaults``);
- polish_steps: full-batch L-BFGS iterations after the epochs
  (``training.polish``), the model's own ``training_defaults`` (0 when it
  has none): potential_et 4000, where Adam stalls; geometric_flow_et 400 on
  MCMC targets (after its eighth of the epochs: with more Adam epochs it fits
  the noise), none on exact targets;
- ema_decay: from the model's ``ema_epochs`` (none: 0), the span of a
  moving average of the epochs' parameters that is validated and kept, at
  most a tenth of the run (``moving_average_decay``): potential_et 100
  epochs, d = 0.99 at 1000 epochs or more. Its validation loss (the 2-d
  normal's) swings with a few eta at a corner of the box, and the average
  chooses steadily: 1.61 -> 1.15 x the noise floor with seed 0, 0.85 ->
  0.85 and 0.85 -> 0.86 with seeds 1 and 2, gamma 0.38 -> 0.39,
  laplace_product 0.22 -> 0.21. geometric_flow_et (then 368 epochs) got
  worse with 0.99 (0.64 -> 1.38): the average lags a short run.

Every resolved value is stored with the model (config.yaml, ``training:``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from nnef_dists.models import ETModel, get_model
from nnef_dists.training.config import TrainConfig

TARGET_STEPS = 150_000
MIN_EPOCHS, MAX_EPOCHS = 300, 3000


def moving_average_decay(span: float, epochs: int) -> float:
    """d = 1 - 1 / tau for an average over tau = min(span, epochs / 10) epochs; 0 for tau <= 1.

    A tenth of the run at most, so that a short run (``--epochs 20``) does not keep
    an average dominated by its first epochs: span 100 gives 0.99 at 1000 epochs
    and more, 0.5 at 20, 0 at 10 and fewer.
    """
    tau = min(span, epochs / 10)
    return 1.0 - 1.0 / tau if tau > 1 else 0.0


def resolve(config: TrainConfig, train: dict) -> TrainConfig:
    """``config`` with every field left to the data (None) filled in, for the training split."""
    defaults = get_model(config.model).training_defaults
    if np.all(np.isinf(train["ess"])):  # exact targets (quadrature); the base's loss if none
        defaults = defaults | ETModel.training_defaults["exact"] | defaults.get("exact", {})
    n_train = len(train["eta"])
    batches = max(n_train // min(config.batch_size, n_train), 1)
    common = min(max(math.ceil(TARGET_STEPS / batches), MIN_EPOCHS), MAX_EPOCHS)
    epochs = config.epochs or max(round(common * defaults.get("epoch_share", 1.0)), 1)
    return dataclasses.replace(
        config,
        epochs=epochs,
        patience=config.patience or epochs,
        loss=config.loss or defaults["loss"],
        jacobian_weight=(
            defaults["jacobian_weight"]
            if config.jacobian_weight is None
            else config.jacobian_weight
        ),
        hidden_sizes=config.hidden_sizes or tuple(defaults["hidden_sizes"]),
        polish_steps=(
            defaults.get("polish_steps", 0) if config.polish_steps is None else config.polish_steps
        ),
        ema_decay=(
            moving_average_decay(defaults.get("ema_epochs", 0), epochs)
            if config.ema_decay is None
            else config.ema_decay
        ),
    )
