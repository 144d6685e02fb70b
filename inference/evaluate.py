"""``python -m inference.evaluate``: the entry point of :mod:`inference.tools.evaluate`."""

import sys

from inference.tools.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
