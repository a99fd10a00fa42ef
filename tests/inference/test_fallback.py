"""A network provider answers inside its training domain, its fallback outside (README: CAVI)."""

import jax
import numpy as np
import pytest

from nnef_dists.errors import ConfigError
from nnef_dists.families import get_family
from nnef_dists.inference import cavi, providers
from nnef_dists.inference import examples as ex
from nnef_dists.inference.networks import train_network
from nnef_dists.models import load_model

GAUSSIAN, GAMMA = get_family("gaussian_1d"), get_family("gamma")
PROBLEM = ex.normal_gamma(ex.simulate_data(8, 0.5, 2.0, 0), 0.0, 1.0, 2.0, 1.0)


@pytest.fixture(scope="module")
def exact_cavi():
    with jax.enable_x64(True):
        return cavi(
            PROBLEM.model,
            providers.exact(GAUSSIAN),
            providers.exact(GAMMA),
            PROBLEM.eta_x0,
            PROBLEM.eta_y0,
            tol=1e-12,
            max_iter=100,
        )


@pytest.fixture(scope="module")
def gamma_net(tmp_path_factory, exact_cavi):
    """mlp_et on quadrature data in a box of +-5% around the fixed point of q(tau)."""
    star = np.asarray(exact_cavi.eta_y)
    folder = tmp_path_factory.mktemp("net") / "gamma"
    train_network(
        GAMMA,
        star - 0.05 * np.abs(star),
        star + 0.05 * np.abs(star),
        folder,
        num_points=512,
        epochs=300,
    )
    return folder


def test_inside_the_network_outside_the_fallback(gamma_net):
    model, guarded = load_model(gamma_net), providers.network(gamma_net, fallback="exact")
    inside = np.asarray(model.domain.points[0], np.float32)
    outside = np.asarray(PROBLEM.eta_y0, np.float32)  # the start of CAVI: outside the box
    assert bool(model.in_domain(inside)) and not bool(model.in_domain(outside))
    np.testing.assert_array_equal(guarded.mu_T(inside, None), model.mu_T(inside))
    exact = providers.exact(GAMMA).mu_T(outside, None)
    np.testing.assert_array_equal(guarded.mu_T(outside, None), exact)
    assert providers.network(gamma_net, fallback="mc").needs_key
    with pytest.raises(ConfigError, match="fallback must be exact, mc or a Provider"):
        providers.network(gamma_net, fallback="quadrature")


def test_cavi_started_outside_the_domain_matches_the_exact_cavi(gamma_net, exact_cavi):
    """Against CAVI with exact providers in float64: the posterior means and variances
    of mu and tau agree to 1e-4 relative; the iterates outside the domain were answered
    by the fallback (counted), those inside by the network."""
    guarded = providers.network(gamma_net, fallback="exact")
    res = cavi(
        PROBLEM.model,
        providers.exact(GAUSSIAN),
        guarded,
        PROBLEM.eta_x0,
        PROBLEM.eta_y0,
        tol=1e-6,
        max_iter=100,
    )
    assert bool(res.converged)
    assert res.fallbacks.tolist() == res.out_of_range.tolist() and int(res.fallbacks[1]) >= 1
    assert int(res.out_of_range[1]) < int(res.num_iter) + 1  # the network answered too
    for family, index, got, want in [
        (GAUSSIAN, 0, res.eta_x, exact_cavi.eta_x),
        (GAMMA, 1, res.eta_y, exact_cavi.eta_y),
    ]:
        got, want = ex.summary(family, got, index), ex.summary(family, want, index)
        np.testing.assert_allclose(got, want, rtol=1e-4)
