"""From T(x) to a trusted moment map in one call: generate, train, evaluate, refine.

    report = fit(load_fit_config("fit.yaml"), "artifacts/my_family")
    providers.network("artifacts/my_family")     # the model directory it leaves

Command line: ``nnef fit --config F.yaml --out DIR [--target R]``.
"""

from nnef_dists.fit.config import FitConfig, load_fit_config, parse_fit_config
from nnef_dists.fit.workflow import fit

__all__ = ["FitConfig", "fit", "load_fit_config", "parse_fit_config"]
