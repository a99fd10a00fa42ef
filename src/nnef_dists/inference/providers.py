"""Expectation providers: where CAVI gets mu_T(eta) = E[T | eta] (and A(eta)) from.

Every provider has the same interface (``Provider``): a pure function
``mu_T(eta (k,), key) -> (k,)``, an optional ``log_partition(eta (k,)) -> ()``
(needed for the ELBO), an optional box ``eta_range`` outside which its answers
are extrapolations, and a name. Three kinds:

- ``exact(family)``: the family's ground truth (``sampling.exact_functions``):
  the closed form where the family has one, else the adaptive quadrature rule
  traced as a pure JAX function, so the CAVI loop stays one compiled program
  on CPU, GPU or TPU: about 1e-12 relative in float64 (run under
  ``jax.enable_x64(True)`` with float64 inputs), float32 rounding otherwise.
- ``network(dir)``: a trained model directory (``load_model``); the model's
  own log_partition where it has one (e.g. potential_et, whose learned A is
  defined up to an additive constant), and the training data's eta box as
  ``eta_range``.
- ``mc(family, config)``: batched HMC/NUTS (``sampling.mcmc.mcmc_local``) at
  each call, with the key that CAVI passes (a fresh one per iteration).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from nnef_dists.errors import ConfigError
from nnef_dists.families import ExponentialFamily
from nnef_dists.models import LoadedModel, load_model
from nnef_dists.sampling import SamplingConfig, exact_functions
from nnef_dists.sampling.mcmc import mcmc_local


@dataclass(frozen=True, eq=False)
class Provider:
    """E[T | eta] (and optionally A(eta)) of one variational family, as pure functions.

    Compared and hashed by identity, so a provider can be a static argument
    of ``jax.jit`` (as in ``cavi``): one compilation per provider object.

    Attributes:
      name: e.g. 'exact:gamma', 'network:mlp_et', 'mc:gaussian_1d'.
      stat_dim: k, the number of sufficient statistics.
      mu_T: (eta (k,), key) -> (k,); deterministic providers ignore the key.
      log_partition: eta (k,) -> () or None when the provider has none.
      eta_range: (lo (k,), hi (k,)) NumPy arrays, or None: the box where the
        provider's answers are not extrapolations.
      needs_key: whether mu_T uses its key (stochastic estimates).
    """

    name: str
    stat_dim: int
    mu_T: Callable
    log_partition: Callable | None = None
    eta_range: tuple | None = None
    needs_key: bool = False

    def outside(self, eta):
        """Whether eta (k,) lies outside ``eta_range``: a bool scalar (False without one)."""
        if self.eta_range is None:
            return jnp.zeros((), bool)
        lo, hi = self.eta_range
        return jnp.any((eta < lo) | (eta > hi))


def _cached(build):
    """``build`` memoised on its (hashable) arguments: the same provider object, so
    ``cavi`` reuses its compiled program; unhashable arguments build a new one."""
    memo = functools.cache(build)

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        try:
            hash((args, tuple(kwargs.items())))
        except TypeError:
            return build(*args, **kwargs)
        return memo(*args, **kwargs)

    return wrapper


@_cached
def exact(family: ExponentialFamily) -> Provider:
    """Closed-form moments, or jittable float64-capable quadrature (module docstring).

    One provider object per family (memoised), so ``cavi`` compiles once.

    Raises:
      FamilyError: the family has neither a closed form nor a quadrature rule;
        use ``mc`` or ``network``.
    """
    functions = exact_functions(family)
    return Provider(
        name=f"exact:{family.name}",
        stat_dim=family.stat_dim,
        mu_T=lambda eta, key=None: functions.mu_T(eta),
        log_partition=functions.log_partition,
    )


def network(model: str | Path | LoadedModel) -> Provider:
    """A trained ET network: a model directory (README: Model directories) or a LoadedModel.

    ``log_partition`` is the model's where it provides one (potential_et:
    learned up to an additive constant, so the ELBO is too); ``eta_range`` is
    the box of its training eta, outside which CAVI counts iterates as
    extrapolations.
    """
    if not isinstance(model, LoadedModel):
        model = load_model(model)
    where = f"@{model.directory}" if model.directory is not None else ""
    return Provider(
        name=f"network:{model.name}{where}",
        stat_dim=int(model.record["eta_dim"]),
        mu_T=lambda eta, key=None: model.mu_T(eta),
        log_partition=model.log_partition if "log_partition" in model.provides else None,
        eta_range=None if model.eta_range is None else tuple(map(np.asarray, model.eta_range)),
    )


@_cached
def mc(family: ExponentialFamily, config: SamplingConfig | None = None) -> Provider:
    """HMC (or NUTS) estimates of E[T | eta], a new run at every call (memoised like exact).

    Args:
      family: the variational family.
      config: a SamplingConfig with method 'hmc' or 'nuts' (default: its
        defaults, 4 chains of 1000 draws after 500 warm-up steps). Its
        standard error per statistic is about sd(T) / sqrt(ESS).
    """
    config = SamplingConfig() if config is None else config
    if config.method not in ("hmc", "nuts"):
        raise ConfigError(
            f"providers.mc: sampling.method must be hmc or nuts, not {config.method!r}"
        )

    def mu_T(eta, key):
        return mcmc_local(family, config, key[None], eta[None])["mu_T"][0]

    return Provider(name=f"mc:{family.name}", stat_dim=family.stat_dim, mu_T=mu_T, needs_key=True)


__all__ = ["Provider", "exact", "mc", "network"]
