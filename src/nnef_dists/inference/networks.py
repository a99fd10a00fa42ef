"""Quick networks for CAVI: quadrature data over a box of eta, then a trained ET model.

The box is that of the iterates a CAVI run will visit (e.g. those of the
exact-provider run), widened by a margin, so that the network interpolates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnef_dists.data import parse_data_config
from nnef_dists.data.generate import run as generate
from nnef_dists.families import ExponentialFamily
from nnef_dists.families.config import family_entry
from nnef_dists.sampling.config import eta_range_entry
from nnef_dists.training import parse_train_config, train_and_save

#: Defaults of ``train_network``: a small residual MLP on quadrature data.
DEFAULT_MODEL, DEFAULT_HIDDEN, DEFAULT_POINTS, DEFAULT_EPOCHS = "mlp_et", (32, 32), 4096, 300
#: TrainConfig fields for noise-free data: many small steps, no weight decay.
TRAINING = {"batch_size": 64, "lr": 3e-3, "weight_decay": 0.0}


def covering_box(family: ExponentialFamily, eta, margin: float = 0.25):
    """A box (lo (k,), hi (k,)) around the finite rows of eta (M, k), widened on each side by

        margin * (hi - lo) + 0.05 * max(|lo|, |hi|) + 1e-3,

    but at most a quarter of the way to a bound of the family's ``eta_bounds``
    (near which the moments blow up).
    """
    eta = np.asarray(eta, np.float64).reshape(-1, family.stat_dim)
    eta = eta[np.all(np.isfinite(eta), axis=1)]
    lo, hi = eta.min(0), eta.max(0)
    pad = margin * (hi - lo) + 0.05 * np.maximum(np.abs(lo), np.abs(hi)) + 1e-3
    bound_lo, bound_hi = np.full_like(lo, -np.inf), np.full_like(hi, np.inf)
    start = 0
    for name, size in family.stat_sizes.items():
        bound_lo[start : start + size], bound_hi[start : start + size] = family.eta_bounds().get(
            name, (-np.inf, np.inf)
        )
        start += size
    return np.maximum(lo - pad, lo + (bound_lo - lo) / 4), np.minimum(
        hi + pad, hi + (bound_hi - hi) / 4
    )


def train_network(
    family: ExponentialFamily,
    lo,
    hi,
    directory,
    *,
    base_config: dict | None = None,
    model: str = DEFAULT_MODEL,
    hidden_sizes=DEFAULT_HIDDEN,
    num_points: int = DEFAULT_POINTS,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    progress: bool = False,
    **training,
) -> str:
    """Generate quadrature data on the box [lo, hi] (k,) and train ``model`` into ``directory``.

    Args:
      family: the family (1-D, so that quadrature applies).
      lo, hi: (k,) the box of eta.
      directory: the model directory to write (overwritten); the data set
        goes next to it, as ``<directory>_data.pkl``.
      base_config: a data config mapping (e.g. configs/data/gamma.yaml) whose
        grid, sampling, seed and output are replaced; default: built from
        the family.
      model, hidden_sizes, num_points, epochs, seed: the network and its data.
      training: further TrainConfig fields (defaults: TRAINING).

    Returns:
      The training report (``train_and_save``).
    """
    directory = Path(directory)
    data_file = directory.with_name(directory.name + "_data.pkl")
    raw = dict(base_config or {"ef": family_entry(family)})
    raw["grid"] = {
        "num_points": num_points,
        "eta_range": eta_range_entry(family, lo, hi),
        "batch_size": num_points,
    }
    raw["sampling"] = {"method": "quadrature"}
    raw["seed"] = seed
    raw["output"] = str(data_file)
    generate(parse_data_config(raw, source=str(data_file)), force=True, progress=False)
    train = parse_train_config(
        {
            "model": model,
            "data": str(data_file),
            "hidden_sizes": list(hidden_sizes),
            "epochs": epochs,
            "patience": epochs,
            "seed": seed,
        }
        | TRAINING
        | training,
        source=str(directory),
    )
    return train_and_save(train, directory, force=True, progress=progress)
