"""Model directories (DESIGN 3.5): save a trained ET network, load it as pure functions.

A model directory holds

- ``config.yaml``: model name, eta_dim, hidden sizes and options, the
  family (as in the data config's ``ef:``), the statistic labels, the
  normalisation, the data file and the training config;
- ``params.msgpack``: the whole model state (parameters, normalisation and
  any fixed arrays) as ``flax.serialization`` msgpack of a pure dict;
- ``metrics.json`` and ``learning_curve.png``, written by training and
  evaluation.

Directories are written atomically: into a temporary sibling, then renamed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import yaml
from flax import nnx, serialization

from nnef_dists.config import FamilyConfig, TrainConfig, parse_train_config
from nnef_dists.models import ETModel, Normalization
from nnef_dists.training.trainer import build_model

CONFIG_FILE = "config.yaml"
PARAMS_FILE = "params.msgpack"

#: Method -> jnp.vectorize signature, for the functions a loaded model exposes.
SIGNATURES = {
    "mu_T": "(k)->(k)",
    "jacobian": "(k)->(k,k)",
    "cov_TT": "(k)->(k,k)",
    "log_partition": "(k)->()",
    "eta_from_mu": "(k)->(k)",
}


class ModelDirError(ValueError):
    """A model directory that cannot be loaded; the message names the file."""


@contextmanager
def atomic_directory(directory: Path, force: bool = False):
    """Yield a temporary directory that replaces ``directory`` when the block succeeds.

    Without ``force`` an existing directory is an error; with it, the old one is
    removed only after the new one is complete.
    """
    directory = Path(directory)
    if directory.exists() and not force:
        raise FileExistsError(f"{directory} exists; pass --force to overwrite it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield tmp
        if directory.exists():
            old = tmp.with_name(tmp.name + ".old")
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old)
        else:
            os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def model_record(
    model: ETModel, train_config: TrainConfig, family: dict | None, stat_labels, train_eta=None
) -> dict:
    """The content of config.yaml for a model trained with ``train_config``.

    ``train_eta`` (N, k), the training inputs, gives the box ``eta_range``
    (per-coordinate min and max) outside which the model extrapolates.
    """
    cfg = dataclasses.asdict(train_config)
    eta_range = None
    if train_eta is not None:
        eta_range = [np.min(train_eta, 0).tolist(), np.max(train_eta, 0).tolist()]
    return {
        "model": type(model).registry_name,
        "eta_dim": int(model.norm.eta_mean.shape[0]),
        "family": family,
        "stat_labels": list(stat_labels) if stat_labels is not None else None,
        "eta_range": eta_range,
        "normalization": model.norm.to_dict(),
        "training": {
            key: list(value) if isinstance(value, tuple) else value for key, value in cfg.items()
        },
    }


def write_model(folder: Path, model: ETModel, record: dict) -> None:
    """Write config.yaml and params.msgpack of ``model`` into ``folder``."""
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(record, sort_keys=False))
    state = serialization.to_state_dict(nnx.to_pure_dict(nnx.state(model)))
    (folder / PARAMS_FILE).write_bytes(serialization.msgpack_serialize(state))


def read_config(directory: Path) -> dict:
    """The config.yaml of a model directory as a dict; ModelDirError naming the file."""
    path = Path(directory) / CONFIG_FILE
    try:
        record = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ModelDirError(f"{directory}: not a model directory (no {CONFIG_FILE})") from None
    except yaml.YAMLError as err:
        raise ModelDirError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(record, dict):
        raise ModelDirError(f"{path}: expected a mapping of fields")
    return record


def restore_state(directory: Path, module: nnx.Module) -> None:
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


def rebuild(record: dict, source: str = "<record>") -> ETModel:
    """A freshly initialised model with the architecture a config.yaml record describes."""
    config = parse_train_config(record["training"], source=f"{source}: training")
    normalization = Normalization.from_dict(record["normalization"])
    return build_model(config, int(record["eta_dim"]), normalization)


def read_model(directory) -> tuple[ETModel, dict]:
    """The trained nnx module stored in ``directory`` and its config.yaml record."""
    directory = Path(directory)
    record = read_config(directory)
    if not {"model", "eta_dim", "normalization", "training"} <= set(record):
        raise ModelDirError(
            f"{directory / CONFIG_FILE}: missing model, eta_dim, normalization or training"
        )
    model = rebuild(record, str(directory / CONFIG_FILE))
    restore_state(directory, model)
    return model, record


class LoadedModel:
    """A trained ET network as pure functions of raw eta (any leading batch shape).

    Attributes:
      name: registry name of the model; module: the nnx module;
      family: the ExponentialFamily of the data, or None when it was not recorded;
      stat_labels, record (config.yaml as a dict), directory;
      eta_range: (lo (k,), hi (k,)) of the training eta, or None.
      mu_T, jacobian: eta (..., k) -> (..., k) and (..., k, k); and where the
        model provides them: cov_TT (..., k, k), log_partition (...),
        eta_from_mu mu (..., k) -> (..., k).

    The functions close over the stored arrays, so they work under
    ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
    """

    def __init__(self, module: ETModel, record: dict, directory=None):
        self.module, self.record = module, record
        self.directory = Path(directory) if directory is not None else None
        self.name = self.record["model"]
        family = self.record.get("family")
        self.family = FamilyConfig(**family).build() if family else None
        self.stat_labels = self.record.get("stat_labels")
        bounds = self.record.get("eta_range")
        self.eta_range = tuple(np.asarray(b, np.float32) for b in bounds) if bounds else None
        self.provides = ("mu_T", "jacobian", *type(self.module).provides)
        graphdef, state = nnx.split(self.module)
        for method in self.provides:
            setattr(self, method, _vectorized(graphdef, state, method))

    def __getattr__(self, name):
        if name in SIGNATURES:
            raise AttributeError(
                f"model {self.name} does not provide {name}; it provides {', '.join(self.provides)}"
            )
        raise AttributeError(name)


def _vectorized(graphdef, state, method: str):
    def fn(x):
        module = nnx.merge(graphdef, state)
        return jnp.vectorize(getattr(module, method), signature=SIGNATURES[method])(x)

    fn.__name__ = method
    fn.__doc__ = f"{method} of the loaded model, vectorised over leading axes."
    return fn


def load_model(directory) -> LoadedModel:
    """Load a trained model directory (DESIGN 3.5) as a LoadedModel of pure functions."""
    return LoadedModel(*read_model(directory), directory)
