"""The data set contract (DESIGN 3.2): save/load with safe unpickling, splits."""

from nnef_dists.data.dataset import KEYS, DatasetError, check_dataset
from nnef_dists.data.io import load_dataset, load_metadata, meta_path, save_dataset
from nnef_dists.data.split import split_dataset, split_indices

__all__ = [
    "KEYS",
    "DatasetError",
    "check_dataset",
    "load_dataset",
    "load_metadata",
    "meta_path",
    "save_dataset",
    "split_dataset",
    "split_indices",
]
