"""Losses of the ET trainer, on a minibatch of a data set (README: Data file).

Every loss is a mean of squared, dimensionless residuals:

- ``mse``: (mu_pred - mu_T) / mu_scale, the residual in standardised units;
- ``noise_weighted``: (mu_pred - mu_T) / se with se = sqrt(diag(cov_TT) / ess),
  the target's own standard error, so an estimate with ess 10 counts 100
  times less than one with ess 1000 and the loss is about 1 at the noise
  floor (exact targets, ess = inf, get the floor SE_FLOOR * mu_scale);
- ``whitened``: L^-1 (mu_pred - mu_T) with L L^T = cov_TT / ess (plus a
  relative floor, ``noise_cholesky``): the Gaussian likelihood of the targets,
  whose MCMC noise has that covariance. For exact targets it is the error in
  the Fisher metric, delta_mu^T cov_TT^-1 delta_mu, which is also the error
  of eta_from_mu: delta_eta = cov_TT^-1 delta_mu;
- the Jacobian term: J = d mu / d eta from the model (its own cov_TT where it
  has one) against cov_TT, as (J - cov_TT)_ij * eta_scale_j / mu_scale_i, or
  for ``whitened`` as L^-1 J L^-T - I (L L^T = cov_TT), weighted by
  ``jacobian_weight``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

#: Standard error floor, in units of mu_scale, for exact targets (ess = inf).
SE_FLOOR = 1e-4


def standard_error(batch, mu_scale):
    """Standard error of each target, (n, k): sqrt(diag(cov_TT) / ess), floored."""
    var = jnp.diagonal(batch["cov_TT"], axis1=-2, axis2=-1) / batch["ess"]
    return jnp.sqrt(var + (SE_FLOOR * mu_scale) ** 2)


def noise_cholesky(batch):
    """Cholesky factors (n, k, k) of each target's noise covariance, floored.

    C = D^(-1/2) cov_TT D^(-1/2) + SE_FLOOR^2 cov_TT with D = diag(ess) (the
    covariance of an MCMC mean; 0 for exact targets), plus 1e-6 of its
    diagonal (statistics that are not minimal have a singular cov_TT).
    """
    cov = batch["cov_TT"]
    s = 1.0 / jnp.sqrt(batch["ess"])  # 0 where ess = inf
    noise = cov * (s[..., :, None] * s[..., None, :] + SE_FLOOR**2)
    diag = jnp.diagonal(noise, axis1=-2, axis2=-1)
    return jnp.linalg.cholesky(noise + 1e-6 * diag[..., None] * jnp.eye(cov.shape[-1]))


def mu_residual(mu_pred, batch, norm, loss: str):
    """Dimensionless residuals (n, k) of predicted mu_T for ``loss``.

    mse: in units of mu's scale; noise_weighted: of each target's standard
    error; whitened: L^-1 (mu_pred - mu_T), L L^T the target's noise covariance
    (``noise_cholesky``), the Gaussian likelihood of the targets.
    """
    if loss == "whitened":
        solve = partial(jax.scipy.linalg.solve_triangular, lower=True)
        return jax.vmap(solve)(noise_cholesky(batch), mu_pred - batch["mu_T"])
    scale = norm.mu.scale if loss == "mse" else standard_error(batch, norm.mu.scale)
    return (mu_pred - batch["mu_T"]) / scale


def jacobian_residual(jac, batch, norm, loss: str = "mse"):
    """Dimensionless residuals (n, k, k) of d mu / d eta against cov_TT.

    whitened: L^-1 J L^-T - I with L L^T = cov_TT (the relative error of J in
    cov_TT's own metric); else (J - cov_TT)_ij eta_scale_j / mu_scale_i.
    """
    if loss == "whitened":
        cov = batch["cov_TT"]
        diag = jnp.diagonal(cov, axis1=-2, axis2=-1)
        chol = jnp.linalg.cholesky(cov + 1e-6 * diag[..., None] * jnp.eye(cov.shape[-1]))
        solve = jax.vmap(partial(jax.scipy.linalg.solve_triangular, lower=True))
        inner = solve(chol, jnp.swapaxes(solve(chol, jac), -1, -2))
        return inner - jnp.eye(cov.shape[-1])
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
        parts["jacobian"] = jnp.mean(jacobian_residual(jac, batch, norm, loss) ** 2)
        total = total + jacobian_weight * parts["jacobian"]
    return total, parts
