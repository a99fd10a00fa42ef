"""glow_et: eta -> mu_T through a stack of Glow steps, invertible in closed form.

z = norm.standardize_eta(eta), y = flow(z), mu_T = norm.unstandardize_mu(y),
where the flow is ``num_flow_layers`` steps of

  ActNorm (per-coordinate log-scale and bias) ->
  LULinear (W = P L U, P a fixed permutation) ->
  ``couplings_per_step`` AffineCouplings (k >= 2; bounded log-scale; the
  second one conditions on the half the first one transformed), or one
  SinhArcsinh (k = 1),

followed by a fixed permutation (the readout) that undoes the steps'
permutations, so the flow starts as the identity. The layers are in
``layers.py``. ``eta_from_mu`` runs all of it backwards analytically
(triangular solves, no iteration). The Jacobian d mu_T / d eta is invertible
everywhere by construction but, unlike Cov[T], not symmetric in general.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.models.base import ETModel
from nnef_dists.models.glow_et.layers import (
    ActNorm,
    AffineCoupling,
    FlowConstant,
    LULinear,
    SinhArcsinh,
)
from nnef_dists.models.registry import register_model


class GlowStep(nnx.Module):
    """ActNorm -> LULinear -> ``couplings`` AffineCouplings, alternating halves.

    For dim = 1 the couplings are replaced by one SinhArcsinh (two in a row
    would compose to one of the same form).
    """

    def __init__(
        self, dim, permutation, hidden_sizes, *, max_log_scale, activation, couplings, rngs
    ):
        self.actnorm = ActNorm(dim)
        self.linear = LULinear(dim, permutation)
        if dim > 1:
            self.couplings = nnx.List(
                [
                    AffineCoupling(
                        dim,
                        hidden_sizes,
                        flip=j % 2 == 1,
                        max_log_scale=max_log_scale,
                        activation=activation,
                        rngs=rngs,
                    )
                    for j in range(couplings)
                ]
            )
        else:
            self.couplings = nnx.List([SinhArcsinh(dim, max_log_scale=max_log_scale)])

    def _layers(self):
        return (self.actnorm, self.linear, *self.couplings)

    def forward(self, x):
        log_det = 0.0
        for layer in self._layers():
            x, ld = layer.forward(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, y):
        for layer in reversed(self._layers()):
            y = layer.inverse(y)
        return y


def _arrangements(dim: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Which original coordinate sits at each position before each step's couplings.

    The first coupling of a step conditions on positions [:dim // 2] and
    transforms the rest. The first arrangement is a random permutation; each
    later one is random subject to one rule: the coordinates that conditioned
    the previous step's first coupling are all transformed by this step's
    first coupling (the free places are filled at random from the previously
    transformed ones), so with the LU maps at their initial permutations
    every coordinate is transformed by a first coupling at least every other
    step (for k = 2: alternately).
    """
    n_cond = dim // 2
    orders = [rng.permutation(dim)]
    for _ in range(n - 1):
        prev_cond, prev_trans = orders[-1][:n_cond], rng.permutation(orders[-1][n_cond:])
        n_fill = (dim - n_cond) - n_cond
        trans = rng.permutation(np.concatenate([prev_cond, prev_trans[:n_fill]]))
        cond = rng.permutation(prev_trans[n_fill:])
        orders.append(np.concatenate([cond, trans]).astype(int))
    return orders


def _permutation_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """P with (P v)[j] = v[i] where dst[j] = src[i]: rearranges a vector ordered as src to dst."""
    position = np.argsort(src)  # position[c] = index of original coordinate c in src
    return np.eye(len(src), dtype=np.float32)[position[dst]]


@dataclass(frozen=True)
class GlowOptions:
    """The options of glow_et.

    Attributes:
      num_flow_layers: number of Glow steps (>= 1).
      max_log_scale: bound on each coupling log-scale (soft clamp
        max_log_scale * tanh(s / max_log_scale)), and on log a of the k = 1
        SinhArcsinh layer.
      activation: name of the jax.nn function between hidden layers.
      couplings_per_step: affine couplings per step (>= 1), alternating which
        half conditions the other. The default 2 transforms every coordinate
        in every step; 1 is the textbook Glow step, which fitted the gamma
        test data up to 3x worse (depending on the seed) in the same number of
        optimiser steps.
    """

    num_flow_layers: int = 4
    max_log_scale: float = 2.0
    activation: str = "silu"
    couplings_per_step: int = 2

    def __post_init__(self):
        if self.num_flow_layers < 1:
            raise ValueError(f"num_flow_layers must be >= 1, got {self.num_flow_layers}")
        if self.couplings_per_step < 1:
            raise ValueError(f"couplings_per_step must be >= 1, got {self.couplings_per_step}")
        if not self.max_log_scale > 0:
            raise ValueError(f"max_log_scale must be > 0, got {self.max_log_scale}")
        if not callable(getattr(jax.nn, self.activation, None)):
            raise ValueError(f"unknown activation {self.activation!r}: not a function of jax.nn")


@register_model("glow_et")
class GlowET(ETModel):
    """Invertible Glow flow from standardised eta to standardised mu_T.

    The flow starts as the identity z -> z (ActNorm, couplings and L, U at
    identity; the readout undoes the permutations), i.e. mu_T starts as
    mu_mean + mu_scale * (eta - eta_mean) / eta_scale, whose Jacobian is
    positive diagonal like a covariance.

    eta_dim k is 1 or more (odd k is fine: the first coupling of a step
    conditions on k // 2 coordinates and transforms ceil(k / 2));
    ``hidden_sizes`` are the hidden widths of each coupling's MLP (unused when
    k = 1); the permutations are drawn from ``rngs.params()`` (and saved with
    the model as FlowConstant state, not parameters). Options: ``GlowOptions``.

    The permutations are random but arranged so that, at initialisation, the
    coordinates that conditioned one step's (first) coupling are transformed
    by the next one (see ``_arrangements``); independent random permutations
    often left the same coordinate transformed in consecutive steps and
    fitted worse.

    For k = 1 there is no split for a coupling layer: each step's couplings
    are replaced by one elementwise SinhArcsinh map y = sinh(a asinh(x) + b)
    (2 parameters, exact inverse, log a bounded by max_log_scale), since an
    affine map would leave the whole flow affine.

    Parameters: num_flow_layers * (2k + k^2 + couplings_per_step * C), where
    C counts the weights and biases of a coupling's MLP k//2 -> hidden_sizes
    -> 2 * ceil(k/2); for k = 1, num_flow_layers * (2 + 1 + 2).
    """

    provides = ("eta_from_mu",)
    # the cov_TT term (autodiff through the flow) made training about 5 times as slow;
    # noise_weighted against mse on 8192 HMC eta: 0.86 / 2.24 x the noise floor (gamma),
    # 0.30 / 0.33 (laplace_product), 0.77 / 1.17 (multivariate_normal_tril d = 2)
    training_defaults = {
        "loss": "noise_weighted",
        "jacobian_weight": 0.0,
        "hidden_sizes": (64, 64),
        "exact": {"loss": "whitened"},  # its inverse's error (training.defaults)
    }
    Options = GlowOptions

    def build(self, hidden_sizes, rngs: nnx.Rngs) -> None:
        eta_dim, options = self.eta_dim, self.options
        if eta_dim < 1:
            raise ValueError(f"eta_dim must be >= 1, got {eta_dim}")
        key = rngs.params()
        try:
            seed = np.asarray(jax.random.key_data(key))
        except jax.errors.TracerArrayConversionError:
            seed = 0  # abstract construction (nnx.eval_shape): the saved state sets the values
        rng = np.random.default_rng(seed)
        orders = _arrangements(eta_dim, options.num_flow_layers, rng)
        identity = np.arange(eta_dim)
        sources = [identity, *orders[:-1]]
        self.steps = nnx.List(
            [
                GlowStep(
                    eta_dim,
                    _permutation_matrix(src, dst),
                    tuple(hidden_sizes),
                    max_log_scale=float(options.max_log_scale),
                    activation=options.activation,
                    couplings=options.couplings_per_step,
                    rngs=rngs,
                )
                for src, dst in zip(sources, orders, strict=True)
            ]
        )
        # undoes the arrangement of the last step, so the flow starts as the identity
        self.readout = FlowConstant(_permutation_matrix(orders[-1], identity))

    def flow_forward(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Standardised eta z (k,) -> (y (k,), log|det dy/dz|)."""
        log_det = jnp.zeros((), z.dtype)
        for step in self.steps:
            z, ld = step.forward(z)
            log_det = log_det + ld
        return self.readout[...] @ z, log_det

    def flow_inverse(self, y: jax.Array) -> jax.Array:
        """Exact inverse of flow_forward: standardised mu y (k,) -> z (k,)."""
        y = self.readout[...].T @ y
        for step in reversed(self.steps):
            y = step.inverse(y)
        return y

    def mu_T(self, eta: jax.Array) -> jax.Array:
        norm = self.norm
        y, _ = self.flow_forward(norm.standardize_eta(eta))
        return norm.unstandardize_mu(y)

    def eta_from_mu(self, mu: jax.Array) -> jax.Array:
        """The exact inverse of mu_T: mu (k,) -> eta (k,)."""
        norm = self.norm
        z = self.flow_inverse((mu - norm.mu.mean) / norm.mu.scale)
        return norm.eta.mean + norm.eta.scale * z

    def log_abs_det_jacobian(self, eta: jax.Array) -> jax.Array:
        """log|det d mu_T / d eta| from the layers' log-determinants (no autodiff)."""
        norm = self.norm
        _, log_det = self.flow_forward(norm.standardize_eta(eta))
        return log_det + jnp.sum(jnp.log(norm.mu.scale) - jnp.log(norm.eta.scale))
