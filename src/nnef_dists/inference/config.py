"""CAVI example configs (``configs/cavi/*.yaml``), strictly validated like the data configs.

    example: normal_gamma            # or polynomial_prior
    data: {num_points: 4, mu: 0.5, tau: 1.0, seed: 0}    # or values: [d_1, ..., d_N]
    prior:
      mu: {mean: 0.0, sd: 1.0}       # polynomial_prior: {coefficients: [c1, c2, c3, c4]}
      tau: {shape: 2.0, rate: 2.0}
    run:                             # the providers of q(mu) (x) and q(tau) (y)
      x: {kind: network, model: artifacts/cavi/normal_gamma_gaussian_1d}
      y: {kind: mc, sampling: {num_samples: 1000, num_warmup: 500}}
    reference: {x: {kind: exact}, y: {kind: exact}}
    solver: {tol: 1.0e-6, max_iter: 100, damping: 0.0}
    seed: 0                          # key of mc providers

Every problem (unknown, misspelt, mistyped, missing or out-of-range field, a
provider field that its kind does not take) is one ConfigError naming the
file and the dotted field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nnef_dists import schema
from nnef_dists.errors import ConfigError
from nnef_dists.sampling.config import SamplingConfig
from nnef_dists.schema import NON_EMPTY, OPTIONAL_POSITIVE, POSITIVE, at_least, checked, one_of

_DAMPING = (lambda v: 0 <= v < 1), "must lie in [0, 1)"


@dataclass(frozen=True)
class DataSpec:
    """``data:`` simulated (num_points draws of N(mu, 1/tau) with seed) or given values."""

    num_points: int | None = checked(OPTIONAL_POSITIVE, default=None)
    mu: float = 0.0
    tau: float = checked(POSITIVE, default=1.0)
    seed: int = checked(at_least(0), default=0)
    values: tuple[float, ...] | None = None


@dataclass(frozen=True)
class NormalPrior:
    """``prior.mu`` of normal_gamma: mu ~ N(mean, sd^2)."""

    mean: float = checked()
    sd: float = checked(POSITIVE)


@dataclass(frozen=True)
class PolynomialPrior:
    """``prior.mu`` of polynomial_prior: log p(mu) = c_1 mu + ... + c_4 mu^4 + const, c_4 < 0."""

    coefficients: tuple[float, ...] = checked(
        ((lambda v: len(v) == 4 and v[3] < 0), "must be 4 numbers, the last negative")
    )


@dataclass(frozen=True)
class GammaPrior:
    """``prior.tau``: tau ~ Gamma(shape, rate)."""

    shape: float = checked(POSITIVE)
    rate: float = checked(POSITIVE)


#: example -> the dataclass of its ``prior.mu``.
MU_PRIORS = {"normal_gamma": NormalPrior, "polynomial_prior": PolynomialPrior}


@dataclass(frozen=True)
class PriorConfig:
    """``prior:`` mu's prior and tau's.

    ``mu`` is read as a mapping, then parsed into the example's dataclass
    (MU_PRIORS) by ``parse_cavi_config``.
    """

    mu: dict = checked()
    tau: GammaPrior = checked()


@dataclass(frozen=True)
class ProviderConfig:
    """One provider: ``kind`` exact | network (``model``: directory) | mc (``sampling``)."""

    kind: str = checked(one_of("exact", "network", "mc"))
    model: str | None = checked(
        ((lambda v: v is None or len(v) > 0), "must not be empty"), default=None
    )
    sampling: SamplingConfig | None = None
    # network only: who answers outside the model's training domain: exact (the
    # default), mc, or none (the network extrapolates)
    fallback: str | None = checked(
        ((lambda v: v in (None, "exact", "mc", "none")), "must be exact, mc or none"), default=None
    )


@dataclass(frozen=True)
class ProvidersConfig:
    """``run:`` or ``reference:`` the providers of x = mu and y = tau."""

    x: ProviderConfig = checked()
    y: ProviderConfig = checked()


@dataclass(frozen=True)
class SolverConfig:
    """``solver:`` the arguments of ``cavi``."""

    tol: float = checked(POSITIVE, default=1e-6)
    max_iter: int = checked(POSITIVE, default=100)
    damping: float = checked(_DAMPING, default=0.0)


@dataclass(frozen=True)
class CaviConfig:
    """A whole CAVI example config; ``prior.mu`` is a NormalPrior or PolynomialPrior."""

    example: str = checked(one_of(*MU_PRIORS))
    data: DataSpec = checked()
    prior: PriorConfig = checked()
    run: ProvidersConfig = checked()
    reference: ProvidersConfig = checked()
    solver: SolverConfig = checked(default=SolverConfig())
    seed: int = checked(at_least(0), default=0)


def parse_cavi_config(mapping, source: str = "<dict>") -> CaviConfig:
    """Validate a mapping (parsed YAML) into a CaviConfig; errors are ConfigErrors naming
    ``source`` and the field."""
    try:
        config = schema.parse(CaviConfig, mapping)
        mu = schema.parse(MU_PRIORS[config.example], config.prior.mu, where="prior.mu")
        _check_data(config.data)
        for where in ("run", "reference"):
            for name in ("x", "y"):
                _check_provider(getattr(getattr(config, where), name), f"{where}.{name}")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return dataclasses.replace(config, prior=dataclasses.replace(config.prior, mu=mu))


def load_cavi_config(path) -> CaviConfig:
    """Read and validate a YAML CAVI config; every problem is one ConfigError."""
    return parse_cavi_config(schema.read_yaml(path), source=str(path))


def _check_data(data: DataSpec) -> None:
    if (data.values is None) == (data.num_points is None):
        raise ConfigError("data: give either values or num_points (to simulate), not both")
    if data.values is not None and not data.values:
        raise ConfigError(f"data.values: {NON_EMPTY[1]}")


def _check_provider(provider: ProviderConfig, where: str) -> None:
    if provider.kind == "network" and provider.model is None:
        raise ConfigError(f"{where}.model: missing; a network provider needs a model directory")
    if provider.kind != "network" and provider.model is not None:
        raise ConfigError(f"{where}.model: only a network provider takes a model directory")
    if provider.kind != "network" and provider.fallback is not None:
        raise ConfigError(f"{where}.fallback: only a network provider takes a fallback")
    if provider.kind != "mc" and provider.sampling is not None:
        raise ConfigError(f"{where}.sampling: only an mc provider takes sampling settings")
    if provider.sampling is not None and provider.sampling.method == "quadrature":
        raise ConfigError(f"{where}.sampling.method: an mc provider samples (hmc or nuts)")
