"""Potential ET network: a convex log-partition A(eta) whose gradient is mu_T."""
