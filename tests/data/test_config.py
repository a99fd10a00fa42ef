"""Data configs: the README's example loads; every user error is one clear ConfigError."""

import copy

import pytest

from nnef_dists.data.config import (
    DataConfig,
    DistributedConfig,
    load_data_config,
    parse_data_config,
    with_overrides,
)
from nnef_dists.errors import ConfigError
from nnef_dists.families.builtin.gamma import Gamma
from nnef_dists.families.config import FamilyConfig
from nnef_dists.sampling import GridConfig, SamplingConfig

EXAMPLE = """\
ef:
  name: gamma            # registry name, or package.module:Class
  x_shape: [1]
  params: {}             # optional constructor arguments
grid:
  num_points: 10000
  eta_range:
    log_x: [-0.5, 4.0]
    x: [-5.0, -0.1]
  spread: uniform        # or log
  batch_size: 256
sampling:
  method: hmc            # hmc | nuts | quadrature
  num_samples: 1000      # per chain
  num_warmup: 500
  num_chains: 4
  num_integration_steps: 10
  step_size: 0.1         # initial; adapted in warm-up
seed: 42
output: data/gamma_10000.pkl
"""

DELETE = object()  # with_value(field, DELETE) removes the field

MINIMAL = {
    "ef": {"name": "gamma"},
    "grid": {"num_points": 10, "eta_range": {"log_x": [-0.5, 4.0], "x": [-5.0, -0.1]}},
    "sampling": {},
}


def with_value(dotted: str, value) -> dict:
    """MINIMAL with one field set (or deleted, for value=DELETE)."""
    raw = copy.deepcopy(MINIMAL)
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


def test_design_example_loads(tmp_path):
    path = tmp_path / "gamma.yaml"
    path.write_text(EXAMPLE)
    config = load_data_config(path)
    assert config == DataConfig(
        ef=FamilyConfig(name="gamma", x_shape=(1,), params={}),
        grid=GridConfig(
            num_points=10000,
            eta_range={"log_x": [-0.5, 4.0], "x": [-5.0, -0.1]},
            spread="uniform",
            batch_size=256,
        ),
        sampling=SamplingConfig(),
        seed=42,
        output="data/gamma_10000.pkl",
    )
    assert config.ef.build() == Gamma(x_shape=(1,))


def test_defaults_and_int_accepted_for_float():
    config = parse_data_config(with_value("sampling", {"step_size": 1}))
    assert config.sampling.step_size == 1.0 and isinstance(config.sampling.step_size, float)
    assert config.ef.x_shape is None and config.ef.params == {}
    assert (config.seed, config.output, config.grid.spread) == (42, "data/out.pkl", "uniform")
    assert config.sampling.num_chains == 4 and config.sampling.target_acceptance_rate == 0.8


def test_family_by_import_path():
    raw = with_value("ef", {"name": "nnef_dists.families.builtin.gamma:Gamma", "x_shape": [1]})
    assert parse_data_config(raw).ef.build() == Gamma()


def test_params_lists_become_tuples():
    family = parse_data_config(with_value("ef.params", {"x_shape": [1]})).ef.build()
    assert family.x_shape == (1,) and hash(family) == hash(Gamma())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sampling.num_chain", 4, "sampling.num_chain: unknown field; did you mean num_chains?"),
        ("seeds", 1, "seeds: unknown field; did you mean seed?"),
        ("grid.zzz", 1, "grid.zzz: unknown field; expected one of num_points, eta_range"),
        ("grid.num_points", "many", "grid.num_points: expected an integer, got 'many'"),
        ("grid.num_points", 10.5, "grid.num_points: expected an integer, got 10.5"),
        ("sampling.num_chains", True, "sampling.num_chains: expected an integer, got True"),
        ("sampling.step_size", "fast", "sampling.step_size: expected a finite number, got 'fast'"),
        ("sampling.step_size", float("nan"), "sampling.step_size: expected a finite number"),
        ("sampling.step_size", "1e-3", "write 1.0e-3"),
        ("sampling.num_chains", 1, "sampling.num_chains: must be at least 2 (the multi-chain"),
        ("grid.num_points", 0, "grid.num_points: must be positive, got 0"),
        ("grid.batch_size", -1, "grid.batch_size: must be positive, got -1"),
        ("sampling.num_samples", 0, "sampling.num_samples: must be positive"),
        ("sampling.num_warmup", -1, "sampling.num_warmup: must be at least 0"),
        ("sampling.step_size", 0, "sampling.step_size: must be positive, got 0.0"),
        ("grid.spread", "linear", "grid.spread: must be one of 'uniform', 'log', got 'linear'"),
        ("sampling.method", "mcmc", "sampling.method: must be one of 'hmc', 'nuts', 'quadrature'"),
        ("sampling.target_acceptance_rate", 1, "target_acceptance_rate: must lie strictly"),
        ("sampling.target_acceptance_rate", 0.0, "must lie strictly between 0 and 1, got 0.0"),
        ("seed", -3, "seed: must be at least 0, got -3"),
        ("output", "", "output: must not be empty"),
        ("sampling.chunk_size", 0, "sampling.chunk_size: must be positive, got 0"),
        ("distributed", {"num_process": 2}, "distributed.num_process: unknown field; did you"),
        ("distributed", {"process_id": -1}, "distributed.process_id: must not be negative"),
        ("distributed", {"num_processes": "2"}, "distributed.num_processes: expected an integer"),
        ("grid.num_points", DELETE, "grid.num_points: missing required field"),
        ("grid.eta_range", DELETE, "grid.eta_range: missing required field"),
        ("ef", DELETE, "ef: missing required field"),
        ("sampling", DELETE, "sampling: missing required field"),
        ("ef.name", DELETE, "ef.name: missing required field"),
        ("ef", "gamma", "ef: expected a mapping of fields, got 'gamma'"),
        ("ef.x_shape", "abc", "ef.x_shape: expected a list, got 'abc'"),
        ("ef.x_shape", [1, "b"], "ef.x_shape[1]: expected an integer, got 'b'"),
        ("ef.x_shape", [0], "ef.x_shape: entries must be positive, got (0,)"),
        ("ef.params", [1], "ef.params: expected a mapping with string keys, got [1]"),
        ("ef.name", "gama", "ef.name: unknown family 'gama'"),
        ("ef.name", "no_such_module:Cls", "ef.name: cannot import family"),
        ("ef.params", {"shape": 2.0}, "ef.params: bad parameters for family 'gamma'"),
        (
            "ef",
            {"name": "gamma", "x_shape": [1], "params": {"x_shape": [1]}},
            "ef.params: x_shape is given twice",
        ),
        ("grid.eta_range.log", [0, 1], "grid.eta_range.log: gamma has no such statistic; did"),
        ("grid.eta_range.x", DELETE, "grid.eta_range.x: missing range for statistic x"),
        ("grid.eta_range.x", [0.1, 5.0], "grid.eta_range.x: [0.1, 5.0] lies outside the natural"),
    ],
)
def test_each_error_names_source_and_field(field, value, message):
    with pytest.raises(ConfigError) as info:
        parse_data_config(with_value(field, value), source="cfg.yaml")
    assert str(info.value).startswith("cfg.yaml: ")
    assert message in str(info.value)


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match=r"^x\.yaml: top level: expected a mapping"):
        parse_data_config([1, 2], source="x.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ef: {name: gamma\n", "invalid YAML"),
        ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
        ("", "the config file is empty"),
        (
            EXAMPLE.replace("num_chains:", "num_chain:"),
            "sampling.num_chain: unknown field; did you mean num_chains?",
        ),
    ],
)
def test_file_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_data_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        load_data_config(tmp_path / "nope.yaml")


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_with_overrides_revalidates_and_leaves_original():
    config = parse_data_config(MINIMAL)
    changed = with_overrides(config, output="data/x.pkl", num_points=7, seed=3)
    assert (changed.output, changed.grid.num_points, changed.seed) == ("data/x.pkl", 7, 3)
    assert changed.sampling == config.sampling and changed.ef == config.ef
    assert (config.output, config.grid.num_points, config.seed) == ("data/out.pkl", 10, 42)
    assert with_overrides(config) == config
    with pytest.raises(ConfigError, match="^command line: grid.num_points: must be positive"):
        with_overrides(config, num_points=-3)


def test_distributed_section_and_its_command_line_overrides():
    """No section: one process; flags fill or create it; an empty one means 'from the env'."""
    config = parse_data_config(MINIMAL)
    assert config.distributed is None
    assert with_overrides(config, distributed=None).distributed is None
    auto = with_overrides(config, distributed={"coordinator_address": None})
    assert auto.distributed == DistributedConfig()  # all None: JAX reads the environment
    filled = parse_data_config({**MINIMAL, "distributed": {"coordinator_address": "h:1"}})
    both = with_overrides(filled, distributed={"num_processes": 2, "process_id": 1})
    assert both.distributed == DistributedConfig("h:1", 2, 1)
