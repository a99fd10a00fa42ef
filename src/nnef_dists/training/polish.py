"""Full-batch L-BFGS after the minibatch loop: the last digits of a smooth fit.

Adam on minibatches stalls where the loss surface is badly conditioned; an
input-convex network (potential_et) is the model that suffers most (on 8192
HMC eta of gamma at half its former Adam budget, 0.86 x the noise floor after
Adam, 0.38 after 1500 L-BFGS iterations, 0.32 after 4000, its default; README:
Default training settings).
``polish`` runs ``optax.lbfgs`` (zoom line search) on the loss of the whole
training split, checks the validation loss every CHECK_EVERY iterations and
keeps the best parameters seen, the starting ones included, so it never
returns a model worse on validation than the one it was given (a loss that
is not finite ends the iterations there, with the best kept).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

#: L-BFGS iterations between two validations (one compiled scan each).
CHECK_EVERY = 100


def polish(
    module: nnx.Module, loss, train_rows, val_rows, steps: int, *, progress=True, desc="polish"
) -> list[float]:
    """Refine ``module``'s nnx.Param in place by at most ``steps`` L-BFGS iterations.

    Args:
      module: an nnx module in evaluation mode (no state changes in its loss).
      loss: ``loss(module, rows, key) -> scalar``, called with key None.
      train_rows, val_rows: pytrees of arrays, the whole splits (N, ...).
      steps: iterations, rounded up to a multiple of CHECK_EVERY; 0 does nothing.

    Returns:
      The validation losses: [at the start, after each CHECK_EVERY iterations],
      ending early at the first that is not finite. The parameters kept are
      those of the least of them.
    """
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    objective = lambda p, rows: loss(nnx.merge(graphdef, p, rest), rows, None)  # noqa: E731
    validate = jax.jit(objective)
    best, val_losses = params, [float(validate(params, val_rows))]
    if steps <= 0:
        return val_losses
    opt = optax.lbfgs()

    @jax.jit
    def iterate(params, state, rows):  # rows an argument: not constants of the program
        train_objective = lambda p: objective(p, rows)  # noqa: E731
        value_and_grad = optax.value_and_grad_from_state(train_objective)

        def step(carry, _):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = opt.update(
                grad, state, params, value=value, grad=grad, value_fn=train_objective
            )
            return (optax.apply_updates(params, updates), state), value

        (params, state), values = jax.lax.scan(step, (params, state), None, CHECK_EVERY)
        return params, state, values[-1]

    state = opt.init(params)
    bar = tqdm(range(-(-steps // CHECK_EVERY)), desc=desc, disable=not progress)
    for _ in bar:
        params, state, train_loss = iterate(params, state, train_rows)
        train_loss = float(train_loss)
        val_losses.append(float(validate(params, val_rows)))
        if not (np.isfinite(train_loss) and np.isfinite(val_losses[-1])):
            break
        if val_losses[-1] < min(val_losses[:-1]):
            best = params
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_losses[-1]:.4g}")
    bar.close()
    nnx.update(module, jax.tree.map(jnp.asarray, best))
    return val_losses
