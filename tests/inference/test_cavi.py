"""The CAVI engine against hand-derived fixed points and ELBOs, under jit and vmap."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import digamma, gammaln

from nnef_dists.families import get_family
from nnef_dists.inference import BilinearModel, cavi, cavi_batch, providers
from nnef_dists.inference import examples as ex

PRIOR = {"m0": 0.3, "s0": 1.5, "a0": 2.0, "b0": 1.0}
GAUSSIAN, GAMMA = get_family("gaussian_1d"), get_family("gamma")
EXACT_X, EXACT_Y = providers.exact(GAUSSIAN), providers.exact(GAMMA)


@pytest.fixture(scope="module")
def problem():
    return ex.normal_gamma(ex.simulate_data(10, 0.5, 2.0, seed=0), **PRIOR)


def run64(problem, px=EXACT_X, py=EXACT_Y, **kwargs):
    """cavi in float64 on a Problem, results as NumPy."""
    kwargs = {"tol": 1e-12, "max_iter": 100} | kwargs
    with jax.enable_x64(True):
        res = cavi(problem.model, px, py, problem.eta_x0, problem.eta_y0, **kwargs)
        return jax.tree.map(np.asarray, res)


def hand_elbo(data, eta_x, eta_y, m0, s0, a0, b0):
    """E_q[log p(d, mu, tau)] + H[q(mu)] + H[q(tau)], every constant included."""
    m, v = -eta_x[0] / (2 * eta_x[1]), -1 / (2 * eta_x[1])
    a, b = eta_y[0] + 1, -eta_y[1]
    e_log_tau, e_tau, n = digamma(a) - np.log(b), a / b, len(data)
    likelihood = n / 2 * (e_log_tau - np.log(2 * np.pi)) - e_tau / 2 * np.sum((data - m) ** 2 + v)
    prior_mu = -0.5 * np.log(2 * np.pi * s0**2) - ((m - m0) ** 2 + v) / (2 * s0**2)
    prior_tau = a0 * np.log(b0) - gammaln(a0) + (a0 - 1) * e_log_tau - b0 * e_tau
    entropy_mu = 0.5 * np.log(2 * np.pi * np.e * v)
    entropy_tau = a - np.log(b) + gammaln(a) + (1 - a) * digamma(a)
    return likelihood + prior_mu + prior_tau + entropy_mu + entropy_tau


def test_exact_providers_reach_the_closed_form_fixed_point(problem):
    res = run64(problem)
    eta_x, eta_y = ex.normal_gamma_fixed_point(problem.data, **PRIOR)
    assert res.converged and not res.diverged and 5 < res.num_iter < 100
    np.testing.assert_allclose(res.eta_x, eta_x, rtol=1e-6)
    np.testing.assert_allclose(res.eta_y, eta_y, rtol=1e-6)
    # and the closed form is a fixed point of the hand-written updates
    mu_y = np.array([digamma(eta_y[0] + 1) - np.log(-eta_y[1]), (eta_y[0] + 1) / -eta_y[1]])
    np.testing.assert_allclose(problem.model.b_x + problem.model.A @ mu_y, eta_x, rtol=1e-12)


def test_float32_is_the_default_and_close(problem):
    res = cavi(problem.model, EXACT_X, EXACT_Y, problem.eta_x0, problem.eta_y0, tol=1e-6)
    assert res.eta_x.dtype == jnp.float32 and res.converged
    np.testing.assert_allclose(res.eta_x, run64(problem).eta_x, rtol=1e-5)


def test_stops_at_the_tolerance(problem):
    tol = 1e-8
    res = run64(problem, tol=tol)
    delta = res.trace.delta
    n = int(res.num_iter)
    assert delta[n] <= tol < delta[n - 1]
    assert np.all(np.isfinite(res.trace.eta_x[: n + 1])) and np.all(
        np.isnan(res.trace.eta_x[n + 1 :])
    )
    np.testing.assert_array_equal(res.trace.eta_x[n], res.eta_x)


def test_not_converged_when_max_iter_is_too_small(problem):
    res = run64(problem, max_iter=2)
    assert int(res.num_iter) == 2 and not res.converged and not res.diverged
    assert res.trace.eta_x.shape == (3, 2) and np.all(np.isfinite(res.trace.eta_y))


def test_damping_reaches_the_same_fixed_point(problem):
    plain, damped = run64(problem), run64(problem, damping=0.5)
    assert damped.converged and damped.num_iter > plain.num_iter
    np.testing.assert_allclose(damped.eta_x, plain.eta_x, rtol=1e-9)


def test_vmap_batch_matches_one_at_a_time():
    rng = np.random.default_rng(3)
    data = rng.normal(0.4, 0.8, size=(5, 12))
    prior = {
        "m0": rng.normal(size=5),
        "s0": rng.uniform(0.5, 2, 5),
        "a0": rng.uniform(1, 3, 5),
        "b0": rng.uniform(0.5, 2, 5),
    }
    batch = ex.normal_gamma(data, **prior)
    res = cavi_batch(batch.model, EXACT_X, EXACT_Y, batch.eta_x0, batch.eta_y0, tol=1e-6)
    assert res.eta_x.shape == (5, 2) and res.trace.eta_y.shape == (5, 101, 2)
    for i in range(5):
        one = ex.normal_gamma(data[i], **{k: v[i] for k, v in prior.items()})
        single = cavi(one.model, EXACT_X, EXACT_Y, one.eta_x0, one.eta_y0, tol=1e-6)
        assert int(res.num_iter[i]) == int(single.num_iter)
        np.testing.assert_allclose(res.eta_x[i], single.eta_x, rtol=1e-6)
        np.testing.assert_allclose(res.eta_y[i], single.eta_y, rtol=1e-6)
    # and under an outer jit, with a different number of sweeps per problem
    jitted = jax.jit(lambda m, x0, y0: cavi_batch(m, EXACT_X, EXACT_Y, x0, y0, tol=1e-6))
    again = jitted(batch.model, batch.eta_x0, batch.eta_y0)
    np.testing.assert_allclose(again.eta_x, res.eta_x, rtol=1e-6)


def test_elbo_is_non_decreasing_and_matches_the_hand_computation(problem):
    res = run64(problem)
    elbo = res.trace.elbo[: int(res.num_iter) + 1]
    assert np.all(np.diff(elbo) >= -1e-12 * np.abs(elbo).max())
    assert elbo[-1] - elbo[0] > 1.0  # the start is far from the optimum
    for t in (0, 1, int(res.num_iter)):
        hand = hand_elbo(problem.data, res.trace.eta_x[t], res.trace.eta_y[t], **PRIOR)
        np.testing.assert_allclose(res.trace.elbo[t] + problem.const, hand, rtol=1e-12)


def trapezoid_moments(eta):
    """E[x^1..4] (4,) and log Z of the quartic family at eta (4,): a fine NumPy trapezoid rule."""
    x = np.linspace(-12.0, 12.0, 400_001)
    log_g = np.polyval(np.concatenate([np.asarray(eta)[::-1], [0.0]]), x)
    g = np.exp(log_g - log_g.max())
    z = np.trapezoid(g, x)
    powers = x[None, :] ** np.arange(1, 5)[:, None]
    return np.trapezoid(powers * g, x, axis=1) / z, np.log(z) + log_g.max()


def test_quadrature_provider_matches_a_trapezoid_rule():
    eta = np.array([[1.0, -2.0, 0.1, -0.5], [0.0, 1.0, 0.0, -0.5]])  # the second: two wells
    provider = providers.exact(get_family("polynomial", p=4))
    with jax.enable_x64(True):
        mu = jax.jit(jax.vmap(lambda e: provider.mu_T(e, None)))(eta)
    for row, value in zip(eta, mu, strict=True):
        np.testing.assert_allclose(value, trapezoid_moments(row)[0], rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_polynomial_prior_fixed_point_and_elbo():
    data = ex.simulate_data(6, 0.3, 1.5, seed=1)
    problem = ex.polynomial_prior(data, [0.5, -0.5, 0.2, -0.25], 2.0, 1.0)
    res = run64(problem, px=providers.exact(problem.family_x), tol=1e-10)
    assert res.converged
    elbo = res.trace.elbo[: int(res.num_iter) + 1]
    assert np.all(np.isfinite(elbo)) and np.all(np.diff(elbo) >= -1e-12 * np.abs(elbo).max())
    mu_x, log_z = trapezoid_moments(res.eta_x)
    np.testing.assert_allclose(res.mu_x, mu_x, rtol=1e-10)
    np.testing.assert_allclose(problem.model.b_y + mu_x @ problem.model.A, res.eta_y, rtol=1e-9)
    # the ELBO by hand: E_q[log p] + H[q], with the quadrature log-partition of the prior
    mu_y = res.mu_y
    log_z_y = gammaln(res.eta_y[0] + 1) - (res.eta_y[0] + 1) * np.log(-res.eta_y[1])
    hand = (
        mu_x @ problem.model.A @ mu_y
        + (problem.model.b_x - res.eta_x) @ mu_x
        + (problem.model.b_y - res.eta_y) @ mu_y
        + log_z
        + log_z_y
    )
    np.testing.assert_allclose(res.elbo, hand, rtol=1e-10)


def _box(lo, hi):
    return lambda eta: jnp.all((eta >= lo) & (eta <= hi))


def test_out_of_range_iterates_are_counted(problem):
    inside = run64(problem)
    rows = inside.trace.eta_y[: int(inside.num_iter) + 1]
    lo, hi = rows.min(0), rows.max(0)
    boxed = dataclasses.replace(EXACT_Y, in_domain=_box(lo - 1e-9, hi + 1e-9))
    assert run64(problem, py=boxed).out_of_range.tolist() == [0, 0]
    # a box holding only the start of y: every later iterate is out of range
    start = np.asarray(problem.eta_y0)
    small = dataclasses.replace(EXACT_Y, in_domain=_box(start - 1e-9, start + 1e-9))
    res = run64(problem, py=small)
    assert res.out_of_range.tolist() == [0, int(res.num_iter)]
    assert res.fallbacks.tolist() == [0, 0]  # no fallback: the provider answered out there
    assert res.trace.out_of_range[0].tolist() == [False, False]
    np.testing.assert_allclose(res.eta_y, inside.eta_y)  # counted, not changed


def test_a_non_finite_sweep_stops_the_loop(problem):
    def mu_T(eta, key):  # exact where eta_2 > -3 (the start), NaN beyond (every sweep)
        return jnp.where(eta[1] > -3.0, EXACT_X.mu_T(eta, key), jnp.nan)

    res = run64(problem, px=providers.Provider("nan_beyond", 2, mu_T))
    assert problem.eta_x0[1] > -3.0
    assert bool(res.diverged) and not res.converged and int(res.num_iter) == 0
    np.testing.assert_array_equal(res.eta_x, problem.eta_x0)  # the last finite iterate


def test_shape_and_key_errors(problem):
    model = BilinearModel(np.zeros((2, 3)), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="A has shape"):
        cavi(model, EXACT_X, EXACT_Y, np.zeros(2), np.zeros(2))
    mc = providers.mc(GAMMA)
    with pytest.raises(ValueError, match="need a key"):
        cavi(problem.model, EXACT_X, mc, problem.eta_x0, problem.eta_y0)
