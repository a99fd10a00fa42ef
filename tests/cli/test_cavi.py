"""CAVI configs (strict, errors naming the field) and the example command."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnef_dists.cli import alias
from nnef_dists.errors import ConfigError
from nnef_dists.families import get_family
from nnef_dists.inference import examples as ex
from nnef_dists.inference.config import (
    NormalPrior,
    PolynomialPrior,
    load_cavi_config,
    parse_cavi_config,
)
from nnef_dists.schema import read_yaml

nnef_cavi = alias("cavi")

ROOT = Path(__file__).resolve().parents[2]
NORMAL_GAMMA = ROOT / "configs" / "cavi" / "normal_gamma.yaml"


def base() -> dict:
    return copy.deepcopy(read_yaml(NORMAL_GAMMA))


def test_the_shipped_configs_load():
    config = load_cavi_config(NORMAL_GAMMA)
    assert isinstance(config.prior.mu, NormalPrior) and config.run.x.kind == "network"
    poly = load_cavi_config(ROOT / "configs" / "cavi" / "polynomial_prior.yaml")
    assert isinstance(poly.prior.mu, PolynomialPrior) and poly.prior.mu.coefficients[3] < 0


def edit(path: str, value):
    raw, keys = base(), path.split(".")
    node = raw
    for key in keys[:-1]:
        node = node[key]
    if value is None:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return raw


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("solver.tols", 1e-6, r"solver\.tols: unknown field; did you mean tol\?"),
        ("solver.damping", 1.0, r"solver\.damping: must lie in \[0, 1\)"),
        ("example", "normal", r"example: must be one of"),
        ("prior.mu", {"coefficients": [1, 1, 1, -1]}, r"prior\.mu\.coefficients: unknown field"),
        ("prior.tau.rate", -1.0, r"prior\.tau\.rate: must be positive"),
        ("run.x.kind", "magic", r"run\.x\.kind: must be one of"),
        ("run.y", {"kind": "network"}, r"run\.y\.model: missing"),
        ("reference.x", {"kind": "exact", "model": "a"}, r"reference\.x\.model: only a network"),
        ("reference.y", {"kind": "exact", "sampling": {}}, r"reference\.y\.sampling: only an mc"),
        (
            "reference.y",
            {"kind": "mc", "sampling": {"method": "quadrature"}},
            r"reference\.y\.sampling\.method",
        ),
        (
            "reference.y",
            {"kind": "mc", "sampling": {"num_sample": 5}},
            r"reference\.y\.sampling\.num_sample: unknown field; did you mean num_samples\?",
        ),
        ("data.values", [0.1, 0.2], r"data: give either values or num_points"),
        ("data.num_points", None, r"data: give either values or num_points"),
        ("data.tau", "1e-3", r"data\.tau: expected a finite number.*write 1\.0e-3"),
    ],
)
def test_config_errors_name_the_field(path, value, message):
    with pytest.raises(ConfigError, match=r"^my\.yaml: " + message):
        parse_cavi_config(edit(path, value), source="my.yaml")


def test_polynomial_prior_needs_a_negative_leading_coefficient():
    raw = edit("example", "polynomial_prior")
    raw["prior"]["mu"] = {"coefficients": [0.0, -1.0, 0.0, 0.5]}
    with pytest.raises(ConfigError, match=r"prior\.mu\.coefficients: must be 4 numbers"):
        parse_cavi_config(raw)
    raw["prior"]["mu"] = {"mean": 0.0, "sd": 1.0}
    with pytest.raises(ConfigError, match=r"prior\.mu\.mean: unknown field"):
        parse_cavi_config(raw)


def write(tmp_path, raw) -> str:
    path = tmp_path / "cavi.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_missing_model_directory_names_the_training_command(tmp_path, capsys):
    raw = edit("run", {"x": {"kind": "exact"}, "y": {"kind": "network", "model": str(tmp_path)}})
    raw["run"]["y"]["model"] = str(tmp_path / "nowhere")
    path = write(tmp_path, raw)
    assert nnef_cavi(["--config", path, "--no-train"]) == 2
    err = capsys.readouterr().err
    assert "run.y.model: no trained model at" in err and "nowhere" in err
    assert f"nnef cavi --config {path}` (without --no-train)" in err


def test_exact_run_against_exact_reference(tmp_path, capsys):
    raw = edit("run", {"x": {"kind": "exact"}, "y": {"kind": "exact"}})
    assert nnef_cavi(["--config", write(tmp_path, raw)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    config = parse_cavi_config(raw)
    data = ex.simulate_data(8, 0.5, 2.0, 0)
    eta = ex.normal_gamma_fixed_point(data, 0.0, 1.0, config.prior.tau.shape, 1.0)
    truth = ex.summary(get_family("gamma"), eta[1], 1)[0]
    run, reference, difference, closed_form = map(float, rows["E[tau]"])
    np.testing.assert_allclose([run, reference, closed_form], truth, rtol=1e-5)
    assert abs(difference) < 1e-5 * truth
    assert rows["converged"] == ["True", "True"] and rows["ELBO"][0] != "nan"
