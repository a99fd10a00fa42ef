"""feature_noise="auto": the search keeps the fit of least validation NLL and stops at
the first candidate that does not improve on it."""

from types import SimpleNamespace

import numpy as np
import pytest
from flax import nnx

from nnef_dists.flows import ConditionalDensityEstimator, noise_search


def test_search_keeps_the_best_candidate_and_stops_after_the_first_worse_one():
    """Scripted validation NLLs: 0.1 and 0.2 improve, 0.4 does not; 0.2 is kept, with the
    module it trained (marked here), and every candidate started from the same weights."""
    scripted = {0.0: 1.0, 0.1: 0.8, 0.2: 0.7, 0.4: 0.9, 0.8: 0.1}
    est = SimpleNamespace(flow_module=nnx.Linear(1, 1, rngs=nnx.Rngs(0)), feature_noise="auto")
    start = np.asarray(est.flow_module.kernel[...])
    labels = []

    def fit_once(label):
        labels.append(label)
        np.testing.assert_array_equal(est.flow_module.kernel[...], start)
        est.flow_module.kernel[...] = est.flow_module.kernel[...] + est.feature_noise
        return SimpleNamespace(best_val=scripted[est.feature_noise])

    tried = noise_search.search(est, fit_once)
    assert tried == {0.0: 1.0, 0.1: 0.8, 0.2: 0.7, 0.4: 0.9}
    assert labels == [f"feature noise {n:g}" for n in (0, 0.1, 0.2, 0.4)]
    assert est.feature_noise == 0.2 and est.history.best_val == 0.7
    np.testing.assert_allclose(est.flow_module.kernel[...], start + 0.2, rtol=1e-6)


def test_auto_keeps_no_noise_on_a_sharp_conditional(tmp_path):
    """theta = 2 x + 1 + N(0, 0.2^2): noise on x widens the fitted conditional (std 0.33 at
    0.1, by tests/flows/test_estimator.py's numbers), so the validation NLL at 0.1 is worse
    than at 0 and the search ends there, keeping 0; the choice and the search are saved."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (1500, 1))
    theta = 2 * x + 1 + 0.2 * rng.standard_normal((1500, 1))
    est = ConditionalDensityEstimator("maf", hidden=16, blocks=2, feature_noise="auto")
    est.fit(x, theta, epochs=30, lr=5e-3, batch_size=50, progress=False)
    tried = est.fit_settings["feature_noise_search"]
    assert list(tried) == [0.0, 0.1] and tried[0.0] < tried[0.1]
    assert est.feature_noise == 0.0 and est.history.best_val == tried[0.0]
    loaded = ConditionalDensityEstimator.load(est.save(tmp_path / "m"))
    assert loaded.feature_noise == 0.0
    assert loaded.fit_settings["feature_noise_search"] == tried
    with pytest.raises(ValueError, match="resume cannot continue a feature_noise='auto'"):
        auto = ConditionalDensityEstimator("maf", hidden=16, blocks=2, feature_noise="auto")
        auto.fit(x, theta, epochs=1, progress=False, resume=True)
