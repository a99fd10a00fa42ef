"""Throughput of data generation against a bare vmapped leapfrog loop.

For each family the whole command ``python -m nnef_dists.generate_data`` is
timed from the shell (start-up, compilation, grid, sampling, diagnostics and
writing included), and in the same run a bare loop doing the same number of
gradient evaluations (vmapped over every eta and chain, leapfrog steps only:
no momenta, no Metropolis, no adaptation, no statistics) is timed with its
compilation. The ratio is the share of the bare loop's speed we reach.

    python benchmarks/generate.py [--num-points 16384] [--families gamma,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "gamma": "configs/data/gamma.yaml",
    "multivariate_normal_tril": "configs/data/multivariate_normal_tril.yaml",
}
SAMPLING = {"num_chains": 4, "num_samples": 1000, "num_warmup": 500}

BARE_LOOP = """
import sys, time
t0 = time.perf_counter()
import jax, jax.numpy as jnp
from nnef_dists.config import load_data_config
from nnef_dists.sampling.grid import make_eta_grid
config = load_data_config(sys.argv[1])
family = config.ef.build()
chains, steps, L = {chains}, {steps}, {L}
eta = jnp.asarray(make_eta_grid(family, config.grid, jax.random.key(0)).eta)
grad = jax.vmap(jax.vmap(jax.grad(family.log_density_unconstrained), (0, None)))

@jax.jit
def bare(eta, key):
    u = 0.1 * jax.random.normal(key, (eta.shape[0], chains, family.domain.unconstrained_dim))
    def leapfrog(_, state):
        u, p, g = state
        p = p + 0.005 * g
        u = u + 0.01 * p
        g = grad(u, eta)
        return u, p + 0.005 * g
    g = grad(u, eta)
    return jax.lax.fori_loop(0, steps * L, leapfrog, (u, jnp.zeros_like(u), g))[0]

t1 = time.perf_counter()
jax.block_until_ready(bare(eta, jax.random.key(1)))
print(time.perf_counter() - t1, time.perf_counter() - t0)
"""


def write_config(family: str, num_points: int, folder: Path) -> tuple[Path, dict]:
    raw = yaml.safe_load((ROOT / CASES[family]).read_text())
    raw["grid"]["num_points"] = num_points
    raw["sampling"].update(method="hmc", **SAMPLING)
    raw["output"] = str(folder / f"{family}.pkl")
    path = folder / f"{family}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def time_command(config: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nnef_dists.generate_data", "--config", str(config), "--quiet"],
        check=True,
        cwd=ROOT,
    )
    return time.perf_counter() - start


def time_bare_loop(config: Path, raw: dict) -> tuple[float, float]:
    """(seconds of the jitted loop with its compilation, seconds with imports too)."""
    steps = raw["sampling"]["num_warmup"] + raw["sampling"]["num_samples"]
    code = BARE_LOOP.format(
        chains=raw["sampling"]["num_chains"],
        steps=steps,
        L=raw["sampling"]["num_integration_steps"],
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(config)], check=True, capture_output=True, text=True
    )
    loop, total = map(float, out.stdout.split()[-2:])
    return loop, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=16384)
    parser.add_argument("--families", default=",".join(CASES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            config, raw = write_config(family, args.num_points, Path(tmp))
            ours = time_command(config)
            loop, loop_total = time_bare_loop(config, raw)
            n = args.num_points
            rows.append(
                (
                    family,
                    raw["sampling"]["num_integration_steps"],
                    n,
                    ours,
                    n / ours,
                    loop,
                    n / loop,
                    n / loop_total,
                    loop / ours,
                )
            )
    header = (
        f"{'family':>26} {'L':>3} {'eta':>7} {'command s':>10} {'eta/s':>8} "
        f"{'bare s':>8} {'bare eta/s':>11} {'(w/ import)':>12} {'ratio':>6}"
    )
    print("4 chains x 1000 draws after 500 warm-up steps; bare = same gradient evaluations\n")
    print(header)
    print("-" * len(header))
    for family, L, n, ours, rate, loop, bare_rate, bare_rate_total, ratio in rows:
        print(
            f"{family:>26} {L:>3} {n:>7} {ours:>10.1f} {rate:>8.0f} {loop:>8.1f} "
            f"{bare_rate:>11.0f} {bare_rate_total:>12.0f} {ratio:>6.2f}"
        )
    print("\nratio = bare loop time (with its compilation) / command time (with start-up)")


if __name__ == "__main__":
    main()
