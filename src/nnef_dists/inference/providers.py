"""Expectation providers: where CAVI gets mu_T(eta) = E[T | eta] (and A(eta)) from.

Every provider has the same interface (``Provider``): a pure function
``mu_T(eta (k,), key) -> (k,)``, an optional ``log_partition(eta (k,)) -> ()``
(needed for the ELBO), an optional ``in_domain(eta) -> bool`` outside which
its own answers are extrapolations, an optional ``fallback`` provider that
answers there instead, and a name. Three kinds:

Providers are thin: ``exact`` and ``network`` are a family toolkit
(``nnef_dists.toolkit``) plus where it is valid.

- ``exact(family)``: the family's ground truth (``toolkit(family)``):
  the closed form where the family has one, else the adaptive quadrature rule
  traced as a pure JAX function, so the CAVI loop stays one compiled program
  on CPU, GPU or TPU: about 1e-12 relative in float64 (run under
  ``jax.enable_x64(True)`` with float64 inputs), float32 rounding otherwise.
- ``network(dir, fallback=...)``: a trained model directory (``toolkit(model)``),
  trusted inside its training domain (``models.domain``); outside it the
  fallback answers (``"exact"``: the family's closed form or quadrature,
  ``"mc"``: HMC, or any provider), or without one the network extrapolates.
  The model's own log_partition where it has one (e.g. potential_et, whose
  learned A is defined up to an additive constant).
- ``mc(family, config)``: batched HMC/NUTS (``sampling.mcmc.mcmc_local``) at
  each call, with the key that CAVI passes (a fresh one per iteration).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp

from nnef_dists.errors import ConfigError
from nnef_dists.families import ExponentialFamily
from nnef_dists.models import LoadedModel, load_model
from nnef_dists.sampling import SamplingConfig
from nnef_dists.sampling.mcmc import mcmc_local
from nnef_dists.toolkit import toolkit


@dataclass(frozen=True, eq=False)
class Provider:
    """E[T | eta] (and optionally A(eta)) of one variational family, as pure functions.

    Compared and hashed by identity, so a provider can be a static argument
    of ``jax.jit`` (as in ``cavi``): one compilation per provider object.

    Attributes:
      name: e.g. 'exact:gamma', 'network:mlp_et', 'mc:gaussian_1d'.
      stat_dim: k, the number of sufficient statistics.
      mu_T: (eta (k,), key) -> (k,); deterministic providers ignore the key.
        A provider with a fallback answers from it outside its domain.
      log_partition: eta (k,) -> () or None when the provider has none.
      in_domain: eta (k,) -> bool scalar, where its own answers are not
        extrapolations; None: everywhere.
      fallback: the Provider that answers outside the domain, or None.
      needs_key: whether mu_T uses its key (stochastic estimates).
    """

    name: str
    stat_dim: int
    mu_T: Callable
    log_partition: Callable | None = None
    in_domain: Callable | None = None
    fallback: Provider | None = None
    needs_key: bool = False

    def outside(self, eta):
        """Whether eta (k,) lies outside the domain: a bool scalar (False without one)."""
        if self.in_domain is None:
            return jnp.zeros((), bool)
        return ~self.in_domain(eta)


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
    tk = toolkit(family)
    return Provider(
        name=f"exact:{family.name}",
        stat_dim=family.stat_dim,
        mu_T=lambda eta, key=None: tk.mean(eta),
        log_partition=tk.log_partition_fn,
    )


def network(model: str | Path | LoadedModel, fallback: str | Provider | None = None) -> Provider:
    """A trained ET network: a model directory (README: Model directories) or a LoadedModel.

    Args:
      model: the model directory or LoadedModel.
      fallback: who answers outside the model's training domain: ``"exact"``
        (``exact(family)``: closed form or quadrature), ``"mc"`` (``mc(family)``),
        a Provider, or None (the network extrapolates; CAVI counts those iterates).

    ``log_partition`` is the model's where it provides one (potential_et:
    learned up to an additive constant, so the ELBO is too).

    Raises:
      ConfigError: an unknown fallback, or one the model's family cannot give.
    """
    if not isinstance(model, LoadedModel):
        model = load_model(model)
    where = f"@{model.directory}" if model.directory is not None else ""
    tk = toolkit(model)
    backup = _fallback(model, fallback)

    def mu_T(eta, key=None):
        if backup is None:
            return tk.mean(eta)
        return jax.lax.cond(
            model.in_domain(eta), tk.mean, lambda e: backup.mu_T(e, key).astype(eta.dtype), eta
        )

    return Provider(
        name=f"network:{model.name}{where}" + (f"+{backup.name}" if backup else ""),
        stat_dim=tk.eta_dim,
        mu_T=mu_T,
        log_partition=tk.log_partition_fn,
        in_domain=model.in_domain if model.domain is not None else None,
        fallback=backup,
        needs_key=backup is not None and backup.needs_key,
    )


def _fallback(model: LoadedModel, fallback) -> Provider | None:
    if fallback is None or isinstance(fallback, Provider):
        return fallback
    if fallback not in ("exact", "mc"):
        raise ConfigError(
            f"providers.network: fallback must be exact, mc or a Provider, got {fallback!r}"
        )
    if model.family is None:
        raise ConfigError(
            f"{model.directory}: the model does not record its family, so it has no {fallback} "
            "fallback"
        )
    return exact(model.family) if fallback == "exact" else mc(model.family)


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
