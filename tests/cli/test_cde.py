"""The command line on a tiny problem: train -> infer (3 modes) -> coverage, and errors."""

import csv

import numpy as np
import pytest

from nnef_dists.cli import alias

main = alias("cde")


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """Features (200, 2) and params (200, 2) CSV files with headers, and a trained model."""
    root = tmp_path_factory.mktemp("cde")
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (200, 2))
    theta = np.column_stack([x[:, 0], x[:, 1] - x[:, 0]]) + 0.3 * rng.standard_normal((200, 2))
    np.savetxt(root / "F.csv", x, delimiter=",", header="a,b", comments="")
    np.savetxt(root / "P.csv", theta, delimiter=",", header="t0,t1", comments="")
    common = ["--features", str(root / "F.csv"), "--skip-header", "--quiet"]
    args = ["train", *common, "--params", str(root / "P.csv"), "--out", str(root / "model")]
    assert main([*args, "--hidden", "8", "--blocks", "2", "--epochs", "3", "--batch", "50"]) == 0
    return root, common


def _rows(path):
    with open(path) as handle:
        return list(csv.reader(handle))


def test_infer_modes_write_the_documented_columns(problem):
    root, common = problem
    model = ["--model", str(root / "model")]
    out = str(root / "s.csv")
    assert main(["infer", *model, *common, "--out", out, "--samples", "3"]) == 0
    rows = _rows(out)
    assert rows[0] == ["feature_idx", "sample_idx", "p0", "p1"]
    assert len(rows) == 1 + 200 * 3 and rows[4][:2] == ["1", "0"]
    assert main(["infer", *model, *common, "--out", out, "--mode", "stats", "--force"]) == 0
    rows = _rows(out)
    assert rows[0] == ["feature_idx", "stat", "p0", "p1"]
    assert [r[1] for r in rows[1:3]] == ["mean", "std"] and float(rows[2][2]) > 0
    argv = ["infer", *model, *common, "--out", out, "--mode", "quantiles", "--force"]
    assert main([*argv, "--quantiles-list", "0.1,0.9", "--samples", "200"]) == 0
    rows = _rows(out)
    assert rows[0] == ["feature_idx", "quantile", "p0", "p1"] and len(rows) == 1 + 400
    assert [r[1] for r in rows[1:3]] == ["0.1", "0.9"] and float(rows[1][2]) < float(rows[2][2])


def test_coverage_prints_a_table_and_plots(problem, capsys):
    root, common = problem
    plot = root / "cov.png"
    argv = ["coverage", "--model", str(root / "model"), *common]
    assert main([*argv, "--params", str(root / "P.csv"), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "radius" in out and "0.900" in out and "p-value" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_infer_overwrites_nothing_without_force_and_never_the_model(problem, capsys):
    """The model's own params.msgpack, even with --force; an existing CSV without it;
    a path under a file: each refused in the first second, nothing written."""
    root, common = problem
    params = root / "model" / "params.msgpack"
    before = params.read_bytes()
    argv = ["infer", "--model", str(root / "model"), *common]
    assert main([*argv, "--out", str(params), "--force"]) == 2
    assert "which this command only reads" in capsys.readouterr().err
    assert params.read_bytes() == before
    existing = root / "existing.csv"
    existing.write_text("keep\n")
    assert main([*argv, "--out", str(existing)]) == 2
    assert "already exists; use --force" in capsys.readouterr().err
    assert existing.read_text() == "keep\n"
    assert main([*argv, "--out", str(existing / "o.csv")]) == 2
    assert f"{existing} is not a writable folder" in capsys.readouterr().err


def test_coverage_plots_beside_the_model_not_into_it(problem):
    root, common = problem
    argv = ["coverage", "--model", str(root / "model"), *common, "--samples", "20"]
    assert main([*argv, "--params", str(root / "P.csv")]) == 0
    assert (root / "model_coverage.png").exists() and not (root / "model" / "coverage.png").exists()
    assert main([*argv, "--params", str(root / "P.csv")]) == 2  # exists, no --force


def test_resume_from_a_saved_model(problem):
    root, common = problem
    argv = ["train", *common, "--params", str(root / "P.csv"), "--out", str(root / "model2")]
    assert main([*argv, "--load", str(root / "model"), "--epochs", "1"]) == 0
    assert (root / "model2" / "params.msgpack").exists()
    assert main([*argv, "--load", str(root / "model"), "--epochs", "1"]) == 2  # exists, no --force


def test_malformed_csv_exits_2_naming_file_line_column(problem, capsys):
    root, _ = problem
    bad = root / "bad.csv"
    bad.write_text("a,b\n1,2\n3,x\n")
    argv = ["infer", "--model", str(root / "model"), "--features", str(bad), "--skip-header"]
    assert main([*argv, "--out", str(root / "o.csv")]) == 2
    assert f"{bad}, line 3, column 2: 'x' is not a number" in capsys.readouterr().err
    bad.write_text("1,2,3\n")  # the model takes 2 feature columns
    assert main([*argv[:-1], "--out", str(root / "o.csv")]) == 2
    assert "line 1, column 3: the row has 3 columns but the model has 2" in capsys.readouterr().err
    assert not (root / "o.csv").exists()


def test_feature_noise_is_kept_with_the_model_and_checked(problem, capsys):
    from nnef_dists.flows import ConditionalDensityEstimator
    from nnef_dists.flows.feature_noise import CHOICES

    root, common = problem
    argv = ["train", *common, "--params", str(root / "P.csv"), "--epochs", "1", "--batch", "50"]
    assert main([*argv, "--out", str(root / "noisy"), "--feature-noise", "0.25"]) == 0
    noisy = ConditionalDensityEstimator.load(root / "noisy")
    assert noisy.feature_noise == 0.25 and noisy.noise_level is None
    again = [*argv, "--load", str(root / "noisy"), "--out"]
    assert main([*again, str(root / "kept")]) == 0  # --load keeps the saved noise
    assert ConditionalDensityEstimator.load(root / "kept").feature_noise == 0.25
    assert main([*again, str(root / "changed"), "--feature-noise", "0.5"]) == 0
    assert ConditionalDensityEstimator.load(root / "changed").feature_noise == 0.5
    # a flow without the noise-level input cannot learn every level afterwards
    assert main([*again, str(root / "no_level"), "--feature-noise", "auto"]) == 2
    assert "feature_noise 'auto' needs a flow fitted with it" in capsys.readouterr().err
    assert not (root / "no_level").exists()
    assert main([*argv, "--out", str(root / "bad_noise"), "--feature-noise", "-1"]) == 2
    assert "feature_noise must be a finite number >= 0 or 'auto', got -1.0" in (
        capsys.readouterr().err
    )
    assert not (root / "bad_noise").exists()
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(root / "bad_noise"), "--feature-noise", "lots"])
    assert "expected a number or 'auto', got 'lots'" in capsys.readouterr().err
    argv = [a for a in argv if a != "--quiet"]
    assert main([*argv, "--out", str(root / "auto")]) == 0  # "auto" is the default
    chosen = ConditionalDensityEstimator.load(root / "auto")
    tried = chosen.fit_settings["feature_noise_validation"]
    assert list(tried) == list(CHOICES) and chosen.feature_noise == "auto"
    assert chosen.noise_level == min(tried, key=tried.get)
    printed = capsys.readouterr().out
    assert f"feature noise {chosen.noise_level:.3g} chosen, of validation NLL 0: " in printed
    # a flow fitted with "auto" goes on at a fixed level, which it then answers with
    fixed = [*argv, "--load", str(root / "auto"), "--feature-noise", "0.25", "--out"]
    assert main([*fixed, str(root / "fixed")]) == 0
    assert ConditionalDensityEstimator.load(root / "fixed").noise_level == 0.25


def test_params_on_a_manifold_train_infer_and_are_checked(tmp_path, capsys):
    """--manifold e1+s2: the model takes (t, unit vector) rows, draws are unit vectors, and a
    params row off the sphere stops train (and coverage) with the file, columns and row."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (300, 1))
    v = rng.standard_normal((300, 3)) + np.array([0.0, 0.0, 3.0])
    theta = np.column_stack(
        [x[:, 0] + 0.1 * rng.standard_normal(300), v / np.linalg.norm(v, axis=1, keepdims=True)]
    )
    np.savetxt(tmp_path / "F.csv", x, delimiter=",")
    np.savetxt(tmp_path / "P.csv", theta, delimiter=",")
    common = ["--features", str(tmp_path / "F.csv"), "--quiet"]
    train = [
        "train",
        *common,
        "--params",
        str(tmp_path / "P.csv"),
        "--hidden",
        "8",
        "--epochs",
        "2",
    ]
    model = str(tmp_path / "model")
    assert main([*train, "--out", model, "--manifold", "e1+s2", "--layers", "gp+n"]) == 0
    out = str(tmp_path / "s.csv")
    assert main(["infer", "--model", model, *common, "--out", out, "--samples", "4"]) == 0
    draws = np.loadtxt(out, delimiter=",", skiprows=1)[:, 2:]
    assert draws.shape == (300 * 4, 4)
    np.testing.assert_allclose(np.linalg.norm(draws[:, 1:], axis=1), 1.0, atol=1e-5)
    theta[7, 1:] *= 1.1
    np.savetxt(tmp_path / "P.csv", theta, delimiter=",")
    capsys.readouterr()
    assert main([*train, "--out", str(tmp_path / "m2"), "--manifold", "e1+s2"]) == 2
    err = capsys.readouterr().err
    assert "P.csv" in err and "columns 2-4 (block s2) must be unit vectors" in err
    assert "row 8" in err
    argv = ["coverage", "--model", model, *common, "--params", str(tmp_path / "P.csv")]
    assert main(argv) == 2 and "row 8" in capsys.readouterr().err
    assert main([*train, "--out", str(tmp_path / "m3"), "--manifold", "e1+s3"]) == 2
    assert "S^1 and S^2" in capsys.readouterr().err
    assert main([*train, "--out", str(tmp_path / "m4"), "--flow", "maf", "--manifold", "e4"]) == 2
    assert "settings of flow 'manifold'" in capsys.readouterr().err


def test_objective_sinkhorn_is_kept_with_the_model(problem, capsys):
    pytest.importorskip("ott")
    import yaml

    root, common = problem
    out = root / "ot_model"
    argv = ["train", *common, "--params", str(root / "P.csv"), "--out", str(out)]
    argv += ["--hidden", "8", "--blocks", "1", "--epochs", "2", "--batch", "100"]
    assert main([*argv, "--objective", "sinkhorn"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["fit"]["objective"] == "sinkhorn"
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--objective", "kl", "--force"])
    assert exit_info.value.code == 2 and "invalid choice: 'kl'" in capsys.readouterr().err
