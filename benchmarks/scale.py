"""Generation across devices, and its memory as the data set grows.

Every figure is one fresh ``nnef_dists.generate_data`` run in a subprocess
(the device count is fixed when JAX starts), timed whole: start-up,
compilation, sampling, diagnostics and writing.

1. eta/s on 1, 2 and 4 CPU devices (``--xla_force_host_platform_device_count``),
   against the 1-device run in the same table;
2. peak resident memory (ru_maxrss) for 10^4 and 10^5 eta: finished batches go
   to disk, so it should not grow with the number of eta.

    python benchmarks/scale.py [--family gamma] [--num-points 16384] [--devices 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLING = {"method": "hmc", "num_chains": 4, "num_samples": 1000, "num_warmup": 500}

RUN = """
import json, resource, sys, time
start = time.perf_counter()
from nnef_dists import generate_data
status = generate_data.main(["--config", sys.argv[1], "--quiet", "--force"])
seconds = time.perf_counter() - start
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"status": status, "seconds": seconds, "peak_mib": peak_mib}))
"""


def write_config(family: str, num_points: int, folder: Path) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "data" / f"{family}.yaml").read_text())
    raw["grid"]["num_points"] = num_points
    raw["sampling"].update(SAMPLING)
    raw["output"] = str(folder / f"{family}_{num_points}.pkl")
    path = folder / f"{family}_{num_points}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(config: Path, devices: int, cache: Path) -> dict:
    """One generate_data run on ``devices`` CPU devices: seconds and peak MiB."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "NNEF_JAX_CACHE_DIR": str(cache),  # empty: every run compiles
    }
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(config)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != 0:
        raise RuntimeError(f"generate_data failed on {config}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="gamma")
    parser.add_argument("--num-points", type=int, default=16384)
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--memory-points", default="10000,100000")
    args = parser.parse_args()
    print(
        f"{args.family}: {SAMPLING['num_chains']} chains x {SAMPLING['num_samples']} draws after "
        f"{SAMPLING['num_warmup']} warm-up steps; whole command, cold compilation cache; "
        f"{len(os.sched_getaffinity(0))} CPU cores\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_config(args.family, args.num_points, folder)
        header = f"{'devices':>7} {'eta':>7} | {'seconds':>7} {'eta/s':>7} | {'vs 1 device':>11}"
        print(header + "\n" + "-" * len(header))
        baseline = None
        for count, devices in enumerate(int(d) for d in args.devices.split(",")):
            result = run(config, devices, folder / f"cache_d{count}")
            rate = args.num_points / result["seconds"]
            baseline = baseline or rate
            print(
                f"{devices:>7} {args.num_points:>7} | {result['seconds']:>7.1f} {rate:>7.0f} | "
                f"{rate / baseline:>10.2f}x",
                flush=True,
            )

        header = f"\n{'eta':>7} | {'seconds':>7} {'eta/s':>7} | {'peak MiB':>8} {'vs first':>8}"
        print(header + "\n" + "-" * (len(header) - 1))
        first = None
        for count, num_points in enumerate(int(n) for n in args.memory_points.split(",")):
            config = write_config(args.family, num_points, folder)
            result = run(config, len(os.sched_getaffinity(0)), folder / f"cache_m{count}")
            first = first or result["peak_mib"]
            rate = num_points / result["seconds"]
            print(
                f"{num_points:>7} | {result['seconds']:>7.1f} {rate:>7.0f}"
                f" | {result['peak_mib']:>8.0f} {result['peak_mib'] / first:>7.2f}x",
                flush=True,
            )
    print(
        "\nThe memory runs use one device per core, as `nnef generate` does. Peak memory is\n"
        "the process's maximum resident set size; the results of finished batches (a few\n"
        "floats per eta) are the only part that grows with the number of eta."
    )


if __name__ == "__main__":
    main()
