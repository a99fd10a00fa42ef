"""mlp_et: a residual MLP ET network."""
