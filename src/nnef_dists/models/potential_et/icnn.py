"""The derivatives of potential_et's input-convex network G, from its effective weights.

    z_1     = softplus(a_1),  a_1     = x K_0 + b_0,
    z_{l+1} = softplus(a_{l+1}),  a_{l+1} = z_l W_l + x K_l + b_l,   W_l >= 0,
    G(x)    = v . z_L,                                              v >= 0,

with K_l (k, h_l), b_l (h_l,), W_l (h_l, h_{l+1}) and v (h_L,) (the model applies
its gains and squares before calling these).
"""

from __future__ import annotations

from typing import NamedTuple

import jax


class Weights(NamedTuple):
    """kernels K_l (k, h_l), biases b_l (h_l,), hidden W_l (h_l, h_(l+1)) >= 0, output v >= 0."""

    kernels: list
    biases: list
    hidden: list
    output: jax.Array


def derivatives(w: Weights, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """grad G (k,) and hess G (k, k) at x (k,), in closed form.

    The Jacobians J_l = d a_l / dx (h_l, k) are carried forward (J_1 = K_0^T,
    J_(l+1) = W_l^T (s_l J_l) + K_l^T, s_l = sigmoid(a_l) = softplus'(a_l)), the
    adjoints d_l = dG / dz_l back (d_L = v, d_l = W_l (s_(l+1) d_(l+1))); then

        grad G = sum_l K_l (s_l d_l),
        hess G = sum_l J_l^T diag(d_l s_l (1 - s_l)) J_l,

    about half the arithmetic of forward-over-reverse differentiation, the same
    values to round-off (tests/models/test_potential_et.py).
    """
    a, J = x @ w.kernels[0] + w.biases[0], w.kernels[0].T
    slopes, jacobians = [jax.nn.sigmoid(a)], [J]
    for K, b, W in zip(w.kernels[1:], w.biases[1:], w.hidden, strict=True):
        a = jax.nn.softplus(a) @ W + x @ K + b
        J = W.T @ (slopes[-1][:, None] * J) + K.T
        slopes.append(jax.nn.sigmoid(a))
        jacobians.append(J)
    adjoint, grad, hess = w.output, 0.0, 0.0
    for i in reversed(range(len(slopes))):
        s, J = slopes[i], jacobians[i]
        grad = grad + w.kernels[i] @ (s * adjoint)
        hess = hess + J.T @ ((adjoint * s * (1 - s))[:, None] * J)
        if i:
            adjoint = w.hidden[i - 1] @ (s * adjoint)
    return grad, hess
