"""The training domain of a network: the box and the neighbourhood of its training eta."""

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.models.domain import TrainingDomain


def _annulus(n=2000, seed=0):
    """Training eta on the annulus 1 < |eta| < 2 (the box is [-2, 2]^2, its centre a hole)."""
    rng = np.random.default_rng(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, n), np.sqrt(rng.uniform(1, 4, n))
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def test_inside_the_training_set_outside_the_box_and_in_a_hole():
    eta = _annulus()
    domain = TrainingDomain.fit(eta)
    assert np.mean(np.asarray(domain.contains(eta))) > 0.99  # the training eta themselves
    queries = np.array([[1.5, 0.0], [0.0, -1.4], [2.5, 0.0], [0.0, 0.0], [0.2, 0.1]])
    #                    in          in           out: box   out: hole   out: hole
    np.testing.assert_array_equal(domain.contains(queries), [True, True, False, False, False])


def test_round_trip_jit_and_vmap():
    domain = TrainingDomain.fit(_annulus(500))
    again = TrainingDomain.from_dict(domain.to_dict())
    queries = jnp.array([[1.5, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(again.contains(queries), domain.contains(queries))
    np.testing.assert_array_equal(jax.jit(jax.vmap(domain.contains))(queries), [True, False])
    assert domain.contains(jnp.zeros((3, 4, 2))).shape == (3, 4)
    assert len(domain.points) == 500 and TrainingDomain.fit(_annulus(5000)).points.shape == (512, 2)
