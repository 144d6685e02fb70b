"""The analysis command's options: ``python -m inference --help``.

Building the parser imports no engine module (no torch, OpenCV or network): ``--help`` and usage
errors answer at once, and :mod:`inference.tools.cli` imports the engine only to run.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from inference.faces.profile_names import PROFILE_NAMES
from inference.tools import live_args, ray_args
from inference.weights import registry
from inference.weights.choice import OFF


def seconds(text: str) -> float:
    """Parse a time in seconds for ``--start`` and ``--end``: a finite number, 0 or more.

    Raises:
        argparse.ArgumentTypeError: If ``text`` is not such a number.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time in the video: give seconds, 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the analysis command."""
    parser = argparse.ArgumentParser(
        prog="python -m inference",
        description="Tell whether the faces in a video are REAL or FAKE (ResNeXt50 + LSTM, with a "
        "second opinion from an ICPR 2020 EfficientNet).",
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        help="video files, folders (searched recursively) and/or http(s) links (a video file or a video "
        "site's page, fetched safely); or none, with --live",
    )
    parser.add_argument("--frames", type=int, help="frames to sample per video (default: the checkpoint's)")
    parser.add_argument("--start", type=seconds, help="start of the window to analyse, seconds (0 or more)")
    parser.add_argument("--end", type=seconds, help="end of the window to analyse, seconds (after --start)")
    parser.add_argument(
        "--checkpoint", choices=registry.names(), help="registered checkpoint (default: env or registry)"
    )
    parser.add_argument("--weights", help="local checkpoint file (.pt or .safetensors)")
    parser.add_argument(
        "--second-opinion",
        choices=[*registry.names(registry.EFFICIENTNET), OFF],
        help="second detector (ICPR 2020 EfficientNet on BlazeFace's faces), or 'off'; "
        "default: DEEPFAKE_SECOND_OPINION or the registry's",
    )
    parser.add_argument(
        "--profile",
        choices=list(PROFILE_NAMES),
        help="how face crops are made: 'training' (like the weights' training data) or 'app' "
        "(like the original app, faster); default: DEEPFAKE_PROFILE or the checkpoint's",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per video")
    parser.add_argument(
        "--output",
        type=Path,
        help="also write one row per video to this .jsonl or .csv file; videos already analysed in it "
        "are skipped, those that failed are retried (their old rows removed)",
    )
    parser.add_argument(
        "--skip-failed",
        action="store_true",
        help="with --output: also skip the videos whose rows hold an error, instead of retrying them",
    )
    parser.add_argument(
        "--explain",
        type=Path,
        metavar="DIR",
        help="also write a Grad-CAM heatmap PNG per scored face into DIR/<video name>-<8 hex digits>/, "
        "the digits from the video's full path (same-named videos of different folders stay apart)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="REPORT.html|DIR",
        help="also write a self-contained HTML report (printable, no script, names the file's sha256): "
        "to this file for one video; with several videos or a folder, one per video into DIR as "
        "<video name>-<8 hex digits>.html (the --output row names it)",
    )
    ray_args.add_argument(parser, "analyse (rows to --output)")
    live_args.add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    return parser
