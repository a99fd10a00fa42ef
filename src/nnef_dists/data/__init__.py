"""The data set contract (README: Data file): save/load with safe unpickling, splits, standardising.

Generating a data set from a data config is ``nnef_dists.data.generate.run``.
"""

from nnef_dists.data.config import DataConfig, load_data_config, parse_data_config, with_overrides
from nnef_dists.data.dataset import KEYS, check_dataset
from nnef_dists.data.io import load_dataset, load_metadata, meta_path, save_dataset
from nnef_dists.data.split import split_dataset, split_indices
from nnef_dists.data.standardize import Standardizer

__all__ = [
    "KEYS",
    "DataConfig",
    "Standardizer",
    "check_dataset",
    "load_data_config",
    "load_dataset",
    "load_metadata",
    "meta_path",
    "parse_data_config",
    "save_dataset",
    "split_dataset",
    "split_indices",
    "with_overrides",
]
