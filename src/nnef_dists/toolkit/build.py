"""``toolkit(source)``: the Toolkit of a family or of a trained model directory.

- a family with a closed form (``log_partition`` or ``exact_mu_T``): A, mu and
  Cov from it (autodiff of A where only A is given);
- else a family whose support has dimension <= 2: the adaptive quadrature
  rule (``sampling.quadrature``), about 1e-12 relative in float64;
- a model directory (or LoadedModel): the network's mu_T and cov_TT (its
  Jacobian where it has no cov_TT), A where it provides it (potential_et).

E[log h] comes from the family's quadrature rule where it has one; draws
from the inverse CDF of that rule on 1-D supports, else from HMC (n
independent chains, the last state of each), for a model directory too
where its family module is found.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.errors import NnefError
from nnef_dists.families import ExponentialFamily
from nnef_dists.numerics import first_argmin
from nnef_dists.sampling import SamplingConfig
from nnef_dists.sampling.exact import exact_functions
from nnef_dists.sampling.mcmc import last_draws
from nnef_dists.sampling.quadrature import moments_from_nodes, rule_for, supports_quadrature
from nnef_dists.toolkit import quadrature
from nnef_dists.toolkit.toolkit import Toolkit


def toolkit(source) -> Toolkit:
    """The Toolkit of an ExponentialFamily, a model directory or a LoadedModel.

    Raises:
      FamilyError: a family with neither a closed form nor a quadrature rule
        (train a network for it and pass its model directory).
    """
    if isinstance(source, ExponentialFamily):
        return _of_family(source)
    from nnef_dists.models import LoadedModel, load_model

    model = source if isinstance(source, LoadedModel) else load_model(Path(source))
    return _of_model(model)


def _of_family(family: ExponentialFamily) -> Toolkit:
    exact = exact_functions(family)  # FamilyError: neither closed form nor quadrature
    if exact.source == "quadrature":
        rule = rule_for(family)

        def moments(eta):  # both from one rule
            mu, cov, _, _ = moments_from_nodes(*rule(eta))
            return mu, cov
    else:

        def moments(eta):
            return exact.mu_T(eta), exact.cov_TT(eta)

    by_quadrature = supports_quadrature(family)
    return Toolkit(
        name=family.name,
        source=exact.source,
        eta_dim=family.stat_dim,
        mean_fn=exact.mu_T,
        moments=moments,
        log_partition_fn=exact.log_partition,
        in_space=family.in_natural_space,
        start=_start(family, exact.log_partition),
        statistics=family.compute_stats_flat,
        log_base=family.log_base_measure,
        expected_log_base=_expected_log_base(family, by_quadrature),
        sampler=_sampler(family, by_quadrature),
    )


#: Anchor points ``natural`` may start from, and the spread of their radii (decades).
ANCHORS, RADII = 256, (-1.5, 2.5)


def _start(family, log_partition):
    """mu (N, k) -> where ``natural`` starts: the family's ``natural_guess(mu)`` where it
    has one and the guess is usable, else the anchor eta_a minimising
    A(eta_a) - mu . eta_a, i.e. KL(p(mu) || p(eta_a)).

    The anchors are ``family.reference_eta()`` r, r + rho u (|r| + 1) (u
    random unit vectors, rho log-uniform over RADII decades); those outside
    the natural space (or with A not finite) are left out. Without A: r.
    The anchor search (N x ANCHORS) is skipped when every guess is usable.
    """
    reference = np.asarray(family.reference_eta(), float)
    if log_partition is None:
        return lambda mu: jnp.broadcast_to(jnp.asarray(reference, mu.dtype), mu.shape)
    rng = np.random.default_rng(0)
    u = rng.standard_normal((ANCHORS - 1, reference.size))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    rho = 10.0 ** rng.uniform(*RADII, size=(ANCHORS - 1, 1))
    candidates = np.vstack([reference, reference + rho * u * (np.abs(reference) + 1.0)])

    def usable(eta, a):
        return family.in_natural_space(eta) & jnp.isfinite(a) & jnp.all(jnp.isfinite(eta), -1)

    def nearest_anchor(mu):
        anchors = jnp.asarray(candidates, mu.dtype)  # A at them: once, not per mu
        a = jax.vmap(log_partition)(anchors)
        return _least_objective(anchors, jnp.where(usable(anchors, a), a, jnp.inf), mu)

    if type(family).natural_guess is ExponentialFamily.natural_guess:
        return nearest_anchor

    def start(mu):
        guess = jax.vmap(family.natural_guess)(mu).astype(mu.dtype)
        ok = usable(guess, jax.vmap(log_partition)(guess))
        return jax.lax.cond(
            jnp.all(ok),
            lambda: guess,
            lambda: jnp.where(ok[:, None], guess, nearest_anchor(mu)),
        )

    return start


def _expected_log_base(family, by_quadrature: bool):
    if type(family).log_base_measure is ExponentialFamily.log_base_measure:
        return lambda eta: jnp.zeros((), eta.dtype)
    if by_quadrature:
        return lambda eta: quadrature.expected_log_base(family, eta)
    return None


#: HMC draws (``sampling.mcmc.last_draws``): chains per copy of eta, warm-up steps,
#: then steps before each chain's last state.
DRAW_CHAINS, DRAW_WARMUP, DRAW_STEPS = 8, 400, 20


def _sampler(family, by_quadrature: bool):
    """1-D quadrature: the inverse CDF; else HMC, the last state of each of n chains
    (n / DRAW_CHAINS copies of eta, each with its key and its own adaptation)."""
    if by_quadrature and quadrature.is_one_dimensional(family):
        return lambda key, eta, n: quadrature.inverse_cdf_sample(family, key, eta, n)
    config = SamplingConfig(num_chains=DRAW_CHAINS, num_warmup=DRAW_WARMUP, num_samples=DRAW_STEPS)

    def by_hmc(key, eta, n):
        copies = -(-n // DRAW_CHAINS)
        eta = jnp.broadcast_to(eta, (copies, eta.shape[-1]))
        draws = last_draws(family, config, jax.random.split(key, copies), eta)
        return draws.reshape(-1, *family.x_shape)[:n]

    return by_hmc


def _of_model(model) -> Toolkit:
    provides = model.provides
    cov = model.cov_TT if "cov_TT" in provides else model.jacobian
    norm = model.module.norm
    family = _family_or_none(model)
    log_partition = model.log_partition if "log_partition" in provides else None
    in_space = family.in_natural_space if family is not None else lambda eta: jnp.array(True)
    by_quadrature = family is not None and supports_quadrature(family)
    return Toolkit(
        name=f"{model.name} ({model.directory})",
        source="network",
        eta_dim=int(norm.eta.mean.shape[0]),
        mean_fn=model.mu_T,
        moments=lambda eta: (model.mu_T(eta), cov(eta)),
        log_partition_fn=log_partition,
        in_space=in_space,
        start=_network_start(model, log_partition),
        statistics=None if family is None else family.compute_stats_flat,
        log_base=None if family is None else family.log_base_measure,
        expected_log_base=None if family is None else _expected_log_base(family, by_quadrature),
        sampler=None if family is None else _sampler(family, by_quadrature),
    )


def _network_start(model, log_partition):
    """mu (N, k) -> the training eta kept with the model (or the training mean) closest to
    the answer: least A(eta_a) - mu . eta_a where the network has A, else nearest mu_T(eta_a)
    in units of the training mu's spread."""
    norm = model.module.norm
    if model.domain is None:
        return lambda mu: jnp.broadcast_to(jnp.asarray(norm.eta.mean, mu.dtype), mu.shape)
    points = model.domain.points

    def start(mu):
        anchors = jnp.asarray(points, mu.dtype)
        if log_partition is not None:
            return _least_objective(anchors, log_partition(anchors), mu)
        gap = (model.mu_T(anchors)[None] - mu[:, None]) / jnp.asarray(norm.mu.scale, mu.dtype)
        return anchors[first_argmin(jnp.sum(gap**2, axis=-1), axis=1)]

    return start


def _least_objective(anchors, a, mu):
    """Per row of mu (N, k), the anchor (M, k) of least A(eta_a) - mu . eta_a (a: (M,))."""
    return anchors[first_argmin(a[None, :] - mu @ anchors.T, axis=1)]


def _family_or_none(model):
    """The model's family, or None where its module cannot be found (the network's
    own members still work; those that need T(x) or the natural space say so)."""
    try:
        return model.family
    except (NnefError, ImportError):
        return None
