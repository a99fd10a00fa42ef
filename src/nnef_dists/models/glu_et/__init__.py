"""glu_et: an ET network of residual gated-linear-unit blocks."""
