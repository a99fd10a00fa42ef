"""The estimator on a manifold: a conditional von Mises-Fisher on S^2 recovered to within
0.06 nats of its exact test NLL, only Euclidean columns standardised, draws on the
manifold, save/load exact, points off the manifold named."""

import jax
import numpy as np
import pytest

from nnef_dists.errors import ConfigError, DataError
from nnef_dists.flows import ConditionalDensityEstimator


def _conditional_vmf(n, seed):
    """Feature f ~ U(0, 1); params: (2 f - 1 + N(0, 0.1^2), x) with x | f von Mises-Fisher
    on S^2 about the pole, concentration 1 + 9 f. Exact draws: the height t has density
    kappa e^{kappa t} / (2 sinh kappa) (area on S^2 is dt dphi), inverted in closed form.
    Returns features (n, 1), params (n, 4) and the exact log density (n,)."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0, 1, (n, 1))
    kappa = 1 + 9 * f[:, 0]
    u = rng.uniform(size=n)
    t = 1 + np.log(u + (1 - u) * np.exp(-2 * kappa)) / kappa
    phi, r = rng.uniform(-np.pi, np.pi, n), np.sqrt(1 - t**2)
    e = 2 * f[:, 0] - 1 + 0.1 * rng.standard_normal(n)
    params = np.stack([e, r * np.cos(phi), r * np.sin(phi), t], -1)
    log_p = np.log(kappa / (4 * np.pi * np.sinh(kappa))) + kappa * t
    log_p += -0.5 * ((e - 2 * f[:, 0] + 1) / 0.1) ** 2 - np.log(0.1 * np.sqrt(2 * np.pi))
    return f, params, log_p


@pytest.fixture(scope="module")
def fitted():
    est = ConditionalDensityEstimator(manifold="e1+s2", layers="nn+nn", hidden=32)
    est.fit(*_conditional_vmf(4000, 0)[:2], epochs=60, lr=3e-3, batch_size=128, progress=False)
    return est


def test_recovers_a_conditional_von_mises_fisher(fitted):
    f, params, log_p = _conditional_vmf(2000, 1)
    gap = np.mean(log_p) - np.mean(fitted.log_prob(params, f))
    assert -0.02 < gap < 0.06  # a uniform sphere would be about 1 nat worse


def test_only_euclidean_columns_are_standardised_and_draws_lie_on_the_sphere(fitted):
    assert fitted.config.flow == "manifold"
    scaler = fitted.param_scaler
    assert scaler.scale[0] != 1 and scaler.mean[0] != 0
    np.testing.assert_array_equal(scaler.mean[1:], 0.0)
    np.testing.assert_array_equal(scaler.scale[1:], 1.0)
    draws = fitted.sample(jax.random.key(0), np.array([[0.1], [0.9]]), 500)
    assert draws.shape == (2, 500, 4)
    np.testing.assert_allclose(np.linalg.norm(draws[..., 1:], axis=-1), 1.0, atol=1e-5)
    # concentration 1.9 vs 9.1 about the pole: E[t] = coth(kappa) - 1 / kappa
    kappa = np.array([1.9, 9.1])
    np.testing.assert_allclose(draws[..., 3].mean(1), 1 / np.tanh(kappa) - 1 / kappa, atol=0.06)


def test_save_load_is_exact(fitted, tmp_path):
    f, params, _ = _conditional_vmf(20, 2)
    fitted.save(tmp_path / "m")
    loaded = ConditionalDensityEstimator.load(tmp_path / "m")
    assert loaded.config == fitted.config
    np.testing.assert_array_equal(loaded.log_prob(params, f), fitted.log_prob(params, f))
    key = jax.random.key(4)
    np.testing.assert_array_equal(loaded.sample(key, f, 3), fitted.sample(key, f, 3))


def test_bad_points_and_settings_are_named(fitted):
    f, params, _ = _conditional_vmf(5, 3)
    params[2, 1:] = [0.0, 0.0, 0.5]
    with pytest.raises(DataError, match=r"columns 2-4 \(block s2\) must be unit vectors.*row 3"):
        fitted.log_prob(params, f)
    with pytest.raises(DataError, match="must have 4 columns"):
        fitted.log_prob(params[:, :3], f)
    with pytest.raises(ConfigError, match="'s9' is not a block|S\\^1 and S\\^2"):
        ConditionalDensityEstimator(manifold="e1+s9")
    with pytest.raises(ConfigError, match="block s2 cannot take g"):
        ConditionalDensityEstimator(manifold="e1+s2", layers="g+g")


def test_coverage_works_on_the_manifold(fitted):
    """The calibration report maps each block to N(0, I): 1 + 2 dimensions for e1+s2 (not
    the 4 columns); on held-out rows of the truth the radius covers its levels."""
    from nnef_dists.flows.calibration import calibrate

    f, params, _ = _conditional_vmf(600, 4)
    assert fitted.to_normal(params, f).shape == (600, 3)
    cal = calibrate(fitted, f, params, jax.random.key(5), samples=50)
    np.testing.assert_allclose(cal.radius, cal.levels, atol=0.06)  # 600 rows: std <= 0.02


def test_boundary_points_and_chart_standardisation_survive_fit_save_and_load(tmp_path):
    """Interval values within 6e-8 of 1 (valid in float64, 1.0 in float32) and simplex
    components below float32's range are kept inside; the charts' shift and scale, set from
    the training rows, are saved and loaded with the model."""
    rng = np.random.default_rng(0)
    interval = rng.beta(5, 0.2, (400, 1))
    assert np.sum(np.float32(interval) == 1) > 0  # rows float32 cannot keep inside
    simplex = rng.dirichlet([0.05, 1, 2], 400)
    params = np.column_stack([interval, simplex])
    est = ConditionalDensityEstimator(manifold="i1+x2", hidden=8)
    est.fit(None, params, epochs=2, progress=False)
    assert np.all(np.isfinite(est.log_prob(params)))
    chart = est.flow_module.flows[1].layers[0]
    assert (
        np.asarray(chart.scale[...])[0] > 2
    )  # the stick-breaking logit of a Dirichlet 0.05 component
    est.save(tmp_path / "m")
    loaded = ConditionalDensityEstimator.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.log_prob(params), est.log_prob(params))
    draws = loaded.sample(jax.random.key(0), None, 2000)
    assert np.all((draws[:, 0] > 0) & (draws[:, 0] < 1)) and np.all(draws[:, 1:] > 0)
