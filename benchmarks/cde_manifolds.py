"""The ``manifolds`` section of ``benchmarks/cde.py``: manifold flows against exact densities.

For every case of ``manifold_cases`` (vMF and a Kent mixture on S^2, von
Mises on S^1, Dirichlet on the 3-simplex, a vMF on S^2 given a feature;
10,000 training and 5,000 test rows) the default manifold flow (layers
``nnnn``, width 64, 8 bins, batch 256, lr 1e-3, ``epochs`` at most with
early stopping after 30 epochs without progress) is fitted and its test NLL
reported beside the true one; target: within ``TARGET`` nats.
"""

from __future__ import annotations

from manifold_cases import CASES

#: the largest test NLL gap (nats) to the truth that counts as a match
TARGET = 0.05
#: the default manifold flow of every case (FlowConfig defaults otherwise)
DEFAULT = dict(hidden=64, batch_size=256, lr=1e-3)


def manifolds(report, fit, epochs, seed=0):
    """Add the section's rows with ``report``; ``fit(kind, features, params, epochs,
    **options)`` -> (estimator, seconds) is ``cde.fit``."""
    for name, make in CASES.items():
        case = make(seed)
        label = f"{name} ({case.manifold})"
        truth = -case.log_p.mean()
        report("manifolds", label, "truth", "test NLL", f"{truth:.3f}", case.truth)
        settings = DEFAULT | dict(manifold=case.manifold)
        est, seconds = fit("manifold", case.train_features, case.train, epochs, **settings)
        nll = -est.log_prob(case.test, case.test_features).mean()
        gap = nll - truth
        verdict = "met" if gap <= TARGET else "missed"
        report(
            "manifolds",
            label,
            "manifold nnnn",
            "test NLL (gap)",
            f"{nll:.3f} ({gap:+.3f})",
            f"gap <= {TARGET}: {verdict}",
            seconds,
        )
