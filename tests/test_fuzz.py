"""Property-based bad input (hypothesis): configs, data files and CSV files.

Every generated input either parses or is refused with an NnefError (one
line ``error: ...`` and exit status 2 on the command line): never another
exception, never a traceback, never a written output.
"""

import pickle
import string

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnef_dists import generate_data
from nnef_dists.data import load_dataset, parse_data_config
from nnef_dists.errors import NnefError
from nnef_dists.flows.csvio import read_csv
from nnef_dists.training import parse_train_config

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
#: YAML-like values: scalars, lists and mappings of them.
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(string.printable, max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
DATA_CONFIG = yaml.safe_load(
    """
ef: {name: gamma, x_shape: [1]}
grid: {num_points: 8, eta_range: {log_x: [-0.5, 3.0], x: [-4.0, -0.5]}, batch_size: 8}
sampling: {method: hmc, num_samples: 10, num_warmup: 10, num_chains: 2}
seed: 0
output: out.pkl
"""
)
PATHS = [
    ("ef",),
    ("ef", "name"),
    ("ef", "x_shape"),
    ("grid",),
    ("grid", "num_points"),
    ("grid", "eta_range"),
    ("grid", "eta_range", "x"),
    ("grid", "batch_size"),
    ("sampling",),
    ("sampling", "method"),
    ("sampling", "num_samples"),
    ("seed",),
    ("output",),
    ("extra_field",),
]


def mutated(config: dict, path: tuple, value):
    """A deep copy of config with ``value`` at ``path`` (``...``: the field removed)."""
    out = yaml.safe_load(yaml.safe_dump(config))
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


@FUZZ
@given(path=st.sampled_from(PATHS), value=VALUES | st.just(...))
def test_data_config_fields(path, value):
    raw = mutated(DATA_CONFIG, path, value)
    try:
        parse_data_config(raw, source="fuzz.yaml")
    except NnefError as err:
        assert "\n" not in str(err) and str(err).startswith("fuzz.yaml")


@FUZZ
@given(text=st.text(max_size=200))
def test_data_config_files_on_the_command_line(tmp_path, capsys, text):
    """Any text as the config file: exit 2 with one line, or a config that parses."""
    config = tmp_path / "fuzz.yaml"
    config.write_text(text)
    try:
        raw = yaml.safe_load(text)
        parse_data_config(raw, source=str(config))
    except Exception:
        pass
    else:  # valid YAML that parses as a whole config: not this test's subject
        return
    assert generate_data.main(["--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fuzz.yaml"]  # nothing written


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "model",
                "data",
                "epochs",
                "lr",
                "batch_size",
                "hidden_sizes",
                "loss",
                "patience",
                "seed",
                "jacobian_weight",
                "model_options",
                "typo",
            ]
        ),
        VALUES,
        max_size=6,
    )
)
def test_train_config_fields(fields):
    try:
        parse_train_config({"model": "mlp_et", "data": "d.pkl", **fields}, source="t.yaml")
    except NnefError as err:
        assert "\n" not in str(err) and str(err).startswith("t.yaml")


ARRAYS = st.sampled_from([(5, 2), (5,), (0, 2), (5, 3), (4, 2), (5, 2, 2), (5, 3, 3)]).map(
    lambda shape: np.ones(shape)
) | st.sampled_from([np.array(["a"] * 5), np.ones((5, 2), np.int64), np.nan * np.ones((5, 2))])


@FUZZ
@given(
    content=st.dictionaries(
        st.sampled_from(["eta", "mu_T", "cov_TT", "ess", "other"]), ARRAYS | VALUES, max_size=5
    )
    | VALUES,
)
def test_data_files(tmp_path, content):
    path = tmp_path / "d.pkl"
    path.write_bytes(pickle.dumps(content))
    try:
        data = load_dataset(path)
    except NnefError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
    else:
        assert set(data) == {"eta", "mu_T", "cov_TT", "ess"}


@FUZZ
@given(raw=st.binary(max_size=64))
def test_data_files_of_any_bytes(tmp_path, raw):
    path = tmp_path / "d.pkl"
    path.write_bytes(raw)
    with pytest.raises(NnefError, match=str(path)):
        load_dataset(path)


@FUZZ
@given(
    text=st.lists(
        st.lists(
            st.sampled_from(["1", "-2.5", "1e3", "", " ", "x", "nan", "inf", "1,2", '"3"']),
            max_size=4,
        ).map(",".join),
        max_size=6,
    ).map("\n".join)
    | st.text(max_size=60),
    skip=st.booleans(),
    columns=st.sampled_from([None, 1, 2, 3]),
)
def test_csv_files(tmp_path, text, skip, columns):
    path = tmp_path / "f.csv"
    path.write_text(text)
    try:
        values = read_csv(path, skip, columns)
    except NnefError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
    else:
        assert values.ndim == 2 and np.all(np.isfinite(values)) and len(values) > 0
        assert columns is None or values.shape[1] == columns
