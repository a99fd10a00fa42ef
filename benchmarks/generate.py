"""Throughput of data generation against a bare vmapped leapfrog loop.

For each family the whole command ``python -m nnef_dists.generate_data`` is
timed from the shell (start-up, compilation, grid, sampling, diagnostics and
writing included), and in the same run a bare loop doing the same number of
gradient evaluations (vmapped over every eta and chain, leapfrog steps only:
no momenta, no Metropolis, no adaptation, no statistics) is timed with its
compilation. The ratio is the share of the bare loop's speed we reach.

    python benchmarks/generate.py [--num-points 16384] [--families gamma,...]
        [--chunk-size N]

--chunk-size sets ``sampling.chunk_size`` (eta one device samples side by
side; by default 256 on a CPU, 4096 on a GPU or TPU) and a batch at least
that large: a GPU needs many eta in flight to be busy.
"""

from __future__ import annotations

import argparse
import os
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
from nnef_dists import runtime
if sys.argv[2] == "all":
    runtime.use_every_cpu_core()
runtime.compile_faster()  # the command's compiler setting
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from nnef_dists.data import load_data_config
from nnef_dists.sampling.grid import make_eta_grid
config = load_data_config(sys.argv[1])
family = config.ef.build()
chains, steps, L = {chains}, {steps}, {L}
eta = jnp.asarray(make_eta_grid(family, config.grid, jax.random.key(0)).eta)
grad = jax.vmap(jax.vmap(jax.grad(family.log_density_unconstrained), (0, None)))

def leapfrogs(key, eta):
    u = 0.1 * jax.random.normal(key[0], (eta.shape[0], chains, family.domain.unconstrained_dim))
    def leapfrog(_, state):
        u, p, g = state
        p = p + 0.005 * g
        u = u + 0.01 * p
        g = grad(u, eta)
        return u, p + 0.005 * g, g
    return jax.lax.fori_loop(0, steps * L, leapfrog, (u, jnp.zeros_like(u), grad(u, eta)))[0]

mesh = Mesh(np.array(jax.devices()), ("eta",))
bare = jax.jit(jax.shard_map(leapfrogs, mesh=mesh, in_specs=(P(), P("eta")), out_specs=P("eta")))
t1 = time.perf_counter()
jax.block_until_ready(bare(jax.random.key(1)[None], eta))
print(jax.default_backend(), len(jax.devices()), time.perf_counter() - t1, time.perf_counter() - t0)
"""


def write_config(
    family: str, num_points: int, folder: Path, chunk_size: int | None = None
) -> tuple[Path, dict]:
    raw = yaml.safe_load((ROOT / CASES[family]).read_text())
    raw["grid"]["num_points"] = num_points
    raw["sampling"].update(method="hmc", **SAMPLING)
    if chunk_size is not None:
        raw["sampling"]["chunk_size"] = chunk_size
        raw["grid"]["batch_size"] = max(raw["grid"]["batch_size"], chunk_size)
    raw["output"] = str(folder / f"{family}.pkl")
    path = folder / f"{family}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def time_command(config: Path, cache_dir: Path) -> float:
    """Seconds for the whole command, with the compilation cache in cache_dir."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nnef_dists.generate_data",
            "--config",
            str(config),
            "--quiet",
            "--force",
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "NNEF_JAX_CACHE_DIR": str(cache_dir)},
    )
    return time.perf_counter() - start


def time_bare_loop(config: Path, raw: dict, devices: str) -> tuple[str, float, float]:
    """('N cpu devices', seconds of the jitted loop with its compilation, with imports too).

    devices: "one" (JAX's default single CPU device) or "all" (one per core, as
    the command uses).
    """
    steps = raw["sampling"]["num_warmup"] + raw["sampling"]["num_samples"]
    code = BARE_LOOP.format(
        chains=raw["sampling"]["num_chains"],
        steps=steps,
        L=raw["sampling"]["num_integration_steps"],
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(config), devices],
        check=True,
        capture_output=True,
        text=True,
    )
    platform, count, loop, total = out.stdout.split()[-4:]
    return f"{count} {platform} device{'s' * (count != '1')}", float(loop), float(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=16384)
    parser.add_argument("--families", default=",".join(CASES))
    parser.add_argument("--chunk-size", type=int, help="sampling.chunk_size (default: platform's)")
    args = parser.parse_args()
    n = args.num_points
    header = (
        f"{'family':>26} {'L':>3} {'eta':>6} | {'cold s':>7} {'eta/s':>6} | {'warm s':>7} "
        f"{'eta/s':>6} | {'bare 1 dev s':>12} {'eta/s':>6} | {'bare all s':>10} {'eta/s':>6} | "
        f"{'ratio':>5}"
    )
    print(
        f"{SAMPLING['num_chains']} chains x {SAMPLING['num_samples']} draws after "
        f"{SAMPLING['num_warmup']} warm-up steps per eta; the bare loops do the same number "
        "of gradient evaluations; chunk size "
        f"{args.chunk_size or 'the platform default'}\n"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            config, raw = write_config(family, n, Path(tmp), args.chunk_size)
            cold = time_command(config, Path(tmp) / f"cache_{family}")
            warm = time_command(config, Path(tmp) / f"cache_{family}")
            _, one, _ = time_bare_loop(config, raw, "one")
            devices, every, _ = time_bare_loop(config, raw, "all")
            L = raw["sampling"]["num_integration_steps"]
            print(
                f"{family:>26} {L:>3} {n:>6} | {cold:>7.1f} {n / cold:>6.0f} | {warm:>7.1f} "
                f"{n / warm:>6.0f} | {one:>12.1f} {n / one:>6.0f} | {every:>10.1f} "
                f"{n / every:>6.0f} | {every / cold:>5.2f}",
                flush=True,
            )
    print(
        f"\ncold/warm: the whole command (start-up, compilation, grid, sampling, ESS, R-hat,\n"
        f"writing) with an empty / a filled compilation cache, on {devices}.\n"
        "bare: the jitted leapfrog loop alone with its compilation, on 1 device and on all.\n"
        "ratio = bare (all devices) seconds / cold command seconds: the share of the bare\n"
        "loop's speed that the whole command reaches."
    )


if __name__ == "__main__":
    main()
