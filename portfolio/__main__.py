"""`python -m portfolio score INPUT OUTPUT [...]`: see portfolio.cli."""

import sys

from portfolio.cli import main

USAGE = "usage: python -m portfolio score INPUT OUTPUT [--engine local|spark] [--help]"

if __name__ == "__main__":
    if sys.argv[1:2] != ["score"]:
        sys.exit(USAGE)
    sys.exit(main(sys.argv[2:]))
