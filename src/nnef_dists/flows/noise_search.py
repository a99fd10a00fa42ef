"""``feature_noise="auto"``: the feature noise chosen by validation NLL.

Noise regularisation helps a conditional density estimator by an amount that
depends on the data (``FEATURE_NOISE``): the best test NLL of the
cases of benchmarks/cde_peers.py came at 0.1 (Lorenz spectra, a two-mode
mixture) and at 0.8 (8x8 digits). The search fits the candidates of LADDER in
turn, each from the same starting parameters and on the same split, and stops
at the first whose best validation NLL is no better than the best so far: it
costs a few fits (the larger noises also take more epochs to their best).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from flax import nnx

from nnef_dists.errors import ConfigError

#: Default feature_noise: none. Noise regularisation trades bias for variance: it fits
#: p(params | features + noise), so a sharp conditional is widened (y = 2 x + 1 +
#: N(0, 0.2^2): std 0.33 instead of 0.2 at 0.1). Test NLL, seed 0, the cases of
#: benchmarks/cde_peers.py at the C tool's settings: Lorenz 1.20 -> 0.90 at 0.1, 1.88 at 0.3;
#: mixture 1.39 -> 1.34 at 0.1, 1.59 at 0.3; digits -11.32 -> -11.41 at 0.1, -12.17 /
#: -12.53 / -12.40 at 0.5 / 0.8 / 1.2 (accuracy 96.9% -> 98.3% / 98.6% / 96.7%).
FEATURE_NOISE = 0.0
#: The candidate noises, in the order tried (standard deviations, standardised features).
LADDER = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def checked(value) -> float | str:
    """A feature_noise setting: "auto", or a finite float >= 0; else ConfigError naming it."""
    if value == "auto":
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number >= 0):
        raise ConfigError(f"feature_noise must be a finite number >= 0, got {value!r}")
    return number


def search(est, fit_once: Callable[[str], object]) -> dict[float, float]:
    """Fit ``est`` at each noise of LADDER until the validation NLL stops improving.

    Args:
      est: a ConditionalDensityEstimator with its flow_module built (its
        parameters are the start of every candidate).
      fit_once: fit_once(label) fits est.flow_module at est.feature_noise and
        returns its History (label: for the progress bar).

    Returns:
      {noise: best validation NLL} of the candidates tried. ``est`` keeps the
      best candidate's flow_module, history and feature_noise.
    """
    start = nnx.clone(est.flow_module)  # training updates a module's variables in place
    tried, best = {}, None
    for noise in LADDER:
        est.flow_module = nnx.clone(start)
        est.feature_noise = noise
        history = fit_once(f"feature noise {noise:g}")
        tried[noise] = float(history.best_val)
        if best is not None and tried[noise] >= best[1].best_val:
            break
        best = (est.flow_module, history, noise)
    est.flow_module, est.history, est.feature_noise = best
    return tried
