"""Network and Monte Carlo providers inside CAVI."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.families import ExponentialFamily, get_family
from nnef_dists.inference import cavi, providers
from nnef_dists.inference import examples as ex
from nnef_dists.models import load_model
from nnef_dists.models.directory import write_model
from nnef_dists.sampling import SamplingConfig
from tests.inference import untrained_gamma_mlp

GAUSSIAN, GAMMA = get_family("gaussian_1d"), get_family("gamma")


@pytest.fixture(scope="module")
def gamma_model(tmp_path_factory):
    """An untrained mlp_et model directory whose training eta fill [-0.5, 3] x [-4, -0.5]."""
    folder = tmp_path_factory.mktemp("models")
    write_model(folder, *untrained_gamma_mlp())
    return folder


def test_network_provider_flags_extrapolated_iterates(gamma_model):
    provider = providers.network(gamma_model)
    model = load_model(gamma_model)
    lo, hi = model.domain.lo, model.domain.hi
    assert provider.log_partition is None and provider.stat_dim == 2
    assert np.all(lo >= [-0.5, -4.0]) and np.all(hi <= [3.0, -0.5])
    eta = np.array([1.0, -2.0], np.float32)
    np.testing.assert_array_equal(provider.mu_T(eta, None), model.mu_T(eta))

    def run(num_points, a0):  # eta_y = [a0 - 1 + N/2, -b_N]: inside the box for small N and a0
        problem = ex.normal_gamma(ex.simulate_data(num_points, 0.0, 1.0, 0), 0.0, 1.0, a0, 1.0)
        res = cavi(problem.model, providers.exact(GAUSSIAN), provider, problem.eta_x0,
                   problem.eta_y0, tol=1e-5, max_iter=20)  # fmt: skip
        rows = res.trace.eta_y[: int(res.num_iter) + 1]
        outside = np.sum(~np.asarray(model.in_domain(rows)))
        assert int(res.out_of_range[1]) == outside and int(res.out_of_range[0]) == 0
        assert np.all(np.isnan(res.trace.elbo))  # mlp_et has no log-partition
        return res

    far = run(10, 2.0)  # eta_y[0] = 6 > 3 at every iterate
    assert int(far.out_of_range[1]) == int(far.num_iter) + 1 >= 2
    near = run(2, 1.0)  # eta_y[0] = 1
    assert int(near.out_of_range[1]) < int(near.num_iter) + 1


def test_mc_provider_agrees_with_exact_within_its_spread():
    problem = ex.normal_gamma(ex.simulate_data(10, 0.5, 2.0, 0), 0.0, 1.0, 2.0, 1.0)
    sampling = SamplingConfig(num_samples=1000, num_warmup=200, num_chains=4)
    mc = providers.mc(GAMMA, sampling)
    px = providers.exact(GAUSSIAN)
    res = cavi(problem.model, px, mc, problem.eta_x0, problem.eta_y0, tol=0.0, max_iter=7,
               key=jax.random.key(1))  # fmt: skip
    assert int(res.num_iter) == 7 and not res.converged  # MC noise: no exact convergence
    exact = cavi(problem.model, px, providers.exact(GAMMA), problem.eta_x0, problem.eta_y0)
    late = np.asarray(res.trace.eta_x[3:])  # after the start-up transient
    spread = late.std(axis=0, ddof=1)
    assert np.all(spread > 0) and np.all(spread < 0.02 * np.abs(exact.eta_x))
    error = np.abs(late.mean(axis=0) - exact.eta_x)
    assert np.all(error < 4 * spread / np.sqrt(len(late)) + 1e-4 * np.abs(exact.eta_x))


def test_mc_provider_refuses_quadrature():
    with pytest.raises(ValueError, match="hmc or nuts"):
        providers.mc(GAMMA, SamplingConfig(method="quadrature"))


@dataclass(frozen=True)
class Cube(ExponentialFamily):
    """T(x) = x on R^3 with a normal base measure: no closed form given, a 3-D support."""

    x_shape: tuple = (3,)
    stat_shapes = {"x": (3,)}

    def _compute_stats(self, x):
        return {"x": x}

    def log_base_measure(self, x):
        return -0.5 * jnp.sum(x**2)


def test_exact_provider_needs_a_closed_form_or_quadrature():
    with pytest.raises(ValueError, match="no closed form and no quadrature"):
        providers.exact(Cube())
