"""Shared fixtures: small data sets whose truth is known in closed form."""

import signal

import numpy as np
import pytest

from nnef_dists import runtime

# The commands' compiler setting; before importing BlackJAX, which starts JAX's backends.
runtime.compile_faster()
# The commands' compilation cache, for every test: programs that tests compile alike are
# compiled once per run (tests/flows/test_layers.py with tests/models/test_all_models.py,
# empty cache: 123 -> 100 s) and not again in later runs (35 s).
runtime.enable_compilation_cache()

import jax  # noqa: E402

# Start the backends now, with one CPU device: commands called in-process
# (nnef_dists.cli.main) then cannot change the device count (runtime.configure).
jax.devices()

from nnef_dists.data import save_dataset  # noqa: E402
from nnef_dists.families import get_family  # noqa: E402
from nnef_dists.sampling import exact_moments  # noqa: E402


def gamma_dataset(n: int, seed: int = 0, ess: float = np.inf) -> dict:
    """Gamma data at n eta: closed-form cov_TT, and mu_T exact (ess = inf) or with
    Gaussian noise of exactly the standard error sqrt(diag(cov_TT) / ess)."""
    rng = np.random.default_rng(seed)
    eta = np.column_stack([rng.uniform(-0.5, 3.0, n), rng.uniform(-4.0, -0.5, n)])
    exact = exact_moments(get_family("gamma"), eta)
    se = np.sqrt(np.diagonal(exact["cov_TT"], axis1=1, axis2=2) / ess)
    return {
        "eta": eta,
        "mu_T": exact["mu_T"] + se * rng.standard_normal(eta.shape),
        "cov_TT": exact["cov_TT"],
        "ess": np.full(eta.shape, ess),
    }


@pytest.fixture(scope="session")
def gamma_file(tmp_path_factory):
    """A 320-row gamma data file with honest noise (ess 400) and its metadata."""
    path = tmp_path_factory.mktemp("data") / "gamma.pkl"
    meta = {
        "family": "gamma",
        "stat_labels": ["log_x[0]", "x[0]"],
        "config": {"ef": {"name": "gamma", "x_shape": [1], "params": {}}},
    }
    save_dataset(path, gamma_dataset(320, seed=1, ess=400.0), meta)
    return path


@pytest.fixture
def sigint_as_in_a_terminal():
    """SIGINT raising KeyboardInterrupt, in the test and in the processes it starts.

    Tests run as a background job (``make test &``) inherit an ignored SIGINT, which
    ``nnef`` leaves ignored, as a background command should; a test of Ctrl-C needs
    the foreground's handling. (A process started meanwhile gets SIGINT's default
    action at exec, and Python installs KeyboardInterrupt over it.)
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
