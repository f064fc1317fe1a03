"""`python -m tools.bench` (`make bench`): see tools/bench/programbench.py."""

import sys

from tools.bench.programbench import cli

sys.exit(cli())
