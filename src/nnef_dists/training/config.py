"""Training configs: the loop's settings, and an ET network's whole training config.

``LoopConfig`` is what the one training loop (``training.loop``) needs, for
ET networks and flow estimators alike; ``TrainConfig`` (``configs/train/*.yaml``)
is an ET network's ``ModelSpec`` plus the loop plus its data and loss.
Command-line flags override the file's fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnef_dists.models.build import ModelSpec
from nnef_dists.schema import (
    NON_EMPTY,
    OPTIONAL_NON_NEGATIVE,
    OPTIONAL_POSITIVE,
    POSITIVE,
    at_least,
    checked,
    parse,
)


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """Optimiser, schedule, minibatches, early stopping and devices of one training run."""

    epochs: int | None = checked(OPTIONAL_POSITIVE, default=None)  # None: training.defaults
    lr: float = checked(POSITIVE, default=3e-3)  # peak learning rate
    batch_size: int = checked(POSITIVE, default=64)
    weight_decay: float = checked(OPTIONAL_NON_NEGATIVE, default=0.0)
    warmup_epochs: int = checked(at_least(0), default=5)
    clip_norm: float = checked(POSITIVE, default=1.0)
    # epochs without a better validation loss; None: training.defaults
    patience: int | None = checked(OPTIONAL_POSITIVE, default=None)
    seed: int = checked(at_least(0), default=0)  # shuffling (and whatever the caller seeds)
    # d of the moving average a <- d a + (1 - d) params after each epoch, which is what
    # is validated and kept; 0: the parameters themselves
    ema_decay: float = checked(((lambda v: 0 <= v < 1), "must be in [0, 1)"), default=0.0)
    # devices the minibatch rows are split over; None: one on CPU, every GPU or TPU
    num_devices: int | None = checked(OPTIONAL_POSITIVE, default=None)


@dataclass(frozen=True, kw_only=True)
class TrainConfig(ModelSpec, LoopConfig):
    """A training config of an ET network (``configs/train/*.yaml``)."""

    data: str = checked(NON_EMPTY)
    output_dir: str | None = None  # default: artifacts/<data file stem>_<model>
    # mse | noise_weighted | whitened (training.losses); None: the model's default
    loss: str | None = checked(
        (
            (lambda v: v in (None, "mse", "noise_weighted", "whitened")),
            "must be mse, noise_weighted or whitened",
        ),
        default=None,
    )
    # weight of the cov_TT term; None: the model's default
    jacobian_weight: float | None = checked(OPTIONAL_NON_NEGATIVE, default=None)
    # moving average of the epochs' parameters (LoopConfig.ema_decay); None: the model's default
    ema_decay: float | None = checked(
        ((lambda v: v is None or 0 <= v < 1), "must be in [0, 1)"), default=None
    )
    # full-batch L-BFGS iterations after the epochs (training.polish); None: the model's default
    polish_steps: int | None = checked(OPTIONAL_NON_NEGATIVE, default=None)
    # train on the eta the generator flagged too (chains that did not mix)
    include_flagged: bool = False


def parse_train_config(mapping, source: str = "<dict>") -> TrainConfig:
    """Validate a mapping into a TrainConfig; errors are ConfigErrors prefixed by source."""
    return parse(TrainConfig, mapping, source)
