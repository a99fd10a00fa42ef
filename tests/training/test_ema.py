"""The moving average of the parameters (LoopConfig.ema_decay): what is validated and kept."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.training import checkpoint
from nnef_dists.training.config import LoopConfig
from nnef_dists.training.loop import fit_module


def test_the_kept_parameters_are_the_moving_average_of_the_epochs(tmp_path, monkeypatch):
    """By hand, from the parameters after each epoch (recorded through the checkpoint):
    a_0 = p_0, a_t = d a_(t-1) + (1 - d) p_t, and the module ends with a_t at the best
    epoch (the one of least validation loss, evaluated at a_t)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
    y = (2 * x + 0.5 + 0.3 * rng.standard_normal((64, 1))).astype(np.float32)
    module = nnx.Linear(1, 1, rngs=nnx.Rngs(0))

    def loss(model, rows, _key):
        return jnp.mean((model(rows[0]) - rows[1]) ** 2)

    recorded = []
    monkeypatch.setattr(checkpoint, "EVERY_SECONDS", 0.0)
    monkeypatch.setattr(checkpoint, "save", lambda *args: recorded.append(args[4]))
    decay = 0.6
    config = LoopConfig(epochs=8, lr=0.05, batch_size=16, patience=8, ema_decay=decay)
    history = fit_module(
        module,
        loss,
        (x[:48], y[:48]),
        (x[48:], y[48:]),
        config,
        progress=False,
        checkpoint_path=tmp_path / "ckpt",
    )
    params = [jax.tree.leaves(state[0]) for state in recorded]
    averages = [jax.tree.leaves(state[3]) for state in recorded]
    expected = params[0]
    for t in range(len(recorded)):
        if t:
            expected = [
                decay * a + (1 - decay) * p for a, p in zip(expected, params[t], strict=True)
            ]
        for got, want in zip(averages[t], expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not np.allclose(averages[-1][0], params[-1][0])  # the average is not the last step
    kept = jax.tree.leaves(nnx.state(module, nnx.Param))
    for got, want in zip(kept, averages[history.best_epoch], strict=True):
        np.testing.assert_array_equal(got, want)
