"""Train geometric_flow_et.

Usage: python -m nnef_dists.models.geometric_flow_et.train --data data/x.pkl [options]
"""

import sys

from nnef_dists.training.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:], model="geometric_flow_et"))
