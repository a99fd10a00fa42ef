"""Losses of the ET trainer, on a minibatch of a data set (README: Data file).

Every loss is a mean of squared, dimensionless residuals:

- ``mse``: (mu_pred - mu_T) / mu_scale, the residual in standardised units;
- ``noise_weighted``: (mu_pred - mu_T) / se with se = sqrt(diag(cov_TT) / ess),
  the target's own standard error, so an estimate with ess 10 counts 100
  times less than one with ess 1000 and the loss is about 1 at the noise
  floor (exact targets, ess = inf, get the floor SE_FLOOR * mu_scale);
- the Jacobian term: (J - cov_TT)_ij * eta_scale_j / mu_scale_i, J = d mu / d eta
  from the model (its own cov_TT where it has one), weighted by
  ``jacobian_weight``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Standard error floor, in units of mu_scale, for exact targets (ess = inf).
SE_FLOOR = 1e-4


def standard_error(batch, mu_scale):
    """Standard error of each target, (n, k): sqrt(diag(cov_TT) / ess), floored."""
    var = jnp.diagonal(batch["cov_TT"], axis1=-2, axis2=-1) / batch["ess"]
    return jnp.sqrt(var + (SE_FLOOR * mu_scale) ** 2)


def mu_residual(mu_pred, batch, norm, loss: str):
    """Dimensionless residuals (n, k) of predicted mu_T for ``loss`` (mse or noise_weighted)."""
    scale = norm.mu.scale if loss == "mse" else standard_error(batch, norm.mu.scale)
    return (mu_pred - batch["mu_T"]) / scale


def jacobian_residual(jac, batch, norm):
    """Dimensionless residuals (n, k, k) of d mu / d eta against cov_TT."""
    return (jac - batch["cov_TT"]) * norm.eta.scale[None, None, :] / norm.mu.scale[None, :, None]


def batch_loss(model, batch, loss: str, jacobian_weight: float):
    """Scalar loss of an ETModel on a batch dict (eta, mu_T, cov_TT, ess), with its parts.

    Returns:
      (loss, dict(mu=mean squared mu residual, jacobian=mean squared Jacobian residual)).
    """
    norm = model.norm
    mu_loss = jnp.mean(mu_residual(jax.vmap(model.mu_T)(batch["eta"]), batch, norm, loss) ** 2)
    parts = {"mu": mu_loss}
    total = mu_loss
    if jacobian_weight > 0:
        jac = jax.vmap(model.jacobian)(batch["eta"])
        parts["jacobian"] = jnp.mean(jacobian_residual(jac, batch, norm) ** 2)
        total = total + jacobian_weight * parts["jacobian"]
    return total, parts
