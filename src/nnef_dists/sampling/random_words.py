"""The random numbers of the MCMC transitions: counter-based Threefry-2x32 words.

Every eta has its own key; the W random 32-bit words that transition t of its
chains needs come from the Threefry-2x32 hash (JAX's own, from
``jax.extend.random``) of that key and a counter, so they depend on the eta's
key and on t alone. The words of BLOCK_STEPS transitions are hashed at once,
for every eta of a batch in one vectorised call:

    block b = threefry_2x32(key, b * BLOCK_STEPS * W + arange(BLOCK_STEPS * W))

and transition t reads row t % BLOCK_STEPS of block t // BLOCK_STEPS. On a
2-core CPU this took a quarter of the time of folding t into the key and
drawing with ``jax.random`` at every transition (1024 eta x 1500 transitions x
10 words: 0.09 s against 0.41 s), which had been a quarter of gamma's sampling
time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend.random import threefry_2x32

#: Transitions whose random words are hashed together.
BLOCK_STEPS = 64


def check_counter_range(num_steps: int, width: int) -> None:
    """Raise ValueError if the counters of num_steps transitions would wrap around 2**32."""
    num_blocks = -(-num_steps // BLOCK_STEPS)
    if num_blocks * BLOCK_STEPS * width >= 2**32:
        raise ValueError(
            f"{num_steps} transitions of {width} random words each exceed the 2**32 "
            "counters of one key; use fewer samples"
        )


def empty_block(key_data: jax.Array, width: int) -> jax.Array:
    """A zero block of the shape that ``words_at`` keeps: (B, BLOCK_STEPS, width) uint32."""
    return jnp.zeros((key_data.shape[0], BLOCK_STEPS, width), jnp.uint32)


def words_at(key_data: jax.Array, block: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The random words of transition t, hashing the next block when t starts one.

    Args:
      key_data: (B, 2) uint32, ``jax.random.key_data`` of the eta keys.
      block: (B, BLOCK_STEPS, W) uint32, the current block (from ``empty_block``
        before the first transition).
      t: scalar integer, the transition (0, 1, 2, ... in order).

    Returns:
      (block, words (B, W) uint32 of transition t).
    """
    width = block.shape[-1]
    size = BLOCK_STEPS * width

    def hash_block():
        first = (t // BLOCK_STEPS).astype(jnp.uint32) * jnp.uint32(size)
        counters = first + jnp.arange(size, dtype=jnp.uint32)
        words = jax.vmap(lambda k: threefry_2x32((k[0], k[1]), counters))(key_data)
        return words.reshape(block.shape)

    block = jax.lax.cond(t % BLOCK_STEPS == 0, hash_block, lambda: block)
    return block, jax.lax.dynamic_index_in_dim(block, t % BLOCK_STEPS, axis=1, keepdims=False)


def to_uniform(words: jax.Array, dtype) -> jax.Array:
    """Uniforms strictly inside (0, 1), symmetric about 1/2, from uint32 words.

    The top p bits k of a word give (k + 1/2) / 2**p: p = 23 in float32 (so that
    k + 1/2 is exact and never rounds to 1) and p = 32 in float64. ``ndtri`` of
    them is finite (|z| < 5.3 in float32).
    """
    bits = 23 if jnp.finfo(dtype).nmant < 32 else 32
    k = (words >> (32 - bits)).astype(dtype)
    return (k + 0.5) * (2.0**-bits)
