"""`python -m portfolio score INPUT --out OUTPUT [...]`: see portfolio.local."""

import sys

from portfolio.local import main

if __name__ == "__main__":
    if sys.argv[1:2] != ["score"]:
        sys.exit("usage: python -m portfolio score INPUT --out OUTPUT [--version V] [--store DIR]")
    sys.exit(main(sys.argv[2:]))
