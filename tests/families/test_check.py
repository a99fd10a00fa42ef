"""The family contract, checked once when a family is built (README: Defining a family)."""

import re
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.errors import FamilyError
from nnef_dists.families import ExponentialFamily, Sphere
from nnef_dists.sampling import SamplingConfig, generate
from tests.families.user_family import GammaJnp, GammaNumpy

ETA = np.array([[0.5, -1.0], [2.0, -3.0], [-0.5, -0.2]])


@pytest.mark.parametrize("method", ["hmc", "quadrature"])
def test_jnp_and_numpy_bounds_generate_identical_data(method):
    """Against the same family written with NumPy bounds: the same arrays, bit for bit."""
    config = SamplingConfig(method=method, num_samples=100, num_warmup=50, num_chains=2)
    key = jax.random.key(0)
    with_np = generate(GammaNumpy(), ETA, config, key)
    with_jnp = generate(GammaJnp(), ETA, config, key)
    for name, value in with_np.items():
        np.testing.assert_array_equal(with_jnp[name], value, err_msg=name)
    assert GammaJnp().domain.lower.dtype == np.float64  # NumPy, whatever the member returned


@dataclass(frozen=True)
class Broken(ExponentialFamily):
    """A family whose members can be broken one at a time (``fault``)."""

    fault: str = ""
    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"t": (2,)} if self.fault == "shape" else {"t": (1,)}

    def _compute_stats(self, x):
        if self.fault == "names":
            return {"s": x}
        if self.fault == "finite":
            return {"t": jnp.log(x - 10.0)}  # NaN on most of the line
        return {"t": x}

    def x_bounds(self):
        if self.fault == "bounds":
            return np.ones(self.x_shape), np.zeros(self.x_shape)
        return np.full(self.x_shape, -np.inf), np.full(self.x_shape, np.inf)

    def log_base_measure(self, x):
        return -0.5 * jnp.sum(x**2) if self.fault != "base" else x  # shape (1,), not scalar

    def eta_bounds(self):
        return {"u": (0.0, 1.0)} if self.fault == "eta" else {}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("shape", "_compute_stats: t has shape (1,), stat_shapes says (2,)"),
        ("names", "_compute_stats: returned ['s'], stat_shapes has ['t']"),
        ("finite", "_compute_stats: t is not finite at x ="),
        ("bounds", "x_bounds: Box domain needs lower < upper"),
        ("base", "log_base_measure: expected a finite scalar"),
        ("eta", "eta_bounds: 'u' is not a statistic of stat_shapes"),
    ],
)
def test_a_broken_member_is_named_when_the_family_is_built(fault, message):
    where = "family tests.families.test_check:Broken: "
    with pytest.raises(FamilyError, match=re.escape(where + message)):
        Broken(fault=fault)
    Broken()  # the unbroken family builds


def test_domain_must_match_x_shape():
    @dataclass(frozen=True)
    class OnTheCircle(ExponentialFamily):
        x_shape: tuple = (3,)
        domain = Sphere(2)
        stat_shapes = {"x": (2,)}

        def _compute_stats(self, x):
            return {"x": x[:2]}

    with pytest.raises(FamilyError, match=r"domain: x has shape \(2,\), x_shape says \(3,\)"):
        OnTheCircle()
