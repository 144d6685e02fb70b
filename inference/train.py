"""``python -m inference.train``: the entry point of :mod:`inference.tools.train`."""

import sys

from inference.tools.train import main

if __name__ == "__main__":
    sys.exit(main())
