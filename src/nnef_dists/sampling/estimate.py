"""One loop for every estimator: the moments of T at many eta, batch by batch.

Eta are processed in batches of a fixed size (the last batch is padded, so
one compiled program serves them all). Eta number i uses the key
``fold_in(key, i)`` whatever batch it falls in, so the results do not depend
on the batch size. A ``store`` (``load(index)``, ``save(index, arrays)``)
keeps finished batches, so that an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from nnef_dists import runtime
from nnef_dists.sampling.mcmc import eta_keys, mcmc_batch
from nnef_dists.sampling.quadrature import quadrature_moments


def estimate_batch(family, config, keys, eta) -> dict:
    """Moments of T for one batch.

    Args:
      family: an ExponentialFamily.
      config: a SamplingConfig.
      keys: (B,) PRNG keys, one per eta (``mcmc.eta_keys``; unused by quadrature).
      eta: (B, k) natural parameters.

    Returns:
      dict of NumPy arrays: mu_T (B, k), cov_TT (B, k, k), ess (B, k) (inf for
      quadrature) and the per-eta diagnostics: for quadrature edge_mass and
      rejected (B,) (see ``quadrature.quadrature_moments``), for MCMC rhat
      (B, k), num_divergent, acceptance_rate and step_size (B,).
    """
    if config.method == "quadrature":
        out = quadrature_moments(family, np.asarray(eta, dtype=np.float64), strict=False)
        out.pop("log_partition")
        out["rejected"] = out["rejected"].astype(np.float64)  # travels between processes
        out["ess"] = np.full(out["mu_T"].shape, np.inf)
        return out
    out = mcmc_batch(family, config, keys, jnp.asarray(eta, dtype=runtime.float_dtype()))
    return {name: np.asarray(value, dtype=np.float64) for name, value in out.items()}


def iter_batches(num_points: int, batch_size: int) -> Iterator[tuple[int, slice]]:
    """(batch index, slice of eta rows) for every batch."""
    for index, start in enumerate(range(0, num_points, batch_size)):
        yield index, slice(start, min(start + batch_size, num_points))


def estimate_rows(family, config, key, eta, rows: slice, batch_size: int) -> dict:
    """estimate_batch on the eta[rows] of a data set, padded to batch_size rows.

    Args:
      key: the data set's sampling key; eta number i gets fold_in(key, i).
      eta: (N, k) every eta of the data set; rows: the n <= batch_size to estimate.
    """
    index = np.arange(rows.start, rows.start + batch_size)
    index[rows.stop - rows.start :] = rows.stop - 1  # padding repeats the last eta
    out = estimate_batch(family, config, eta_keys(key, index), eta[index])
    return {name: value[: rows.stop - rows.start] for name, value in out.items()}


def estimate_batches(family, config, key, eta, batch_size, batches, store=None, progress=False):
    """{batch index: results} for ``batches`` (pairs from ``iter_batches``), in order.

    Each batch is loaded from ``store`` when it holds it, else estimated (and
    saved to ``store``). ``progress`` shows a bar over the batches.
    """
    parts = {}
    for index, rows in tqdm(batches, disable=not progress, unit="batch", desc=family.name):
        result = store.load(index) if store is not None else None
        if result is None:
            result = estimate_rows(family, config, key, eta, rows, batch_size)
            if store is not None:
                store.save(index, result)
        parts[index] = result
    return parts


def concatenate(parts: dict) -> dict:
    """The results of every batch ({index: results}) as one dict of arrays, in index order."""
    order = sorted(parts)
    return {name: np.concatenate([parts[i][name] for i in order]) for name in parts[order[0]]}


def generate(family, eta, config, key, batch_size: int = 256, progress: bool = False) -> dict:
    """Estimate E[T], Cov[T] and the ESS at every eta.

    Args:
      family: an ExponentialFamily.
      eta: (N, k) natural parameters (in the family's natural parameter space).
      config: a SamplingConfig; ``method`` picks hmc, nuts or quadrature.
      key: PRNG key; eta number i uses fold_in(key, i).
      batch_size: eta per compiled batch.
      progress: show a progress bar over batches.

    Returns:
      dict of float64 arrays: mu_T (N, k), cov_TT (N, k, k), ess (N, k) and,
      for MCMC, the per-eta diagnostics of estimate_batch.
    """
    eta = np.asarray(eta)
    batch_size = min(batch_size, len(eta))
    batches = list(iter_batches(len(eta), batch_size))
    return concatenate(
        estimate_batches(family, config, key, eta, batch_size, batches, progress=progress)
    )
