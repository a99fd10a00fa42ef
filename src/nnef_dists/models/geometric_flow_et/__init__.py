"""Geometric flow ET network: mu_T as a line integral of a PSD covariance network."""
