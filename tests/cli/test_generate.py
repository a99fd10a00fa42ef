"""The generate_data command: determinism, resuming, overwrite protection, user families."""

import textwrap

import numpy as np
import pytest

from nnef_dists import generate_data
from nnef_dists.data import load_dataset, load_metadata
from nnef_dists.sampling import estimate

SMALL_HMC = textwrap.dedent(
    """\
    ef: {{name: {name}, x_shape: [1]}}
    grid:
      num_points: 12
      eta_range: {ranges}
      batch_size: 5
    sampling: {{method: hmc, num_samples: 60, num_warmup: 40, num_chains: 2,
               num_integration_steps: 3}}
    seed: 3
    output: {output}
    """
)
GAMMA_RANGES = "{log_x: [-0.5, 3.0], x: [-4.0, -0.5]}"


def write_config(tmp_path, name="gamma", ranges=GAMMA_RANGES, output="out.pkl"):
    path = tmp_path / "config.yaml"
    path.write_text(SMALL_HMC.format(name=name, ranges=ranges, output=tmp_path / output))
    return path


def test_same_seed_gives_the_same_file_bit_for_bit(tmp_path):
    config = write_config(tmp_path)
    assert generate_data.main(["--config", str(config), "--quiet"]) == 0
    first = (tmp_path / "out.pkl").read_bytes()
    assert generate_data.main(["--config", str(config), "--quiet", "--force"]) == 0
    assert (tmp_path / "out.pkl").read_bytes() == first
    data = load_dataset(tmp_path / "out.pkl")
    assert data["eta"].shape == (12, 2) and data["cov_TT"].shape == (12, 2, 2)
    assert np.all(np.isfinite(data["ess"])) and np.all(data["ess"] > 0)
    meta = load_metadata(tmp_path / "out.pkl")
    assert meta["family"] == "gamma" and meta["grid"]["num_points"] == 12
    assert meta["chunk_size"] == 256  # the sampler's default on a CPU, recorded
    flagged = meta["flagged_eta"]
    assert meta["diagnostics"]["eta_flagged"] == len(flagged["excluded"])
    assert set(flagged) == {"rhat", "ess", "divergences", "not_finite", "excluded"}
    assert not (tmp_path / "out.pkl.partial").exists()


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    config = write_config(tmp_path)
    (tmp_path / "out.pkl").write_bytes(b"precious")
    assert generate_data.main(["--config", str(config), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "out.pkl").read_bytes() == b"precious"


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, output="whole.pkl")
    assert generate_data.main(["--config", str(config), "--quiet"]) == 0
    whole = load_dataset(tmp_path / "whole.pkl")

    config = write_config(tmp_path, output="resumed.pkl")
    real = estimate.estimate_rows
    calls = []

    def crash_on_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(estimate, "estimate_rows", crash_on_third_batch)
    assert generate_data.main(["--config", str(config), "--quiet"]) == 130
    assert "rerun the same command to continue" in capsys.readouterr().err
    partial = tmp_path / "resumed.pkl.partial"
    assert sorted(p.name for p in partial.glob("batch_*.npz")) == [
        "batch_000000.npz",
        "batch_000001.npz",
    ]
    assert not (tmp_path / "resumed.pkl").exists()

    # a batch file damaged outside the package: discarded and redone, with a line
    damaged = partial / "batch_000001.npz"
    damaged.write_bytes(damaged.read_bytes()[:100])
    calls.clear()
    assert generate_data.main(["--config", str(config), "--quiet"]) == 0
    assert f"{damaged}: a damaged batch (BadZipFile); redoing it" in capsys.readouterr().err
    assert len(calls) == 2  # the damaged batch and the one in flight were redone
    resumed = load_dataset(tmp_path / "resumed.pkl")
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])
    # the speed counts the eta sampled now, not the 5 of the batch read back
    diagnostics = load_metadata(tmp_path / "resumed.pkl")["diagnostics"]
    assert diagnostics["eta_resumed"] == 5
    assert diagnostics["eta_per_second"] == pytest.approx(7 / diagnostics["seconds"])


def test_resuming_with_another_config_is_refused(tmp_path, capsys):
    config = write_config(tmp_path)
    partial = tmp_path / "out.pkl.partial"
    partial.mkdir()
    (partial / "fingerprint.txt").write_text("another run")
    assert generate_data.main(["--config", str(config), "--quiet"]) == 2
    assert "another config" in capsys.readouterr().err


def test_the_chunk_size_is_part_of_what_a_resumed_run_must_share():
    """Its default differs between CPU and GPU, and an eta's draws depend on it."""
    from nnef_dists.data.partial import fingerprint
    from nnef_dists.sampling import SamplingConfig

    eta = np.zeros((4, 2), np.float32)
    config = SamplingConfig()
    assert fingerprint(config, eta, 4, 256) != fingerprint(config, eta, 4, 4096)
    assert fingerprint(config, eta, 4, 256) == fingerprint(config, eta, 4, 256)


def test_unknown_family_is_one_clear_error(tmp_path, capsys):
    config = write_config(tmp_path, name="gammma")
    assert generate_data.main(["--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ef.name" in err and "gammma" in err and str(config) in err


def test_eta_range_outside_the_natural_space_is_one_clear_error(tmp_path, capsys):
    config = write_config(tmp_path, ranges="{log_x: [0.0, 1.0], x: [0.5, 2.0]}")
    assert generate_data.main(["--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "grid.eta_range.x" in err and not (tmp_path / "out.pkl").exists()


def test_a_family_from_the_users_own_module(tmp_path):
    """An exponential distribution defined in tests/families/user_family.py, not in the package.

    T(x) = [x] on x > 0 with eta < 0: E[x] = -1/eta exactly.
    """
    config = write_config(
        tmp_path, name="tests.families.user_family:Exponential", ranges="{x: [-3.0, -0.5]}"
    )
    assert generate_data.main(["--config", str(config), "--quiet"]) == 0
    data = load_dataset(tmp_path / "out.pkl")
    assert load_metadata(tmp_path / "out.pkl")["family"] == "tests.families.user_family:Exponential"
    exact = -1.0 / data["eta"]
    z = (data["mu_T"] - exact) / np.sqrt(data["cov_TT"][:, :, 0] / data["ess"])
    assert np.all(np.abs(z) < 5)


def test_a_gpu_run_in_the_default_chunks_is_told_how_to_go_faster(monkeypatch):
    """On accelerators with sampling.chunk_size unset, from 8 default chunks per device:
    a chunk of at most the eta per device (a power of two, at most 2^18) and a batch of
    one chunk per device (sizes worked out by hand)."""
    import jax

    from nnef_dists.sampling import SamplingConfig
    from nnef_dists.sampling.mcmc import chunk_advice, chunk_size

    default = SamplingConfig()
    assert chunk_advice(default, 10**6) is None and chunk_size(default) == 256  # on a CPU
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert chunk_size(default) == 4096 and chunk_size(SamplingConfig(chunk_size=64)) == 64
    monkeypatch.setattr(jax, "local_device_count", lambda: 1)
    assert "sampling.chunk_size 32768 with grid.batch_size 32768" in chunk_advice(default, 32768)
    assert chunk_advice(default, 32767) is None  # under 8 chunks: the default is fine
    assert "chunk_size 262144 with grid.batch_size 262144 " in chunk_advice(default, 10**6)
    assert chunk_advice(SamplingConfig(chunk_size=65536), 10**6) is None  # chosen
    monkeypatch.setattr(jax, "local_device_count", lambda: 8)
    assert chunk_advice(default, 32768) is None  # one chunk per device
    assert "chunk_size 65536 with grid.batch_size 524288 " in chunk_advice(default, 10**6)


def test_the_advice_is_printed_before_sampling(tmp_path, monkeypatch, capsys):
    from nnef_dists.sampling import mcmc

    said = []
    monkeypatch.setattr(mcmc, "chunk_advice", lambda config, n: said.append(n) or "ADVICE")
    monkeypatch.setattr(estimate, "estimate_batches", lambda *a, **k: 1 / 0)  # stop there
    with pytest.raises(ZeroDivisionError):
        generate_data.main(["--config", str(write_config(tmp_path)), "--quiet"])
    assert said == [12] and "warning: ADVICE" in capsys.readouterr().err
