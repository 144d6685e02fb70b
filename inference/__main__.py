"""``python -m inference``: analyse videos from the command line."""

import gc
import sys

from inference.tools.cli import main

code = main()
# Everything is written and closed by now; what is left (torch, the networks) goes with the
# process. Frozen, it is skipped by the collections the interpreter makes on its way out, which
# took 0.7 s of a 5.4 s call (benchmarks/cli.md).
gc.freeze()
sys.exit(code)
