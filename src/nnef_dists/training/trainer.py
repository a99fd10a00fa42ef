"""Training an ET network on a data set: AdamW, warm-up + cosine decay, early stopping.

Each epoch is one compiled call: a ``lax.scan`` over the shuffled minibatches
of the training split. After every epoch the loss on the validation split is
computed; the parameters with the best validation loss are kept and
restored at the end, and training stops after ``patience`` epochs without
improvement.

Training is data-parallel over ``config.num_devices`` local devices (a 1-D
mesh, see ``nnef_dists.parallel``; by default every GPU or TPU, one CPU
device): the rows of every minibatch and of the validation split are divided
among the devices, the data, parameters and optimiser state are replicated,
and XLA sums the gradients over the devices (GSPMD). The losses are means over
rows, so the results are those of one device up to the order of
floating-point sums.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from nnef_dists import parallel, runtime
from nnef_dists.config import TrainConfig
from nnef_dists.models import ETModel, Normalization, get_model
from nnef_dists.training.losses import batch_loss


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss); the message says when and what to try."""


@dataclass
class History:
    """Per-epoch losses: training (mean over the epoch's minibatches) and validation."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 0-based index into val
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train)

    def to_dict(self) -> dict:
        return {
            "train_loss": self.train,
            "val_loss": self.val,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs,
            "seconds": self.seconds,
        }


def build_model(config: TrainConfig, eta_dim: int, normalization: Normalization) -> ETModel:
    """The registered model of ``config.model`` with the config's sizes, options and seed."""
    cls = get_model(config.model)
    try:
        return cls(
            eta_dim,
            normalization,
            hidden_sizes=tuple(config.hidden_sizes),
            rngs=nnx.Rngs(config.seed),
            **config.model_options,
        )
    except TypeError as err:
        raise ValueError(f"model_options for {config.model}: {err}") from None


def jacobian_weight(model: ETModel, config: TrainConfig) -> float:
    """The config's weight of the cov_TT term, or the model's default."""
    if config.jacobian_weight is None:
        return type(model).default_jacobian_weight
    return config.jacobian_weight


def as_device_arrays(split: dict) -> dict:
    """A split's arrays as JAX arrays of the working precision (``runtime.float_dtype``)."""
    return {key: jnp.asarray(value, runtime.float_dtype()) for key, value in split.items()}


def minibatch_size(batch_size: int, n_train: int, num_devices: int) -> int:
    """Rows per minibatch: ``batch_size``, at most ``n_train``, a multiple of the devices.

    Raises:
      ValueError: the minibatch cannot be split evenly over ``num_devices``.
    """
    size = min(batch_size, n_train)
    if size % num_devices:
        raise ValueError(
            f"batch_size {size} cannot be split over {num_devices} devices: choose a "
            f"batch_size that is a multiple of {num_devices}, or set num_devices"
        )
    return size


def fit(model: ETModel, train: dict, val: dict, config: TrainConfig, progress: bool = True):
    """Train ``model`` in place on the train split; return its History.

    Args:
      model: an ETModel whose Normalization comes from ``train``.
      train, val: data set dicts of the DESIGN 3.2 arrays (N, ...).
      config: TrainConfig (epochs, lr, batch_size, weight_decay, warmup_epochs,
        clip_norm, patience, loss, jacobian_weight, seed, num_devices).
      progress: show a progress bar over epochs.

    Raises:
      TrainingError: the training or validation loss became NaN or infinite.
      ValueError: the batch size (or n_train, if smaller) is not a multiple of the
        device count.
    """
    mesh = parallel.accelerator_mesh(config.num_devices)
    n_train = len(train["eta"])
    batch_size = minibatch_size(config.batch_size, n_train, mesh.size)
    everywhere, split_rows = parallel.replicated(mesh), parallel.row_sharding(mesh)
    train, val = jax.device_put((as_device_arrays(train), as_device_arrays(val)), everywhere)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params = jax.device_put(params, everywhere)
    weight = jacobian_weight(model, config)
    num_batches = n_train // batch_size
    total_steps = config.epochs * num_batches
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.lr,
        warmup_steps=min(config.warmup_epochs * num_batches, total_steps - 1),
        decay_steps=total_steps,
        end_value=config.lr * 1e-2,
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )
    opt_state = jax.device_put(optimizer.init(params), everywhere)

    def loss_fn(params, batch):
        batch = jax.lax.with_sharding_constraint(batch, split_rows)
        return batch_loss(nnx.merge(graphdef, params, rest), batch, config.loss, weight)[0]

    @partial(jax.jit, out_shardings=everywhere)
    def run_epoch(params, opt_state, key):
        order = jax.random.permutation(key, n_train)[: num_batches * batch_size]

        def step(carry, index):
            params, opt_state = carry
            batch = jax.tree.map(lambda a: a[index], train)
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        carry, losses = jax.lax.scan(step, (params, opt_state), order.reshape(num_batches, -1))
        return *carry, losses.mean()

    val_loss = jax.jit(loss_fn)
    history = History()
    best_params, best_val = params, np.inf
    keys = jax.random.split(jax.random.key(config.seed), config.epochs)
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc=f"train {config.model}", disable=not progress)
    for epoch in bar:
        params, opt_state, train_loss = run_epoch(params, opt_state, keys[epoch])
        train_loss, loss = float(train_loss), float(val_loss(params, val))
        if not (np.isfinite(train_loss) and np.isfinite(loss)):
            raise TrainingError(
                f"{config.model}: the loss is not finite at epoch {epoch + 1} (training "
                f"{train_loss:.4g}, validation {loss:.4g}); try a smaller --lr or clip_norm, "
                "or check the data for outliers"
            )
        history.train.append(train_loss)
        history.val.append(loss)
        if loss < best_val:
            best_params, best_val, history.best_epoch = params, loss, epoch
        bar.set_postfix(train=f"{train_loss:.3g}", val=f"{loss:.3g}", best=f"{best_val:.3g}")
        if epoch - history.best_epoch >= config.patience:
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    nnx.update(model, jax.tree.map(jnp.asarray, jax.device_get(best_params)))  # off the mesh
    return history
