"""Conditional density estimation p(params | features) with a normalising flow.

Users pass raw arrays; both are standardised with statistics learned from the
training split and stored with the model. ``log_prob`` is in raw units:

    log p(theta | x) = log q(S_theta(theta) | S_x(x)) - sum_j log std_theta_j,

with q the flow over standardised values. ``features=None`` everywhere gives
an unconditional density estimator.

    est = ConditionalDensityEstimator(flow="maf", hidden=64, blocks=5)
    est.fit(features, params, epochs=100, lr=1e-3, batch_size=32, seed=0)
    est.log_prob(params, features)              # (N,)
    est.sample(jax.random.key(0), features, 100)  # (N, 100, D)
    est.save("artifacts/cde"); est = ConditionalDensityEstimator.load("artifacts/cde")
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.flows.flow import Flow, FlowConfig
from nnef_dists.flows.standardize import Standardizer
from nnef_dists.flows.train import TrainOptions, train_flow
from nnef_dists.training.checkpoint import (
    CONFIG_FILE,
    ModelDirError,
    atomic_directory,
    read_config,
    restore_state,
    write_model,
)
from nnef_dists.training.trainer import History

MODEL_NAME = "conditional_density_estimator"
#: rows x samples per compiled call of the sampler
SAMPLE_CHUNK = 1 << 17


class ConditionalDensityEstimator:
    """A flow for p(params | features), with standardisation of both arrays.

    Args:
      flow: ``made``, ``made-mog``, ``maf``, ``maf-mog`` or ``nsf``.
      hidden, blocks, and the other FlowConfig fields: the architecture.
      weight_decay, warmup_epochs, clip_norm, patience: TrainOptions.
      feature_clip: standardised features are squashed into (-c, c) by
        c tanh(z / c) (None: not at all), which keeps predictions stable for
        held-out features far outside the training range.

    After ``fit`` or ``load``: ``param_dim`` D, ``feature_dim`` C (0 when
    unconditional), ``history`` (of the last fit) and the fitted ``flow_module``.
    """

    def __init__(
        self,
        flow: str = "maf",
        hidden: int = 64,
        blocks: int = 5,
        feature_clip: float | None = 5.0,
        **options,
    ):
        self.feature_clip = feature_clip
        train_names = {f.name for f in dataclasses.fields(TrainOptions)}
        self.options = TrainOptions(**{k: v for k, v in options.items() if k in train_names})
        flow_options = {k: v for k, v in options.items() if k not in train_names}
        self.config = FlowConfig.from_dict(
            dict(flow=flow, hidden=hidden, blocks=blocks, **flow_options)
        )
        self.flow_module: Flow | None = None
        self.feature_scaler = self.param_scaler = None
        self.history: History | None = None
        self.fit_settings: dict = {}

    # -- shapes and checks ------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return self.flow_module is not None

    @property
    def param_dim(self) -> int:
        return self.param_scaler.dim

    @property
    def feature_dim(self) -> int:
        return self.feature_scaler.dim

    def _require_fitted(self):
        if not self.fitted:
            raise RuntimeError("the estimator is not fitted: call fit() or load() first")

    def _features(self, features, rows: int | None = None) -> np.ndarray:
        """Raw features (N, C), (C,) or None -> standardised (N, C) float32."""
        if features is None:
            if self.fitted and self.feature_dim:
                raise ValueError(f"this model needs features with {self.feature_dim} columns")
            return np.zeros((rows or 1, 0), np.float32)
        x = np.asarray(features, np.float32)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        if x.ndim != 2:
            raise ValueError(f"features must be (N, C), got shape {x.shape}")
        if self.fitted:
            if x.shape[1] != self.feature_dim:
                raise ValueError(
                    f"features have {x.shape[1]} columns, the model takes {self.feature_dim}"
                )
            x = self.feature_scaler.transform(x)
        return x

    def _params(self, params) -> np.ndarray:
        """Raw params (N, D) or (N,) for D = 1 -> standardised (N, D)."""
        y = np.asarray(params, np.float32)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if y.ndim != 2:
            raise ValueError(f"params must be (N, D), got shape {y.shape}")
        if self.fitted:
            if y.shape[1] != self.param_dim:
                raise ValueError(
                    f"params have {y.shape[1]} columns, the model has {self.param_dim}"
                )
            y = self.param_scaler.transform(y)
        return y

    # -- training ------------------------------------------------------------------

    def fit(
        self,
        features,
        params,
        epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 32,
        seed: int = 0,
        progress: bool = True,
    ) -> History:
        """Fit p(params | features) by maximum likelihood; return the History (raw-unit NLL).

        Args:
          features: (N, C) raw features, or None for an unconditional density.
          params: (N, D) raw targets ((N,) for D = 1).
          epochs, lr (peak), batch_size, seed: the run. A random 80/20 split
            (by ``seed``) gives the training and validation rows; training stops
            early when the validation NLL has not improved for ``patience`` epochs,
            and the best parameters are kept.
          progress: show a progress bar.

        A fitted (or loaded) estimator goes on from its current parameters and
        keeps its standardisation.
        """
        y = self._params(params)
        x = self._features(features, rows=len(y))
        if len(x) != len(y):
            raise ValueError(f"features have {len(x)} rows but params have {len(y)}")
        if len(y) < 2:
            raise ValueError("fit needs at least 2 rows (80/20 train/validation split)")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("features and params must be finite (no NaN or inf)")
        order = np.asarray(jax.random.permutation(jax.random.key(seed), len(y)))
        n_val = max(1, int(round(0.2 * len(y))))
        train, val = order[n_val:], order[:n_val]
        if not self.fitted:
            self.param_scaler = Standardizer.fit(y[train])
            self.feature_scaler = Standardizer.fit(x[train], clip=self.feature_clip)
            y, x = self.param_scaler.transform(y), self.feature_scaler.transform(x)
            self.flow_module = self.config.build(self.param_dim, self.feature_dim, seed)
        self.history = train_flow(
            self.flow_module,
            (y[train], x[train]),
            (y[val], x[val]),
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            options=self.options,
            nll_offset=-self.param_scaler.log_det,
            progress=progress,
            desc=f"fit {self.config.flow}",
        )
        self.fit_settings = dict(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        return self.history

    # -- evaluation ----------------------------------------------------------------

    def _call(self, fn, *args, static: tuple = ()):
        """``fn(flow, *args, *static)`` jitted, on the current flow state."""
        graphdef, state = nnx.split(self.flow_module)
        return _jitted(graphdef, fn, static)(state, *args)

    def log_prob(self, params, features=None) -> np.ndarray:
        """log p(params | features) in raw units: params (N, D), features (N, C) -> (N,)."""
        return np.asarray(self._call(_log_prob, *self._pair(params, features))) + (
            self.param_scaler.log_det
        )

    def to_normal(self, params, features=None) -> np.ndarray:
        """The flow's map of params given features to N(0, I): (N, D) -> (N, D)."""
        return np.asarray(self._call(_to_normal, *self._pair(params, features)))

    def _pair(self, params, features):
        """Standardised (y (N, D), x (N, C)); one feature row is used for every params row."""
        self._require_fitted()
        y = self._params(params)
        x = self._features(features, rows=len(y))
        if len(x) not in (1, len(y)):
            raise ValueError(f"features have {len(x)} rows but params have {len(y)}")
        return y, np.broadcast_to(x, (len(y), x.shape[1])) if len(x) == 1 else x

    def sample(self, key, features=None, n: int = 1) -> np.ndarray:
        """n draws of params per feature row: features (N, C) -> (N, n, D); None -> (n, D)."""
        self._require_fitted()
        x = self._features(features)
        num_rows = len(x)
        rows = max(1, SAMPLE_CHUNK // n)
        if len(x) > rows:  # equal chunks (the last one padded): one compilation
            x = np.concatenate([x, np.repeat(x[-1:], -len(x) % rows, 0)])
        pieces = [
            np.asarray(self._call(_sample_rows, jax.random.fold_in(key, i), chunk, static=(n,)))
            for i, chunk in enumerate(np.split(x, max(1, len(x) // rows)))
        ]
        draws = self.param_scaler.inverse(np.concatenate(pieces)[:num_rows])
        return draws[0] if features is None else draws

    def stats(self, key, features=None, n: int = 1000) -> dict:
        """Monte-Carlo mean and std of params per feature row: {"mean", "std"} each (N, D)."""
        draws = self.sample(key, features, n)
        return {"mean": draws.mean(-2), "std": draws.std(-2, ddof=1)}

    def quantiles(self, key, features=None, q=(0.05, 0.5, 0.95), n: int = 1000) -> np.ndarray:
        """Monte-Carlo quantiles per feature row: (N, Q, D) (or (Q, D) without features)."""
        draws = self.sample(key, features, n)
        return np.moveaxis(np.quantile(draws, np.asarray(q), axis=-2), 0, -2)

    # -- storage -------------------------------------------------------------------

    def record(self) -> dict:
        """The content of config.yaml."""
        self._require_fitted()
        history = self.history.to_dict() if self.history else None
        return {
            "model": MODEL_NAME,
            "flow": dataclasses.asdict(self.config),
            "training": dataclasses.asdict(self.options),
            "param_dim": self.param_dim,
            "feature_dim": self.feature_dim,
            "standardization": {
                "params": self.param_scaler.to_dict(),
                "features": self.feature_scaler.to_dict(),
            },
            "fit": {
                **self.fit_settings,
                "best_val_nll": min(history["val_loss"]) if history else None,
            },
        }

    def save(self, directory, force: bool = False) -> Path:
        """Write config.yaml, params.msgpack and metrics.json atomically into ``directory``.

        Raises FileExistsError when it exists, unless ``force``.
        """
        record = self.record()
        with atomic_directory(Path(directory), force=force) as tmp:
            write_model(tmp, self.flow_module, record)
            if self.history is not None:
                (tmp / "metrics.json").write_text(json.dumps(self.history.to_dict(), indent=1))
        return Path(directory)

    @classmethod
    def load(cls, directory) -> ConditionalDensityEstimator:
        """The estimator saved in ``directory``; raises ModelDirError naming the bad file."""
        directory = Path(directory)
        path = directory / CONFIG_FILE
        record = read_config(directory)
        if record.get("model") != MODEL_NAME:
            raise ModelDirError(f"{path}: not a conditional density estimator")
        try:
            scaling = record["standardization"]
            est = cls(**record["flow"], **record["training"])
            est.param_scaler = Standardizer.from_dict(scaling["params"])
            est.feature_scaler = Standardizer.from_dict(scaling["features"])
            est.feature_clip = est.feature_scaler.clip
            est.fit_settings = {
                k: v for k, v in record.get("fit", {}).items() if k != "best_val_nll"
            }
        except (KeyError, TypeError, ValueError) as err:
            raise ModelDirError(f"{path}: malformed model record: {err!r}") from None
        flow = est.config.build(est.param_dim, est.feature_dim)
        flow.eval()
        restore_state(directory, flow)
        est.flow_module = flow
        return est


_JIT_CACHE: dict = {}


def _jitted(graphdef, fn, static: tuple):
    """``state, *args -> fn(merge(graphdef, state), *args, *static)``, jitted once per key."""
    cache_key = (graphdef, fn, static)
    if cache_key not in _JIT_CACHE:
        _JIT_CACHE[cache_key] = jax.jit(
            lambda state, *args: fn(nnx.merge(graphdef, state), *args, *static)
        )
    return _JIT_CACHE[cache_key]


def _log_prob(flow: Flow, y, x):
    return flow.log_prob(y, x)


def _to_normal(flow: Flow, y, x):
    return flow.to_normal(y, x)


def _sample_rows(flow: Flow, key, x, n: int):
    """n draws per context row: x (M, C) -> (M, n, D) (standardised units)."""
    context = jnp.repeat(x, n, axis=0)
    return flow.sample(key, (context.shape[0],), context).reshape(x.shape[0], n, -1)
