"""Train potential_et.

Usage: python -m nnef_dists.models.potential_et.train --data data/x.pkl [options]
"""

import sys

from nnef_dists.training.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:], model="potential_et"))
