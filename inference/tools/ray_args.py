"""The ``--ray [ADDRESS]`` option, apart from :mod:`inference.tools.ray_runner` so that building a
command's parser (``--help`` included) imports neither Ray nor the engine."""

from __future__ import annotations

import argparse
import re

__all__ = ["add_argument", "address_argument"]

_ADDRESS = re.compile(r"(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}")


def add_argument(parser: argparse.ArgumentParser, work: str) -> None:
    """Add ``--ray [ADDRESS]`` to a command's ``parser``; ``work`` (e.g. "analyse") starts its help."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        type=address_argument,
        metavar="ADDRESS",
        help=f"{work} on Ray (put --ray after the videos): the cluster at ADDRESS (auto, HOST:PORT or "
        "ray://HOST:PORT), else RAY_ADDRESS's, else a Ray started on this machine's loopback for the "
        "run; the videos must be at the same path on every node",
    )


def address_argument(text: str) -> str:
    """Check a ``--ray ADDRESS``: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``; ``""`` (a bare
    ``--ray``, which argparse passes through here too) stands for RAY_ADDRESS or a local Ray.

    Raises:
        argparse.ArgumentTypeError: For anything else, such as a folder of videos that argparse
            took for the address because ``--ray`` came before it.
    """
    if text in ("", "auto") or _ADDRESS.fullmatch(text):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a Ray address (auto, HOST:PORT or ray://HOST:PORT); for a local Ray or "
        "RAY_ADDRESS's cluster, put --ray after the videos"
    )
