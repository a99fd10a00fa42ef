"""Eta grids: valid points only, never clipped, deterministic, ranges checked against the family."""

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.errors import ConfigError
from nnef_dists.families import ExponentialFamily, get_family
from nnef_dists.sampling import GridConfig
from nnef_dists.sampling.grid import make_eta_grid

GAMMA = get_family("gamma")
GAMMA_RANGE = {"log_x": [-0.5, 4.0], "x": [-5.0, -0.1]}
KEY = jax.random.PRNGKey(0)
F32_TOL = 1e-6  # float32 rounding at the ends of a range


@dataclass(frozen=True)
class Tiny(ExponentialFamily):
    """T(x) = (x0, x1, x0 x1) with a non-box natural space and a reparametrisation.

    Stored eta = raw eta with v[1] negated; valid where v[0] + v[1] < 0 and w < 0.
    """

    x_shape: tuple = (2,)

    @cached_property
    def stat_shapes(self):
        return {"v": (2,), "w": (1,)}

    def _compute_stats(self, x):
        return {"v": x, "w": x[:1] * x[1:]}

    def eta_bounds(self):
        return {"w": (-np.inf, 0.0)}

    def in_natural_space(self, eta):
        return super().in_natural_space(eta) & (eta[..., 0] + eta[..., 1] < 0)

    def reparam_eta(self, eta):
        return eta * jnp.array([1.0, -1.0, 1.0])


def grid(eta_range=GAMMA_RANGE, num_points=500, spread="uniform"):
    return GridConfig(num_points=num_points, eta_range=eta_range, spread=spread)


def assert_within(values, lo, hi):
    scale = np.maximum(abs(lo), abs(hi))
    assert np.all(values >= lo - F32_TOL * scale) and np.all(values <= hi + F32_TOL * scale)


@pytest.mark.parametrize("spread", ["uniform", "log"])
def test_shapes_valid_and_inside_ranges(spread):
    result = make_eta_grid(
        GAMMA, grid(spread=spread, eta_range={"log_x": [0.1, 4.0], "x": [-5.0, -0.1]}), KEY
    )
    assert result.eta.shape == (500, 2) and result.eta.dtype == np.float32
    assert np.all(GAMMA.in_natural_space(result.eta))
    assert_within(result.eta[:, 0], 0.1, 4.0)
    assert_within(result.eta[:, 1], -5.0, -0.1)
    assert (result.num_rejected, result.num_drawn) == (0, 500)


def test_log_spread_is_log_uniform():
    eta = make_eta_grid(
        GAMMA, grid({"log_x": [0.01, 100.0], "x": [-100.0, -0.01]}, 4000, "log"), KEY
    ).eta
    log_abs = np.log10(np.abs(eta))  # uniform on [-2, 2] in both columns
    np.testing.assert_allclose(log_abs.mean(axis=0), 0.0, atol=4 * np.sqrt(4 / 3 / 4000))
    np.testing.assert_allclose(np.mean(log_abs < -1, axis=0), 0.25, atol=4 * np.sqrt(3 / 16 / 4000))


def test_same_key_same_grid_bit_for_bit():
    ranges = {"log_x": [-2.0, 1.0], "x": [-5.0, -0.1]}
    first, again = (make_eta_grid(GAMMA, grid(ranges), KEY) for _ in range(2))
    assert np.array_equal(first.eta, again.eta) and first.num_drawn == again.num_drawn
    other = make_eta_grid(GAMMA, grid(ranges), jax.random.PRNGKey(1))
    assert not np.array_equal(first.eta, other.eta)


def test_rejections_counted_never_clipped():
    # log_x in [-2, 1] is valid only above -1: a third of the raw draws are rejected.
    n = 20_000  # more than one round of draws
    result = make_eta_grid(GAMMA, grid({"log_x": [-2.0, 1.0], "x": [-5.0, -0.1]}, n), KEY)
    assert result.num_drawn == n + result.num_rejected
    p, drawn = 1 / 3, result.num_drawn
    assert abs(result.num_rejected - p * drawn) < 4 * np.sqrt(drawn * p * (1 - p))
    log_x = result.eta[:, 0]
    assert log_x.min() > -1.0 and log_x.min() < -0.99  # rejected, not moved onto the bound
    assert abs(np.mean(log_x < 0) - 0.5) < 4 * np.sqrt(0.25 / n)  # uniform on (-1, 1)


def test_per_entry_ranges_reparam_and_non_box_constraint():
    # raw v[1] in [-1, 1] is negated, so half the points break v[0] + v[1] < 0.
    ranges = {"v": [[-1.0, 1.0], [-1.0, 1.0]], "w": [-3.0, -2.0]}
    result = make_eta_grid(Tiny(), grid(ranges, 2000), KEY)
    eta = result.eta
    assert eta.shape == (2000, 3) and np.all(eta[:, 0] + eta[:, 1] < 0)
    assert_within(eta[:, 2], -3.0, -2.0)
    p, drawn = 0.5, result.num_drawn
    assert abs(result.num_rejected - p * drawn) < 4 * np.sqrt(drawn * p * (1 - p))

    ranges = {"v": [[-1.0, 0.0], [5.0, 6.0]], "w": [-3.0, -2.0]}
    eta = make_eta_grid(Tiny(), grid(ranges), KEY).eta
    assert_within(eta[:, 0], -1.0, 0.0)
    assert_within(eta[:, 1], -6.0, -5.0)  # reparam_eta applied


@pytest.mark.parametrize(
    ("family", "eta_range", "spread", "message"),
    [
        (
            GAMMA,
            {**GAMMA_RANGE, "log": [0, 1]},
            "uniform",
            "grid.eta_range.log: gamma has no such statistic; did you mean log_x?",
        ),
        (
            GAMMA,
            {"log_x": [0.0, 1.0]},
            "uniform",
            "grid.eta_range.x: missing range for statistic x",
        ),
        (
            GAMMA,
            {"log_x": [0.0, 1.0], "x": [0.1, 5.0]},
            "uniform",
            "grid.eta_range.x: [0.1, 5.0] lies outside the natural parameter space of gamma"
            " (x < 0)",
        ),
        (
            GAMMA,
            {"log_x": [-3, -1], "x": [-1, -0.5]},
            "uniform",
            "grid.eta_range.log_x: [-3.0, -1.0] lies outside the natural parameter space of"
            " gamma (log_x > -1)",
        ),
        (
            GAMMA,
            {**GAMMA_RANGE, "x": [-1.0, -2.0]},
            "uniform",
            "grid.eta_range.x: lo must be below hi, got [-1.0, -2.0]",
        ),
        (
            GAMMA,
            {**GAMMA_RANGE, "x": [-np.inf, -2.0]},
            "uniform",
            "grid.eta_range.x: bounds must be finite",
        ),
        (
            GAMMA,
            {**GAMMA_RANGE, "x": [-1.0]},
            "uniform",
            "grid.eta_range.x: expected [lo, hi] or a list of 1 [lo, hi] pairs",
        ),
        (GAMMA, {**GAMMA_RANGE, "x": "wide"}, "uniform", "grid.eta_range.x: expected [lo, hi]"),
        (
            GAMMA,
            {**GAMMA_RANGE, "x": [[-2, -1], [-2, -1]]},
            "uniform",
            "grid.eta_range.x: 2 ranges given for 1 entries",
        ),
        (
            Tiny(),
            {"v": [[-1, 0], [0, 1, 2]], "w": [-2, -1]},
            "uniform",
            "grid.eta_range.v[1]: expected [lo, hi], got [0, 1, 2]",
        ),
        (
            Tiny(),
            {"v": [[-1, 0], [1, 0]], "w": [-2, -1]},
            "uniform",
            "grid.eta_range.v[1]: lo must be below hi",
        ),
        (
            GAMMA,
            {"log_x": [-0.5, 1.0], "x": [-5.0, -0.1]},
            "log",
            "grid.eta_range.log_x: spread 'log' needs lo and hi nonzero and of the same sign",
        ),
        (
            GAMMA,
            {"log_x": [0.0, 1.0], "x": [-5.0, -0.1]},
            "log",
            "spread 'log' needs lo and hi nonzero",
        ),
    ],
)
def test_bad_ranges_name_the_field(family, eta_range, spread, message):
    with pytest.raises(ConfigError) as info:
        make_eta_grid(family, grid(eta_range, spread=spread), KEY)
    assert message in str(info.value)


def test_hopeless_ranges_name_the_constraint():
    with pytest.raises(
        ConfigError, match=r"only \d+ of 10000 points .* gamma \(log_x > -1, x < 0\)"
    ):
        make_eta_grid(GAMMA, grid({"log_x": [-1000.0, -0.5], "x": [-5.0, -0.1]}), KEY)
    with pytest.raises(ConfigError, match=r"only 0 of .*\(w < 0, see Tiny.in_natural_space\)"):
        make_eta_grid(Tiny(), grid({"v": [[1, 2], [-2, -1]], "w": [-2, -1]}), KEY)
