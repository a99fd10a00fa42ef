"""The one training loop, for ET networks and flow estimators alike.

The caller gives an nnx module and its loss, ``loss(module, batch, key) ->
scalar``; the loop trains the module's ``nnx.Param`` in place:

- AdamW with global-norm gradient clipping, the learning rate rising linearly
  over ``warmup_epochs`` to ``lr``, then decaying on a cosine to lr / 100
  (optax);
- each epoch is one compiled call, a ``lax.scan`` over the shuffled
  minibatches, each with a random key of its own for a loss that draws
  (``key`` is None on the validation rows); other state (e.g. BatchNorm
  running averages, updated in the module's training mode) is carried
  through it;
- data-parallel over ``num_devices`` local devices (``nnef_dists.parallel``):
  every minibatch and the validation rows are split over the devices, the
  data, parameters and optimiser state replicated, and XLA sums the
  gradients (GSPMD). Losses are means over rows, so the results are those of
  one device up to the order of floating-point sums;
- after each epoch, with ``ema_decay`` d > 0, the exponential moving average
  a <- d a + (1 - d) params of the epochs' parameters (from the first epoch's),
  which smooths the minibatch noise of the last epochs; what is validated
  and kept is a (d = 0: the parameters themselves);
- after each epoch the loss on the validation rows (evaluation mode); the
  parameters with the best validation loss are restored at the end, and
  training stops after ``patience`` epochs without improvement;
- matrix products in full float32 (``numerics.full_precision_matmuls``), not
  JAX's TensorFloat-32 default on GPUs;
- a loss that is not finite stops training with a ``TrainingError``;
- with a checkpoint path, the loop's state is saved there every
  ``checkpoint.EVERY_SECONDS`` and after the last epoch, and a run started
  with ``resume`` continues from it, to the same parameters bit for bit
  (``training.checkpoint``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from nnef_dists import parallel
from nnef_dists.errors import ConfigError, TrainingError
from nnef_dists.numerics import full_precision_matmuls
from nnef_dists.training import checkpoint
from nnef_dists.training.config import LoopConfig
from nnef_dists.training.history import History


def minibatch_size(batch_size: int, n_train: int, num_devices: int) -> int:
    """Rows per minibatch: ``batch_size``, at most ``n_train``, a multiple of the devices.

    Raises:
      ConfigError: the minibatch cannot be split evenly over ``num_devices``.
    """
    size = min(batch_size, n_train)
    if size % num_devices:
        raise ConfigError(
            f"batch_size {size} cannot be split over {num_devices} devices: choose a "
            f"batch_size that is a multiple of {num_devices}, or set num_devices"
        )
    return size


def optimizer(config: LoopConfig, num_batches: int) -> optax.GradientTransformation:
    """Clipped AdamW on a warm-up + cosine schedule of ``config.epochs * num_batches`` steps."""
    total_steps = max(config.epochs * num_batches, 1)
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.lr,
        warmup_steps=min(config.warmup_epochs * num_batches, total_steps - 1),
        decay_steps=total_steps,
        end_value=config.lr * 1e-2,
    )
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )


@full_precision_matmuls
def fit_module(
    module: nnx.Module,
    loss,
    train_rows,
    val_rows,
    config: LoopConfig,
    *,
    progress: bool = True,
    desc: str = "train",
    loss_offset: float = 0.0,
    checkpoint_path=None,
    resume: bool = False,
) -> History:
    """Train ``module`` in place; return its History (module left in evaluation mode).

    Args:
      module: an nnx module; its ``nnx.Param`` are trained, its other state carried.
      loss: ``loss(module, batch, key) -> scalar``, a mean over the batch's rows;
        key: a random key per minibatch, None for the validation loss.
      train_rows, val_rows: pytrees of arrays with N_train / N_val rows (leading axis).
      config: the LoopConfig.
      progress: show a progress bar; desc: its label (and the errors').
      loss_offset: added to every reported loss (e.g. a log-determinant, to
        report a flow's NLL in raw units); it does not change the optimisation.
      checkpoint_path: where the loop's state is saved as it goes, or None.
      resume: continue from the checkpoint at checkpoint_path, if there is one.

    Raises:
      TrainingError: the training or validation loss is not finite.
      ConfigError: the minibatch cannot be split over the devices; the
        checkpoint is of another run.
    """
    mesh = parallel.accelerator_mesh(config.num_devices)
    n_train = len(jax.tree.leaves(train_rows)[0])
    batch_size = minibatch_size(config.batch_size, n_train, mesh.size)
    num_batches = n_train // batch_size
    everywhere = parallel.replicated(mesh)
    module.train()
    train_graph = nnx.split(module, nnx.Param, ...)[0]
    module.eval()
    eval_graph, params, rest = nnx.split(module, nnx.Param, ...)
    steps = _Steps(train_graph, eval_graph, loss, parallel.row_sharding(mesh))
    opt = optimizer(config, num_batches)
    state = jax.device_put((params, rest, opt.init(params), params), everywhere)
    train_rows, val_rows = jax.device_put((train_rows, val_rows), everywhere)
    run_epoch = jax.jit(
        partial(steps.epoch, opt, train_rows, num_batches, batch_size), out_shardings=everywhere
    )
    validate = jax.jit(steps.validate)
    keys = jax.random.split(jax.random.key(config.seed), config.epochs)
    run = checkpoint.fingerprint(f"{desc} {config}", (train_rows, val_rows))
    first, finished, state, best, best_val, history = _starting_point(
        checkpoint_path if resume else None, run, state, everywhere
    )
    saved = time.perf_counter()
    start = saved - history.seconds
    bar = tqdm(range(first, config.epochs), desc=desc, disable=not progress or finished)
    for epoch in [] if finished else bar:
        weight = config.ema_decay if epoch else 0.0  # the average starts at the first epoch
        *state, train_loss = run_epoch(*state, keys[epoch], weight)
        train_loss = float(train_loss) + loss_offset
        val_loss = float(validate(state[3], state[1], val_rows)) + loss_offset
        _check_finite(desc, epoch, train_loss, val_loss)
        history.add(train_loss, val_loss)
        if val_loss < best_val:
            best, best_val, history.best_epoch = (state[3], state[1]), val_loss, epoch
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}", best=f"{best_val:.4g}")
        stalled = config.patience is not None and epoch - history.best_epoch >= config.patience
        finished = stalled or epoch + 1 == config.epochs
        if checkpoint_path is not None and (finished or _due(saved)):
            history.seconds = time.perf_counter() - start
            checkpoint.save(checkpoint_path, run, epoch, finished, state, best, best_val, history)
            saved = time.perf_counter()
        if finished:
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    nnx.update(module, *jax.tree.map(jnp.asarray, jax.device_get(best)))  # off the mesh
    return history


def _starting_point(checkpoint_path, run: str, state, everywhere):
    """(first epoch, finished, state, best, best_val, history): those of the checkpoint
    at ``checkpoint_path`` when there is one (and it is not damaged), else of a
    fresh run from ``state``."""
    saved = None
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        saved = checkpoint.load(checkpoint_path, run, state, state[:2])
    if saved is None:
        return 0, False, state, state[:2], np.inf, History()
    epoch, finished, state, best, best_val, history = saved
    return epoch + 1, finished, jax.device_put(state, everywhere), tuple(best), best_val, history


def _due(saved: float) -> bool:
    """Whether a checkpoint is due, the last one written at time ``saved``."""
    return time.perf_counter() - saved >= checkpoint.EVERY_SECONDS


def _check_finite(desc: str, epoch: int, train_loss: float, val_loss: float) -> None:
    if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
        raise TrainingError(
            f"{desc}: the loss is not finite at epoch {epoch + 1} (training "
            f"{train_loss:.4g}, validation {val_loss:.4g}); try a smaller --lr or "
            "clip_norm, or check the data for outliers"
        )


@dataclass(frozen=True)
class _Steps:
    """The compiled pieces of ``fit_module``: an epoch of updates and a validation pass."""

    train_graph: nnx.GraphDef
    eval_graph: nnx.GraphDef
    loss: object
    split_rows: jax.sharding.NamedSharding

    def train_loss(self, params, rest, batch, key):
        """(loss, new non-trainable state) of one minibatch, in training mode."""
        batch = jax.lax.with_sharding_constraint(batch, self.split_rows)
        model = nnx.merge(self.train_graph, params, rest, copy=True)
        return self.loss(model, batch, key), nnx.split(model, nnx.Param, ...)[2]

    def validate(self, params, rest, rows):
        """The loss on ``rows`` in evaluation mode."""
        rows = jax.lax.with_sharding_constraint(rows, self.split_rows)
        return self.loss(nnx.merge(self.eval_graph, params, rest), rows, None)

    def epoch(self, opt, rows, num_batches, batch_size, params, rest, opt_state, average, key, w):
        """One pass over the shuffled minibatches: (params, rest, opt_state, average, mean
        loss), with the parameters' moving average updated to w average + (1 - w) params."""
        n_train = len(jax.tree.leaves(rows)[0])
        order = jax.random.permutation(key, n_train)[: num_batches * batch_size]
        step_keys = jax.random.split(jax.random.fold_in(key, 1), num_batches)

        def step(carry, index_and_key):
            params, rest, opt_state = carry
            index, step_key = index_and_key
            batch = jax.tree.map(lambda a: a[index], rows)
            (loss, rest), grads = jax.value_and_grad(self.train_loss, has_aux=True)(
                params, rest, batch, step_key
            )
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), rest, opt_state), loss

        (params, rest, opt_state), losses = jax.lax.scan(
            step, (params, rest, opt_state), (order.reshape(num_batches, batch_size), step_keys)
        )
        average = jax.tree.map(lambda a, p: w * a + (1 - w) * p, average, params)
        return params, rest, opt_state, average, losses.mean()
