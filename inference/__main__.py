"""``python -m inference``: analyse videos from the command line."""

import sys

from inference.tools.cli import main

sys.exit(main())
