"""Nothing non-normalisable passes as data: rejected by quadrature, flagged by MCMC."""

import json
import textwrap

import numpy as np

from nnef_dists.cli import alias
from nnef_dists.data import load_dataset, load_metadata
from nnef_dists.families import get_family
from nnef_dists.sampling import exact_moments

generate = alias("generate")
#: Gamma's statistics without eta_bounds: eta_log_x <= -1 or eta_x >= 0 is not normalisable.
CONFIG = textwrap.dedent(
    """\
    ef: {{name: "tests.families.user_family:GammaNoEtaBounds"}}
    grid: {{num_points: {n}, eta_range: {{log_x: [-1.5, 2.0], x: [-3.0, 0.5]}}, batch_size: {n}}}
    sampling: {sampling}
    output: {output}
    """
)


def write(tmp_path, sampling: str, n: int) -> tuple:
    config = tmp_path / "c.yaml"
    output = tmp_path / "out.pkl"
    config.write_text(CONFIG.format(n=n, sampling=sampling, output=output))
    return str(config), output


def test_quadrature_rejects_what_is_not_normalisable_and_says_so(tmp_path, capsys):
    config, output = write(tmp_path, "{method: quadrature}", 60)
    assert generate(["--config", config, "--quiet"]) == 0
    data, meta = load_dataset(output), load_metadata(output)
    eta = data["eta"]
    # every row written is normalisable, its moments those of the closed form (gamma)
    assert np.all((eta[:, 0] > -1) & (eta[:, 1] < 0))
    truth = exact_moments(get_family("gamma"), eta)["mu_T"]
    np.testing.assert_allclose(data["mu_T"], truth, rtol=1e-9)
    rejected = np.asarray(meta["rejected_eta"])
    assert len(rejected) == 60 - len(eta) == meta["diagnostics"]["eta_rejected_not_normalisable"]
    # the others: not normalisable, or a shape a < 0.05 whose mass sits within float64
    # rounding of x = 0 (x^(a - 1) there: quadrature cannot resolve it)
    assert np.all((rejected[:, 0] < -0.95) | (rejected[:, 1] >= 0))
    assert "were rejected and left out of the data" in capsys.readouterr().err


def test_mcmc_flags_chains_that_did_not_mix_and_training_leaves_them_out(tmp_path, capsys):
    sampling = "{method: hmc, num_samples: 300, num_warmup: 200, num_chains: 2}"
    config, output = write(tmp_path, sampling, 40)
    assert generate(["--config", config, "--quiet"]) == 0
    meta = load_metadata(output)
    flagged = meta["flagged_eta"]["excluded"]
    eta = load_dataset(output)["eta"]
    bad = (eta[:, 0] <= -1) | (eta[:, 1] >= 0)
    # every non-normalisable eta is flagged (and the others mostly not)
    assert set(np.flatnonzero(bad)) <= set(flagged) and len(flagged) < bad.sum() + 3
    assert "are flagged" in capsys.readouterr().err
    model = tmp_path / "m"
    argv = ["--model", "mlp_et", "--data", str(output), "--epochs", "2", "--output-dir", str(model)]
    assert alias("train")([*argv, "--quiet", "--hidden-sizes", "8"]) == 0
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["training"]["flagged_eta_left_out"] == len(flagged)
