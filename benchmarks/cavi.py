"""CAVI throughput with trained networks, against exact and Monte Carlo expectations.

Problems are normal_gamma examples (``nnef_dists.inference.examples``): N = 50
draws of N(mu, 1/tau) with mu ~ U(-0.5, 0.5), tau ~ U(0.8, 1.25), and priors
m0 ~ U(-0.5, 0.5), s0 ~ U(0.7, 1.5), a0 ~ U(1.5, 3), b0 ~ U(1, 2), so every
problem has its own A, b_x and b_y. One table:

- problems solved per second by ``cavi_batch`` (vmap + jit, float32,
  tol 1e-5) for 1, 100 and 10,000 problems at once, with network providers
  (mlp_et for q(mu) and q(tau)) and with exact providers (closed forms) as the
  baseline: the compiled call timed (best of --repeats), compilation apart
  (the "1st s" column includes it); on one device, and split over each
  device count of --devices (default 1 and all: one CPU device per core, see
  ``nnef_dists.runtime``) that is at most the batch;
- time per sweep of network providers against mc providers (HMC, 4 chains,
  several sample sizes, MC_SWEEPS sweeps) on the same batch of problems; the
  mc row whose error is closest to the network's is marked as the matched one.

Error: the posterior means E[mu], E[tau] of q at the end against those of the
exact-provider CAVI fixed point (float64), in units of the exact posterior
standard deviations; RMS over the problems and both variables.

Networks: --gaussian-model and --gamma-model; where not given, models in
artifacts/bench/cavi/ are used, or trained there first: mlp_et (64, 64), 600
epochs on 16,384 eta of quadrature data from configs/data/gaussian_1d.yaml and
gamma.yaml, with the eta ranges replaced by a box covering the exact CAVI
iterates of 2,000 other problems (about 2 minutes each on 2 CPU cores).

    python benchmarks/cavi.py [--gaussian-model DIR] [--gamma-model DIR] [--sizes 1,100,10000]
        [--devices 1,2] [--mc-samples 250,1000,4000,16000,64000] [--mc-problems 16]
        [--repeats 3]
"""

from __future__ import annotations

from nnef_dists import runtime

if __name__ == "__main__":
    runtime.configure()  # one CPU device per core, for the rows split over devices

import argparse
import time
from functools import partial
from pathlib import Path

import jax
import numpy as np
import yaml

from nnef_dists.families import get_family
from nnef_dists.inference import cavi_batch, providers
from nnef_dists.inference import examples as ex
from nnef_dists.inference.networks import covering_box, train_network
from nnef_dists.models.directory import CONFIG_FILE
from nnef_dists.sampling import SamplingConfig

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "bench" / "cavi"
NUM_POINTS_DATA = 50
TOL, MAX_ITER, MC_SWEEPS = 1e-5, 50, 6
#: train_network settings of the networks trained here.
TRAINING = {"hidden_sizes": (64, 64), "epochs": 600, "num_points": 16384}


def problems(num: int, seed: int) -> ex.Problem:
    """A batch of ``num`` normal_gamma problems (module docstring)."""
    rng = np.random.default_rng(seed)
    mu, tau = rng.uniform(-0.5, 0.5, num), rng.uniform(0.8, 1.25, num)
    data = mu[:, None] + rng.standard_normal((num, NUM_POINTS_DATA)) / np.sqrt(tau)[:, None]
    return ex.normal_gamma(
        data,
        m0=rng.uniform(-0.5, 0.5, num),
        s0=rng.uniform(0.7, 1.5, num),
        a0=rng.uniform(1.5, 3.0, num),
        b0=rng.uniform(1.0, 2.0, num),
    )


def run(batch: ex.Problem, px, py, dtype=np.float32, num_devices=1, **kwargs):
    """cavi_batch on a batch, float32 and one device by default; the result as NumPy arrays."""
    model = type(batch.model)(*(np.asarray(a, dtype) for a in batch.model))
    args = (np.asarray(batch.eta_x0, dtype), np.asarray(batch.eta_y0, dtype))
    kwargs = {"tol": TOL, "max_iter": MAX_ITER} | kwargs
    res = cavi_batch(model, px, py, *args, num_devices=num_devices, **kwargs)
    return jax.tree.map(np.asarray, jax.block_until_ready(res))


def exact_reference(batch: ex.Problem):
    """The exact-provider CAVI fixed points in float64 (tight tolerance)."""
    exact = providers.exact(batch.family_x), providers.exact(batch.family_y)
    with jax.enable_x64(True):
        return run(batch, *exact, np.float64, num_devices=None, tol=1e-12, max_iter=200)


def moments(eta_x, eta_y):
    """Posterior means and sds of mu (gaussian_1d) and tau (gamma) from eta (B, 2): (B, 2) each."""
    mean_mu, var_mu = -eta_x[:, 0] / (2 * eta_x[:, 1]), -1 / (2 * eta_x[:, 1])
    shape, rate = eta_y[:, 0] + 1, -eta_y[:, 1]
    return np.stack([mean_mu, shape / rate], 1), np.sqrt(np.stack([var_mu, shape / rate**2], 1))


def error(res, reference) -> float:
    """RMS over problems and (mu, tau) of |mean - exact mean| / exact sd."""
    mean, _ = moments(res.eta_x.astype(np.float64), res.eta_y.astype(np.float64))
    truth, sd = moments(reference.eta_x, reference.eta_y)
    return float(np.sqrt(np.mean(((mean - truth) / sd) ** 2)))


def timed(fn, repeats: int):
    """(result, seconds of the first call, best seconds of ``repeats`` further calls)."""
    start = time.perf_counter()
    out = fn()
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, first, best


def network_dir(given, family) -> Path:
    """The model directory: given, or artifacts/bench/cavi/<family>_mlp_et (trained if missing)."""
    if given:
        return Path(given)
    directory = OUT / f"{family.name}_mlp_et"
    if not (directory / CONFIG_FILE).exists():
        train = exact_reference(problems(2000, seed=1))
        name = "x" if family.name == "gaussian_1d" else "y"
        etas = getattr(train.trace, f"eta_{name}")[:, 1 if name == "x" else 0 :]
        lo, hi = covering_box(family, etas, margin=0.1)
        base = yaml.safe_load((ROOT / "configs" / "data" / f"{family.name}.yaml").read_text())
        print(f"training {directory} on eta in [{lo}, {hi}] ...", flush=True)
        start = time.perf_counter()
        train_network(family, lo, hi, directory, base_config=base, **TRAINING)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return directory


def row(label, size, first, best, res, err, sweeps=None, devices=1) -> str:
    sweeps = int(res.num_iter.max()) if sweeps is None else sweeps
    done = f"{100 * res.converged.mean():.0f}%"
    out = f"{100 * np.mean(res.out_of_range.sum(1) > 0):.0f}%"
    return (
        f"{label:>28} {size:>7} {devices:>3} | {first:8.2f} {best:9.4f} {size / best:11.4g} | "
        f"{sweeps:>6} {1e3 * best / sweeps:9.3f} | {done:>5} {out:>5} {err:10.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gaussian-model", help="mlp_et (or other) model dir for q(mu)")
    parser.add_argument("--gamma-model", help="model dir for q(tau)")
    parser.add_argument("--sizes", default="1,100,10000")
    parser.add_argument("--devices", help="device counts to split over (default: 1 and all)")
    parser.add_argument("--mc-samples", default="250,1000,4000,16000,64000", help="draws per chain")
    parser.add_argument("--mc-problems", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gaussian, gamma = get_family("gaussian_1d"), get_family("gamma")
    net = (
        providers.network(network_dir(args.gaussian_model, gaussian)),
        providers.network(network_dir(args.gamma_model, gamma)),
    )
    exact = providers.exact(gaussian), providers.exact(gamma)
    every = len(jax.local_devices())
    counts = list(map(int, args.devices.split(","))) if args.devices else sorted({1, every})
    print(
        f"device: {jax.devices()[0].device_kind} x {every}; float32; "
        f"tol {TOL:g}, max_iter {MAX_ITER}"
    )
    print(f"x: {net[0].name}\ny: {net[1].name}\n")
    header = (
        f"{'providers':>28} {'batch':>7} {'dev':>3} | {'1st s':>8} {'best s':>9} "
        f"{'problems/s':>11} | {'sweeps':>6} {'ms/sweep':>9} | {'conv':>5} {'extrp':>5} "
        f"{'error':>10}"
    )
    print(header + "\n" + "-" * len(header), flush=True)
    for size in map(int, args.sizes.split(",")):
        batch = problems(size, seed=0)
        reference = exact_reference(batch)
        for label, pair in (("network (mlp_et)", net), ("exact (closed form)", exact)):
            for devices in (n for n in counts if n <= size):
                res, first, best = timed(
                    partial(run, batch, *pair, num_devices=devices), args.repeats
                )
                err = error(res, reference)
                print(row(label, size, first, best, res, err, devices=devices), flush=True)

    print("-" * len(header))
    batch = problems(args.mc_problems, seed=2)
    reference = exact_reference(batch)
    res, first, best = timed(partial(run, batch, *net), args.repeats)
    net_error = error(res, reference)
    print(row("network (mlp_et)", args.mc_problems, first, best, res, net_error), flush=True)
    key = jax.random.key(0)
    mc_rows = []
    for draws in map(int, args.mc_samples.split(",")):
        config = SamplingConfig(num_samples=draws, num_warmup=200, num_chains=4)
        pair = providers.mc(gaussian, config), providers.mc(gamma, config)
        res, first, best = timed(
            partial(run, batch, *pair, tol=0.0, max_iter=MC_SWEEPS, key=key), 1
        )
        mc_rows.append((draws, first, best, res, error(res, reference)))
    matched = min(mc_rows, key=lambda r: abs(np.log(r[4] / net_error)))[0]
    for draws, first, best, res, err in mc_rows:
        label = f"mc 4 x {draws} draws" + (" (matched)" if draws == matched else "")
        print(row(label, args.mc_problems, first, best, res, err, MC_SWEEPS), flush=True)
    print(
        "\ndev: devices the batch is split over. problems/s: batch / best s.\n"
        "error: RMS over problems of |E_q[mu, tau] - exact| / exact posterior sd.\n"
        "extrp: problems with iterates outside a network's training range.\n"
        f"mc: {MC_SWEEPS} sweeps (tol 0; HMC after 200 warm-up steps per call); "
        "the compiled call timed once."
    )


if __name__ == "__main__":
    main()
