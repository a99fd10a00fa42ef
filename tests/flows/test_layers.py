"""Every layer and flow: the inverse round-trips and the log-determinant is that of the
Jacobian (jnp.linalg.slogdet of jax.jacobian), parametrised over the registry. In float64,
so that the tolerances are those of the algebra, not of float32 rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.scipy.stats import norm

from nnef_dists.flows import FLOWS, LAYERS, MADE, rational_quadratic_spline
from tests.flows.conftest import check_bijection, make_flow, make_layer

DIM, CONTEXT = 3, 2
FLOW_CASES = [(kind, {}) for kind in FLOWS] + [("maf", {"batch_norm": True, "order": "random"})]
FLOW_IDS = [kind + ("-bn-random" if opts else "") for kind, opts in FLOW_CASES]


def _points(n=6, seed=0, scale=2.0):
    kx, kc = jax.random.split(jax.random.key(seed))
    return scale * jax.random.normal(kx, (n, DIM)), jax.random.normal(kc, (n, CONTEXT))


@pytest.mark.parametrize("name", LAYERS)
def test_layer_inverse_and_logdet(name):
    with jax.enable_x64(True):
        check_bijection(make_layer(name, DIM, CONTEXT), *_points())


@pytest.mark.parametrize(("kind", "options"), FLOW_CASES, ids=FLOW_IDS)
def test_flow_inverse_and_logdet(kind, options):
    with jax.enable_x64(True):
        check_bijection(make_flow(kind, DIM, CONTEXT, **options), *_points(seed=1))


@pytest.mark.parametrize(("kind", "options"), FLOW_CASES, ids=FLOW_IDS)
def test_log_prob_is_normal_pullback(kind, options):
    """log p(x) = log N(u; 0, I) + log |det du/dx| for u = to_normal(x): checks the base
    density, its Rosenblatt map (MoG) and the layers together."""
    with jax.enable_x64(True):
        flow = make_flow(kind, DIM, CONTEXT, **options)

        @jax.jit
        def run(x, c):
            u_of = lambda v, ci: flow.to_normal(v[None], ci[None])[0]
            _, logdet = jnp.linalg.slogdet(jax.vmap(jax.jacobian(u_of))(x, c))
            return flow.log_prob(x, c), norm.logpdf(flow.to_normal(x, c)).sum(-1) + logdet

        _, c = _points(n=4, seed=2)
        x = jax.jit(flow.sample, static_argnums=1)(jax.random.key(5), (4,), c)  # typical points
        log_p, expected = run(x, c)
        np.testing.assert_allclose(log_p, expected, atol=1e-8)


@pytest.mark.parametrize(("kind", "options"), FLOW_CASES, ids=FLOW_IDS)
def test_draws_with_a_context_per_row_equal_those_with_a_context_per_draw(kind, options):
    """The inverse's first autoregressive pass runs once per context row when the context
    is (M, 1, C) (made.autoregressive_inverse): the same draws as with the context
    broadcast to every draw, (M, n, C), to float32 round-off."""
    flow = make_flow(kind, DIM, CONTEXT, **options)
    _, c = _points(n=3, seed=4)
    c = jnp.asarray(c, jnp.float32)[:, None, :]
    key = jax.random.key(7)
    per_row = flow.sample(key, (3, 5), c)
    per_draw = flow.sample(key, (3, 5), jnp.broadcast_to(c, (3, 5, CONTEXT)))
    assert per_row.shape == (3, 5, DIM)
    np.testing.assert_allclose(per_row, per_draw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 1, 0, 2]])
def test_made_is_autoregressive_in_its_order(order):
    """d out[i] / d x_j is non-zero exactly when x_j comes before x_i in the order."""
    made = MADE(4, 2, 3, order=np.array(order), hidden=32, output_scale=1.0, rngs=nnx.Rngs(0))
    x, c = jax.random.normal(jax.random.key(0), (4,)), jnp.ones(2)
    jac = jax.jacobian(lambda v: made(v, c))(x)  # (D, P, D)
    connected = np.abs(np.asarray(jac)).max(axis=1) > 0
    order = np.array(order)
    np.testing.assert_array_equal(connected, order[None, :] < order[:, None])
    # the first dimension in the order still depends on the context
    first = int(np.argmin(order))
    assert np.abs(jax.jacobian(lambda v: made(x, v))(c)[first]).max() > 0


def test_spline_is_monotone_with_identity_tails():
    k = jax.random.split(jax.random.key(3), 3)
    x = jnp.linspace(-4.0, 4.0, 801)
    params = [
        jnp.broadcast_to(jax.random.normal(ki, n), (801, n))
        for ki, n in zip(k, (6, 6, 5), strict=True)
    ]
    y, log_dy = rational_quadratic_spline(x, *params, bound=2.0)
    assert np.all(np.diff(np.asarray(y)) > 0)
    outside = np.abs(np.asarray(x)) >= 2.0
    np.testing.assert_array_equal(np.asarray(y)[outside], np.asarray(x)[outside])
    np.testing.assert_array_equal(np.asarray(log_dy)[outside], 0.0)
    back, log_back = rational_quadratic_spline(y, *params, bound=2.0, inverse=True)
    np.testing.assert_allclose(back, x, atol=1e-5)
    np.testing.assert_allclose(log_back, -log_dy, atol=1e-4)
    # the log-derivative is that of y(x)
    grad = jax.vmap(jax.grad(lambda v, *p: rational_quadratic_spline(v, *p, bound=2.0)[0]))
    np.testing.assert_allclose(np.exp(log_dy), grad(x, *params), rtol=1e-4)
