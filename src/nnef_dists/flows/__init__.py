"""Conditional normalising flows: MADE, MAF, NSF, mixture-of-Gaussians bases, and flows on
joint manifolds (spheres, intervals, simplices) with Gaussianization and planar layers.

    from nnef_dists.flows import ConditionalDensityEstimator
    est = ConditionalDensityEstimator(flow="maf", hidden=64, blocks=5)
    est = ConditionalDensityEstimator(manifold="e4+s2+e1", layers="gggg+n+a")
    est.fit(features, params, epochs=100)              # objective="sinkhorn": by draws alone
    est.log_prob(params, features); est.sample(key, features, 100)

Command line: ``nnef cde train | infer | coverage``.
"""

from nnef_dists.flows.base import Flow, StandardNormal
from nnef_dists.flows.batchnorm import BatchNormFlow
from nnef_dists.flows.estimator import ConditionalDensityEstimator
from nnef_dists.flows.flow import FLOWS, LAYERS, FlowConfig
from nnef_dists.flows.gaussianization import GaussianizationLayer
from nnef_dists.flows.made import MADE, MADESpec
from nnef_dists.flows.maf import AffineMADE
from nnef_dists.flows.manifold import ManifoldFlow
from nnef_dists.flows.mog import MADEMoG
from nnef_dists.flows.nsf import SplineMADE, rational_quadratic_spline
from nnef_dists.flows.planar import PlanarLayer
from nnef_dists.flows.sphere import SphereSpline

__all__ = [
    "FLOWS",
    "LAYERS",
    "MADE",
    "MADESpec",
    "AffineMADE",
    "BatchNormFlow",
    "ConditionalDensityEstimator",
    "Flow",
    "FlowConfig",
    "GaussianizationLayer",
    "MADEMoG",
    "ManifoldFlow",
    "PlanarLayer",
    "SphereSpline",
    "SplineMADE",
    "StandardNormal",
    "rational_quadratic_spline",
]
