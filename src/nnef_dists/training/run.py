"""One training run, end to end: data -> split -> model -> fit -> evaluate -> directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from nnef_dists.atomic import atomic_directory, check_output
from nnef_dists.data import load_dataset, load_metadata, meta_path, split_dataset
from nnef_dists.data.dataset import check_trainable
from nnef_dists.models import LoadedModel, Normalization, build_model, model_record
from nnef_dists.models.directory import write_model
from nnef_dists.training import checkpoint
from nnef_dists.training.config import TrainConfig
from nnef_dists.training.defaults import resolve
from nnef_dists.training.evaluate import evaluate, format_metrics, write_report
from nnef_dists.training.trainer import fit


def data_provenance(path) -> tuple[dict | None, list | None, list]:
    """From the side-car metadata: (family as the data config's ``ef:``, statistic
    labels, row indices of the eta the generator flagged)."""
    if not meta_path(path).exists():
        return None, None, []
    meta = load_metadata(path)
    flagged = meta.get("flagged_eta", {}).get("excluded", [])
    return meta.get("config", {}).get("ef"), meta.get("stat_labels"), flagged


def default_output_dir(config: TrainConfig) -> Path:
    """artifacts/<data file stem>_<model>."""
    return Path("artifacts") / f"{Path(config.data).stem}_{config.model}"


def train_and_save(
    config: TrainConfig, output: Path, force=False, progress=True, resume=False
) -> str:
    """Train ``config.model`` on ``config.data``, evaluate it, write the model directory.

    The directory (README: Model directories) gets config.yaml, params.msgpack, history.json,
    learning_curve.png, metrics.json and the predicted-against-exact plot; it
    is written only when everything succeeded. Until then the training loop
    keeps a checkpoint beside it (``checkpoint.beside``), which ``resume``
    continues from. Returns the printed report.
    """
    check_output(output, force)  # fail before training, not after
    saved = checkpoint.prepare(output, resume, force)
    data = load_dataset(config.data)
    family, labels, flagged = data_provenance(config.data)
    excluded = 0 if config.include_flagged else len(flagged)
    keep = None  # every row
    if excluded:
        keep = np.setdiff1d(np.arange(len(data["eta"])), flagged)
        data = {name: value[keep] for name, value in data.items()}
    check_trainable(data, str(config.data), rows=keep)
    splits = split_dataset(data, config.seed)
    config = resolve(config, splits["train"])
    normalization = Normalization.from_data(splits["train"]["eta"], splits["train"]["mu_T"])
    model = build_model(config, data["eta"].shape[1], normalization)
    history = fit(
        model,
        splits["train"],
        splits["val"],
        config,
        progress,
        checkpoint_path=saved,
        resume=resume,
    )
    training = {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }
    record = model_record(model, config, family, labels, splits["train"]["eta"], training=training)
    metrics, arrays = evaluate(LoadedModel(model, record), data, "test")
    metrics["training"] = history.summary() | {"flagged_eta_left_out": excluded}
    with atomic_directory(output, force=force) as folder:
        write_model(folder, model, record)
        history.save(folder, config.model)
        write_report(folder, metrics, arrays)
    saved.unlink(missing_ok=True)
    left_out = f" ({excluded} flagged eta left out)" if excluded else ""
    polished = (
        f", {history.polish_iterations} L-BFGS iterations: {history.kept_val:.4g}"
        if history.polish_val
        else ""
    )
    return (
        f"{config.model}{left_out}: {history.epochs} epochs in {history.seconds:.1f} s, "
        f"best validation loss {history.best_val:.4g} at epoch {history.best_epoch + 1}"
        f"{polished}; saved to {output}\n{format_metrics(metrics)}"
    )
