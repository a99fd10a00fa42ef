"""feature_noise="auto": levels drawn per row and given to the flow as a column, the
validation loss the least over levels, the level of least validation NLL kept."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.errors import ConfigError
from nnef_dists.flows import ConditionalDensityEstimator, FlowConfig, fitting, transport
from nnef_dists.flows import feature_noise as noise


def test_levels_are_zero_or_log_uniform():
    """200,000 draws: the share of zeros is ZERO_SHARE and the log of the others is uniform
    on [log LOWEST, log HIGHEST] (mean and the share below the middle), each within 4
    standard errors of a Bernoulli or uniform mean."""
    n = 200_000
    levels = np.asarray(noise.draw_levels(jax.random.key(0), n))[:, 0]
    zero = levels == 0
    share = noise.ZERO_SHARE
    assert abs(zero.mean() - share) < 4 * np.sqrt(share * (1 - share) / n)
    logs = np.log(levels[~zero])
    low, high = np.log(noise.LOWEST), np.log(noise.HIGHEST)
    assert low - 1e-6 <= logs.min() and logs.max() <= high + 1e-6
    width = high - low
    assert abs(logs.mean() - (low + high) / 2) < 4 * width / np.sqrt(12 * len(logs))
    assert abs(np.mean(logs < (low + high) / 2) - 0.5) < 4 * 0.5 / np.sqrt(len(logs))


def test_each_training_row_is_jittered_at_its_own_level():
    """conditioned_rows: the last column is the row's level; a row at level 0 is unchanged,
    and the jitter over the level is standard normal (mean 0, std 1 over 40,000 values)."""
    x = jnp.asarray(np.random.default_rng(1).standard_normal((20_000, 2)), jnp.float32)
    out = np.asarray(noise.conditioned_rows(x, jax.random.key(2)))
    assert out.shape == (20_000, 3)
    levels = out[:, 2:]
    zero = levels[:, 0] == 0
    np.testing.assert_array_equal(out[zero, :2], np.asarray(x)[zero])
    z = (out[~zero, :2] - np.asarray(x)[~zero]) / levels[~zero]
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1) < 0.02


def _sharp(n, seed=0):
    """theta = 2 x + 1 + N(0, 0.2^2), x uniform on [-2, 2]: noise on x widens it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 1))
    return x, 2 * x + 1 + 0.2 * rng.standard_normal((n, 1))


@pytest.fixture(scope="module")
def sharp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharp")
    return _fit_sharp(folder / "checkpoint"), folder


def _fit_sharp(checkpoint, resume=False):
    est = ConditionalDensityEstimator("maf", hidden=16, blocks=2)  # feature_noise "auto"
    est.fit(
        *_sharp(1500),
        epochs=60,
        lr=5e-3,
        batch_size=50,
        progress=False,
        checkpoint_path=checkpoint,
        resume=resume,
    )
    return est


def test_the_validation_loss_is_the_least_over_levels(sharp):
    """Without a key, the training loss of an "auto" flow is the least over
    VALIDATION_LEVELS of the NLL with the level column set (each computed here)."""
    est = sharp[0]
    x, theta = _sharp(200, seed=1)
    y, c = (jnp.asarray(v, jnp.float32) for v in (theta, x))
    flow = est.flow_module
    by_hand = min(
        float(-flow.log_prob(y, noise.with_level(c, level)).mean())
        for level in noise.VALIDATION_LEVELS
    )
    np.testing.assert_allclose(
        fitting.training_loss("nll", "auto", est.noise_level)(flow, (y, c), None),
        by_hand,
        rtol=1e-5,
    )


def test_auto_keeps_a_sharp_conditional_sharp_and_round_trips(sharp, tmp_path):
    """On theta = 2 x + 1 + N(0, 0.2^2) a fixed noise of 0.1 would widen the conditional
    std to 0.33 (one fit, measured); "auto" keeps a level of at most 0.1, chosen as the
    least validation NLL of CHOICES (0 here), and the fitted std at x = -1, 0, 1 is 0.2
    within 15% (0.20, 0.20, 0.18 measured, as a fit without noise).
    Saving and loading keep the level and every answer; resuming the finished run from
    its checkpoint gives the same parameters."""
    est, folder = sharp
    tried = est.fit_settings["feature_noise_validation"]
    assert list(tried) == list(noise.CHOICES)
    assert est.noise_level == min(tried, key=tried.get) <= 0.1
    assert tried[est.noise_level] <= est.history.best_val + 1e-4
    probes = np.array([[-1.0], [0.0], [1.0]])
    stats = est.stats(jax.random.key(1), probes, n=4000)
    np.testing.assert_allclose(stats["std"][:, 0], 0.2, rtol=0.15)
    np.testing.assert_array_less(np.abs(stats["mean"] - (2 * probes + 1)), 0.05)
    loaded = ConditionalDensityEstimator.load(est.save(tmp_path / "m"))
    assert loaded.noise_level == est.noise_level and loaded.context_dim == 2
    assert loaded.fit_settings["feature_noise_validation"] == tried
    x, theta = _sharp(50, seed=2)
    np.testing.assert_array_equal(loaded.log_prob(theta, x), est.log_prob(theta, x))
    resumed = _fit_sharp(folder / "checkpoint", resume=True)
    assert resumed.noise_level == est.noise_level
    np.testing.assert_array_equal(resumed.log_prob(theta, x), est.log_prob(theta, x))


def test_auto_regularises_few_rows_with_many_features():
    """300 rows, 20 features of which 2 matter (theta = x0 + 0.5 x1^2 + N(0, 0.3^2)):
    without noise the flow overfits (test NLL 1.60 measured) and "auto" picks a level
    above 0 and does better on 1000 held-out rows (1.08), by more than 0.2 nats here."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1300, 20))
    theta = x[:, :1] + 0.5 * x[:, 1:2] ** 2 + 0.3 * rng.standard_normal((1300, 1))
    nll = {}
    for setting in (0.0, "auto"):
        est = ConditionalDensityEstimator("maf", hidden=32, blocks=2, feature_noise=setting)
        est.fit(x[:300], theta[:300], epochs=100, lr=3e-3, batch_size=32, progress=False)
        nll[setting] = -est.log_prob(theta[300:], x[300:]).mean()
    assert est.noise_level > 0
    assert nll["auto"] < nll[0.0] - 0.2, nll


@pytest.mark.parametrize(
    "setting, objective, features, level, fitted, expected",
    [
        ("auto", "nll", 3, None, False, 0.0),  # a new flow gets the column
        ("auto", "sinkhorn", 3, None, False, None),  # no NLL to choose by
        ("auto", "nll", 0, None, False, None),  # unconditional
        (0.3, "nll", 3, None, False, None),  # a fixed noise needs no column
        (0.3, "nll", 3, 0.4, True, 0.3),  # a flow with the column goes on at 0.3
        ("auto", "nll", 3, 0.4, True, 0.4),  # ... or chooses again (from 0.4)
        ("auto", "sinkhorn", 3, 0.4, True, 0.4),  # ... or keeps 0.4
        ("auto", "sinkhorn", 3, None, True, None),
    ],
)
def test_the_level_a_fit_starts_with(setting, objective, features, level, fitted, expected):
    assert noise.level_for_fit(setting, objective, features, level, fitted) == expected


def test_auto_cannot_be_given_to_a_fitted_flow_without_the_column():
    with pytest.raises(ConfigError, match="feature_noise 'auto' needs a flow fitted with it"):
        noise.level_for_fit("auto", "nll", 3, None, True)


def test_a_flow_with_the_column_trains_at_its_level_unless_choosing():
    """A fixed setting s on a flow with the level column: features jittered by s N(0, 1)
    drawn from the key, the column at s (computed here by hand). Under the sinkhorn
    objective "auto" adds no noise and keeps the column at the flow's level."""
    flow = FlowConfig("maf", hidden=8, blocks=2).build(1, 2)
    rng = np.random.default_rng(3)
    y, x = (jnp.asarray(rng.standard_normal((64, 1)), jnp.float32) for _ in range(2))
    key = jax.random.key(4)
    by_hand = -flow.log_prob(y, noise.with_level(x + 0.25 * jax.random.normal(key, x.shape), 0.25))
    loss = fitting.training_loss("nll", 0.25, 0.25)
    np.testing.assert_allclose(loss(flow, (y, x), key), by_hand.mean(), rtol=1e-6)
    pytest.importorskip("ott")
    sinkhorn = fitting.training_loss("sinkhorn", "auto", 0.4)
    expected = transport.joint_loss(flow, y, noise.with_level(x, 0.4), jax.random.split(key)[1])
    np.testing.assert_allclose(sinkhorn(flow, (y, x), key), expected, rtol=1e-6)


def test_a_checkpoint_resumes_only_under_its_own_noise_setting(sharp):
    """The setting is part of what names a run: resuming the "auto" run's checkpoint with a
    fixed noise is refused (it would train a flow of another input width)."""
    folder = sharp[1]
    est = ConditionalDensityEstimator("maf", hidden=16, blocks=2, feature_noise=0.1)
    with pytest.raises(ConfigError, match="the checkpoint of another run"):
        est.fit(
            *_sharp(1500),
            epochs=60,
            lr=5e-3,
            batch_size=50,
            progress=False,
            checkpoint_path=folder / "checkpoint",
            resume=True,
        )
