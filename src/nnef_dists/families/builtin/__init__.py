"""Built-in families; importing this package registers them."""

from nnef_dists.families.builtin import (  # noqa: F401
    beta,
    dirichlet,
    fisher_bingham,
    gamma,
    gaussian_1d,
    laplace_product,
    multivariate_normal,
    multivariate_normal_tril,
    nn_stats,
    polynomial,
    rectified_gaussian,
    von_mises,
)
