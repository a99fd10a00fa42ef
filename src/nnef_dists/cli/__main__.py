"""``python -m nnef_dists.cli``: the same as the ``nnef`` script."""

import sys

from nnef_dists.cli import main

sys.exit(main())
