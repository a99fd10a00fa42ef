"""Data set files: exact round trips, atomic writes, safe unpickling, 80/10/10 splits."""

import collections
import io
import json
import os
import pickle

import numpy as np
import pytest

from nnef_dists.data import io as data_io
from nnef_dists.data import (
    load_dataset,
    load_metadata,
    meta_path,
    parse_data_config,
    save_dataset,
    split_dataset,
    split_indices,
)
from nnef_dists.errors import DataError


def make_data(n=20, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "eta": rng.normal(size=(n, k)),
        "mu_T": rng.normal(size=(n, k)),
        "cov_TT": rng.normal(size=(n, k, k)),
        "ess": np.full((n, k), np.inf),
    }


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == np.float64 and np.array_equal(a[key], b[key])


def write_pickle(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


# ---- round trips ------------------------------------------------------------


def test_round_trip_exact_with_meta(tmp_path):
    data = make_data()
    config = parse_data_config(
        {
            "ef": {"name": "gamma", "x_shape": [1]},
            "grid": {"num_points": 4, "eta_range": {"log_x": [0.0, 1.0], "x": [-2.0, -1.0]}},
            "sampling": {},
        }
    )
    meta = {
        "config": config,
        "seed": np.int64(3),
        "acceptance": np.float32(0.5),
        "rhat": np.array([1.0, np.nan]),
        "limits": (np.inf, -np.inf),
        "path": tmp_path,
        "ok": True,
    }
    path = tmp_path / "deep" / "dir" / "set.pkl"
    save_dataset(path, data, meta)
    assert_same(load_dataset(path), data)
    assert sorted(os.listdir(path.parent)) == ["set.pkl", "set.pkl.meta.json"]
    loaded = load_metadata(path)
    assert loaded == load_metadata(meta_path(path))
    assert loaded["config"]["ef"] == {"name": "gamma", "x_shape": [1], "params": {}}
    assert loaded["config"]["grid"]["eta_range"]["x"] == [-2.0, -1.0]
    assert (loaded["seed"], loaded["acceptance"], loaded["ok"]) == (3, 0.5, True)
    assert loaded["rhat"] == [1.0, "NaN"] and loaded["limits"] == ["Infinity", "-Infinity"]
    assert loaded["path"] == str(tmp_path)
    json.loads(meta_path(path).read_text(), parse_constant=pytest.fail)  # strict JSON


def test_inputs_cast_to_float64(tmp_path):
    data = {key: value.astype(np.float32) for key, value in make_data().items()}
    data["ess"] = np.ones((20, 3), dtype=int).tolist()
    save_dataset(tmp_path / "a.pkl", data, {})
    loaded = load_dataset(tmp_path / "a.pkl")
    assert all(v.dtype == np.float64 for v in loaded.values())
    assert np.array_equal(loaded["eta"], data["eta"].astype(np.float64))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_loads_numpy_pickles_of_any_protocol(tmp_path, protocol):
    data = make_data()
    assert_same(load_dataset(write_pickle(tmp_path / "p.pkl", data, protocol)), data)


def test_loads_files_written_by_numpy_1(tmp_path):
    data = make_data()
    old = pickle.dumps(data, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray\n_reconstruct" in old
    (tmp_path / "old.pkl").write_bytes(old)
    assert_same(load_dataset(tmp_path / "old.pkl"), data)


# ---- atomic writes ------------------------------------------------------------


def test_failed_write_keeps_previous_files(tmp_path, monkeypatch):
    path, old = tmp_path / "set.pkl", make_data(seed=1)
    save_dataset(path, old, {"version": "old"})

    def dump_half_then_fail(obj, file, protocol):
        file.write(pickle.dumps(obj, protocol=protocol)[:100])
        raise OSError("disk full")

    monkeypatch.setattr(data_io.pickle, "dump", dump_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_dataset(path, make_data(seed=2), {"version": "new"})
    assert_same(load_dataset(path), old)
    assert load_metadata(path) == {"version": "old"}
    assert sorted(os.listdir(tmp_path)) == ["set.pkl", "set.pkl.meta.json"]


def test_bad_meta_writes_nothing(tmp_path):
    with pytest.raises(DataError, match=r"meta\.when: cannot store a object in JSON"):
        save_dataset(tmp_path / "a.pkl", make_data(), {"when": object()})
    assert os.listdir(tmp_path) == []


# ---- validation on save -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("ess"), "expected exactly the keys eta, mu_T, cov_TT, ess; missing ess"),
        (lambda d: d.update(extra=np.zeros(3)), "unexpected 'extra'"),
        (lambda d: d.update(eta=np.zeros(20)), "eta: expected shape (N, k), got (20,)"),
        (lambda d: d.update(mu_T=np.zeros((20, 2))), "mu_T: expected shape (20, 3) to match"),
        (lambda d: d.update(cov_TT=np.zeros((20, 3))), "cov_TT: expected shape (20, 3, 3)"),
        (lambda d: d.update(ess=np.zeros((19, 3))), "ess: expected shape (20, 3)"),
        (lambda d: d.update(mu_T=[["a"] * 3] * 20), "mu_T: cannot convert to floats"),
    ],
)
def test_save_refuses_bad_data(tmp_path, change, message):
    data = make_data()
    change(data)
    with pytest.raises(DataError) as info:
        save_dataset(tmp_path / "a.pkl", data, {})
    assert "a.pkl" in str(info.value) and message in str(info.value)
    assert os.listdir(tmp_path) == []


# ---- safe loading -------------------------------------------------------------


class RunsCode:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Custom:
    pass


def test_refuses_code_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    data = {**make_data(), "eta": RunsCode(marker)}
    path = write_pickle(tmp_path / "evil.pkl", data)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert str(info.value).startswith(f"{path}: refusing to unpickle '")
    assert ".system' (only NumPy arrays are allowed)" in str(info.value)  # posix.system
    assert not marker.exists()


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        (Custom(), f"{__name__}.Custom"),
        (eval, "builtins.eval"),
        (collections.OrderedDict(), "collections.OrderedDict"),
        (io.BytesIO(), "_io.BytesIO"),
    ],
)
def test_refuses_other_classes(tmp_path, obj, name):
    path = write_pickle(tmp_path / "x.pkl", {**make_data(), "eta": obj})
    with pytest.raises(DataError, match=f"refusing to unpickle '{name}'"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([np.zeros((2, 2))], "expected a dict of arrays, got list"),
        ({"eta": np.zeros((2, 2))}, "missing mu_T, cov_TT, ess"),
        ({**make_data(), "more": 1}, "unexpected 'more'"),
        (
            {**make_data(), "eta": [[1.0] * 3] * 20},
            "eta: expected a floating NumPy array, got list",
        ),
        (
            {**make_data(), "ess": np.array([[None] * 3] * 20)},
            "ess: expected a floating NumPy array",
        ),
        ({**make_data(), "mu_T": np.zeros((20, 4))}, "mu_T: expected shape (20, 3)"),
    ],
)
def test_refuses_wrong_contents(tmp_path, content, message):
    path = write_pickle(tmp_path / "x.pkl", content)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


@pytest.mark.parametrize("content", [b"eta,mu_T\n1,2\n", b"", pickle.dumps(make_data())[:-50]])
def test_refuses_files_that_are_not_pickles(tmp_path, content):
    path = tmp_path / "x.pkl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{path}: not a data set file"):
        load_dataset(path)


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="nope.pkl: cannot read the data file"):
        load_dataset(tmp_path / "nope.pkl")
    with pytest.raises(DataError, match=r"nope.pkl.meta.json: cannot read the metadata"):
        load_metadata(tmp_path / "nope.pkl")


# ---- splits -----------------------------------------------------------------------


def test_split_indices_80_10_10_disjoint_covering_and_seeded():
    parts = split_indices(1000, seed=5)
    assert [len(parts[p]) for p in ("train", "val", "test")] == [800, 100, 100]
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(1000))
    again, other = split_indices(1000, seed=5), split_indices(1000, seed=6)
    assert all(np.array_equal(parts[p], again[p]) for p in parts)
    assert not np.array_equal(parts["train"], other["train"])
    assert [len(v) for v in split_indices(15, 0).values()] == [13, 1, 1]


def test_split_dataset_rows_follow_indices():
    data, parts = make_data(n=50), split_indices(50, seed=1)
    split = split_dataset(data, seed=1)
    for part, index in parts.items():
        assert split[part].keys() == data.keys()
        for key in data:
            assert np.array_equal(split[part][key], data[key][index])
