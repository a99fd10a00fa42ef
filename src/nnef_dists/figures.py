"""matplotlib's pyplot on the Agg backend, imported on first use: importing it takes
about 0.8 s, which every command paid at start-up, also those that draw nothing."""

from __future__ import annotations


def pyplot():
    """The ``matplotlib.pyplot`` module, with the Agg (file-only) backend selected."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
