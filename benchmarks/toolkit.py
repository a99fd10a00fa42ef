"""The family toolkit's inverse map mu -> eta against efax's ``to_nat()``, in one run.

For gamma, beta, Dirichlet (K = 5) and von Mises: N eta (default 10^5) drawn
in a wide box, their exact means (our closed forms, float64), then both
inverses jitted and vmapped over all N (compiled beforehand, best of
--repeats):

- error: |eta_hat - eta|_inf / |eta|_inf, median and maximum over the points;
- failures: the share of points off by more than 1e-6; "silent" counts the
  failures reported as converged (efax reports nothing, so all of its
  failures are silent);
- points per second.

Then, for a quadrature family (polynomial, p = 4, N / 1000 points) and, with --model DIR,
a trained potential_et (N / 10 points): the same figures for ``natural`` and the
entropy's throughput (no efax peer).

    python benchmarks/toolkit.py [--num-points 100000] [--repeats 3] [--model DIR]

efax needs Python >= 3.12; without it the efax columns are left empty.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nnef_dists.families import get_family  # noqa: E402
from nnef_dists.toolkit import toolkit  # noqa: E402

try:
    import efax
except ImportError:  # Python < 3.12
    efax = None

#: family -> (params, eta box (low, high) per coordinate, mu (N, k) -> efax EP)
CASES = {
    "gamma": ({}, ([-0.9, -20.0], [50.0, -0.05]), "GammaEP"),
    "beta": ({}, ([-0.9, -0.9], [50.0, 50.0]), "BetaEP"),
    "dirichlet": ({"K": 5}, ([-0.9] * 5, [30.0] * 5), "DirichletEP"),
    "von_mises": ({}, ([-30.0, -30.0], [30.0, 30.0]), "VonMisesFisherEP"),
}


def efax_inverse(name, mu):
    """efax's to_nat of our mean vectors (N, k): eta (N, k) in our order."""
    if name == "gamma":  # ours: (E log x, E x)
        nat = efax.GammaEP(mean=mu[:, 1], mean_log=mu[:, 0]).to_nat()
        return jnp.stack([nat.shape_minus_one, nat.negative_rate], axis=1)
    if name in ("beta", "dirichlet"):
        cls = efax.BetaEP if name == "beta" else efax.DirichletEP
        return cls(mean_log_probability=mu).to_nat().alpha_minus_one
    return efax.VonMisesFisherEP(mean=mu).to_nat().mean_times_concentration


def timed(fn, x, repeats):
    """(result, best seconds) of a compiled call, compilation apart."""
    out = jax.block_until_ready(fn(x))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(x))
        best = min(best, time.perf_counter() - start)
    return out, best


def scores(eta_hat, eta, converged=None):
    err = np.max(np.abs(eta_hat - eta), axis=1) / np.max(np.abs(eta), axis=1)
    err = np.where(np.isfinite(err), err, np.inf)
    failed = err > 1e-6
    silent = failed if converged is None else failed & converged
    return np.median(err), np.max(err), failed.mean(), silent.mean()


def row(label, n, seconds, median, worst, failed, silent):
    print(
        f"{label:34s} | {median:9.1e} {worst:9.1e} | {100 * failed:7.3f} {100 * silent:7.3f} |"
        f" {n / seconds:10.3g}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="a trained potential_et model directory")
    args = parser.parse_args()
    n, rng = args.num_points, np.random.default_rng(0)
    print(f"{n} points per family, float64, jit + vmap, best of {args.repeats}; CPU")
    print(
        f"{'family / inverse':34s} | {'err med':>9s} {'err max':>9s} |"
        f" {'fail %':>7s} {'silent%':>7s} | {'per s':>10s}"
    )
    print("-" * 84)
    for name, (params, (low, high), _) in CASES.items():
        tk = toolkit(get_family(name, **params))
        eta = jnp.asarray(rng.uniform(low, high, size=(n, len(low))))
        mu = jax.jit(tk.mean)(eta)
        result, seconds = timed(jax.jit(tk.natural), mu, args.repeats)
        row(
            f"{name}: nnef natural",
            n,
            seconds,
            *scores(np.asarray(result.eta), np.asarray(eta), np.asarray(result.converged)),
        )
        if efax is not None:
            got, seconds = timed(
                jax.jit(lambda m, name=name: efax_inverse(name, m)), mu, args.repeats
            )
            row(f"{name}: efax to_nat", n, seconds, *scores(np.asarray(got), np.asarray(eta)))
    quadrature_rows(n // 1000, args.repeats, rng)
    if args.model:
        model_rows(args.model, n // 10, args.repeats, rng)


def quadrature_rows(n, repeats, rng):
    """polynomial p = 4 (quadrature): natural and entropy."""
    tk = toolkit(get_family("polynomial", p=4))
    eta = jnp.asarray(np.column_stack([rng.uniform(-1, 1, (n, 3)), rng.uniform(-1, -0.2, n)]))
    mu = jax.jit(tk.mean)(eta)
    result, seconds = timed(jax.jit(tk.natural), mu, repeats)
    row(
        "polynomial p=4 (quadrature): natural",
        n,
        seconds,
        *scores(np.asarray(result.eta), np.asarray(eta), np.asarray(result.converged)),
    )
    _, seconds = timed(jax.jit(tk.entropy), eta, repeats)
    print(
        f"{'polynomial p=4: entropy':34s} | {'':9s} {'':9s} | {'':7s} {'':7s} | {n / seconds:10.3g}"
    )


def model_rows(directory, n, repeats, rng):
    """A trained potential_et (float32): natural of the exact mean, against the true eta
    (the training eta kept with the model, resampled), and entropy."""
    from nnef_dists.models import load_model

    model = load_model(directory)
    truth = toolkit(model.family)
    eta64 = jnp.asarray(model.domain.points[rng.integers(len(model.domain.points), size=n)])
    mu = jax.jit(truth.mean)(eta64).astype(jnp.float32)
    with jax.enable_x64(False):
        tk = toolkit(model)
        result, seconds = timed(jax.jit(tk.natural), mu, repeats)
        row(
            f"{model.name} (network): natural",
            n,
            seconds,
            *scores(
                np.asarray(result.eta, np.float64), np.asarray(eta64), np.asarray(result.converged)
            ),
        )
        _, seconds = timed(jax.jit(tk.entropy), eta64.astype(jnp.float32), repeats)
        print(
            f"{model.name + ' (network): entropy':34s} | {'':9s} {'':9s} | {'':7s} {'':7s} |"
            f" {n / seconds:10.3g}"
        )


if __name__ == "__main__":
    main()
