"""A data set that cannot train a network gets its own message, naming the file, key and row.

Before these checks a NaN in the data and a data set too small for the
validation split both ended in "loss is not finite ... try a smaller --lr".
"""

import re

import numpy as np
import pytest

from nnef_dists.cli import alias
from nnef_dists.data import save_dataset
from nnef_dists.data.dataset import MIN_TRAINING_ROWS, check_trainable
from nnef_dists.errors import DataError
from tests.conftest import gamma_dataset


def dataset(n):
    """A writable gamma data set of n rows (tests.conftest)."""
    return {key: np.array(value) for key, value in gamma_dataset(n, seed=0).items()}


def test_a_clean_data_set_passes():
    check_trainable(gamma_dataset(MIN_TRAINING_ROWS, seed=0), "d.pkl")


@pytest.mark.parametrize(
    ("key", "index", "value", "message"),
    [
        ("mu_T", (7, 1), np.nan, "d.pkl: mu_T: row 7 has nan at index 1 (not finite; 1 rows"),
        ("eta", (3, 0), np.inf, "d.pkl: eta: row 3 has inf at index 0 (not finite"),
        ("cov_TT", (5, 1, 0), np.nan, "d.pkl: cov_TT: row 5 has nan at index 2 (not finite"),
        ("ess", (2, 0), -1.0, "d.pkl: ess: row 2 has -1.0 at index 0 (NaN or negative"),
    ],
)
def test_non_finite_values_name_the_key_and_row(key, index, value, message):
    data = dataset(40)
    data[key][index] = value
    with pytest.raises(DataError, match=re.escape(message)):
        check_trainable(data, "d.pkl")


def test_rows_are_numbered_as_in_the_file():
    data = dataset(40)
    data["mu_T"][7, 0] = np.nan
    with pytest.raises(DataError, match="row 19 has nan"):
        check_trainable(data, "d.pkl", rows=np.arange(40) + 12)


def test_too_few_rows_and_constant_columns():
    with pytest.raises(DataError, match="9 rows to train on are too few for the 80/10/10 split"):
        check_trainable(gamma_dataset(9, seed=0), "d.pkl")
    data = dataset(40)
    data["eta"][:, 1] = -2.0
    with pytest.raises(DataError, match=r"eta: column 1 is -2.0 in every row"):
        check_trainable(data, "d.pkl")


def test_train_command_says_which_row_is_not_finite(tmp_path, capsys):
    data = dataset(100)
    data["mu_T"][42, 0] = np.nan
    path = tmp_path / "nan.pkl"
    save_dataset(path, data, {})
    argv = ["--data", str(path), "--epochs", "1", "--output-dir", str(tmp_path / "m")]
    assert alias("train", "--model", "mlp_et")(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: mu_T: row 42 has nan" in err and "--lr" not in err
    assert not (tmp_path / "m").exists()
