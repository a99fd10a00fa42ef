"""Maximum-likelihood training of a Flow: compiled epochs, early stopping on validation NLL.

Each epoch is one compiled call, a ``lax.scan`` over the shuffled minibatches
(AdamW, global-norm clipping, linear warm-up then cosine decay), as in
``nnef_dists.training.trainer``. Non-trainable state (BatchNormFlow running
averages) is carried through the scan; validation uses the evaluation mode.
The parameters with the best validation NLL are restored at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from nnef_dists.flows.flow import Flow
from nnef_dists.training.trainer import History, TrainingError


@dataclass(frozen=True)
class TrainOptions:
    """Optimiser and stopping settings (stored with a model)."""

    weight_decay: float = 1e-4
    warmup_epochs: int = 5
    clip_norm: float = 5.0
    patience: int = 20


def train_flow(
    flow: Flow,
    train: tuple,
    val: tuple,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    options: TrainOptions = TrainOptions(),
    nll_offset: float = 0.0,
    progress: bool = True,
    desc: str = "train flow",
) -> History:
    """Fit ``flow`` in place by minimising -mean log p(y | x); return the History.

    Args:
      flow: the Flow to train (left in evaluation mode with the best parameters).
      train, val: (y (N, D), x (N, C)) float32 arrays; C may be 0.
      epochs, lr, batch_size, seed: the run (lr is the peak learning rate).
      options: TrainOptions.
      nll_offset: added to the reported NLLs (e.g. a standardisation's log-det,
        to report them in raw units).
      progress: show a tqdm bar.

    Raises:
      TrainingError: the training or validation NLL is not finite.
    """
    y_train, x_train = (jnp.asarray(a, jnp.float32) for a in train)
    y_val, x_val = (jnp.asarray(a, jnp.float32) for a in val)
    n_train = len(y_train)
    batch_size = min(batch_size, n_train)
    num_batches = n_train // batch_size
    total_steps = max(epochs * num_batches, 1)
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=lr,
        warmup_steps=min(options.warmup_epochs * num_batches, total_steps - 1),
        decay_steps=total_steps,
        end_value=lr * 1e-2,
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(options.clip_norm),
        optax.adamw(schedule, weight_decay=options.weight_decay),
    )
    flow.train()
    train_graph = nnx.split(flow, nnx.Param, ...)[0]
    flow.eval()
    eval_graph, params, rest = nnx.split(flow, nnx.Param, ...)
    opt_state = optimizer.init(params)

    def loss_fn(params, rest, y, x):
        model = nnx.merge(train_graph, params, rest, copy=True)  # BatchStat updates
        return -model.log_prob(y, x).mean(), nnx.split(model, nnx.Param, ...)[2]

    @jax.jit
    def run_epoch(params, rest, opt_state, key):
        order = jax.random.permutation(key, n_train)[: num_batches * batch_size]

        def step(carry, index):
            params, rest, opt_state = carry
            (loss, rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, rest, y_train[index], x_train[index]
            )
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), rest, opt_state), loss

        carry, losses = jax.lax.scan(
            step, (params, rest, opt_state), order.reshape(num_batches, batch_size)
        )
        return *carry, losses.mean()

    @jax.jit
    def val_nll(params, rest):
        return -nnx.merge(eval_graph, params, rest).log_prob(y_val, x_val).mean()

    history = History()
    best, best_val = (params, rest), np.inf
    keys = jax.random.split(jax.random.key(seed), max(epochs, 1))
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for epoch in bar:
        params, rest, opt_state, loss = run_epoch(params, rest, opt_state, keys[epoch])
        loss, val = float(loss) + nll_offset, float(val_nll(params, rest)) + nll_offset
        if not (np.isfinite(loss) and np.isfinite(val)):
            raise TrainingError(
                f"the NLL is not finite at epoch {epoch + 1} (training {loss:.4g}, validation "
                f"{val:.4g}); try a smaller learning rate or check the data for outliers"
            )
        history.train.append(loss)
        history.val.append(val)
        if val < best_val:
            best, best_val, history.best_epoch = (params, rest), val, epoch
        bar.set_postfix(train=f"{loss:.4g}", val=f"{val:.4g}", best=f"{best_val:.4g}")
        if epoch - history.best_epoch >= options.patience:
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    nnx.update(flow, *best)
    return history
