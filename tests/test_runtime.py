"""The XLA flags that the commands set (nnef_dists.runtime)."""

import os

import jax

from nnef_dists import runtime


def test_compile_faster_adds_its_flag_and_keeps_the_others(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    runtime.compile_faster()
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=3",
        "--xla_backend_optimization_level=2",
    ]


def test_a_flag_the_user_set_is_left_alone(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    runtime.compile_faster()
    runtime.use_every_cpu_core()
    flags = os.environ["XLA_FLAGS"].split()
    assert flags[0] == "--xla_backend_optimization_level=3"
    assert flags[1] == f"--xla_force_host_platform_device_count={len(os.sched_getaffinity(0))}"
    assert len(flags) == 2


def test_without_xla_flags_the_flag_stands_alone(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    runtime.compile_faster()
    assert os.environ["XLA_FLAGS"] == "--xla_backend_optimization_level=2"


def test_the_compilation_cache_keeps_every_program_unless_told(monkeypatch, tmp_path):
    monkeypatch.setenv("NNEF_JAX_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
    saved = {
        name: getattr(jax.config, name)
        for name in ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    }
    try:
        runtime.enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path)
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.5)
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "2.5")
        runtime.enable_compilation_cache()
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 2.5
    finally:
        for name, value in saved.items():
            jax.config.update(name, value)
