"""Helpers shared by the inference tests."""

import numpy as np
from scipy.special import digamma

from nnef_dists.models import Normalization, build_model, model_record
from nnef_dists.training import parse_train_config


def untrained_gamma_mlp() -> tuple:
    """An untrained mlp_et (hidden [8]) for gamma, normalised on the closed-form
    moments mu_T = (digamma(a) - log b, a / b), a = eta_0 + 1, b = -eta_1, at 64 eta
    filling [-0.5, 3] x [-4, -0.5]: (module, its model record)."""
    rng = np.random.default_rng(2)
    eta = np.column_stack([rng.uniform(-0.5, 3.0, 64), rng.uniform(-4.0, -0.5, 64)])
    mu_T = np.column_stack(
        [digamma(eta[:, 0] + 1) - np.log(-eta[:, 1]), (eta[:, 0] + 1) / -eta[:, 1]]
    )
    config = parse_train_config({"model": "mlp_et", "data": "gamma.pkl", "hidden_sizes": [8]})
    module = build_model(config, 2, Normalization.from_data(eta, mu_T))
    return module, model_record(module, config, None, None, eta)
