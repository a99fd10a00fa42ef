"""Model directories: one layout for ET networks and flow estimators alike (README).

    config.yaml      what the model is (name, architecture, standardisation, family,
                     training domain, training config), enough to rebuild it
    params.msgpack   the whole nnx state, ``flax.serialization`` msgpack of a pure dict
    history.json     losses per epoch (``training.History``), learning_curve.png
    metrics.json     validation and test errors, plots beside it

Folders are written atomically (``nnef_dists.atomic.atomic_directory``).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from flax import nnx, serialization

from nnef_dists.errors import ModelDirError

CONFIG_FILE = "config.yaml"
PARAMS_FILE = "params.msgpack"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"


def write_model(folder: Path, module: nnx.Module, record: dict) -> None:
    """Write config.yaml (``record``) and params.msgpack (the state of ``module``) into folder."""
    folder = Path(folder)
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(record, sort_keys=False))
    state = serialization.to_state_dict(nnx.to_pure_dict(nnx.state(module)))
    (folder / PARAMS_FILE).write_bytes(serialization.msgpack_serialize(state))


def write_json(path: Path, content: dict) -> None:
    """``content`` as indented JSON at ``path`` (history.json, metrics.json)."""
    Path(path).write_text(json.dumps(content, indent=1) + "\n")


def read_config(directory, model: str | None = None) -> dict:
    """The config.yaml of a model directory as a dict.

    Args:
      directory: the model directory.
      model: when given, the ``model`` entry it must have (what kind of model).

    Raises:
      ModelDirError: naming the directory or file.
    """
    path = Path(directory) / CONFIG_FILE
    try:
        record = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ModelDirError(f"{directory}: not a model directory (no {CONFIG_FILE})") from None
    except yaml.YAMLError as err:
        raise ModelDirError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(record, dict):
        raise ModelDirError(f"{path}: expected a mapping of fields")
    if model is not None and record.get("model") != model:
        raise ModelDirError(f"{path}: holds a {record.get('model')!r} model, not a {model!r}")
    return record


def restore_state(directory, module: nnx.Module) -> None:
    """Load params.msgpack of ``directory`` into ``module`` (same architecture), in place."""
    path = Path(directory) / PARAMS_FILE
    try:
        stored = serialization.msgpack_restore(path.read_bytes())
    except FileNotFoundError:
        raise ModelDirError(f"{directory}: no {PARAMS_FILE}") from None
    state = nnx.state(module)
    try:
        nnx.replace_by_pure_dict(
            state, serialization.from_state_dict(nnx.to_pure_dict(state), stored)
        )
    except (KeyError, ValueError, TypeError) as err:
        raise ModelDirError(f"{path}: does not match the model in {CONFIG_FILE}: {err}") from None
    nnx.update(module, state)
