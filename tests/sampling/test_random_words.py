"""The random words of the MCMC transitions (nnef_dists.sampling.random_words)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

from nnef_dists.sampling import random_words
from nnef_dists.sampling.kernels import hmc_word_count, split_words

S = random_words.BLOCK_STEPS


def stream(key_data, width, num_steps):
    """Words of transitions 0 .. num_steps-1 read one at a time with words_at: (T, B, W)."""

    def step(block, t):
        block, words = random_words.words_at(key_data, block, t)
        return block, words

    block = random_words.empty_block(key_data, width)
    return jax.lax.scan(step, block, jnp.arange(num_steps))[1]


def test_words_follow_the_documented_counters():
    """Transition t reads row t % S of threefry_2x32(key, b S W + arange(S W)), b = t // S."""
    key_data = jnp.array([[1, 2], [3, 4]], jnp.uint32)
    width = 3
    words = stream(key_data, width, 2 * S + 5)
    for t in (0, S - 1, S, 2 * S + 4):
        b = t // S
        counters = jnp.uint32(b * S * width) + jnp.arange(S * width, dtype=jnp.uint32)
        for e in range(2):
            block = threefry_2x32((key_data[e, 0], key_data[e, 1]), counters).reshape(S, width)
            np.testing.assert_array_equal(words[t, e], block[t % S])


def test_an_eta_s_words_do_not_depend_on_the_other_eta_of_the_batch():
    key_data = jnp.array([[7, 8], [9, 10], [11, 12]], jnp.uint32)
    together = stream(key_data, 5, 100)
    alone = stream(key_data[1:2], 5, 100)
    np.testing.assert_array_equal(together[:, 1], alone[:, 0])


def test_words_of_different_transitions_and_eta_differ():
    key_data = jnp.array([[1, 2], [1, 3]], jnp.uint32)
    words = np.asarray(stream(key_data, 4, 3 * S))  # (T, 2, 4)
    rows = {tuple(row) for row in words.reshape(-1, 4)}
    assert len(rows) == words.shape[0] * words.shape[1]


def test_uniforms_from_words_are_uniform():
    """Kolmogorov-Smirnov against U(0, 1) on 120,000 words of 500 transitions (fixed keys)."""
    key_data = jax.random.bits(jax.random.key(0), (40, 2), jnp.uint32)
    u = np.asarray(random_words.to_uniform(stream(key_data, 6, 500), jnp.float32)).ravel()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # consecutive transitions are independent: lag-1 correlation within 4 standard errors
    series = np.asarray(random_words.to_uniform(stream(key_data, 1, 3000), jnp.float32))[:, :, 0]
    lag1 = np.mean([np.corrcoef(s[:-1], s[1:])[0, 1] for s in series.T])
    assert abs(lag1) < 4 / np.sqrt(series.size)


@pytest.mark.parametrize("dtype, bits", [(jnp.float32, 23), (jnp.float64, 32)])
def test_uniforms_stay_strictly_inside_the_unit_interval(dtype, bits):
    """The extreme words map to (0 + 1/2) / 2^p and (2^p - 1/2) / 2^p, p = 23 or 32."""
    with jax.enable_x64(dtype == jnp.float64):
        words = jnp.array([0, 0xFFFFFFFF], jnp.uint32)
        u = random_words.to_uniform(words, dtype)
        assert u.dtype == dtype
        np.testing.assert_array_equal(np.asarray(u), [0.5 / 2**bits, 1 - 0.5 / 2**bits])
        assert np.all(np.isfinite(jax.scipy.special.ndtri(u)))


def test_split_words_gives_standard_normal_momenta():
    """KS test of the momenta against N(0, 1); the other draws against U(0, 1)."""
    num_chains, dim = 4, 3
    width = hmc_word_count(num_chains, dim)
    key_data = jax.random.bits(jax.random.key(1), (20, 2), jnp.uint32)
    words = stream(key_data, width, 100).reshape(-1, width)
    normal, accept, jitter = split_words(words, num_chains, dim, jnp.float32)
    assert normal.shape == (words.shape[0], num_chains, dim)
    assert stats.kstest(np.asarray(normal).ravel(), "norm").pvalue > 1e-3
    assert stats.kstest(np.asarray(accept).ravel(), "uniform").pvalue > 1e-3
    assert stats.kstest(np.asarray(jitter), "uniform").pvalue > 1e-3


def test_counters_that_would_wrap_are_refused():
    random_words.check_counter_range(10_000, 20)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        random_words.check_counter_range(2**32 // 20, 20)
