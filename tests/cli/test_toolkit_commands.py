"""nnef moments and nnef natural: CSV in, CSV out, against the gamma closed form."""

import csv

import numpy as np
from scipy import special

from nnef_dists.cli import main

ETA = np.array([[1.5, -2.0], [0.2, -0.3]])  # gamma: (shape - 1, -rate)


def rows(path):
    with open(path) as handle:
        return list(csv.reader(handle))


def gamma_mean(eta):
    shape, rate = eta[:, 0] + 1.0, -eta[:, 1]
    return np.column_stack([special.digamma(shape) - np.log(rate), shape / rate])


def test_moments_then_natural_round_trip(tmp_path):
    np.savetxt(tmp_path / "eta.csv", ETA, delimiter=",", header="a,b", comments="")
    assert main(["moments", "--family", "gamma", "--eta", str(tmp_path / "eta.csv")]) == 0
    header, *body = rows(tmp_path / "eta_moments.csv")
    assert header[:4] == ["eta_log_x[0]", "eta_x[0]", "mean_log_x[0]", "mean_x[0]"]
    values = np.array(body, float)
    # 17 digits written: round-off only (psi(2.5) - log 2 = 0.01 cancels two digits)
    np.testing.assert_allclose(values[:, 2:4], gamma_mean(ETA), rtol=1e-14, atol=1e-15)
    shape, rate = ETA[:, 0] + 1.0, -ETA[:, 1]
    entropy = shape - np.log(rate) + special.gammaln(shape) + (1 - shape) * special.digamma(shape)
    np.testing.assert_allclose(values[:, header.index("entropy")], entropy, rtol=1e-12)

    np.savetxt(tmp_path / "mu.csv", values[:, 2:4], delimiter=",", fmt="%.17g")
    assert main(["natural", "--family", "gamma", "--mu", str(tmp_path / "mu.csv")]) == 0
    header, *body = rows(tmp_path / "mu_natural.csv")
    assert header[-2:] == ["residual", "converged"]
    np.testing.assert_allclose(np.array(body, float)[:, 2:4], ETA, rtol=1e-12)


def test_a_mean_of_no_gamma_is_not_given_an_eta(tmp_path, capsys):
    # E[log x] > log E[x] breaks Jensen's inequality: no gamma has this mean
    mu = np.vstack([gamma_mean(ETA[:1]), [[1.0, 1.0]]])
    np.savetxt(tmp_path / "mu.csv", mu, delimiter=",", fmt="%.17g")
    assert main(["natural", "--family", "gamma", "--mu", str(tmp_path / "mu.csv")]) == 1
    assert "convex hull of T(x)" in capsys.readouterr().err
    _, good, bad = rows(tmp_path / "mu_natural.csv")
    assert good[-1] == "1" and bad[-1] == "0" and bad[2] == bad[3] == "nan"


def test_bad_input_is_named(tmp_path, capsys):
    np.savetxt(tmp_path / "eta.csv", ETA, delimiter=",")
    args = ["moments", "--family", "dirichlet", "--eta", str(tmp_path / "eta.csv")]
    assert main([*args, "--param", "K"]) == 2
    assert "--param 'K': expected KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--param", "K=4"]) == 2
    assert "eta.csv, line 1, column 3" in capsys.readouterr().err
    assert main(["moments", "--family", "gamma", "--eta", str(tmp_path / "eta.csv")]) == 0
    assert main(["moments", "--family", "gamma", "--eta", str(tmp_path / "eta.csv")]) == 2
    assert "already exists" in capsys.readouterr().err
