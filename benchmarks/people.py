"""What following every person costs: ``python -m benchmarks.people --reference DIR``.

Runs this engine and a reference checkout of the engine (``DIR``, e.g. a ``git worktree`` of
the commit before people tracking: ``git worktree add /tmp/reference 94c29ce``) on every clip of
``../shared/media`` at 20 and 100 frames, each measurement in a fresh process
(``benchmarks.measure project``), and on a side-by-side two-person clip stacked with ffmpeg
from a genuine and a face-swapped shared clip. Writes ``benchmarks/people.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import MEDIA, REPO, clips, random_checkpoint, write_table

RESULTS = Path(__file__).with_name("people.md")
STACK = (
    "polimi-ispl__icpr2020dfdc__ffpp-youtube-634.mp4",
    "polimi-ispl__icpr2020dfdc__ffpp-FaceSwap-634_660.mp4",
)


def measure(tree: Path, clip: Path, frames: int, weights: Path) -> dict:
    """``benchmarks.measure project`` run in ``tree`` (this repo or the reference)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.measure",
            "project",
            str(clip),
            str(frames),
            "--weights",
            str(weights),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def people_count(clip: Path, frames: int, weights: Path) -> tuple[int, int]:
    """(people found, people judged) by this engine."""
    from inference import Detector, Settings

    settings = Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": str(weights), "DEEPFAKE_MAX_FRAMES": "300"})
    result = Detector.from_settings(settings).analyze(clip, frames=frames)
    return len(result.people), result.people_judged


def row(name: str, frames: int, new: dict, old: dict, people: tuple[int, int]) -> str:
    return (
        f"| {name} | {frames} | {people[0]} / {people[1]} | {new['faces']:.2f} | {old['faces']:.2f} | "
        f"{new['total']:.2f} | {old['total']:.2f} | **{new['total'] / old['total']:.2f}×** |"
    )


def stacked_clip(folder: Path) -> Path:
    path = folder / "side_by_side.mp4"
    inputs = [arg for name in STACK for arg in ("-i", str(MEDIA / name))]
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            *inputs,
            "-filter_complex",
            "hstack",
            "-c:v",
            "libx264",
            str(path),
        ],
        check=True,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference", type=Path, required=True, help="checkout of the engine to compare with"
    )
    parser.add_argument("--frames", nargs="*", type=int, default=[20, 100])
    args = parser.parse_args()
    if not (MEDIA / "MANIFEST.tsv").is_file():
        sys.exit(f"no clips: {MEDIA} is not there")
    weights = random_checkpoint()
    lines = [
        "| clip | frames | people found / judged | faces s | faces s (before) | total s | total s (before) "
        "| total / before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        chosen = [*clips([]), (stacked_clip(Path(folder)), "2560x720")]
        for clip, _ in chosen:
            for frames in args.frames:
                new = measure(REPO, clip, frames, weights)
                old = measure(args.reference, clip, frames, weights)
                name = clip.stem.split("__")[-1]
                lines.append(row(name, frames, new, old, people_count(clip, frames, weights)))
                print(lines[-1], flush=True)
    write_table(
        RESULTS,
        "Every person vs the main face only",
        "Made by `python -m benchmarks.people`, random weights in the public format, each figure from a "
        "fresh process; *before* is the engine that followed only the largest face. `side_by_side` is "
        "the genuine `ffpp-youtube-634` and the face-swapped `ffpp-FaceSwap-634_660` stacked left | right "
        "with ffmpeg (2560x720).",
        lines,
    )


if __name__ == "__main__":
    main()
