"""The eta one device samples side by side (sampling.chunk_size), values worked out by hand."""

import pytest

from nnef_dists.sampling import SamplingConfig
from nnef_dists.sampling.mcmc import CPU_CHUNK_SIZE, accelerator_chunk_size, chunk_size

#: 4 chains x 1000 draws of 2 float32 statistics (gamma): 32,000 bytes of draws per eta.
GAMMA = SamplingConfig(num_chains=4, num_samples=1000, num_warmup=500)


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (107e9, 131072),  # an H200 (JAX's share): 107e9 / 16 / 32000 = 208,984 -> 2^17
        (12e9, 16384),  # a 16 GB card: 12e9 / 16 / 32000 = 23,437 -> 2^14
        (1e9, 4096),  # 1,953 -> at least 4096
        (1e13, 262144),  # at most 2^18
        (None, 4096),  # memory unknown
    ],
)
def test_accelerator_chunks_fill_a_share_of_the_memory(memory, expected):
    assert accelerator_chunk_size(memory, GAMMA, stat_dim=2) == expected


def test_more_statistics_fewer_eta_per_chunk():
    """multivariate_normal_tril, d = 2: 5 statistics, 80,000 bytes per eta -> 83,593 -> 2^16."""
    assert accelerator_chunk_size(107e9, GAMMA, stat_dim=5) == 65536


def test_on_a_cpu_the_cpu_default_and_a_set_size_wins():
    assert chunk_size(GAMMA, 2) == CPU_CHUNK_SIZE
    assert chunk_size(SamplingConfig(chunk_size=64), 2) == 64
