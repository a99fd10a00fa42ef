"""How expectations are estimated: eta grids, batched HMC/NUTS, quadrature, diagnostics.

    generate(family, eta, SamplingConfig(method="hmc"), key)   # mu_T, cov_TT, ess, rhat ...
    exact_moments(family, eta)                                 # closed form, else quadrature

``generate`` imports BlackJAX, which starts JAX's backends; it is imported
on first use, so that the configs of this package can be read before a
multi-process run has joined its processes (``runtime.start_processes``).
"""

from nnef_dists.sampling.config import GridConfig, SamplingConfig
from nnef_dists.sampling.exact import exact_functions, exact_moments, has_exact_answers
from nnef_dists.sampling.grid import EtaGrid, make_eta_grid
from nnef_dists.sampling.quadrature import quadrature_moments, supports_quadrature

__all__ = [
    "EtaGrid",
    "GridConfig",
    "SamplingConfig",
    "exact_functions",
    "exact_moments",
    "generate",
    "has_exact_answers",
    "make_eta_grid",
    "quadrature_moments",
    "supports_quadrature",
]


def __getattr__(name):
    if name == "generate":
        from nnef_dists.sampling.estimate import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
