"""``python -m inference``: analyse videos from the command line."""

import sys

from inference.cli import main

sys.exit(main())
