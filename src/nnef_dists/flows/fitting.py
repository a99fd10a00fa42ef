"""Fitting a ConditionalDensityEstimator: checks, standardisation, the loop, the noise level.

``fit(est, ...)`` is ``ConditionalDensityEstimator.fit`` (its docstring has the
arguments); ``training_loss`` is the loss the training loop minimises.
"""

from __future__ import annotations

import jax
import numpy as np

from nnef_dists.data.split import train_validation_indices
from nnef_dists.data.standardize import Standardizer
from nnef_dists.errors import DataError
from nnef_dists.flows import feature_noise as noise
from nnef_dists.flows import spaces, transport
from nnef_dists.flows.base import compiled
from nnef_dists.training.config import LoopConfig
from nnef_dists.training.history import History
from nnef_dists.training.loop import fit_module


def fit(est, features, params, run: dict, progress, checkpoint_path, resume) -> History:
    """Fit ``est`` in place (a fresh one first gets its standardisation and flow); return
    the History, also kept as ``est.history``. run: epochs, lr, batch_size, seed and
    objective (kept as ``est.fit_settings``)."""
    objective = run["objective"]
    transport.check_objective(objective, est.config.flow)
    y = est._columns(params, "params", est.param_scaler)
    x = est._features(features, rows=len(y))
    if len(x) != len(y):
        raise DataError(f"features have {len(x)} rows but params have {len(y)}")
    if len(y) < 2:
        raise DataError("fit needs at least 2 rows (80/20 train/validation split)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("features and params must be finite (no NaN or inf)")
    train, val = train_validation_indices(len(y), run["seed"])
    est.noise_level = noise.level_for_fit(
        est.feature_noise, objective, x.shape[1], est.noise_level, est.fitted
    )
    if not est.fitted:
        est.param_scaler = spaces.standardizer(est.config.manifold, y[train])
        est.feature_scaler = Standardizer.fit(x[train])
        y = est._squash(est.param_scaler.transform(y), "params")
        x = est._squash(est.feature_scaler.transform(x), "features")
        est.flow_module = est.config.build(est.param_dim, est.context_dim, run["seed"])
        if est.config.flow == "manifold":
            est.flow_module.standardise_charts(y[train])
    loop = {k: v for k, v in run.items() if k != "objective"}
    est.fit_settings = dict(run)
    chooses = noise.learns_every_level(est.feature_noise, objective, est.noise_level)
    extra = "" if objective == "nll" else ", " + objective
    est.history = fit_module(
        est.flow_module,
        training_loss(objective, est.feature_noise, est.noise_level),
        (y[train], x[train]),
        (y[val], x[val]),
        LoopConfig(**loop, **est.options),
        progress=progress,
        # the noise setting names the run: a checkpoint of another setting is not resumed
        desc=f"fit {est.config.flow}, feature noise {est.feature_noise}{extra}",
        loss_offset=-est.param_scaler.log_det if objective == "nll" else 0.0,
        checkpoint_path=checkpoint_path,
        resume=resume,
    )
    if chooses:
        log_prob = compiled(est.flow_module, "log_prob")
        nll = noise.validation_by_level(log_prob, y[val], x[val], est.param_scaler.log_det)
        est.noise_level = min(nll, key=nll.get)
        est.fit_settings["feature_noise_validation"] = nll
    return est.history


def training_loss(objective: str, setting, level):
    """The loss loss(flow, rows, key) of a fit: the mean NLL (or Sinkhorn divergence) of
    rows = (y (N, D), x (N, C)) (``key`` None: the validation rows).

    Args:
      objective: ``nll`` or ``sinkhorn``.
      setting: the feature_noise setting, "auto" or a number s >= 0.
      level: the flow's noise-level column (``feature_noise.level_for_fit``), None for a
        flow without one.

    With the NLL, "auto" and a level column, every level at once
    (``feature_noise.loss_at_every_level``); else the features are jittered by N(0, s^2)
    (no noise for "auto") and the column, if any, holds ``level``.
    """
    if noise.learns_every_level(setting, objective, level):
        return lambda flow, rows, key: noise.loss_at_every_level(
            lambda c: -flow.log_prob(rows[0], c).mean(), rows[1], key
        )
    jitter_by = 0.0 if setting == "auto" else setting

    def loss(flow, rows, key):
        y, x = rows
        x = noise.jitter(x, jitter_by, key)
        if level is not None:
            x = noise.with_level(x, level)
        if objective == "sinkhorn":
            return transport.joint_loss(
                flow, y, x, None if key is None else jax.random.split(key)[1]
            )
        return -flow.log_prob(y, x).mean()

    return loss
