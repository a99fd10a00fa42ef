"""Training at the defaults alone meets the accuracy targets, at the small sizes a test allows.

The data are gamma moments from the closed form with Gaussian noise of exactly
the reported standard error sqrt(diag(cov_TT) / ess) (tests.conftest), so the
noise floor (the targets' own RMSE against the truth) is known and the
network's error is measured against the closed form on the test split. The
full table, on HMC data of four families at 8192 eta, is benchmarks/models.py.
"""

import numpy as np

from nnef_dists.data import split_dataset
from nnef_dists.models import LoadedModel, Normalization, build_model, model_record
from nnef_dists.training import evaluate, fit, parse_train_config
from nnef_dists.training.defaults import resolve
from tests.conftest import gamma_dataset

NUM_ETA, ESS = 1024, 50.0


def error_at_defaults(model: str, data: dict) -> dict:
    """The test-split errors against the truth of ``model`` trained with no setting but its name."""
    splits = split_dataset(data, seed=0)
    config = resolve(parse_train_config({"model": model, "data": "x.pkl"}), splits["train"])
    norm = Normalization.from_data(splits["train"]["eta"], splits["train"]["mu_T"])
    network = build_model(config, 2, norm)
    fit(network, splits["train"], splits["val"], config, progress=False)
    record = model_record(network, config, {"name": "gamma"}, ["log_x", "x"])
    return evaluate(LoadedModel(network, record), data, "test")[0]["vs_truth"]


def test_noisy_targets_are_averaged_below_half_the_noise_floor():
    """The target for the best model on MCMC data: at most 0.5 x the noise floor."""
    vs_truth = error_at_defaults("mlp_et", gamma_dataset(NUM_ETA, seed=5, ess=ESS))
    assert vs_truth["source"] == "closed form"
    assert np.max(vs_truth["ratio_to_noise_floor"]) <= 0.5, vs_truth


def test_potential_et_at_the_defaults_is_within_the_every_model_bound():
    """The target for every model on MCMC data, at most 1.5 x the noise floor, for
    potential_et: the convex network, whose defaults (Adam, then the L-BFGS polish)
    must get it there with no setting but its name."""
    vs_truth = error_at_defaults("potential_et", gamma_dataset(NUM_ETA, seed=5, ess=ESS))
    assert np.max(vs_truth["ratio_to_noise_floor"]) <= 1.5, vs_truth
