"""Fitting by samples alone: the Sinkhorn divergence between model draws and data.

For a conditional model p(theta | x) and a minibatch of rows (x_i, theta_i),
split in two halves, the first half is one point cloud, and the second half's
features with one reparameterised draw theta~_j ~ p(. | x_j) each are the
other, (x_j, theta~_j); the loss is the debiased Sinkhorn divergence
(Genevay et al. 2018; Feydy et al. 2019) between the two joint clouds,

    S_eps(a, b) = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2,

under the squared Euclidean cost on standardised columns. S_eps is 0 exactly
when the two laws agree, and the joint laws (with the same feature marginal)
agree exactly when the conditionals do. Only draws are needed, never a
density: any module with reparameterised ``sample_rows(key, context, n)`` can
be fitted, a flow (which then also has a density; not the MoG bases, whose
component draw has no gradient) or a ``Generator`` (which has none).
The divergence is computed by ott-jax (the ``ot`` extra).

Limits, measured (tests/flows/test_transport.py; y = 2 x + 1 + N(0, 0.5^2)):
the minibatch divergence is biased by O(batch^{-1/2}), an amount of the
order of what a wrong spread costs when a conditional is much narrower than
the data (at 1024 + 1024 rows, eps 0.05, a spread 0.35 scored 0.007, the
true 0.5 scored 0.011 +- 0.004), so such fits come out too narrow (0.26-0.37
for 0.5); means are recovered, and spreads of the order of the data's too.
Prefer maximum likelihood whenever a density can be written; use minibatches
of a few hundred rows or more. Each step costs a few Sinkhorn solves (about
3x the time of a maximum-likelihood step here).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.data.split import train_validation_indices
from nnef_dists.errors import ConfigError
from nnef_dists.flows.flow import FLOWS
from nnef_dists.training.config import LoopConfig
from nnef_dists.training.history import History
from nnef_dists.training.loop import fit_module

#: entropic regularisation eps of the squared Euclidean cost (standardised units)
EPSILON = 0.05
#: the draws of the validation loss use this key, so that epochs are compared on equal terms
VALIDATION_KEY = 0


def check_objective(objective: str, flow: str) -> None:
    """ConfigError unless ``objective`` is ``nll``, or ``sinkhorn`` for a flow whose draws are
    reparameterised: not on a MoG base (``FLOWS``), which picks its component by an argmax,
    so the mixture weights would never be fitted by draws."""
    if objective not in ("nll", "sinkhorn"):
        raise ConfigError(f"objective must be 'nll' or 'sinkhorn', got {objective!r}")
    if objective == "sinkhorn" and FLOWS[flow][2]:
        raise ConfigError(
            f"objective 'sinkhorn' cannot fit flow {flow!r}: its mixture base draws its "
            "component by an argmax, so no gradient reaches the weights; use maf, nsf or manifold"
        )


def sinkhorn_divergence(a: jax.Array, b: jax.Array, epsilon: float | None = None) -> jax.Array:
    """S_eps between point clouds a (N, D) and b (M, D) of equal weights: a scalar
    (epsilon None: ``EPSILON``)."""
    try:
        from ott.geometry import pointcloud
        from ott.tools import sinkhorn_divergence as ott_divergence
    except ImportError:
        raise ConfigError(
            "the Sinkhorn objective needs ott-jax: pip install 'nnef-dists[ot]'"
        ) from None
    return ott_divergence.sinkhorn_divergence(
        pointcloud.PointCloud, a, b, epsilon=epsilon or EPSILON
    )[0]


def joint_loss(module, params, features, key, epsilon: float | None = None) -> jax.Array:
    """S_eps between the first half of the rows (features, params) and the second half's
    features with one draw of the module each: params (N, D), features (N, C); key None:
    the fixed validation key.

    The halves are disjoint on purpose: were the same features in both clouds, the
    transport plan would pair each row with its own draw, and the loss would become a
    regression to the conditional mean (the fitted spread shrinks towards 0)."""
    key = jax.random.key(VALIDATION_KEY) if key is None else key
    half = len(params) // 2
    draws = module.sample_rows(key, features[half:], 1)[:, 0]
    data = jnp.concatenate([features[:half], params[:half]], -1)
    return sinkhorn_divergence(data, jnp.concatenate([features[half:], draws], -1), epsilon)


def fit(module, features, params, config: LoopConfig, progress: bool = True) -> History:
    """Fit any module with ``sample_rows`` (a ``Generator``, a flow) to rows (features (N, C),
    params (N, D)) by ``joint_loss``, with an 80/20 split by ``config.seed``; columns are
    taken as they are (standardise them first). Returns the History of S_eps."""
    rows = (np.asarray(params, np.float32), np.asarray(features, np.float32))
    train_rows, val_rows = train_validation_indices(len(params), config.seed)
    train, val = ([v[train_rows] for v in rows], [v[val_rows] for v in rows])
    loss = lambda m, batch, key: joint_loss(m, *batch, key)
    return fit_module(
        module, loss, tuple(train), tuple(val), config, progress=progress, desc="sinkhorn"
    )


class Generator(nnx.Module):
    """A push-forward without a density: theta = g(z, c), z ~ N(0, I_latent), g an MLP.

    Args:
      dim: D outputs; context_dim: C; latent: the noise dimension (default D);
      hidden, hidden_layers: the MLP's width and depth.
    """

    def __init__(self, dim, context_dim=0, *, latent=None, hidden=64, hidden_layers=2, rngs):
        self.dim, self.latent = dim, latent or dim
        widths = [self.latent + context_dim] + [hidden] * hidden_layers + [dim]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        )

    def sample_rows(self, key: jax.Array, context: jax.Array, n: int) -> jax.Array:
        """n draws per context row: context (M, C) -> (M, n, D)."""
        z = jax.random.normal(key, (context.shape[0], n, self.latent))
        h = jnp.concatenate(
            [z, jnp.broadcast_to(context[:, None], (*z.shape[:2], context.shape[1]))], -1
        )
        for layer in self.layers[:-1]:
            h = jax.nn.gelu(layer(h))
        return self.layers[-1](h)
