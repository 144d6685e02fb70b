"""The ``--live SOURCE`` and ``--every-frame`` options, apart from :mod:`inference.tools.live_cli`
so that building the command's parser (``--help`` included) imports neither OpenCV nor the engine."""

from __future__ import annotations

import argparse

__all__ = ["FILE_ONLY", "add_arguments", "check_arguments", "source_kind"]

# Options of the file analysis that mean nothing for a live source.
FILE_ONLY = ("inputs", "frames", "start", "end", "output", "skip_failed", "explain", "ray")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--live`` and ``--every-frame`` to the command's parser."""
    parser.add_argument(
        "--live",
        metavar="SOURCE",
        help="judge a live source while it plays: a camera index (0), a stream URL (rtsp://, rtmp://, "
        "srt://, udp://, http(s)://, opened directly: for your own machine) or a video file played "
        "at its own frame rate; prints each person's rolling verdict once a second, then a summary",
    )
    parser.add_argument(
        "--every-frame",
        action="store_true",
        help="with --live FILE: score every frame as fast as scoring goes instead of playing the file "
        "in real time (nothing is dropped)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse the options that do not go with ``--live`` (exits with the parser's usage error)."""
    if args.live is None:
        if args.every_frame:
            parser.error("--every-frame goes with --live FILE")
        return
    given = [name for name in FILE_ONLY if getattr(args, name, None) not in (None, False, [])]
    if given:
        options = ", ".join("VIDEO" if name == "inputs" else "--" + name.replace("_", "-") for name in given)
        parser.error(f"--live judges one source as it plays; {options} are for analysing files")
    if args.every_frame and source_kind(args.live) != "file":
        parser.error("--every-frame is for a file: a camera or a stream cannot wait for scoring")


def source_kind(source: str) -> str:
    """ "camera" (digits), "stream" (a URL) or "file"."""
    if source.isdigit():
        return "camera"
    return "stream" if "://" in source else "file"
