"""Trained ET networks: their config.yaml record, and loading one as pure functions."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from nnef_dists.errors import ConfigError, ModelDirError
from nnef_dists.families.config import FamilyConfig
from nnef_dists.models.base import ETModel, Normalization
from nnef_dists.models.build import ModelSpec, build_model
from nnef_dists.models.directory import CONFIG_FILE, read_config, restore_state
from nnef_dists.models.domain import TrainingDomain
from nnef_dists.numerics import full_precision_matmuls
from nnef_dists.schema import parse

#: Method -> jnp.vectorize signature, for the functions a loaded model exposes.
SIGNATURES = {
    "mu_T": "(k)->(k)",
    "jacobian": "(k)->(k,k)",
    "cov_TT": "(k)->(k,k)",
    "log_partition": "(k)->()",
    "eta_from_mu": "(k)->(k)",
}
#: Rows per vectorised chunk of eta_from_mu: bounds the memory of an iterative
#: inverse (its (rows, anchors) search) and the rows that wait on a slow one.
INVERSE_CHUNK = 2048
#: The entries a config.yaml of an ET network must have.
REQUIRED = ("model", "eta_dim", "architecture", "normalization")


def model_record(
    model: ETModel, spec: ModelSpec, family: dict | None, stat_labels, train_eta=None, **extra
) -> dict:
    """The content of config.yaml for ``model`` built from ``spec``.

    Args:
      family: the data config's ``ef:`` mapping of the training data, or None.
      stat_labels: one label per statistic, or None.
      train_eta: (N, k) the training inputs, whose ``TrainingDomain`` is kept:
        outside it the model extrapolates.
      extra: further entries (the training config, ...).
    """
    domain = None if train_eta is None else TrainingDomain.fit(train_eta).to_dict()
    return {
        "model": type(model).registry_name,
        "eta_dim": int(model.norm.eta.mean.shape[0]),
        "architecture": spec.spec_dict(),
        "family": family,
        "stat_labels": list(stat_labels) if stat_labels is not None else None,
        "domain": domain,
        "normalization": model.norm.to_dict(),
        **extra,
    }


def read_model(directory) -> tuple[ETModel, dict]:
    """The trained nnx module stored in ``directory`` and its config.yaml record."""
    directory = Path(directory)
    record = read_config(directory)
    path = directory / CONFIG_FILE
    if not set(REQUIRED) <= set(record):
        raise ModelDirError(f"{path}: missing one of {', '.join(REQUIRED)}")
    try:
        spec = parse(ModelSpec, record["architecture"], f"{path}: architecture")
        model = build_model(
            spec, int(record["eta_dim"]), Normalization.from_dict(record["normalization"])
        )
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        raise ModelDirError(f"{path}: cannot rebuild the model: {err}") from None
    restore_state(directory, model)
    return model, record


class LoadedModel:
    """A trained ET network as pure functions of raw eta (any leading batch shape).

    Attributes:
      name: registry name of the model; module: the nnx module;
      record (config.yaml as a dict), directory, stat_labels;
      domain: the ``TrainingDomain`` of the training eta, or None;
      in_domain: eta (..., k) -> bool (...): inside the training domain
        (everywhere True without one);
      family: the ExponentialFamily of the data, built on first use (None when
        not recorded); mu_T and the other functions never need it.
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
        self.stat_labels = self.record.get("stat_labels")
        domain = self.record.get("domain")
        self.domain = TrainingDomain.from_dict(domain) if domain else None
        self.provides = ("mu_T", "jacobian", *type(self.module).provides)
        graphdef, state = nnx.split(self.module)
        for method in self.provides:
            setattr(self, method, _vectorized(graphdef, state, method))
        if "eta_from_mu" in self.provides:
            anchors = None if self.domain is None else self.domain.points
            self.eta_from_mu = _inverse(graphdef, state, anchors)

    def in_domain(self, eta):
        """Whether each eta (..., k) lies where the model was trained: bool (...,)."""
        if self.domain is None:
            return jnp.ones(jnp.shape(eta)[:-1], bool)
        return self.domain.contains(eta)

    @cached_property
    def family(self):
        """The data's family, its module looked for beside the model directory too."""
        family = self.record.get("family")
        if not family:
            return None
        folders = (self.directory.parent,) if self.directory is not None else ()
        return FamilyConfig(**family).build(search=folders)

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
    return full_precision_matmuls(fn)


def _inverse(graphdef, state, anchors):
    def eta_from_mu(mu):
        module = nnx.merge(graphdef, state)
        mu = jnp.asarray(mu)
        rows = mu.reshape(-1, mu.shape[-1])
        n = len(rows)
        chunk = min(INVERSE_CHUNK, max(n, 1))
        padded = jnp.concatenate([rows, jnp.broadcast_to(rows[-1:], (-n % chunk, rows.shape[1]))])
        solve = module.inverse(None if anchors is None else jnp.asarray(anchors, mu.dtype))
        eta = jax.lax.map(solve, padded.reshape(-1, chunk, rows.shape[1]))
        return eta.reshape(-1, rows.shape[1])[:n].reshape(mu.shape)

    eta_from_mu.__doc__ = (
        "eta_from_mu of the loaded model, mu (..., k) -> eta (..., k), in chunks of "
        "INVERSE_CHUNK rows, started from the training eta kept with the model."
    )
    return full_precision_matmuls(eta_from_mu)


def load_model(directory) -> LoadedModel:
    """Load a trained model directory as a LoadedModel of pure functions."""
    return LoadedModel(*read_model(directory), directory)
