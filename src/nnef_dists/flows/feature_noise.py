"""Feature-noise regularisation of a conditional flow: a fixed amount, or ``"auto"``.

Noise regularisation (Rothfuss et al. 2019, arXiv:1907.08982) fits p(params |
features + noise), noise ~ N(0, s^2 I) drawn afresh for every training
minibatch (standardised features). How much helps depends on the data: test
NLL of the cases of benchmarks/cde_peers.py (seed 0, one fit per s) was best at
s = 0.1 for the Lorenz spectra (1.53 -> 1.02 nats) and a two-mode mixture
(1.39 -> 1.34), at 0.8 for the 8x8 digits (-11.27 -> -12.17), and s = 0.8 costs
Lorenz 2 nats; noise also widens a sharp conditional (y = 2 x + 1 + N(0, 0.2^2):
std 0.33 at s = 0.1).

``"auto"`` (the default) fits one flow for every s at once and chooses s by
validation NLL. The level s becomes one more context column: each training row
draws its own s (0 with probability ZERO_SHARE, else log-uniform on [LOWEST,
HIGHEST]), its features get s * N(0, I) and the column holds s. The validation
loss is the least over VALIDATION_LEVELS of the NLL of the noise-free
validation rows with the column at that level (what early stopping and the
kept parameters follow), and after the fit the level of least validation NLL
among CHOICES is kept: the model answers every query with the column at that
level. On the cases above (seeds 0-2, README) test NLL was Lorenz 0.63-1.06,
the mixture 1.31-1.38, digits -12.31 to -12.39: within 0.3 nats of the best
of the fixed levels 0, 0.1 and 0.8 (a fit each) on every case and seed, and up
to 0.4 better (Lorenz), in 1.3-1.8 x the time of one fit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.errors import ConfigError

#: The default feature_noise.
FEATURE_NOISE = "auto"
#: Share of training rows at level 0 under "auto"; the others are log-uniform on
#: [LOWEST, HIGHEST] (standard deviations, in standardised feature units).
ZERO_SHARE = 0.125
LOWEST, HIGHEST = 0.025, 1.6
#: The levels whose least validation NLL is the validation loss under "auto".
VALIDATION_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
#: The levels among which the one kept is chosen after an "auto" fit: 0 and LOWEST
#: times powers of sqrt(2) up to HIGHEST.
CHOICES = (0.0,) + tuple(float(LOWEST * 2 ** (k / 2)) for k in range(13))


def checked(value) -> float | str:
    """A feature_noise setting: "auto", or a finite float >= 0; else ConfigError naming it."""
    if value == "auto":
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number >= 0):
        raise ConfigError(f"feature_noise must be a finite number >= 0 or 'auto', got {value!r}")
    return number


def learns_every_level(setting, objective: str, level) -> bool:
    """Whether a fit trains at every level and chooses one: "auto", the NLL objective (the
    only one to choose by) and a flow with the level column (level not None)."""
    return setting == "auto" and objective == "nll" and level is not None


def level_for_fit(setting, objective: str, feature_dim: int, level, fitted: bool):
    """The noise level (the value of the flow's level column; None: no column) a fit starts
    with: for a new flow 0.0 under "auto" with the NLL objective and features, else None;
    a fitted flow keeps its column, at a fixed setting's value.

    Raises:
      ConfigError: "auto" (NLL) for a fitted flow with features but no level column.
    """
    auto = setting == "auto" and objective == "nll"
    if not fitted:
        return 0.0 if auto and feature_dim else None
    if auto and feature_dim and level is None:
        raise ConfigError(
            "feature_noise 'auto' needs a flow fitted with it (the noise level is one of "
            "its inputs); fit a new estimator, or give a number"
        )
    if level is None or setting == "auto":
        return level  # no column, or the column kept for "auto" (chosen again with the NLL)
    return float(setting)  # a fixed setting: the column holds it


def jitter(x: jax.Array, noise, key: jax.Array | None) -> jax.Array:
    """x + noise * N(0, I): x (N, C), noise a scalar or (N, 1); x itself when key is None
    (validation) or noise is a scalar 0."""
    if key is None or (np.isscalar(noise) and noise == 0):
        return x
    return x + noise * jax.random.normal(key, x.shape, x.dtype)


def with_level(x: jax.Array, level) -> jax.Array:
    """x (N, C) with the level column appended: (N, C + 1); level a scalar or (N, 1)."""
    column = jnp.broadcast_to(jnp.asarray(level, x.dtype), (len(x), 1))
    return jnp.concatenate([x, column], axis=1)


def draw_levels(key: jax.Array, rows: int, dtype=jnp.float32) -> jax.Array:
    """(rows, 1) levels: 0 with probability ZERO_SHARE, else log-uniform on [LOWEST, HIGHEST]."""
    zero_key, level_key = jax.random.split(key)
    log_level = jax.random.uniform(level_key, (rows, 1), dtype, np.log(LOWEST), np.log(HIGHEST))
    return jnp.where(jax.random.uniform(zero_key, (rows, 1)) < ZERO_SHARE, 0.0, jnp.exp(log_level))


def conditioned_rows(x: jax.Array, key: jax.Array) -> jax.Array:
    """Training features under "auto": each row jittered at its own level, the level
    appended: x (N, C) -> (N, C + 1)."""
    level_key, noise_key = jax.random.split(key)
    levels = draw_levels(level_key, len(x), x.dtype)
    return with_level(jitter(x, levels, noise_key), levels)


def loss_at_every_level(loss_at, x: jax.Array, key: jax.Array | None) -> jax.Array:
    """The loss of an "auto" fit: loss_at(conditioned_rows(x, key)) on a training
    minibatch; on the validation rows (key None), the least over VALIDATION_LEVELS of
    loss_at(x with the level column). x (N, C) -> scalar."""
    if key is not None:
        return loss_at(conditioned_rows(x, key))
    levels = jnp.asarray(VALIDATION_LEVELS, x.dtype)  # one at a time: the memory of one pass
    return jax.lax.map(lambda level: loss_at(with_level(x, level)), levels).min()


def validation_by_level(log_prob, y: jax.Array, x: jax.Array, log_det: float) -> dict:
    """{level: NLL in raw units} over CHOICES of the flow's log_prob(y (N, D), context
    (N, C + 1)) with x (N, C) and the level column; log_det: the params' scaling."""
    return {level: -float(log_prob(y, with_level(x, level)).mean()) - log_det for level in CHOICES}
