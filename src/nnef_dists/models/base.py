"""What an ET network is: a Flax NNX module mapping eta (k,) to mu_T (k,).

Every model is written for one natural parameter vector; callers vectorise
(``load_model`` wraps it with ``jnp.vectorize``, the trainer with ``vmap``).
The standardisation of the training data is part of the model (an
``Normalization`` held as non-trainable state), so a model is called with raw
eta and returns raw mu_T, and each model chooses how to use the scales: the
plain networks standardise in and out, while the networks whose Jacobian must
be symmetric positive semi-definite use a congruent scaling (see
``Normalization.congruent_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from nnef_dists.data.standardize import Standardizer


class Normalization(NamedTuple):
    """Standardisation of eta and of mu_T (``data.Standardizer``), fitted on the training split."""

    eta: Standardizer
    mu: Standardizer

    @classmethod
    def from_data(cls, eta, mu_T) -> Normalization:
        """From training eta (N, k) and mu_T (N, k): float32 means and scales."""
        return cls(_on_device(Standardizer.fit(eta)), _on_device(Standardizer.fit(mu_T)))

    @classmethod
    def identity(cls, k: int) -> Normalization:
        """No standardisation: zero means, unit scales."""
        same = Standardizer(jnp.zeros(k), jnp.ones(k))
        return cls(same, same)

    def to_dict(self) -> dict:
        """Plain lists, for config.yaml."""
        return {"eta": self.eta.to_dict(), "mu": self.mu.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(*(_on_device(Standardizer.from_dict(d[name])) for name in cls._fields))

    def standardize_eta(self, eta):
        """(eta - eta mean) / eta scale."""
        return self.eta.transform(eta)

    def unstandardize_mu(self, y):
        """mu mean + mu scale * y."""
        return self.mu.inverse(y)

    @property
    def congruent_scale(self):
        """w (k,) = sqrt(mu scale / eta scale).

        With z = w * (eta - eta mean) and mu = mu mean + w * g(z), the
        Jacobian d mu / d eta = diag(w) (dg/dz) diag(w) is symmetric positive
        semi-definite whenever dg/dz is, and has the typical size
        mu scale / eta scale of Cov[T] when dg/dz is of order one.
        """
        return jnp.sqrt(self.mu.scale / self.eta.scale)


def _on_device(standardizer: Standardizer) -> Standardizer:
    return Standardizer(*(jnp.asarray(a, jnp.float32) for a in standardizer))


class NormalizationState(nnx.Variable):
    """Non-trainable model state holding the data's Normalization (saved with the model)."""


@dataclass(frozen=True)
class NoOptions:
    """The options of a model that takes none."""


class ETModel(nnx.Module):
    """Base class of the ET networks: eta (k,) -> mu_T (k,).

    Subclasses are registered with ``@register_model(name)``, describe their
    keyword options by ``Options`` (a frozen dataclass that checks them in
    ``__post_init__``) and implement ``build`` (the layers) and ``mu_T``;
    where the model has them, they also implement ``cov_TT`` (its own
    covariance network or Hessian, used by the Jacobian loss instead of
    autodiff of ``mu_T``), ``log_partition`` and ``eta_from_mu``; a model
    whose inverse is iterative overrides ``inverse`` too.

    Args:
      eta_dim: k, the dimension of eta and of mu_T.
      normalization: the training data's Normalization.
      hidden_sizes: hidden widths (what they are depends on the model).
      rngs: random streams for the initial weights.
      options: the fields of the model's ``Options``.

    Class attributes:
      provides: the methods beyond mu_T that the model implements.
      training_defaults: what the training fields ``loss``, ``jacobian_weight``
        and ``hidden_sizes`` become when a config leaves them out, and
        optionally ``epoch_share``, the share of the common default epochs
        the model trains for (1 when absent), ``polish_steps``, the
        full-batch L-BFGS iterations after them, and ``ema_epochs``, the span
        of the moving average of the epochs' parameters that is validated
        and kept (0 when absent); ``exact`` maps any of them to its value
        for exact targets (quadrature data). See ``training.defaults``.
      Options: the dataclass of the model's options.
    """

    provides: ClassVar[tuple[str, ...]] = ()
    training_defaults: ClassVar[dict] = {
        "loss": "noise_weighted",
        "jacobian_weight": 1.0,
        "hidden_sizes": (64, 64),
        "exact": {"loss": "mse"},
    }
    registry_name: ClassVar[str]
    Options: ClassVar[type] = NoOptions

    def __init__(self, eta_dim: int, normalization, *, hidden_sizes=(64, 64), rngs, **options):
        self.normalization = NormalizationState(Normalization(*normalization))
        self.eta_dim = int(eta_dim)
        self.options = self.Options(**options)
        self.build(hidden_sizes, rngs)

    def build(self, hidden_sizes, rngs: nnx.Rngs) -> None:
        """Create the layers; ``eta_dim``, ``options`` and ``norm`` are set."""
        raise NotImplementedError

    @property
    def norm(self) -> Normalization:
        return self.normalization.get_value()

    def mu_T(self, eta: jax.Array) -> jax.Array:
        """E[T(x) | eta]: (k,) -> (k,)."""
        raise NotImplementedError

    def jacobian(self, eta: jax.Array) -> jax.Array:
        """d mu_T / d eta (k, k): the model's cov_TT if it has one, else autodiff."""
        if "cov_TT" in self.provides:
            return self.cov_TT(eta)
        return jax.jacfwd(self.mu_T)(eta)

    def mu_T_and_jvp(self, eta: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(mu_T(eta), J u_m per row u_m of u), J = ``jacobian``: (k,), (m, k) -> (k,), (m, k).

        Forward-mode passes along the m directions sharing one mu_T (for
        autodiff models; ``jacobian`` takes k), or the model's cov_TT times u
        where it has one.
        """
        if "cov_TT" in self.provides:
            return self.mu_T(eta), u @ self.cov_TT(eta).T
        pushforward = partial(jax.jvp, self.mu_T, (eta,))
        return jax.vmap(lambda t: pushforward((t,)), out_axes=(None, 0))(u)

    def inverse(self, anchors=None):
        """eta_from_mu for a batch: a function mu (N, k) -> eta (N, k).

        anchors (M, k): eta near the likely answers (the training eta), which
        an iterative inverse may start from; whatever it needs of them is
        computed here, once for all the mu it is then called on.
        """
        return jax.vmap(self.eta_from_mu)

    def __call__(self, eta: jax.Array) -> jax.Array:
        return self.mu_T(eta)


def mlp_layers(sizes, rngs: nnx.Rngs) -> nnx.List:
    """Dense layers between consecutive entries of sizes (in, hidden..., out)."""
    return nnx.List(
        [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    )


__all__ = ["ETModel", "NoOptions", "Normalization", "NormalizationState", "mlp_layers"]
