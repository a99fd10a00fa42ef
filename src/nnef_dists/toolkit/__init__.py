"""The whole toolkit of an exponential family, for any family: ``toolkit(family or model)``.

A, mu, Cov, the inverse map with its residual, entropy, KL, log density,
sampling and maximum likelihood, backed by a closed form, quadrature or a
trained network (README: The family toolkit).
"""

from nnef_dists.toolkit.build import toolkit
from nnef_dists.toolkit.newton import NaturalResult
from nnef_dists.toolkit.toolkit import NotConvergedError, Toolkit

__all__ = ["NaturalResult", "NotConvergedError", "Toolkit", "toolkit"]
