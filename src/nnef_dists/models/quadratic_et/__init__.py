"""quadratic_et: an ET network of residual blocks with second-order interactions."""
