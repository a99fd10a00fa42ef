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
  ``jacobian_weight``. With a random key (training minibatches) the term is
  estimated along one random sign vector v per row: E ||R v||^2 = ||R||_F^2
  for the residual matrix R, at the cost of one forward-mode pass fused with
  mu_T's (``ETModel.mu_T_and_jvp``) instead of k; without one (validation)
  it is exact.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

#: Standard error floor, in units of mu_scale, for exact targets (ess = inf).
SE_FLOOR = 1e-4

#: Random sign vectors per row along which a training minibatch's Jacobian term
#: is estimated. On 8192 HMC eta of a 2-d normal (k = 5), one probe cut the
#: training time of mlp_et / glu_et / quadratic_et from 129 / 203 / 261 s (exact
#: term) to 55 / 74 / 96 s; their errors (0.77 / 1.31 / 0.68 x the noise floor
#: exact, seed 0) were 1.33 / 1.15 / 0.78, 0.92 / 0.72 / 0.48 and 0.42 / 0.65 /
#: 0.36 for seeds 0, 1, 2; two probes gave 0.80 / 1.06 / 0.53 and 0.92 / 0.90 /
#: 0.54 (seeds 0, 1) in 1.6 x the time of one.
JACOBIAN_PROBES = 1

# Batched triangular solves, (n, k, k) and (n, k[, m]): L^-1 b and L^-T b.
_solve_lower = jax.vmap(partial(jax.scipy.linalg.solve_triangular, lower=True))
_solve_lower_transposed = jax.vmap(
    partial(jax.scipy.linalg.solve_triangular, lower=True, trans="T")
)


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
    return _cov_cholesky(cov * (s[..., :, None] * s[..., None, :] + SE_FLOOR**2))


def mu_residual(mu_pred, batch, norm, loss: str):
    """Dimensionless residuals (n, k) of predicted mu_T for ``loss``.

    mse: in units of mu's scale; noise_weighted: of each target's standard
    error; whitened: L^-1 (mu_pred - mu_T), L L^T the target's noise covariance
    (``noise_cholesky``), the Gaussian likelihood of the targets.
    """
    if loss == "whitened":
        return _solve_lower(noise_cholesky(batch), mu_pred - batch["mu_T"])
    scale = norm.mu.scale if loss == "mse" else standard_error(batch, norm.mu.scale)
    return (mu_pred - batch["mu_T"]) / scale


def _cov_cholesky(cov):
    """Cholesky factors (n, k, k) of cov_TT plus 1e-6 of its diagonal (for non-minimal T)."""
    diag = jnp.diagonal(cov, axis1=-2, axis2=-1)
    return jnp.linalg.cholesky(cov + 1e-6 * diag[..., None] * jnp.eye(cov.shape[-1]))


def jacobian_residual(jac, batch, norm, loss: str = "mse"):
    """Dimensionless residuals (n, k, k) of d mu / d eta against cov_TT.

    whitened: L^-1 J L^-T - I with L L^T = cov_TT (the relative error of J in
    cov_TT's own metric); else (J - cov_TT)_ij eta_scale_j / mu_scale_i.
    """
    if loss == "whitened":
        chol = _cov_cholesky(batch["cov_TT"])
        left = _solve_lower(chol, jac)  # L^-1 J
        inner = jnp.swapaxes(_solve_lower(chol, jnp.swapaxes(left, -1, -2)), -1, -2)
        return inner - jnp.eye(jac.shape[-1])
    return (jac - batch["cov_TT"]) * norm.eta.scale[None, None, :] / norm.mu.scale[None, :, None]


def probed_residuals(model, batch, norm, loss: str, key):
    """(mu_pred (n, k), R v (n, p, k)): predictions and ``jacobian_residual``'s R along v.

    v (n, p, k): JACOBIAN_PROBES random sign vectors per row (E[v v^T] = I,
    so E ||R v||^2 = ||R||_F^2); J v comes with mu_T from forward-mode passes
    (``ETModel.mu_T_and_jvp``).
    """
    eta, cov = batch["eta"], batch["cov_TT"]
    n, k = eta.shape
    v = jax.random.rademacher(key, (n, JACOBIAN_PROBES, k), dtype=eta.dtype)
    if loss == "whitened":
        chol = _cov_cholesky(cov)
        u = jnp.swapaxes(_solve_lower_transposed(chol, jnp.swapaxes(v, 1, 2)), 1, 2)  # L^-T v
        mu, ju = jax.vmap(model.mu_T_and_jvp)(eta, u)
        return mu, jnp.swapaxes(_solve_lower(chol, jnp.swapaxes(ju, 1, 2)), 1, 2) - v
    u = v * norm.eta.scale
    mu, ju = jax.vmap(model.mu_T_and_jvp)(eta, u)
    return mu, (ju - jnp.einsum("nij,npj->npi", cov, u)) / norm.mu.scale


def batch_loss(model, batch, loss: str, jacobian_weight: float, key=None):
    """Scalar loss of an ETModel on a batch dict (eta, mu_T, cov_TT, ess), with its parts.

    key: None for the exact Jacobian term, else a random key for its estimate
    along one random sign vector per row (``probed_residuals``), unbiased.

    Returns:
      (loss, dict(mu=mean squared mu residual, jacobian=mean squared Jacobian residual)).
    """
    norm = model.norm
    if jacobian_weight > 0 and key is not None:
        mu_pred, probed = probed_residuals(model, batch, norm, loss, key)
        jacobian_loss = jnp.mean(jnp.sum(probed**2, axis=-1)) / probed.shape[-1] ** 2
    else:
        mu_pred = jax.vmap(model.mu_T)(batch["eta"])
        if jacobian_weight > 0:
            jac = jax.vmap(model.jacobian)(batch["eta"])
            jacobian_loss = jnp.mean(jacobian_residual(jac, batch, norm, loss) ** 2)
    mu_loss = jnp.mean(mu_residual(mu_pred, batch, norm, loss) ** 2)
    if jacobian_weight == 0:
        return mu_loss, {"mu": mu_loss}
    total = mu_loss + jacobian_weight * jacobian_loss
    return total, {"mu": mu_loss, "jacobian": jacobian_loss}
