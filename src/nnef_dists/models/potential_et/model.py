"""Potential ET network: a learned convex log-partition A(eta), mu_T = grad A, Sigma = hess A.

With the congruent scaling x = w * (eta - eta_mean), w = norm.congruent_scale,

    A(eta) = norm.mu.mean . eta + F(x),
    F(x)   = 0.5 x^T (M M^T + c I) x + b . x + G(x),

where c = ``strong_convexity`` > 0, M (k, k) and b (k,) are free parameters
and G is an input-convex neural network (ICNN): hidden units

    z_1     = softplus(W_x^0 x + b_0),
    z_{l+1} = softplus(W_z^l z_l + W_x^l x + b_l),    W_z^l = (g V^l)^2 >= 0 elementwise,
    G(x)    = a . z_L,                                a = u^2 >= 0 elementwise,

with V^l, u, W_x and b free (W_x x + b times the fixed input_gain; squares
rather than softplus: a softplus that starts
small also has a small slope, and learns slowly).

softplus is convex and non-decreasing, and non-negative combinations of convex
functions are convex, so G is convex; F is c-strongly convex in x. Hence

    mu_T(eta)   = grad A = mu_mean + w * grad F(x),
    cov_TT(eta) = hess A = diag(w) hess F(x) diag(w)

is symmetric positive definite for every eta (not only in the data range),
mu_T is exactly the gradient of A, and mu -> eta is the unique minimiser of the
convex function A(eta) - mu . eta (``eta_from_mu``). At initialisation M = I,
b = -grad G(0) and G is small (its Hessian a few percent of the identity), so
F is near 0.5 |x|^2 and mu_T is near the linear map
mu_mean + (mu_scale / eta_scale) (eta - eta_mean), exact at eta_mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.models.base import ETModel
from nnef_dists.models.potential_et import inverse
from nnef_dists.models.registry import register_model

#: Fixed multipliers g of the raw parameters behind W_z = (g V)^2 and M, each divided
#: out of its initial value (same function at initialisation). Adam moves each raw
#: parameter by about lr per step; W_z starts at about 1 / fan_in, where the slope
#: dW/dV = 2 g^2 V would otherwise be small, and M at the identity. The gains give
#: them steps nearer an ordinary dense layer's (see the input_gain option).
HIDDEN_GAIN = 4.0
QUADRATIC_GAIN = 4.0


@dataclass(frozen=True)
class PotentialOptions:
    """The options of potential_et.

    Attributes:
      newton_steps: most Newton iterations of ``eta_from_mu`` from the best
        of its anchors, each damped by 1 / (1 + lambda) while the Newton
        decrement lambda exceeds 1/4 (the damped Newton method of
        self-concordant functions; full steps near the solution); the
        batched ``inverse`` gives every mu 3 of them, then sets the slow ones
        apart (``models/potential_et/inverse.py``).
      rescue_steps: most safeguarded iterations after those, for the mu not
        yet converged: each evaluates the Newton step and
        ``damping_levels`` - 1 Levenberg-Marquardt steps at once and takes
        the least damped one that satisfies the Armijo condition.
      newton_tol: converged once a full Newton step in x is at most
        newton_tol * (1 + max|x|), the tolerance never above sqrt(eps) of
        the dtype: the error left, of the order of the step's square, is
        then round-off.
      damping_levels: candidate steps per rescue iteration: the Newton step
        and n - 1 Levenberg-Marquardt steps -(H + lam I)^-1 grad with lam
        from 1e-6 max eig(H) up by factors of 4 (the last ones are short
        gradient steps, so some candidate decreases the objective wherever
        the gradient is not zero).
      anchors: size of the default cloud of starting points of
        ``eta_from_mu`` (eta_mean + eta_scale * z, z fixed standard normal
        draws), used when no anchors are given.
      strong_convexity: c, the fixed floor of hess F in the scaled
        coordinates: cov_TT(eta) >= c diag(w)^2 everywhere, which keeps A
        strongly convex and eta_from_mu well posed for any mu.
      output_init: sqrt(sum a) at initialisation, the size of G against the
        quadratic; small, so F starts near 0.5 |x|^2.
      input_gain: fixed multiplier of W_x x + b (divided out of the initial
        kernel): those layers have fan-in k only, so without it an Adam step
        moves their pre-activations far less than a wide layer's. In 450
        Adam steps at lr 3e-3 the gains (this one and the module's
        HIDDEN_GAIN, QUADRATIC_GAIN) lowered the final loss about 30-fold
        against none on gamma data (k = 2) and 3-fold on a 3-d normal
        (k = 9); 16 beat 8 on both, and training was stable up to lr 3e-2.
    """

    newton_steps: int = 16
    rescue_steps: int = 30
    newton_tol: float = 1e-4
    damping_levels: int = 24
    anchors: int = 512
    strong_convexity: float = 1e-3
    output_init: float = 0.3
    input_gain: float = 16.0

    def __post_init__(self):
        if float(self.strong_convexity) <= 0:
            raise ValueError("strong_convexity must be positive")
        if float(self.input_gain) <= 0:
            raise ValueError("input_gain must be positive")
        if min(int(self.newton_steps), int(self.rescue_steps)) < 0:
            raise ValueError("newton_steps and rescue_steps must be >= 0")
        if min(int(self.damping_levels), int(self.anchors)) < 1:
            raise ValueError("damping_levels and anchors must be >= 1")


@register_model("potential_et")
class PotentialET(ETModel):
    """A(eta) strongly convex by construction (quadratic + ICNN); mu_T = grad A.

    ``hidden_sizes`` are the widths of the ICNN's hidden layers (empty: F is
    quadratic plus linear, i.e. a Gaussian-like linear mu_T). Options:
    ``PotentialOptions``.
    """

    provides = ("cov_TT", "log_partition", "eta_from_mu")
    # the cov_TT term made it worse on HMC data (2.1 against 1.2 x the noise floor)
    training_defaults = {
        "loss": "mse",
        "jacobian_weight": 0.0,
        "hidden_sizes": (64, 64, 64),
        # Adam stalls on the ICNN; full-batch L-BFGS after it (training.polish): on 8192 HMC
        # eta of gamma, 0.86 -> 0.38 x the noise floor after 1500 iterations, 0.32 after 4000
        # (validation loss least at iteration 2700; README: Default training settings)
        "polish_steps": 4000,
        # validate and keep the average of about the last 100 epochs (ema_decay 0.99): on the
        # 2-d normal, 1.61 -> 1.15 x the noise floor (seed 0; seeds 1, 2 unchanged;
        # training.defaults)
        "ema_epochs": 100,
        "exact": {"loss": "whitened"},  # its inverse's error (training.defaults)
    }
    Options = PotentialOptions

    def build(self, hidden_sizes, rngs: nnx.Rngs) -> None:
        k, options = self.eta_dim, self.options
        sizes = tuple(int(h) for h in hidden_sizes)
        # W_x^l x + b_l = input_gain * Linear(x) for every hidden layer (unconstrained).
        kernel_init = nnx.initializers.variance_scaling(
            options.input_gain**-2, "fan_in", "truncated_normal"
        )
        self.input_layers = nnx.List(
            [nnx.Linear(k, h, kernel_init=kernel_init, rngs=rngs) for h in sizes]
        )
        # V^l, with W_z^l = (HIDDEN_GAIN V^l)^2 (non-negative), E[W_z] = 1 / fan_in at init.
        self.hidden_raw = nnx.List(
            [
                nnx.Param(jax.random.normal(rngs.params(), (a, b)) / (HIDDEN_GAIN * np.sqrt(a)))
                for a, b in zip(sizes[:-1], sizes[1:], strict=False)
            ]
        )
        # u, with a = u^2 (non-negative), sum(a) = output_init^2 at init; absent without layers.
        self.output_raw = nnx.List(
            [nnx.Param(jnp.full(h, options.output_init / np.sqrt(h))) for h in sizes[-1:]]
        )
        self.linear = nnx.Param(jnp.zeros(k))
        # M = QUADRATIC_GAIN * quadratic, the identity at init.
        self.quadratic = nnx.Param(jnp.eye(k) / QUADRATIC_GAIN)
        # b = -grad G(0): mu_T(eta_mean) = mu_mean at initialisation.
        self.linear.set_value(-jax.jit(jax.grad(self.potential))(jnp.zeros(k)))

    def potential(self, x: jax.Array) -> jax.Array:
        """F(x), scalar, c-strongly convex in the scaled coordinates x (k,)."""
        Mx = QUADRATIC_GAIN * (self.quadratic.get_value().T @ x)
        value = (
            0.5 * (Mx @ Mx + self.options.strong_convexity * (x @ x)) + self.linear.get_value() @ x
        )
        if not self.input_layers:
            return value
        gain = self.options.input_gain
        z = jax.nn.softplus(gain * self.input_layers[0](x))
        for layer, raw in zip(self.input_layers[1:], self.hidden_raw, strict=True):
            W_z = jnp.square(HIDDEN_GAIN * raw.get_value())
            z = jax.nn.softplus(z @ W_z + gain * layer(x))
        return value + jnp.square(self.output_raw[0].get_value()) @ z

    def _scaled(self, eta: jax.Array) -> jax.Array:
        return self.norm.congruent_scale * (eta - self.norm.eta.mean)

    def log_partition(self, eta: jax.Array) -> jax.Array:
        """A(eta) = mu_mean . eta + F(w * (eta - eta_mean)), up to an additive constant."""
        return self.norm.mu.mean @ eta + self.potential(self._scaled(eta))

    def mu_T(self, eta: jax.Array) -> jax.Array:
        """grad A(eta) = mu_mean + w * grad F(x): (k,) -> (k,)."""
        return jax.grad(self.log_partition)(eta)

    def cov_TT(self, eta: jax.Array) -> jax.Array:
        """hess A(eta) = diag(w) hess F(x) diag(w), exactly symmetric: (k, k), positive definite."""
        w = self.norm.congruent_scale
        H = jax.hessian(self.potential)(self._scaled(eta))
        H = w[:, None] * H * w[None, :]
        # Copy the lower triangle up: exactly symmetric (averaging is not, under fused FMAs).
        return jnp.where(jnp.tri(self.eta_dim, dtype=bool), H, H.T)

    def inverse(self, anchors: jax.Array | None = None):
        """eta_from_mu for a batch, mu (N, k) -> eta (N, k), started from anchors (M, k).

        anchors default to the cloud of ``options.anchors`` eta around
        eta_mean; their gradients and Hessians are computed here, once. The
        rows that converge slowly are set apart (``inverse.solve_rows``).
        """
        F = self._frozen_potential()
        starts = self._anchors(F, anchors)

        def solve(mu):
            x = inverse.solve_rows(F, jax.vmap(self._lin)(mu), starts, self._solver_options)
            return jax.vmap(self._at_solution)(mu, x)

        return solve

    def eta_from_mu(self, mu: jax.Array) -> jax.Array:
        """The eta with mu_T(eta) = mu: argmin_eta A(eta) - mu . eta, by Newton's method.

        Newton runs in the scaled coordinates x (where hess F >= c I is well
        scaled) on f(x) = lin . x + F(x), lin = (mu_mean - mu) / w, from the
        best of the default anchors (``models/potential_et/inverse.py``; a
        LoadedModel starts from the training eta, ``inverse``). The
        iterations see the parameters and mu through stop_gradient; their
        solution carries the implicit-function derivatives (d eta / d mu =
        cov_TT^-1, and likewise for the parameters; ``inverse.at_minimiser``,
        a Hessian computed only when differentiated), so the method works
        under jax.grad, jit and vmap (under vmap the anchors are prepared
        once for the batch).

        Accuracy: the iterations reach the minimiser to round-off (with the
        model and mu in float64 the round trip eta -> mu_T -> eta_from_mu is
        exact to ~1e-13). In float32 the limit is the rounding of mu itself
        (~6e-8 relative), amplified by the conditioning of cov_TT: in
        tests/models/test_potential_et.py, with randomised parameters, the
        round trip error relative to max(|eta_i|, eta_scale_i) has median
        ~2e-7 and maximum ~1.5e-5 up to 10 standard deviations out (~5e-5 at
        30), and the same float32 mu solved in float64 has errors of the same
        order.
        """
        F, lin = self._frozen_potential(), self._lin(mu)
        x = inverse.refine(F, lin, self._anchors(F).start(lin[None])[0], self._solver_options)
        return self._at_solution(mu, x)

    @property
    def _solver_options(self) -> inverse.SolverOptions:
        o = self.options
        return inverse.SolverOptions(o.newton_steps, o.rescue_steps, o.newton_tol, o.damping_levels)

    def _frozen_potential(self):
        """F with the parameters through stop_gradient."""
        graphdef, state = nnx.split(self)
        return nnx.merge(graphdef, jax.tree.map(jax.lax.stop_gradient, state)).potential

    def _lin(self, mu: jax.Array) -> jax.Array:
        """A(eta) - mu . eta = lin . x + F(x) + const: lin = (mu_mean - mu) / w (k,)."""
        norm = self.norm
        return jax.lax.stop_gradient((norm.mu.mean - mu) / norm.congruent_scale)

    def _anchors(self, F, anchors: jax.Array | None = None) -> inverse.Anchors:
        """inverse.Anchors of the frozen potential F at anchors (M, k) (default: the cloud)."""
        norm = self.norm
        if anchors is None:
            z = np.random.default_rng(0).standard_normal((self.options.anchors, self.eta_dim))
            anchors = norm.eta.mean + norm.eta.scale * jnp.asarray(z, norm.eta.mean.dtype)
        x = jax.lax.stop_gradient(jax.vmap(self._scaled)(jnp.asarray(anchors)))
        return inverse.Anchors.at(F, x)

    def _at_solution(self, mu: jax.Array, x: jax.Array) -> jax.Array:
        """eta (k,) at the solver's minimiser x (k,) for mu, with implicit-function derivatives."""
        graphdef, state = nnx.split(self)

        def gradient(params, x):  # d/dx [A(eta) - mu . eta] in the scaled coordinates
            module, mu = nnx.merge(graphdef, params[0]), params[1]
            norm = module.norm
            return (norm.mu.mean - mu) / norm.congruent_scale + jax.grad(module.potential)(x)

        x = inverse.at_minimiser(gradient, (state, mu), x)
        return self.norm.eta.mean + x / self.norm.congruent_scale
