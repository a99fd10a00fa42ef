"""potential_et: convex A, mu_T = grad A, PSD Hessian everywhere, and the inverse map.

Every test randomises all parameters away from their initialisation (where F
is nearly 0.5 |x|^2), so the checks are not trivially met.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.data.standardize import Standardizer
from nnef_dists.models import Normalization, get_model
from tests.models import perturb

K = 3
NORM = Normalization(
    eta=Standardizer(jnp.array([0.5, -1.0, 2.0]), jnp.array([1.0, 2.0, 0.5])),
    mu=Standardizer(jnp.array([1.0, 2.0, -3.0]), jnp.array([0.3, 1.0, 4.0])),
)
NOISE = 0.5


def perturbed_model(seed=0, noise=NOISE, **options):
    """The model with noise on every Param (see tests.models.perturb)."""
    return perturb.perturbed_model("potential_et", K, NORM, noise, seed, **options)


@pytest.fixture(scope="module")
def model():
    return perturbed_model()


def random_eta(n, spread, seed=1):
    return NORM.eta.mean + spread * NORM.eta.scale * jax.random.normal(jax.random.key(seed), (n, K))


def test_registered_with_its_options():
    cls = get_model("potential_et")
    assert cls.__name__ == "PotentialET"
    assert cls.provides == ("cov_TT", "log_partition", "eta_from_mu")
    assert cls.training_defaults["jacobian_weight"] == 0.0
    with pytest.raises(ValueError, match="strong_convexity"):
        cls(K, NORM, rngs=nnx.Rngs(0), strong_convexity=0.0)


def test_cov_is_symmetric_positive_definite_far_outside_the_data(model):
    """Against the construction: exactly symmetric, eigenvalues >= c * min(w)^2.

    600 points at 3, 30 and 300 standard deviations from the data mean.
    """
    eta = jnp.concatenate([random_eta(200, s, seed=i) for i, s in enumerate((3.0, 30.0, 300.0))])
    S = np.asarray(jax.jit(jax.vmap(model.cov_TT))(eta))
    np.testing.assert_array_equal(S, np.swapaxes(S, 1, 2))
    eig = np.linalg.eigvalsh(S.astype(np.float64))
    floor = model.options.strong_convexity * float(jnp.min(NORM.congruent_scale) ** 2)
    # float32 round-off on entries of size |S| moves eigenvalues by about 1e-6 |S|.
    roundoff = 1e-6 * np.abs(eig).max(axis=1)
    assert np.all(eig[:, 0] >= floor - roundoff), eig[:, 0].min()


def test_mu_is_the_gradient_of_log_partition(model):
    """Against jax.grad(log_partition) (exactly) and mu_mean + w * grad F(x) (float32)."""
    eta = random_eta(32, 5.0)

    @jax.jit
    def three(e):
        x = NORM.congruent_scale * (e - NORM.eta.mean)
        by_formula = NORM.mu.mean + NORM.congruent_scale * jax.grad(model.potential)(x)
        return model.mu_T(e), jax.grad(model.log_partition)(e), by_formula

    mu, grad_A, by_formula = jax.vmap(three)(eta)
    np.testing.assert_array_equal(mu, grad_A)
    np.testing.assert_allclose(mu, by_formula, rtol=1e-5, atol=1e-5 * float(jnp.abs(mu).max()))


def test_mu_and_cov_match_finite_differences_in_float64(model):
    """Against central differences (step 1e-5 eta_scale) of A and of mu_T, all in float64.

    The truncation error h^2 |f'''| / 6 ~ 1e-10 and round-off eps |A| / h
    ~ 1e-11 are far below the 1e-6 relative tolerance.
    """
    with jax.enable_x64(True):
        m64 = nnx.clone(model)
        state = nnx.state(m64)
        nnx.update(m64, jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state))
        h = 1e-5 * np.asarray(NORM.eta.scale, np.float64)
        steps = jnp.asarray(np.diag(h))
        eta = jnp.asarray(np.asarray(random_eta(8, 5.0), np.float64))

        @jax.jit
        def compare(e):
            A = jax.vmap(m64.log_partition)
            mu = jax.vmap(m64.mu_T)
            fd_mu = (A(e + steps) - A(e - steps)) / (2 * h)
            fd_cov = ((mu(e + steps) - mu(e - steps)) / (2 * h)[:, None]).T
            return m64.mu_T(e), fd_mu, m64.cov_TT(e), fd_cov

        for e in eta:
            mu, fd_mu, cov, fd_cov = compare(e)
            assert mu.dtype == jnp.float64
            np.testing.assert_allclose(mu, fd_mu, rtol=1e-6, atol=1e-6 * float(jnp.abs(mu).max()))
            np.testing.assert_allclose(
                cov, fd_cov, rtol=1e-6, atol=1e-6 * float(jnp.abs(cov).max())
            )


def test_eta_from_mu_inverts_mu_T(model):
    """Against the eta that generated mu: round trip to 1e-4 relative, float32, jit + vmap.

    Relative to max(|eta_i|, eta_scale_i), at 300 points up to 10 standard
    deviations out; also mu_T of the result matches mu. Measured: median
    1.4e-7, max 1.3e-5. The error is the float32 rounding of mu amplified by
    the conditioning of cov_TT, not the solver: the same float32 mu solved
    with the model in float64 has errors of the same order (6e-6), and the
    all-float64 round trip is exact to ~1e-13.
    """
    eta = jnp.concatenate([random_eta(150, 2.0), random_eta(150, 10.0, seed=2)])

    @nnx.jit
    def round_trip(m, e):
        mu = jax.vmap(m.mu_T)(e)
        back = jax.vmap(m.eta_from_mu)(mu)
        return mu, back, jax.vmap(m.mu_T)(back)

    mu, back, mu_back = round_trip(model, eta)
    err = np.abs(np.asarray(back - eta)) / np.maximum(np.abs(eta), NORM.eta.scale)
    assert err.max() <= 1e-4, err.max()
    mu_err = np.abs(np.asarray(mu_back - mu)) / np.maximum(np.abs(mu), NORM.mu.scale)
    assert mu_err.max() <= 1e-4, mu_err.max()


def test_eta_from_mu_solves_for_sharp_parameters_far_out():
    """Against mu itself: mu_T(eta_from_mu(mu)) = mu to 1e-4 of max(|mu_i|, mu_scale_i).

    A sharply curved model (noise 5 times each parameter's scale) at 200
    points 30 standard deviations out, where the Hessian of the ICNN does not
    describe its gradient and full Newton steps overshoot; compared in mu,
    which the ill-conditioning of eta (condition numbers up to 7e3) does not
    blur. Measured: max 1.7e-5; with damping_levels=1 (plain Newton, no
    damped candidates), 136 of the 200 points are off, by up to 18.
    """
    model = perturbed_model(seed=3, noise=5.0)
    eta = random_eta(200, 30.0, seed=7)

    @nnx.jit
    def residual(m, e):
        mu = jax.vmap(m.mu_T)(e)
        return mu, jax.vmap(m.mu_T)(jax.vmap(m.eta_from_mu)(mu))

    mu, mu_back = residual(model, eta)
    err = np.abs(np.asarray(mu_back - mu)) / np.maximum(np.abs(mu), NORM.mu.scale)
    assert err.max() <= 1e-4, err.max()


def test_batched_inverse_agrees_with_eta_from_mu_and_sets_slow_rows_apart():
    """Against eta_from_mu row by row, and against mu itself: the batched ``inverse``.

    The sharply curved model of the test above, anchors from 64 eta near the
    data: 150 mu near the data (converged after the steps every row takes)
    and 50 at 30 standard deviations, left to the groups of slow rows: 200 /
    SLOW_SHARE = 6 rows per group of further damped steps, so they pass through
    several, then the safeguarded iterations (MIN_SAFEGUARDED_GROUP rows at a
    time). Both solve the same convex problem: near the data they agree in eta
    to the float32 limit of ``test_eta_from_mu_inverts_mu_T``; far out eta is ill-conditioned
    (measured: 1.5e-4 apart), so there, as in the test above, mu_T of the
    answers is compared with mu, to 1e-4.
    """
    model = perturbed_model(seed=3, noise=5.0)
    eta = jnp.concatenate([random_eta(150, 1.0, seed=8), random_eta(50, 30.0, seed=9)])

    @nnx.jit
    def both(m, e):
        mu = jax.vmap(m.mu_T)(e)
        batched = m.inverse(random_eta(64, 1.0, seed=10))(mu)
        return mu, batched, jax.vmap(m.eta_from_mu)(mu), jax.vmap(m.mu_T)(batched)

    mu, batched, one_by_one, mu_back = both(model, eta)
    scale = np.maximum(np.abs(np.asarray(one_by_one[:150])), NORM.eta.scale)
    assert np.max(np.abs(np.asarray(batched[:150] - one_by_one[:150])) / scale) <= 1e-4
    err = np.abs(np.asarray(mu_back - mu)) / np.maximum(np.abs(mu), NORM.mu.scale)
    assert err.max() <= 1e-4, err.max()


def test_eta_from_mu_derivatives_are_implicit(model):
    """Against the inverse function theorem: d eta_from_mu / d mu = cov_TT(eta)^-1.

    Also: gradients with respect to the parameters pass through and are finite.
    """
    eta = NORM.eta.mean + NORM.eta.scale * jnp.array([1.0, -0.5, 2.0])

    @nnx.jit
    def check(m, e):
        mu = m.mu_T(e)
        grads = nnx.grad(lambda m: jnp.sum(m.eta_from_mu(mu) ** 2))(m)
        return jax.jacrev(m.eta_from_mu)(mu) @ m.cov_TT(e), grads

    jac_times_cov, grads = check(model, eta)
    np.testing.assert_allclose(jac_times_cov, np.eye(K), atol=1e-4)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["quadratic"].get_value()).max()) > 0


def test_eta_from_mu_parameter_derivatives_match_finite_differences_in_float64(model):
    """Against central differences (step 1e-6) of w . eta_from_mu(mu) along a random
    direction of every parameter, all in float64, mu fixed: the implicit-function
    derivative in the parameters (``inverse.at_minimiser``) to 1e-6 relative.

    The solver reaches round-off in float64, so the differences see the exact
    minimiser; truncation h^2 ~ 1e-12 and round-off eps / h ~ 1e-10 are far below.
    """
    with jax.enable_x64(True):
        m64 = nnx.clone(model)
        nnx.update(m64, jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), nnx.state(m64)))
        graphdef, params, rest = nnx.split(m64, nnx.Param, ...)
        eta = NORM.eta.mean + NORM.eta.scale * jnp.array([1.0, -0.5, 2.0])
        mu = m64.mu_T(jnp.asarray(eta, jnp.float64))
        w = jnp.array([0.3, -1.2, 0.7], jnp.float64)
        leaves, treedef = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.key(5), len(leaves))
        steps = [jax.random.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves, strict=True)]
        direction = jax.tree.unflatten(treedef, steps)
        h = 1e-6

        @jax.jit
        def derivatives(p):
            value = lambda p: w @ nnx.merge(graphdef, p, rest).eta_from_mu(mu)  # noqa: E731
            moved = lambda t: jax.tree.map(lambda a, d: a + t * d, p, direction)  # noqa: E731
            pairs = zip(jax.tree.leaves(jax.grad(value)(p)), steps, strict=True)
            analytic = sum(jnp.vdot(g, d) for g, d in pairs)
            return analytic, (value(moved(h)) - value(moved(-h))) / (2 * h)

        analytic, finite = derivatives(params)
        assert abs(float(finite)) > 1e-3  # the direction moves eta
        np.testing.assert_allclose(float(analytic), float(finite), rtol=1e-6)


def test_log_partition_is_convex_along_random_lines(model):
    """Against the midpoint inequality A((a+b)/2) <= (A(a) + A(b)) / 2, indeed with the
    strong-convexity margin c/8 |x_a - x_b|^2, less float32 round-off of the A values.

    500 random pairs, up to 30 standard deviations out.
    """
    a = jnp.concatenate([random_eta(250, 3.0, seed=3), random_eta(250, 30.0, seed=4)])
    b = jnp.concatenate([random_eta(250, 3.0, seed=5), random_eta(250, 30.0, seed=6)])
    A = jax.jit(jax.vmap(model.log_partition))
    A_a, A_b, A_mid = (np.asarray(v, np.float64) for v in (A(a), A(b), A((a + b) / 2)))
    gap = (A_a + A_b) / 2 - A_mid
    dx = np.asarray(NORM.congruent_scale * (a - b), np.float64)
    margin = model.options.strong_convexity / 8 * np.sum(dx**2, axis=1)
    roundoff = 4 * np.finfo(np.float32).eps * (np.abs(A_a) + np.abs(A_b) + np.abs(A_mid))
    assert np.all(gap >= margin - roundoff), (gap - margin + roundoff).min()
