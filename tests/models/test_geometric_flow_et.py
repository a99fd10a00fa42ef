"""geometric_flow_et: exact at the reference, PSD covariance, and the quadrature of the flow.

Every test randomises all parameters away from their initialisation (where L
is nearly the identity and the flow is nearly linear), so the checks are not
trivially met.
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
NOISE = 0.3


def perturbed_model(seed=0, **options):
    """The model with noise on every Param (see tests.models.perturb)."""
    return perturb.perturbed_model("geometric_flow_et", K, NORM, NOISE, seed, **options)


@pytest.fixture(scope="module")
def model():
    return perturbed_model()


def random_eta(n, spread, seed=1):
    return NORM.eta.mean + spread * NORM.eta.scale * jax.random.normal(jax.random.key(seed), (n, K))


def test_registered_with_its_options():
    cls = get_model("geometric_flow_et")
    assert cls.__name__ == "GeometricFlowET"
    assert cls.provides == ("cov_TT",) and cls.training_defaults["jacobian_weight"] == 1.0
    with pytest.raises(ValueError, match="activation"):
        cls(K, NORM, rngs=nnx.Rngs(0), activation="no_such_function")


def test_mu_at_reference_is_the_learned_mu0_exactly(model):
    """Against the parameter mu0: at eta0 = eta_mean the integral vanishes (d = 0)."""
    mu0 = np.asarray(model.mu0.get_value())
    assert not np.allclose(mu0, NORM.mu.mean)  # really perturbed
    mu = nnx.jit(lambda m, e: m.mu_T(e))(model, NORM.eta.mean)
    np.testing.assert_array_equal(np.asarray(mu), mu0)


def test_jacobian_at_reference_equals_cov(model):
    """Against cov_TT(eta0): d mu / d eta at d = 0 is sum_i q_i Sigma(eta0) = Sigma(eta0)."""
    J, S = jax.jit(lambda e: (jax.jacfwd(model.mu_T)(e), model.cov_TT(e)))(NORM.eta.mean)
    np.testing.assert_allclose(J, S, rtol=1e-5, atol=1e-5 * float(jnp.abs(S).max()))


def test_cov_is_symmetric_positive_definite_everywhere(model):
    """Against the construction: Sigma exactly symmetric, eigenvalues >= eps * min(w)^2.

    400 points, up to 30 standard deviations from the data mean.
    """
    eta = jnp.concatenate([random_eta(200, 3.0), random_eta(200, 30.0, seed=2)])
    S = np.asarray(jax.jit(jax.vmap(model.cov_TT))(eta))
    np.testing.assert_array_equal(S, np.swapaxes(S, 1, 2))
    eig = np.linalg.eigvalsh(S.astype(np.float64))
    floor = model.options.eps * float(jnp.min(NORM.congruent_scale) ** 2)
    # float32 round-off on entries of size |S| moves eigenvalues by about 1e-6 |S|.
    roundoff = 1e-6 * np.abs(eig).max(axis=1)
    assert np.all(eig[:, 0] >= floor - roundoff), eig[:, 0].min()


def test_cholesky_factor_and_sigma_times_d_agree_with_sigma(model):
    """L against the network's outputs placed by hand (row-major lower triangle, softplus on
    the diagonal: the order saved parameters depend on); cov_TT_times(eta, d), which mu_T
    integrates without forming Sigma, against cov_TT(eta) @ d (float32 round-off)."""
    eta, d = random_eta(32, 3.0), random_eta(32, 3.0, seed=3) - NORM.eta.mean
    L = np.asarray(jax.jit(jax.vmap(model.cholesky_factor))(eta), np.float64)
    h = model.options.input_gain * model.layers[0](NORM.standardize_eta(eta))
    for layer in model.layers[1:]:
        h = layer(jax.nn.swish(h))
    h = np.asarray(h, np.float64)
    rows, cols = np.tril_indices(K)
    expected = np.zeros((len(eta), K, K))
    expected[:, rows, cols] = np.where(rows == cols, np.logaddexp(0.0, h + np.log(np.e - 1)), h)
    np.testing.assert_allclose(L, expected, rtol=1e-5, atol=1e-6)
    times, full = jax.jit(
        lambda e, v: (
            jax.vmap(model.cov_TT_times)(e, v),
            jnp.einsum("nij,nj->ni", jax.vmap(model.cov_TT)(e), v),
        )
    )(eta, d)
    np.testing.assert_allclose(times, full, rtol=1e-5, atol=1e-5 * float(jnp.abs(full).max()))


def test_constant_sigma_gives_the_closed_form(model):
    """Against mu0 + Sigma (eta - eta0) when Sigma does not depend on eta.

    Zeroing the first layer's kernel makes the MLP input-independent, so
    Sigma is constant and the quadrature is exact (up to float32 round-off).
    """
    model = nnx.clone(model)
    first = model.layers[0].kernel
    first.set_value(jnp.zeros_like(first.get_value()))
    eta = random_eta(64, 5.0)
    mu, S = jax.jit(lambda e: (jax.vmap(model.mu_T)(e), model.cov_TT(NORM.eta.mean)))(eta)
    expected = model.mu0.get_value() + (eta - NORM.eta.mean) @ S.T
    np.testing.assert_allclose(mu, expected, rtol=1e-5, atol=1e-5 * float(jnp.abs(expected).max()))


def test_gauss_legendre_matches_fine_trapezoid_of_the_same_integrand(model):
    """Against a 4001-point trapezoid rule (float64 sums) of t -> Sigma(eta0 + t d) d.

    Trapezoid error is h^2/12 max|f''|, negligible at h = 1/4000. With 32
    nodes (same parameters) the rule must agree to float32 level, 2e-6 of the
    integrand's size; the default 8 nodes to 1e-5 (measured: up to 3e-7 at
    these 8 points up to 3 standard deviations out; 4e-5 at 10).
    """
    t = np.linspace(0.0, 1.0, 4001)
    fine = perturbed_model(num_quadrature_nodes=32)

    @jax.jit
    def flows_and_integrand(e):
        d = e - NORM.eta.mean
        f = jax.vmap(lambda s: model.cov_TT(NORM.eta.mean + s * d) @ d)(jnp.asarray(t))
        mu0 = model.mu0.get_value()
        return model.mu_T(e) - mu0, fine.mu_T(e) - mu0, f

    for e in random_eta(8, 3.0):
        flow8, flow32, f = (np.asarray(a, np.float64) for a in flows_and_integrand(e))
        reference = np.trapezoid(f, t, axis=0)
        size = np.abs(f).max()
        np.testing.assert_allclose(flow32, reference, rtol=0, atol=2e-6 * size)
        np.testing.assert_allclose(flow8, reference, rtol=0, atol=1e-5 * size)


def test_jit_vmap_grad(model):
    """mu_T and cov_TT batched; parameter gradients finite and reaching the first layer."""
    eta = random_eta(5, 2.0)
    mu = nnx.jit(lambda m, e: jax.vmap(m.mu_T)(e))(model, eta)
    assert mu.shape == (5, K) and mu.dtype == jnp.float32
    loss = lambda m: jnp.sum(jax.vmap(m.mu_T)(eta) ** 2) + jnp.sum(jax.vmap(m.cov_TT)(eta) ** 2)
    grads = nnx.jit(nnx.grad(loss))(model)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert float(jnp.abs(grads["layers"][0]["kernel"].get_value()).max()) > 0
