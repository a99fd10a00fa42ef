"""CAVI with exact, Monte Carlo or trained-network expectations (README: Coordinate-ascent VI).

from nnef_dists.inference import BilinearModel, cavi, providers
model = BilinearModel(A=A, b_x=b_x, b_y=b_y)
px = providers.exact(get_family("gaussian_1d"))
py = providers.network("artifacts/gamma_potential")
res = cavi(model, px, py, eta_x0, eta_y0, tol=1e-6, max_iter=100)
res.eta_x, res.eta_y, res.num_iter, res.converged, res.trace
"""

from nnef_dists.inference import providers
from nnef_dists.inference.cavi import CAVIResult, CAVITrace, cavi
from nnef_dists.inference.model import BilinearModel
from nnef_dists.inference.providers import Provider
from nnef_dists.inference.sharded import cavi_batch

__all__ = [
    "BilinearModel",
    "CAVIResult",
    "CAVITrace",
    "Provider",
    "cavi",
    "cavi_batch",
    "providers",
]
