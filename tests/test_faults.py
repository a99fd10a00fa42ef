"""Fault injection: generation, training and cde train killed with SIGKILL at random moments.

Each command runs once uninterrupted (the reference, and its wall time T),
then again, killed with SIGKILL at a moment in (0, T). Training saves its
checkpoint after every epoch here (NNEF_CHECKPOINT_SECONDS=0), so kills land
during checkpoint writes too.
Afterwards every output is either absent or complete, valid and identical to
the reference; a rerun of the same command (``--resume`` for training)
finishes with the reference's result, bit for bit. ``make test`` kills each
command at one moment, 0.7 T (past the imports and compilation); the slow
suite (``make test-all``) at ten drawn uniformly (seeded).
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from nnef_dists.data import load_dataset
from nnef_dists.data import partial as partial_results
from nnef_dists.flows.estimator import ConditionalDensityEstimator
from nnef_dists.models import load_model
from nnef_dists.training import checkpoint

GENERATE = textwrap.dedent(
    """\
    ef: {{name: gamma, x_shape: [1]}}
    grid: {{num_points: 40, eta_range: {{log_x: [-0.5, 3.0], x: [-4.0, -0.5]}}, batch_size: 8}}
    sampling: {{method: hmc, num_samples: 200, num_warmup: 100, num_chains: 2}}
    seed: 3
    output: {output}
    """
)


def nnef(*argv, kill_after=None, kill_with=signal.SIGKILL, kill_when=None):
    """Run ``nnef argv`` in a new process, sent ``kill_with`` after ``kill_after`` seconds,
    or as soon as ``kill_when()`` is true (polled every 20 ms).

    Returns (exit status, seconds, stderr).
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "nnef_dists.cli", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"JAX_PLATFORMS": "cpu", "NNEF_CHECKPOINT_SECONDS": "0"},
    )
    if kill_when is not None:
        while process.poll() is None and not kill_when():
            time.sleep(0.02)
        if process.poll() is None:
            process.send_signal(kill_with)
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(kill_with)
    stderr = process.communicate()[1]
    return process.returncode, time.perf_counter() - start, stderr


def generation(tmp_path, gamma_file):
    config = tmp_path / "data.yaml"
    config.write_text(GENERATE.format(output=tmp_path / "out.pkl"))
    argv = ["generate", "--config", config, "--quiet"]
    return argv, argv, tmp_path / "out.pkl", lambda out: (load_dataset(out), out.read_bytes())[1]


def training(tmp_path, gamma_file):
    out = tmp_path / "model"
    argv = ["train", "--model", "mlp_et", "--data", gamma_file, "--output-dir", out]
    argv += ["--hidden-sizes", "16", "--epochs", "60", "--quiet"]

    def result(out):
        load_model(out).mu_T(np.zeros((1, 2), np.float32))
        return (out / "params.msgpack").read_bytes()

    return argv, [*argv, "--resume"], out, result


def cde_training(tmp_path, gamma_file):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (400, 2))
    np.savetxt(tmp_path / "F.csv", x, delimiter=",")
    np.savetxt(tmp_path / "P.csv", x + 0.3 * rng.standard_normal((400, 2)), delimiter=",")
    out = tmp_path / "flow"
    argv = ["cde", "train", "--features", tmp_path / "F.csv", "--params", tmp_path / "P.csv"]
    argv += ["--out", out, "--hidden", "16", "--blocks", "2", "--epochs", "40", "--quiet"]

    def result(out):
        ConditionalDensityEstimator.load(out)
        return (out / "params.msgpack").read_bytes()

    return argv, [*argv, "--resume"], out, result


COMMANDS = {"generate": generation, "train": training, "cde train": cde_training}


def kill_and_rerun(tmp_path, gamma_file, command, fractions):
    """Kill ``command`` at each of ``fractions`` of the reference's wall time, then rerun."""
    (tmp_path / "reference").mkdir()
    first, rerun, out, result = COMMANDS[command](tmp_path / "reference", gamma_file)
    status, seconds, _ = nnef(*first)
    assert status == 0
    reference = result(out)
    for i, moment in enumerate(seconds * np.asarray(fractions)):
        folder = tmp_path / f"killed{i}"
        folder.mkdir()
        first, rerun, out, result = COMMANDS[command](folder, gamma_file)
        status, *_ = nnef(*first, kill_after=moment)
        if out.exists():  # finished, or killed after the output was complete
            assert result(out) == reference, f"killed at {moment:.1f} s: output differs"
            continue
        assert status == -signal.SIGKILL, status
        status, *_ = nnef(*rerun)
        assert status == 0, f"rerun after a kill at {moment:.1f} s: exit {status}"
        assert result(out) == reference, f"killed at {moment:.1f} s: rerun differs"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_killed_once_then_rerun(tmp_path, gamma_file, command):
    kill_and_rerun(tmp_path, gamma_file, command, [0.7])


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_killed_at_ten_moments(tmp_path, gamma_file, command):
    fractions = np.random.default_rng(len(command)).uniform(0.0, 1.0, 10)
    kill_and_rerun(tmp_path, gamma_file, command, fractions)


def work_kept(out):
    """True once a run writing ``out`` has kept some work: a finished batch of
    ``generate`` (beside the fingerprint in ``<out>.partial/``) or a training checkpoint."""
    partial = partial_results.beside(out)
    batches = partial.is_dir() and any(f.name != "fingerprint.txt" for f in partial.iterdir())
    return batches or checkpoint.beside(out).exists()


@pytest.mark.parametrize(
    ("command", "signum", "continues"),
    [
        ("generate", signal.SIGINT, "rerun the same command to continue"),
        ("train", signal.SIGTERM, "rerun the same command with --resume"),
    ],
)
@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_ctrl_c_and_sigterm_are_one_line_and_status_130(
    tmp_path, gamma_file, command, signum, continues
):
    """Ctrl-C (SIGINT) or SIGTERM once the run has kept some work (a batch, a checkpoint),
    mid-run: one line saying what was kept, exit 130, and the rerun finishes to the
    reference's result. (A signal at a fixed share of the reference's time came after the
    end when the second run found its programs compiled.)"""
    (tmp_path / "reference").mkdir()
    first, rerun, out, result = COMMANDS[command](tmp_path / "reference", gamma_file)
    nnef(*first)
    reference = result(out)
    first, rerun, out, result = COMMANDS[command](tmp_path, gamma_file)
    status, _, stderr = nnef(*first, kill_when=lambda: work_kept(out), kill_with=signum)
    if out.exists():  # it finished before the signal
        pytest.skip(f"{command} finished before the signal came")
    assert status == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: ") and continues in lines[0]
    assert nnef(*rerun)[0] == 0 and result(out) == reference
