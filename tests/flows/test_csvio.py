"""CSV reading: every malformed file stops with one message naming file, line and column."""

import numpy as np
import pytest

from nnef_dists.errors import DataError
from nnef_dists.flows.csvio import read_csv, write_csv

CASES = {
    "text": ("1,2,3\n4,abc,6\n", {}, "line 2, column 2: 'abc' is not a number"),
    "nan": ("1,2,3\n4,5,nan\n", {}, "line 2, column 3: 'nan' is not finite"),
    "inf": ("a,b\n1,-inf\n", {"skip_header": True}, "line 2, column 2: '-inf' is not finite"),
    "ragged short": ("1,2,3\n\n4,5\n", {}, "line 3, column 3: the row has 2 columns but"),
    "ragged long": ("1,2\n3,4,5\n", {}, "line 2, column 3: the row has 3 columns but"),
    "model width": (
        "1,2,3\n",
        {"columns": 4},
        "line 1, column 4: the row has 3 columns but the model",
    ),
    "header as data": ("x,y\n1,2\n", {}, "line 1, column 1: 'x' is not a number"),
    "empty field": ("1,,3\n", {}, "line 1, column 2: '' is not a number"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_csv_names_file_line_and_column(name, tmp_path):
    text, options, message = CASES[name]
    path = tmp_path / "F.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_csv(path, **options)
    assert str(info.value).startswith(f"{path}, ")
    assert message in str(info.value)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n\n")
    with pytest.raises(DataError, match="empty.csv: no data rows"):
        read_csv(path, skip_header=True)


def test_read_write_round_trip(tmp_path):
    values = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    path = tmp_path / "out.csv"
    write_csv(path, dict(zip(["a", "b", "c"], values.T, strict=True)))
    back = read_csv(path, skip_header=True)
    np.testing.assert_array_equal(back.astype(np.float32), values)  # 9 digits: float32-exact
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left behind


def test_write_csv_formats_each_column_by_its_type(tmp_path):
    """Integers and booleans as integers, labels as text, floats to the digits asked
    (17: float64 exactly, nan as nan); the expected lines are written out by hand."""
    path = tmp_path / "mixed.csv"
    columns = {
        "idx": np.array([0, 1]),
        "stat": np.array(["mean", "std"]),
        "ok": np.array([True, False]),
        "x": np.array([0.1, np.nan]),
    }
    write_csv(path, columns, digits=17)
    assert path.read_text() == "idx,stat,ok,x\n0,mean,1,0.10000000000000001\n1,std,0,nan\n"
    assert float(path.read_text().split("\n")[1].split(",")[3]) == 0.1  # round trip exact
    with pytest.raises(ValueError, match="different lengths"):
        write_csv(tmp_path / "bad.csv", {"a": np.zeros(2), "b": np.zeros(3)})
    assert not (tmp_path / "bad.csv").exists()
