"""Built-in families; importing this package registers them."""

from nnef_dists.families.builtin import gamma  # noqa: F401
