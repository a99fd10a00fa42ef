"""Honest error bars: HMC estimates against the truth, for every built-in family
and for families defined in a user's module.

For 200 eta drawn from each family's own config range (configs/data/<name>.yaml;
for the user families, USER_FAMILIES),
z = (mu_T - truth) / sqrt(diag(cov_TT) / ess) must have, per statistic, a
standard deviation in [0.75, 1.33] and |mean| < 0.3. The truth is the closed
form (autodiff of the log-partition) where the family has one, and float64
quadrature otherwise. With 200 eta the standard deviation of z is estimated
to about 5%, so a sampler whose ESS is off by a factor of 2 fails.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.data import load_data_config, parse_data_config, with_overrides
from nnef_dists.families import list_families
from nnef_dists.sampling import generate, make_eta_grid, quadrature_moments
from nnef_dists.schema import folder_of

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "data"
NUM_ETA = 200
#: Families of no registry, as a user names them: (ef name, eta_range, the config
#: file whose folder holds the module). GammaJnp (jax.numpy bounds, no exact answers
#: given: its truth is quadrature) and Nakagami (configs/fit/nakagami.py, T = [log x, x^2]).
USER_FAMILIES = {
    "GammaJnp": (
        "tests.families.user_family:GammaJnp",
        {"log_x": [-0.5, 3.0], "x": [-4.0, -0.2]},
        "<dict>",
    ),
    "Nakagami": (
        "nakagami:Nakagami",
        {"log_x": [0.0, 2.0], "x2": [-3.0, -0.5]},
        str(ROOT / "configs" / "fit" / "nakagami.yaml"),
    ),
}


def truth(family, eta):
    """Exact E[T | eta] (N, k): closed form in float64, else quadrature."""
    if family.has_exact:
        with jax.enable_x64(True):
            return np.asarray(jax.vmap(family.exact_mu_T)(jnp.asarray(eta, dtype=jnp.float64)))
    return quadrature_moments(family, np.asarray(eta, dtype=np.float64))["mu_T"]


def config_and_family(name, num_eta):
    """The data config (the default sampler for a user family) and the family."""
    if name not in USER_FAMILIES:
        config = with_overrides(load_data_config(CONFIGS / f"{name}.yaml"), num_points=num_eta)
        return config, config.ef.build()
    ef, ranges, source = USER_FAMILIES[name]
    raw = {"ef": {"name": ef}, "grid": {"num_points": num_eta, "eta_range": ranges}}
    raw |= {"sampling": {"method": "hmc"}, "output": "unused.pkl"}
    config = parse_data_config(raw, source=source)
    return config, config.ef.build(search=folder_of(source))


def z_scores(name, num_eta):
    """z (num_eta, k) of HMC with the family's config against the truth, and a report."""
    config, family = config_and_family(name, num_eta)
    key_grid, key_sample = jax.random.split(jax.random.key(7))
    eta = make_eta_grid(family, config.grid, key_grid).eta
    out = generate(family, eta, config.sampling, key_sample, batch_size=num_eta)

    stderr = np.sqrt(np.diagonal(out["cov_TT"], axis1=1, axis2=2) / out["ess"])
    z = (out["mu_T"] - truth(family, eta)) / stderr
    labels = family.stat_labels()
    report = ", ".join(
        f"{label}: mean {m:+.2f} std {s:.2f}"
        for label, m, s in zip(labels, z.mean(0), z.std(0), strict=True)
    )
    return z, report


@pytest.mark.parametrize("name", [*list_families(), *USER_FAMILIES])
def test_hmc_error_bars_are_honest(name):
    z, report = z_scores(name, NUM_ETA)
    assert np.all(np.isfinite(z)), report
    assert np.all((z.std(0) >= 0.75) & (z.std(0) <= 1.33)), report
    assert np.all(np.abs(z.mean(0)) < 0.3), report


@pytest.mark.slow
@pytest.mark.parametrize("name", [*list_families(), *USER_FAMILIES])
def test_hmc_error_bars_are_honest_to_15_percent(name):
    """1000 eta: the standard deviation of z is estimated to about 2%."""
    z, report = z_scores(name, 1000)
    assert np.all(np.isfinite(z)), report
    assert np.all((z.std(0) >= 0.85) & (z.std(0) <= 1.15)), report
    assert np.all(np.abs(z.mean(0)) < 0.15), report
