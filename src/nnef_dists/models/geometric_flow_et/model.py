"""Geometric flow ET network: mu_T(eta) integrated from a PSD covariance network.

Since mu_T = grad A and Sigma = Cov[T] = hess A, along the segment from a
reference eta0 to eta

    mu_T(eta) = mu_T(eta0) + int_0^1 Sigma(eta0 + t (eta - eta0)) (eta - eta0) dt.

The model learns mu_T(eta0) (a parameter) and Sigma (a network that is
symmetric positive semi-definite by construction), and evaluates the integral
by Gauss-Legendre quadrature. The reference eta0 is the training mean of eta
(``norm.eta.mean``), fixed with the normalisation. The network Sigma is
itself the model's ``cov_TT``, trained on the sampled covariances. It need not
be exactly the Hessian of a potential, so the Jacobian of the returned mu_T is
close to, but not identical with, ``cov_TT``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.models.base import ETModel, mlp_layers
from nnef_dists.models.registry import register_model
from nnef_dists.models.residual import get_activation

#: Scale of the initial output-layer kernel: L(eta) starts within about 1% of the identity.
_OUTPUT_INIT_SCALE = 1e-2


@dataclass(frozen=True)
class GeometricFlowOptions:
    """The options of geometric_flow_et.

    Attributes:
      num_quadrature_nodes: Gauss-Legendre nodes on [0, 1]; the rule is exact
        for integrands polynomial in t of degree < 2n, and Sigma along the
        segment is smooth, so 8 nodes are ample for the typical training range.
      eps: added to L L^T (in the congruently scaled coordinates), so Sigma is
        positive definite with smallest eigenvalue at least eps * min(w)^2.
      activation: the hidden layers' nonlinearity, a name in
        ``nnef_dists.models.residual.ACTIVATIONS`` (as for the residual models).
      input_gain: fixed multiplier of the first layer's output, whose initial
        kernel is divided by it (same function at initialisation). The first
        layer has fan-in k only, so an optimiser step (Adam moves each
        parameter by about lr) moves its pre-activations far less than those
        of a wide layer; the gain multiplies its effective learning rate. In
        450 Adam steps at lr 3e-3, 8 lowered the final loss about 5-fold
        against 1 on gamma data (k = 2) and by a quarter on a 3-d normal
        (k = 9, where 16 was worse); training was stable up to lr 3e-2.
    """

    num_quadrature_nodes: int = 8
    eps: float = 1e-4
    activation: str = "swish"
    input_gain: float = 8.0

    def __post_init__(self):
        if int(self.num_quadrature_nodes) < 1:
            raise ValueError("num_quadrature_nodes must be at least 1")
        if float(self.eps) < 0:
            raise ValueError("eps must be non-negative")
        if float(self.input_gain) <= 0:
            raise ValueError("input_gain must be positive")
        get_activation(self.activation)


@register_model("geometric_flow_et")
class GeometricFlowET(ETModel):
    """mu(eta) = mu0 + int_0^1 Sigma(eta0 + t d) d dt with d = eta - eta0, Sigma PSD.

    Sigma(eta) = diag(w) (L L^T + eps I) diag(w), with w = norm.congruent_scale
    and L (k, k) lower triangular, the output of an MLP on the standardised
    z = norm.standardize_eta(eta); the diagonal of L goes through a softplus
    (positive, so L is a Cholesky factor). The MLP's output layer starts
    small, so L starts near the identity and Sigma near
    diag(mu_scale / eta_scale): mu starts as the linear map from the data's
    means and scales.

    ``hidden_sizes`` are the widths of the hidden layers of the MLP giving L.
    Options: ``GeometricFlowOptions``.
    """

    provides = ("cov_TT",)
    # noise_weighted against mse on 8192 HMC eta: 0.65 / 2.03 x the noise floor (gamma),
    # 0.41 / 1.27 (laplace_product), 0.89 / 0.95 (multivariate_normal_tril d = 2)
    training_defaults = {
        "loss": "noise_weighted",
        "jacobian_weight": 1.0,
        "hidden_sizes": (64, 64),
        # each step evaluates Sigma at 9 points per eta. On MCMC targets an eighth of the
        # common epochs and 400 full-batch L-BFGS iterations (training.polish), on 8192 HMC
        # eta: gamma 0.41, laplace_product 0.17, the 2-d normal 0.47 x the noise floor in 55-64 s,
        # against 0.59, 0.73, 0.64 at a quarter and no polish; more Adam epochs fit
        # the noise (the 2-d normal: 0.89 at all 1471). On exact targets the longer the
        # better: half the epochs, polynomial p = 4 quadrature 7.3e-3 -> 5.4e-3, gamma
        # 3.1e-2 -> 1.1e-2 against a quarter (README: Default training settings)
        "epoch_share": 0.125,
        "polish_steps": 400,
        "exact": {"loss": "whitened", "epoch_share": 0.5, "polish_steps": 0},
    }
    Options = GeometricFlowOptions

    def build(self, hidden_sizes, rngs: nnx.Rngs) -> None:
        k, options = self.eta_dim, self.options
        self._act = get_activation(options.activation)
        nodes, weights = np.polynomial.legendre.leggauss(int(options.num_quadrature_nodes))
        # Map [-1, 1] to [0, 1]; static constants, not state.
        self._t = tuple(float(t) for t in 0.5 * (nodes + 1.0))
        self._wq = tuple(float(v) for v in 0.5 * weights)
        rows, cols = np.tril_indices(k)
        self._rows, self._cols = tuple(int(i) for i in rows), tuple(int(j) for j in cols)
        self._diag = tuple(
            int(i) for i, (r, c) in enumerate(zip(rows, cols, strict=True)) if r == c
        )
        self.layers = mlp_layers((k, *hidden_sizes, len(rows)), rngs)
        first = self.layers[0]
        first.kernel.set_value(first.kernel.get_value() / options.input_gain)
        last = self.layers[-1]
        last.kernel.set_value(_OUTPUT_INIT_SCALE * last.kernel.get_value())
        last.bias.set_value(jnp.zeros_like(last.bias.get_value()))
        self.mu0 = nnx.Param(jnp.asarray(self.norm.mu.mean, jnp.float32))

    def cholesky_factor(self, eta: jax.Array) -> jax.Array:
        """L (k, k), lower triangular with positive diagonal (about the identity at init)."""
        h = self.options.input_gain * self.layers[0](self.norm.standardize_eta(eta))
        for layer in self.layers[1:]:
            h = layer(self._act(h))
        diag = jnp.asarray(self._diag)
        # softplus(0 + log(e - 1)) = 1: a zero output gives the identity.
        h = h.at[diag].set(jax.nn.softplus(h[diag] + float(np.log(np.expm1(1.0)))))
        k = self.eta_dim
        return jnp.zeros((k, k), h.dtype).at[self._rows, self._cols].set(h)

    def cov_TT_times(self, eta: jax.Array, d: jax.Array) -> jax.Array:
        """Sigma(eta) d = w * (L (L^T (w * d)) + eps w * d): (k,), (k,) -> (k,).

        What mu_T integrates: two triangular matrix-vector products instead of
        forming Sigma and copying its lower triangle up (a minibatch gradient
        1.9 -> 1.0-1.3 ms at k = 5).
        """
        L = self.cholesky_factor(eta)
        w = self.norm.congruent_scale
        wd = w * d
        return w * (L @ (L.T @ wd) + self.options.eps * wd)

    def cov_TT(self, eta: jax.Array) -> jax.Array:
        """Sigma(eta) = diag(w) (L L^T + eps I) diag(w): (k,) -> (k, k), symmetric PD."""
        L = self.cholesky_factor(eta)
        inner = L @ L.T + self.options.eps * jnp.eye(self.eta_dim, dtype=L.dtype)
        w = self.norm.congruent_scale
        S = w[:, None] * inner * w[None, :]
        # Copy the lower triangle up: exactly symmetric (averaging is not, under fused FMAs).
        return jnp.where(jnp.tri(self.eta_dim, dtype=bool), S, S.T)

    def mu_T(self, eta: jax.Array) -> jax.Array:
        """mu0 + sum_i q_i Sigma(eta0 + t_i d) d, Gauss-Legendre on [0, 1]; exact mu0 at eta0."""
        eta0 = self.norm.eta.mean
        d = eta - eta0
        t = jnp.asarray(self._t, d.dtype)
        q = jnp.asarray(self._wq, d.dtype)
        points = eta0[None, :] + t[:, None] * d[None, :]
        sigma_d = jax.vmap(lambda p: self.cov_TT_times(p, d))(points)
        return self.mu0.get_value() + q @ sigma_d
