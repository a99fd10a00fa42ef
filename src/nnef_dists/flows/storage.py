"""A conditional density estimator's model directory (README: Model directories).

config.yaml holds the architecture (``FlowConfig``), the training-loop
settings, the dimensions and both standardisations; params.msgpack the flow's
state; history.json, learning_curve.png and metrics.json (the best validation
NLL and the run's summary) the last fit.
"""

from __future__ import annotations

from pathlib import Path

from nnef_dists.atomic import atomic_directory
from nnef_dists.data.standardize import Standardizer
from nnef_dists.errors import ModelDirError
from nnef_dists.models.directory import (
    CONFIG_FILE,
    METRICS_FILE,
    read_config,
    restore_state,
    write_json,
    write_model,
)

MODEL_NAME = "conditional_density_estimator"


def record(est) -> dict:
    """The content of config.yaml of a fitted ConditionalDensityEstimator."""
    return {
        "model": MODEL_NAME,
        **est.architecture(),
        "param_dim": est.param_dim,
        "feature_dim": est.feature_dim,
        "noise_level": est.noise_level,
        "standardization": {
            "params": est.param_scaler.to_dict(),
            "features": est.feature_scaler.to_dict(),
            "feature_clip": est.feature_clip,
        },
        "fit": est.fit_settings,
    }


def save(est, directory, force: bool = False) -> Path:
    """Write ``est`` into ``directory`` atomically; OutputExistsError unless ``force``."""
    with atomic_directory(directory, force=force) as folder:
        write_model(folder, est.flow_module, record(est))
        if est.history is not None:
            est.history.save(folder, est.config.flow)
            objective = est.fit_settings.get("objective", "nll")
            metrics = {"validation": {objective: est.history.best_val}}
            write_json(
                folder / METRICS_FILE,
                {"model": MODEL_NAME, **metrics, "training": est.history.summary()},
            )
    return Path(directory)


def load(cls, directory):
    """The estimator (of class ``cls``) saved in ``directory``; ModelDirError naming the file."""
    path = Path(directory) / CONFIG_FILE
    saved = read_config(directory, model=MODEL_NAME)
    try:
        scaling = saved["standardization"]
        est = cls(**saved["flow"], **saved["training"], feature_clip=scaling["feature_clip"])
        est.param_scaler = Standardizer.from_dict(scaling["params"])
        est.feature_scaler = Standardizer.from_dict(scaling["features"])
        est.fit_settings = dict(saved.get("fit", {}))
        level = saved.get("noise_level")  # absent before the noise-level column existed
        est.noise_level = None if level is None else float(level)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelDirError(f"{path}: malformed model record: {err!r}") from None
    flow = est.config.build(est.param_dim, est.context_dim)
    flow.eval()
    restore_state(directory, flow)
    est.flow_module = flow
    return est
