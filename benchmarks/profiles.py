"""What the preprocessing profiles cost: ``python -m benchmarks.profiles --reference DIR``.

Times, each the median of ``--repeat`` runs in fresh processes (``benchmarks.measure project``;
single runs vary by 10-20 % on 2 cores, where decoding and face work share the CPU), the engine
before profiles
(``DIR``, a checkout such as ``git worktree add /tmp/reference 6ab15d1``) and this engine with
the ``app`` and the ``training`` profile, on the 1080p shared clips (``--all``: every clip) at
20 and 100 frames. Writes ``benchmarks/profiles.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from benchmarks.people import measure
from benchmarks.run import REPO, clips, random_checkpoint, write_table

RESULTS = Path(__file__).with_name("profiles.md")


def timed(tree: Path, clip: Path, frames: int, weights: Path, profile: str = "", repeat: int = 1) -> float:
    """Median total seconds of ``repeat`` fresh-process runs with DEEPFAKE_PROFILE set to ``profile``."""
    previous = os.environ.get("DEEPFAKE_PROFILE")
    os.environ["DEEPFAKE_PROFILE"] = profile
    try:
        return statistics.median(measure(tree, clip, frames, weights)["total"] for _ in range(repeat))
    finally:
        if previous is None:
            del os.environ["DEEPFAKE_PROFILE"]
        else:
            os.environ["DEEPFAKE_PROFILE"] = previous


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--reference", type=Path, required=True, help="checkout of the engine before profiles"
    )
    parser.add_argument("--all", action="store_true", help="every shared clip, not only the 1080p ones")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is kept)")
    args = parser.parse_args()
    weights = random_checkpoint()
    lines = [
        "| clip | frames | before (s) | `app` (s) | `app` / before | `training` (s) | `training` / before |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for clip, size in clips([]):
        if not args.all and "1920" not in size:
            continue
        for frames in (20, 100):
            before = timed(args.reference, clip, frames, weights, repeat=args.repeat)
            app = timed(REPO, clip, frames, weights, "app", args.repeat)
            training = timed(REPO, clip, frames, weights, "training", args.repeat)
            lines.append(
                f"| {clip.name.split('__')[-1]} ({size}) | {frames} | {before:.2f} | {app:.2f} | "
                f"{app / before:.2f}× | {training:.2f} | {training / before:.2f}× |"
            )
            print(lines[-1], flush=True)
    intro = (
        "Total seconds per video (decode, faces, crops, model), random weights in the public format, "
        f"2 cores, each figure the median of {args.repeat} fresh processes. *before*: the engine "
        "before profiles (finder boxes, PIL resize)."
    )
    write_table(RESULTS, "What the preprocessing profiles cost", intro, lines)


if __name__ == "__main__":
    main()
