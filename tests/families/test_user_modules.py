"""A user's own family module is found the same way by every entry point (README)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnef_dists.errors import ConfigError
from nnef_dists.families import family_class
from nnef_dists.registry import import_user_module

#: The user families of tests/families/user_family.py, copied as a module of a user's folder.
FAMILY = (Path(__file__).parent / "user_family.py").read_text()
CONFIG = """\
ef: {{name: "{module}:Exponential"}}
grid: {{num_points: 6, eta_range: {{x: [-3.0, -0.5]}}, batch_size: 6}}
sampling: {{method: quadrature}}
output: {output}
"""


def test_search_folders_then_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "user_mod_a.py").write_text("VALUE = 1\n")
    with pytest.raises(ModuleNotFoundError):
        import_user_module("user_mod_a")
    assert import_user_module("user_mod_a", search=[tmp_path / "here"]).VALUE == 1
    (tmp_path / "user_mod_b.py").write_text("VALUE = 2\n")
    monkeypatch.chdir(tmp_path)
    assert import_user_module("user_mod_b").VALUE == 2  # the working directory


def test_a_module_that_imports_something_missing_is_not_hidden(tmp_path):
    (tmp_path / "user_mod_c.py").write_text("import no_such_dependency\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency"):
        import_user_module("user_mod_c", search=[tmp_path])
    with pytest.raises(ConfigError, match="cannot import family 'user_mod_d:X'"):
        family_class("user_mod_d:X", search=[tmp_path])


def test_nnef_finds_a_module_beside_its_config_from_any_working_directory(tmp_path):
    """The console script does not put the working directory on sys.path; the config's
    folder is searched all the same (here: run from another folder)."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "cfg" / "user_family_e.py").write_text(FAMILY)
    config = tmp_path / "cfg" / "c.yaml"
    output = tmp_path / "out.pkl"
    config.write_text(CONFIG.format(module="user_family_e", output=output))
    main = "import sys; from nnef_dists.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", main, "generate", "--config", str(config), "--quiet"],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    from nnef_dists.data import load_dataset

    data = load_dataset(output)
    # against the closed form of the exponential distribution: E[x] = -1 / eta
    np.testing.assert_allclose(data["mu_T"], -1.0 / data["eta"], rtol=1e-10)
