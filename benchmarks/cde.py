"""Conditional density estimation with the flows of nnef_dists.flows, in one table.

1. digits: scikit-learn's bundled 8x8 digits (1797 images). Features: the 64
   pixels standardised with the training rows' statistics; params: the
   one-hot class plus N(0, 0.05^2) noise; a random 80/20 train/test split.
   A test image is classified by the argmax of the predicted posterior mean
   (Monte-Carlo, 200 draws). Flows of width 128, 150 epochs at most (early
   stopping on the validation NLL). Target: test accuracy >= 97.8%.
2. lorenz: Lorenz-63 parameter recovery. (sigma, rho, beta) uniform on
   [5, 15] x [20, 40] x [1, 5]; x(t) on t in [0, 5] at 100 Hz from (1, 1, 1),
   integrated by RK4 in JAX (4 sub-steps per sample, vmapped over runs);
   features: log10 of the Welch power spectrum of x (nperseg 128, 65
   frequencies). 1000 runs, 800 to train; on the 200 held-out runs: coverage
   of the central 50% and 90% posterior intervals per parameter (1000 draws)
   and the RMSE of the posterior mean, next to the prior's RMSE (width / sqrt 12).
3. densities: unconditional 2-D densities, the energies U1-U4 of Rezende and
   Mohamed (2015) restricted to the box [-4, 4]^2 and a ring of 8 Gaussians
   (radius 2, std 0.2). U1-U4 are sampled on a fine grid: an 800 x 800-cell
   grid on the box, a cell drawn with probability proportional to exp(-U) at
   its centre, then a uniform point in the cell; that piecewise-constant
   density is the exact one of the samples, so its NLL is the reference
   ("true"). 10,000 training and 5,000 test samples; test NLL per flow
   (``gauss``: a Gaussianization flow, ``DENSITY_FLOWS``).
4. manifolds: flows on S^2, S^1 and a simplex against exact densities
   (``cde_manifolds``, cases in ``manifold_cases``); target: test NLL within 0.05 nats.

    python benchmarks/cde.py [--sections digits,lorenz,densities,manifolds] [--quick]

Needs scikit-learn (the ``bench`` extra) for the digits.
"""

from __future__ import annotations

from nnef_dists import runtime

if __name__ == "__main__":
    runtime.enable_compilation_cache()

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import signal

from cde_manifolds import manifolds  # beside this script
from nnef_dists.flows import FLOWS, ConditionalDensityEstimator
from nnef_dists.flows.calibration import calibrate

ROWS: list[tuple] = []


def report(section, case, flow, metric, value, reference="", seconds=None):
    """Add one row of the table (and show it at once)."""
    row = (
        section,
        case,
        flow,
        metric,
        value,
        reference,
        "" if seconds is None else f"{seconds:.0f}",
    )
    ROWS.append(row)
    print("  " + " | ".join(map(str, row)), flush=True)


def fit(kind, features, params, epochs, seed=0, **options):
    """A fitted estimator and its training time in seconds."""
    settings = dict(hidden=64, blocks=5, patience=30) | options
    lr, batch = settings.pop("lr", 1e-3), settings.pop("batch_size", 32)
    start = time.perf_counter()
    est = ConditionalDensityEstimator(kind, **settings)
    est.fit(features, params, epochs=epochs, lr=lr, batch_size=batch, seed=seed, progress=False)
    return est, time.perf_counter() - start


# -- 1. digits ------------------------------------------------------------------------


def digits(flows, epochs):
    from sklearn.datasets import load_digits

    pixels, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    test, train = order[: round(0.2 * len(labels))], order[round(0.2 * len(labels)) :]
    mean, std = pixels[train].mean(0), pixels[train].std(0)
    features = (pixels - mean) / np.where(std > 0, std, 1.0)
    params = np.eye(10)[labels] + 0.05 * rng.standard_normal((len(labels), 10))
    for kind in flows:
        est, seconds = fit(kind, features[train], params[train], epochs, hidden=128)
        predicted = est.stats(jax.random.key(1), features[test], n=200)["mean"].argmax(1)
        accuracy = np.mean(predicted == labels[test])
        nll = -est.log_prob(params[test], features[test]).mean()
        report(
            "digits",
            f"{len(test)} test images",
            kind,
            "accuracy",
            f"{accuracy:.2%}",
            ">= 97.80%",
            seconds,
        )
        report("digits", f"{len(test)} test images", kind, "test NLL", f"{nll:.2f}")


# -- 2. Lorenz-63 ---------------------------------------------------------------------

LORENZ_BOX = np.array([[5.0, 15.0], [20.0, 40.0], [1.0, 5.0]])


def _lorenz(state, theta):
    sigma, rho, beta = theta
    x, y, z = state
    return jnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def simulate_lorenz(theta, t_end=5.0, rate=100, substeps=4):
    """x(t) at ``rate`` Hz on [0, t_end] from (1, 1, 1): theta (3,) -> (t_end * rate + 1,)."""
    h = 1.0 / (rate * substeps)

    def rk4(state, _):
        k1 = _lorenz(state, theta)
        k2 = _lorenz(state + 0.5 * h * k1, theta)
        k3 = _lorenz(state + 0.5 * h * k2, theta)
        k4 = _lorenz(state + h * k3, theta)
        return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

    def sample(state, _):
        state = jax.lax.scan(rk4, state, length=substeps)[0]
        return state, state[0]

    start = jnp.ones(3)
    xs = jax.lax.scan(sample, start, length=int(t_end * rate))[1]
    return jnp.concatenate([start[:1], xs])


def lorenz_data(runs):
    """(features (runs, 65): log10 Welch spectra of x(t), theta (runs, 3) uniform on the box)."""
    rng = np.random.default_rng(1)
    theta = rng.uniform(LORENZ_BOX[:, 0], LORENZ_BOX[:, 1], (runs, 3))
    xs = np.asarray(jax.jit(jax.vmap(simulate_lorenz))(jnp.asarray(theta, jnp.float32)))
    psd = signal.welch(xs, fs=100, nperseg=128, axis=-1)[1]
    return np.log10(psd + 1e-12), theta


def lorenz(flows, epochs, runs=1000, n_train=800):
    features, theta = lorenz_data(runs)
    train, test = slice(0, n_train), slice(n_train, runs)
    names = ["sigma", "rho", "beta"]
    prior_rmse = (LORENZ_BOX[:, 1] - LORENZ_BOX[:, 0]) / np.sqrt(12)
    for kind in flows:
        est, seconds = fit(kind, features[train], theta[train], epochs)
        key = jax.random.key(2)
        cal = calibrate(est, features[test], theta[test], key, samples=1000, levels=(0.5, 0.9))
        mean = est.stats(key, features[test], n=1000)["mean"]
        rmse = np.sqrt(np.mean((mean - theta[test]) ** 2, axis=0))
        case = f"{runs - n_train} held-out runs"
        for j, name in enumerate(names):
            report(
                "lorenz",
                case,
                kind,
                f"{name}: 50% / 90% coverage",
                f"{cal.marginal[0, j]:.2f} / {cal.marginal[1, j]:.2f}",
                "0.50 / 0.90",
                seconds if j == 0 else None,
            )
            report(
                "lorenz",
                case,
                kind,
                f"{name}: RMSE of posterior mean",
                f"{rmse[j]:.3f}",
                f"prior {prior_rmse[j]:.3f}",
            )
        report(
            "lorenz",
            case,
            kind,
            "joint 50% / 90% (radius)",
            f"{cal.radius[0]:.2f} / {cal.radius[1]:.2f}",
            "0.50 / 0.90",
        )


# -- 3. unconditional 2-D densities ---------------------------------------------------


def _w1(z):
    return np.sin(2 * np.pi * z[..., 0] / 4)


def _two_wells(a, b, sa, sb):
    return -np.logaddexp(-0.5 * (a / sa) ** 2, -0.5 * (b / sb) ** 2)


ENERGIES = {
    "U1": lambda z: (
        0.5 * ((np.linalg.norm(z, axis=-1) - 2) / 0.4) ** 2
        + _two_wells(z[..., 0] - 2, z[..., 0] + 2, 0.6, 0.6)
    ),
    "U2": lambda z: 0.5 * ((z[..., 1] - _w1(z)) / 0.4) ** 2,
    "U3": lambda z: _two_wells(
        z[..., 1] - _w1(z),
        z[..., 1] - _w1(z) + 3 * np.exp(-0.5 * ((z[..., 0] - 1) / 0.6) ** 2),
        0.35,
        0.35,
    ),
    "U4": lambda z: _two_wells(
        z[..., 1] - _w1(z),
        z[..., 1] - _w1(z) + 3 / (1 + np.exp(-(z[..., 0] - 1) / 0.3)),
        0.4,
        0.35,
    ),
}


def grid_samples(energy, n, rng, box=4.0, cells=800):
    """n draws of exp(-U) on [-box, box]^2 by fine-grid sampling, and their exact log-density."""
    edges = np.linspace(-box, box, cells + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    log_w = -energy(grid)
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    cell = edges[1] - edges[0]
    index = rng.choice(len(grid), size=n, p=weights)
    points = grid[index] + cell * (rng.uniform(size=(n, 2)) - 0.5)
    return points, np.log(weights[index]) - 2 * np.log(cell)


def ring_samples(n, rng, modes=8, radius=2.0, std=0.2):
    """n draws of an equal mixture of ``modes`` Gaussians on a circle, and their log-density."""
    angles = 2 * np.pi * np.arange(modes) / modes
    centres = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    points = centres[rng.integers(modes, size=n)] + std * rng.standard_normal((n, 2))
    sq = np.sum((points[:, None, :] - centres) ** 2, -1)
    log_n = -0.5 * sq / std**2 - np.log(2 * np.pi * std**2)
    return points, np.logaddexp.reduce(log_n, axis=1) - np.log(modes)


#: --density-flows beyond FLOWS -> (flow, settings); not by default: "manifold" (4 NSF layers)
DENSITY_FLOWS = {"gauss": ("manifold", dict(manifold="e2", layers="gggggggg"))}


def densities(flows, epochs, n_train=10_000, n_test=5_000):
    rng = np.random.default_rng(2)
    cases = {name: lambda n, u=u: grid_samples(u, n, rng) for name, u in ENERGIES.items()}
    cases["8-ring"] = lambda n: ring_samples(n, rng)
    for name, draw in cases.items():
        train, _ = draw(n_train)
        test, log_p = draw(n_test)
        report("densities", name, "truth", "test NLL", f"{-log_p.mean():.3f}")
        for kind in flows:
            flow, options = DENSITY_FLOWS.get(kind, (kind, {}))
            est, seconds = fit(flow, None, train, epochs, batch_size=256, lr=2e-3, **options)
            nll = -est.log_prob(test).mean()
            report("densities", name, kind, "test NLL", f"{nll:.3f}", "", seconds)


def print_table():
    head = ("benchmark", "case", "flow", "metric", "value", "target / reference", "fit s")
    widths = [max(len(str(r[i])) for r in [head, *ROWS]) for i in range(len(head))]
    line = lambda r: (
        "| " + " | ".join(f"{str(c):<{w}}" for c, w in zip(r, widths, strict=True)) + " |"
    )
    print("\n" + line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in ROWS:
        print(line(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="digits,lorenz,densities,manifolds")
    parser.add_argument("--digits-flows", default="maf,nsf")
    parser.add_argument("--lorenz-flows", default="maf,nsf")
    density_flows = [f for f in FLOWS if f != "manifold"] + list(DENSITY_FLOWS)
    parser.add_argument("--density-flows", default=",".join(density_flows))
    parser.add_argument("--quick", action="store_true", help="few epochs: a smoke test")
    args = parser.parse_args()
    quick = args.quick
    sections = {
        "digits": lambda: digits(args.digits_flows.split(","), 3 if quick else 150),
        "lorenz": lambda: lorenz(args.lorenz_flows.split(","), 3 if quick else 300),
        "densities": lambda: densities(args.density_flows.split(","), 3 if quick else 300),
        "manifolds": lambda: manifolds(report, fit, 3 if quick else 200),
    }
    for name in args.sections.split(","):
        print(f"{name} ...", flush=True)
        sections[name]()
    print_table()


if __name__ == "__main__":
    main()
