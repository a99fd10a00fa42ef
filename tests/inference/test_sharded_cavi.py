"""cavi_batch split over 4 CPU devices gives the 1-device results.

The device count is fixed when JAX starts, so the solves run in a subprocess
(this module run with python -m) with XLA_FLAGS=--xla_force_host_platform_device_count=4;
it saves its results to an .npz that the test compares.
"""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from nnef_dists.families import get_family
from nnef_dists.inference import cavi_batch, providers
from nnef_dists.inference import examples as ex
from nnef_dists.models import LoadedModel
from tests.inference import untrained_gamma_mlp

ROOT = Path(__file__).parents[2]
BATCH, DEVICES, MAX_ITER = 10, 4, 30  # 10 problems: 3 per device, 2 of them padding
FIELDS = ("eta_x", "eta_y", "num_iter", "converged")
GAUSSIAN, GAMMA = get_family("gaussian_1d"), get_family("gamma")


def gamma_network() -> providers.Provider:
    """An untrained mlp_et provider for q(tau), normalised on exact gamma moments."""
    return providers.network(LoadedModel(*untrained_gamma_mlp()))


def noisy(provider: providers.Provider) -> providers.Provider:
    """A stochastic provider as cheap as ``provider``: its mu_T times 1 + 1e-3 N(0, 1)."""

    def mu_T(eta, key):
        return provider.mu_T(eta, key) * (1 + 1e-3 * jax.random.normal(key, eta.shape))

    return providers.Provider(f"noisy:{provider.name}", provider.stat_dim, mu_T, needs_key=True)


def cases() -> dict:
    """name -> (providers x and y, keyword arguments of cavi_batch)."""
    exact_x, exact_y = providers.exact(GAUSSIAN), providers.exact(GAMMA)
    return {
        "exact": ((exact_x, exact_y), {"tol": 1e-6}),
        # a key per problem (tol 0: every sweep is run) and a network
        "noisy_network": (
            (noisy(exact_x), gamma_network()),
            {"tol": 0.0, "key": jax.random.key(1)},
        ),
    }


def batch() -> ex.Problem:
    """BATCH normal_gamma problems, each with its own data (12 points) and prior."""
    rng = np.random.default_rng(3)
    data = rng.normal(0.4, 0.8, size=(BATCH, 12))
    prior = {
        "m0": rng.normal(size=BATCH),
        "s0": rng.uniform(0.5, 2, BATCH),
        "a0": rng.uniform(1, 3, BATCH),
        "b0": rng.uniform(0.5, 2, BATCH),
    }
    return ex.normal_gamma(data, **prior)


def while_loop_shapes(compiled_text: str) -> str:
    """The lines of a compiled program's while loops (their carries' per-device shapes)."""
    return "\n".join(line for line in compiled_text.splitlines() if " while(" in line)


def solve_all(path: str) -> None:
    """Every case on DEVICES devices and on 1, saved to ``path`` as case/devices/field,
    with the evidence of the split: the result's device count and the loops' shapes."""
    problems, out = batch(), {"cases": list(cases())}
    for name, ((px, py), kwargs) in cases().items():
        args = (problems.model, px, py, problems.eta_x0, problems.eta_y0)
        kwargs = {"max_iter": MAX_ITER} | kwargs
        for devices in (DEVICES, 1):
            res = cavi_batch(*args, num_devices=devices, **kwargs)
            out |= {f"{name}/{devices}/{f}": np.asarray(getattr(res, f)) for f in FIELDS}
            out[f"{name}/{devices}/device_set"] = len(res.eta_x.sharding.device_set)
        compiled = cavi_batch.lower(*args, num_devices=DEVICES, **kwargs).compile()
        out[f"{name}/loops"] = while_loop_shapes(compiled.as_text())
    np.savez(path, **out)


def test_four_devices_give_the_one_device_results(tmp_path):
    path = tmp_path / "results.npz"
    env = os.environ | {"XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.inference.test_sharded_cavi", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(path)
    per_device = -(-BATCH // DEVICES)
    for name in out["cases"]:
        assert out[f"{name}/{DEVICES}/device_set"] == DEVICES
        assert out[f"{name}/1/device_set"] == 1
        # each device runs the loop on its 3 problems: trace eta_x (3, MAX_ITER + 1, 2)
        assert f"[{per_device},{MAX_ITER + 1},2]" in str(out[f"{name}/loops"])
        for field in FIELDS:
            sharded, single = out[f"{name}/{DEVICES}/{field}"], out[f"{name}/1/{field}"]
            assert sharded.shape[0] == BATCH
            np.testing.assert_allclose(sharded, single, rtol=1e-6, err_msg=f"{name} {field}")
    assert out["exact/1/converged"].all() and (out["noisy_network/1/num_iter"] == MAX_ITER).all()


if __name__ == "__main__":
    solve_all(sys.argv[1])
