"""How expectations are estimated: eta grids, batched HMC/NUTS, quadrature, diagnostics."""

from nnef_dists.sampling.estimate import generate
from nnef_dists.sampling.exact import exact_moments
from nnef_dists.sampling.grid import EtaGrid, make_eta_grid
from nnef_dists.sampling.quadrature import quadrature_moments, supports_quadrature

__all__ = [
    "EtaGrid",
    "exact_moments",
    "generate",
    "make_eta_grid",
    "quadrature_moments",
    "supports_quadrature",
]
