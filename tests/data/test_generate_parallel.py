"""generate_data on several devices and several processes gives the one-device file.

Each run is a fresh ``python -m nnef_dists.generate_data`` subprocess: the
number of CPU devices (XLA_FLAGS) and jax.distributed are fixed when JAX starts.
"""

import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.data import load_dataset
from nnef_dists.families import get_family
from nnef_dists.sampling import SamplingConfig
from nnef_dists.sampling.mcmc import eta_keys

CONFIG = textwrap.dedent(
    """\
    ef: {{name: gamma, x_shape: [1]}}
    grid:
      num_points: 30
      eta_range: {{log_x: [-0.5, 3.0], x: [-4.0, -0.5]}}
      batch_size: {batch_size}
    sampling: {{method: {method}, num_samples: 60, num_warmup: 40, num_chains: 2,
               num_integration_steps: 3, chunk_size: 4}}
    seed: 3
    """
)


def generate(tmp_path, name, devices, batch_size=30, method="hmc", extra=(), wait=True):
    """Run the command with ``devices`` CPU devices; returns the output path (or the process)."""
    config = tmp_path / f"{name}.yaml"
    config.write_text(CONFIG.format(batch_size=batch_size, method=method))
    output = tmp_path / f"{name}.pkl"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    command = [sys.executable, "-m", "nnef_dists.generate_data", "--config", str(config)]
    command += ["--output", str(output), "--quiet", *extra]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    finish(process)
    return output


def finish(process) -> None:
    """Wait for a generate process; it must succeed (its stderr is the message if not)."""
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err


def test_four_devices_and_any_batch_size_give_the_one_device_data(tmp_path):
    """Reference: the same config on 1 device in one batch; here 4 devices, batches of 7.

    30 eta in chunks of 4: batches of 7 are padded to 16 rows, 4 per device.
    """
    one = load_dataset(generate(tmp_path, "one", devices=1))
    four = load_dataset(generate(tmp_path, "four", devices=4, batch_size=7))
    for key in one:
        np.testing.assert_allclose(four[key], one[key], rtol=1e-6, err_msg=key)
    assert np.all(one["ess"] > 0) and np.all(np.isfinite(one["mu_T"]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("method", ["hmc", pytest.param("quadrature", marks=pytest.mark.slow)])
def test_two_processes_write_the_file_of_one_process(tmp_path, method):
    """Two jax.distributed processes on loopback, 3 batches between them: same bytes.

    Quadrature checks that float64 results travel between processes unrounded.
    """
    one = generate(tmp_path, "single", devices=1, batch_size=12, method=method)
    address = ["--coordinator-address", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    processes = [
        generate(
            tmp_path,
            "pair",
            devices=1,
            batch_size=12,
            method=method,
            extra=[*address, "--process-id", str(i)],
            wait=False,
        )
        for i in range(2)
    ]
    for process in processes:
        finish(process)
    pair = tmp_path / "pair.pkl"
    assert pair.read_bytes() == one.read_bytes()
    assert not list(tmp_path.glob("pair.pkl.partial*"))


def test_float64_switch_samples_in_float64():
    """Under JAX_ENABLE_X64 (here jax.enable_x64) the chains run in float64."""
    family = get_family("gamma")
    config = SamplingConfig(num_samples=30, num_warmup=20, num_chains=2, chunk_size=2)
    eta = np.array([[1.0, -1.0], [2.0, -3.0]])
    keys = eta_keys(jax.random.key(0), np.arange(2))
    with jax.enable_x64(True):
        from nnef_dists.sampling.mcmc import mcmc_batch

        out = mcmc_batch(family, config, keys, jnp.asarray(eta))
    assert out["mu_T"].dtype == jnp.float64 and out["step_size"].dtype == jnp.float64
    assert np.all(np.isfinite(out["mu_T"]))


def test_distributed_outside_a_cluster_stops_with_one_message(tmp_path):
    """--distributed with nothing to find in the environment: exit 2, nothing written."""
    process = generate(tmp_path, "lone", devices=1, extra=["--distributed"], wait=False)
    _, message = process.communicate(timeout=120)
    assert process.returncode == 2
    assert message.startswith("error: distributed: jax.distributed.initialize failed")
    assert not list(tmp_path.glob("lone.pkl*"))
