"""Conditional density estimation p(params | features) with a normalising flow.

Users pass raw arrays; both are standardised (``data.Standardizer``) with
statistics of the training split, stored with the model, and the features
are then squashed smoothly into (-c, c) by c tanh(z / c) (``feature_clip``),
so that a held-out feature far outside the training range (a pixel that was
almost always 0) cannot push the networks into extrapolation. Training adds
noise to those features, its amount chosen by validation unless given
(``flows.feature_noise``). ``log_prob`` is in raw units:

    log p(theta | x) = log q(S_theta(theta) | S_x(x)) - sum_j log scale_theta_j,

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

import numpy as np

from nnef_dists.errors import ConfigError, DataError
from nnef_dists.flows import feature_noise as noise
from nnef_dists.flows import fitting, spaces, storage
from nnef_dists.flows.base import compiled, sample_rows
from nnef_dists.flows.flow import FlowConfig
from nnef_dists.training.history import History

#: rows x samples per compiled call of the sampler
SAMPLE_CHUNK = 1 << 17
#: The training-loop settings a flow estimator keeps (and their defaults).
LOOP_OPTIONS = {
    "weight_decay": 1e-4,
    "warmup_epochs": 5,
    "clip_norm": 5.0,
    "patience": 20,
    "ema_decay": 0.9,
}


class ConditionalDensityEstimator:
    """A flow for p(params | features), with standardisation of both arrays.

    Args:
      flow: ``made``, ``made-mog``, ``maf``, ``maf-mog``, ``nsf`` or ``manifold`` (default:
        ``manifold`` when ``manifold`` or ``layers`` is given, else ``maf``).
      manifold, layers: the target space and its layers, e.g. ``"e4+s2+e1"`` and
        ``"gggg+n+a"`` (``flows.manifold``): params are then points of it (unit
        vectors for spheres), only Euclidean columns are standardised, and draws
        lie on it.
      hidden, blocks, and the other FlowConfig fields: the architecture.
      weight_decay, warmup_epochs, clip_norm, patience, ema_decay: training-loop settings
        (``LOOP_OPTIONS``).
      feature_clip: c of the squashing of standardised features (None: none).
      feature_noise: standard deviation of the Gaussian noise added to the
        standardised features of every training minibatch (noise
        regularisation; 0: none), or ``"auto"`` (default): the flow takes the
        noise level as one more context column, is trained at all levels at
        once and keeps the level of least validation NLL (``flows.feature_noise``;
        no noise for an unconditional density or the sinkhorn objective).

    After ``fit`` or ``load``: ``param_dim`` D, ``feature_dim`` C (0 when
    unconditional), ``noise_level`` (the value of the level column of a flow
    fitted with "auto", None for a flow without it), ``history`` (of the last
    fit) and the fitted ``flow_module``.
    """

    def __init__(
        self,
        flow: str | None = None,
        hidden: int = 64,
        blocks: int = 5,
        feature_clip: float | None = 5.0,
        feature_noise: float | str = noise.FEATURE_NOISE,
        **options,
    ):
        self.feature_clip = feature_clip
        self.feature_noise = feature_noise
        self.options = LOOP_OPTIONS | {k: v for k, v in options.items() if k in LOOP_OPTIONS}
        flow_options = {k: v for k, v in options.items() if k not in LOOP_OPTIONS}
        if flow is None:  # a manifold or layers imply the manifold flow
            flow = "manifold" if {"manifold", "layers"} & set(flow_options) else "maf"
        try:
            self.config = FlowConfig.from_dict(
                dict(flow=flow, hidden=hidden, blocks=blocks, **flow_options)
            )
        except ValueError as err:
            raise ConfigError(str(err)) from None
        self.flow_module = None
        self.noise_level: float | None = None
        self.feature_scaler = self.param_scaler = None
        self.history: History | None = None
        self.fit_settings: dict = {}

    @property
    def feature_noise(self) -> float | str:
        return self._feature_noise

    @feature_noise.setter
    def feature_noise(self, value):
        self._feature_noise = noise.checked(value)

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

    @property
    def context_dim(self) -> int:
        """The flow's context columns: the features, and the noise level's if it has one."""
        return self.feature_dim + (self.noise_level is not None)

    def _require_fitted(self):
        if not self.fitted:
            raise RuntimeError("the estimator is not fitted: call fit() or load() first")

    def _columns(self, values, what: str, scaler) -> np.ndarray:
        """Raw (N, D) (or (N,): one column for params, one row for features) -> (N, D) float32,
        standardised once fitted; ``what`` is "params" or "features"."""
        v = np.asarray(values, np.float64)  # float32 only after the manifold check
        if v.ndim == 1:
            v = v.reshape(-1, 1) if what == "params" else v.reshape(1, -1)
        if v.ndim != 2:
            raise DataError(f"{what} must be (N, columns), got shape {v.shape}")
        if what == "params" and self.config.manifold:
            v = spaces.points(self.config.manifold, v)
        if not self.fitted:
            return v.astype(np.float32)
        if v.shape[1] != scaler.dim:
            raise DataError(f"{what} have {v.shape[1]} columns, the model takes {scaler.dim}")
        return self._squash(scaler.transform(v), what)

    def _squash(self, z, what: str) -> np.ndarray:
        if what == "features" and self.feature_clip is not None:
            z = self.feature_clip * np.tanh(z / self.feature_clip)
        return z.astype(np.float32)

    def _features(self, features, rows: int = 1) -> np.ndarray:
        """Raw features (N, C), (C,) or None -> standardised (N, C) float32."""
        if features is None:
            if self.fitted and self.feature_dim:
                raise DataError(f"this model needs features with {self.feature_dim} columns")
            return np.zeros((rows, 0), np.float32)
        return self._columns(features, "features", self.feature_scaler)

    def _context(self, features, rows: int = 1) -> np.ndarray:
        """Raw features (N, C), (C,) or None -> the flow's context (N, context_dim) float32:
        standardised features, then the noise level's column if the flow has one."""
        x = self._features(features, rows)
        if self.noise_level is None:
            return x
        return np.asarray(noise.with_level(x, self.noise_level))

    # -- training ------------------------------------------------------------------

    def fit(
        self,
        features,
        params,
        epochs=100,
        lr=1e-3,
        batch_size=32,
        seed=0,
        progress=True,
        checkpoint_path=None,
        resume=False,
        objective="nll",
    ):
        """Fit p(params | features); return the History (of the objective; NLL in raw units).

        Args:
          features: (N, C) raw features, or None for an unconditional density.
          params: (N, D) raw targets ((N,) for D = 1).
          epochs, lr (peak), batch_size, seed: the run. A random 80/20 split
            (by ``seed``) gives the training and validation rows; training stops
            early when the validation NLL has not improved for ``patience`` epochs,
            and the best parameters are kept.
          progress: show a progress bar.
          checkpoint_path, resume: as in ``training.loop.fit_module``.
          objective: ``nll`` (maximum likelihood) or ``sinkhorn``: the Sinkhorn divergence
            between the data and draws of the flow (``flows.transport``; needs ott-jax).

        A fitted (or loaded) estimator goes on from its current parameters and
        keeps its standardisation; one with a noise-level column trains at the
        given feature_noise (or again at every level with "auto").

        Raises:
          ConfigError: feature_noise "auto" for a fitted flow without a
            noise-level column; a bad objective.
        """
        run = dict(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, objective=objective)
        return fitting.fit(self, features, params, run, progress, checkpoint_path, resume)

    # -- evaluation ----------------------------------------------------------------

    def _pair(self, params, features):
        """Standardised y (N, D) and the context (N, context_dim); one feature row is used
        for every params row."""
        self._require_fitted()
        y = self._columns(params, "params", self.param_scaler)
        x = self._context(features, rows=len(y))
        if len(x) not in (1, len(y)):
            raise DataError(f"features have {len(x)} rows but params have {len(y)}")
        return y, np.broadcast_to(x, (len(y), x.shape[1]))

    def log_prob(self, params, features=None) -> np.ndarray:
        """log p(params | features) in raw units: params (N, D), features (N, C) -> (N,)."""
        log_q = compiled(self.flow_module, "log_prob")(*self._pair(params, features))
        return np.asarray(log_q) + self.param_scaler.log_det

    def to_normal(self, params, features=None) -> np.ndarray:
        """The flow's map of params given features to N(0, I): (N, D) -> (N, D') (D' = D but
        on a manifold: the sum of its blocks' dimensions)."""
        return np.asarray(compiled(self.flow_module, "to_normal")(*self._pair(params, features)))

    def sample(self, key, features=None, n: int = 1) -> np.ndarray:
        """n draws of params per feature row: features (N, C) -> (N, n, D); None -> (n, D)."""
        self._require_fitted()
        draws = sample_rows(self.flow_module, key, self._context(features), n, SAMPLE_CHUNK)
        draws = np.asarray(self.param_scaler.inverse(draws))
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

    def save(self, directory, force: bool = False):
        """Write the model directory atomically (``flows.storage``)."""
        self._require_fitted()
        return storage.save(self, directory, force)

    @classmethod
    def load(cls, directory) -> ConditionalDensityEstimator:
        """The estimator saved in ``directory``; ModelDirError naming the bad file."""
        return storage.load(cls, directory)

    def architecture(self) -> dict:
        """What rebuilds this estimator: its constructor arguments."""
        training = dict(self.options, feature_noise=self.feature_noise)
        return {"flow": dataclasses.asdict(self.config), "training": training}
