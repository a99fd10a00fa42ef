"""One training run, end to end: data -> split -> model -> fit -> evaluate -> directory."""

from __future__ import annotations

import json
from pathlib import Path

from nnef_dists.config import TrainConfig
from nnef_dists.data import load_dataset, load_metadata, meta_path, split_dataset
from nnef_dists.models import Normalization
from nnef_dists.training import plots
from nnef_dists.training.checkpoint import LoadedModel, atomic_directory, model_record, write_model
from nnef_dists.training.evaluate import evaluate, format_metrics, write_report
from nnef_dists.training.trainer import build_model, fit


def data_provenance(path) -> tuple[dict | None, list | None]:
    """(family as the data config's ``ef:``, statistic labels) from the side-car metadata."""
    if not meta_path(path).exists():
        return None, None
    meta = load_metadata(path)
    return meta.get("config", {}).get("ef"), meta.get("stat_labels")


def train_and_save(config: TrainConfig, output: Path, force=False, progress=True) -> str:
    """Train ``config.model`` on ``config.data``, evaluate it, write the model directory.

    The directory (DESIGN 3.5) gets config.yaml, params.msgpack, history.json,
    learning_curve.png, metrics.json and the predicted-against-exact plot; it
    is written only when everything succeeded. Returns the printed report.
    """
    output = Path(output)
    if output.exists() and not force:  # fail before training, not after
        raise FileExistsError(f"{output} exists; pass --force to overwrite it")
    data = load_dataset(config.data)
    family, labels = data_provenance(config.data)
    splits = split_dataset(data, config.seed)
    normalization = Normalization.from_data(splits["train"]["eta"], splits["train"]["mu_T"])
    model = build_model(config, data["eta"].shape[1], normalization)
    history = fit(model, splits["train"], splits["val"], config, progress=progress)
    record = model_record(model, config, family, labels, splits["train"]["eta"])
    metrics, arrays = evaluate(LoadedModel(model, record), data, "test")
    metrics["training"] = {
        key: value for key, value in history.to_dict().items() if not key.endswith("_loss")
    } | {"best_val_loss": history.val[history.best_epoch]}
    with atomic_directory(output, force=force) as folder:
        write_model(folder, model, record)
        (folder / "history.json").write_text(json.dumps(history.to_dict(), indent=1))
        plots.learning_curve(history.to_dict(), folder / "learning_curve.png", config.model)
        write_report(folder, metrics, arrays)
    return (
        f"{config.model}: {history.epochs} epochs in {history.seconds:.1f} s, best validation "
        f"loss {history.val[history.best_epoch]:.4g} at epoch {history.best_epoch + 1}; "
        f"saved to {output}\n{format_metrics(metrics)}"
    )
