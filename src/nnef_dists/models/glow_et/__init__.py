"""glow_et: an invertible Glow flow eta -> mu_T with an exact analytic inverse."""
