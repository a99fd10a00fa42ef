"""Training an ET network on a data set: its loss, through the one training loop.

The loss (``losses.batch_loss``) compares the network's mu_T with the data's,
and optionally its Jacobian with the data's cov_TT; ``training.loop`` does the
rest (optimiser, schedule, minibatches, devices, early stopping), and
``training.polish`` the full-batch L-BFGS iterations after it, if any.
"""

from __future__ import annotations

import dataclasses
import time

import jax.numpy as jnp

from nnef_dists import runtime
from nnef_dists.models import ETModel
from nnef_dists.numerics import full_precision_matmuls
from nnef_dists.training.config import TrainConfig
from nnef_dists.training.defaults import resolve
from nnef_dists.training.loop import History, fit_module
from nnef_dists.training.losses import batch_loss
from nnef_dists.training.polish import polish


def as_device_arrays(split: dict) -> dict:
    """A split's arrays as JAX arrays of the working precision (``runtime.float_dtype``)."""
    return {key: jnp.asarray(value, runtime.float_dtype()) for key, value in split.items()}


@full_precision_matmuls  # the polish and the loop alike
def fit(
    model: ETModel,
    train: dict,
    val: dict,
    config: TrainConfig,
    progress: bool = True,
    checkpoint_path=None,
    resume: bool = False,
):
    """Train ``model`` in place on the train split, then polish it; return its History.

    Args:
      model: an ETModel whose Normalization comes from ``train``.
      train, val: data set dicts of the data set arrays (README: Data file) (N, ...).
      config: TrainConfig (loss, jacobian_weight and the LoopConfig fields; those
        left out are resolved by ``training.defaults.resolve``).
      progress: show a progress bar over epochs.
      checkpoint_path, resume: as in ``training.loop.fit_module``.

    Raises:
      TrainingError: the training or validation loss became NaN or infinite.
      ConfigError: the batch size (or n_train, if smaller) is not a multiple of the
        device count.
    """
    config = resolve(config, train)

    def loss(module, batch, key):
        return batch_loss(module, batch, config.loss, config.jacobian_weight, key)[0]

    train, val = as_device_arrays(train), as_device_arrays(val)
    history = fit_module(
        model,
        loss,
        train,
        val,
        dataclasses.replace(config, polish_steps=None),  # the loop's checkpoint ignores it
        progress=progress,
        desc=f"train {config.model}",
        checkpoint_path=checkpoint_path,
        resume=resume,
    )
    if config.polish_steps:
        start = time.perf_counter()
        history.polish_val = polish(
            model,
            loss,
            train,
            val,
            config.polish_steps,
            progress=progress,
            desc=f"polish {config.model}",
        )
        history.seconds += time.perf_counter() - start
    return history


__all__ = ["History", "as_device_arrays", "fit"]
