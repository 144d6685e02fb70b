"""Side-by-side benchmark: this engine vs the original app's path vs the floor.

``python -m benchmarks.run`` measures every clip of ``../shared/media`` at 20 and 100 frames,
each measurement in a fresh process (so peak RSS is per measurement), with a random checkpoint
in the public format, and writes ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
OUT = REPO / "benchmarks" / "out"
RESULTS = REPO / "benchmarks" / "results.md"


def random_checkpoint() -> Path:
    """A random-initialised checkpoint in the public format (made once, reused)."""
    from inference.models.network import ResNeXtLSTM

    path = OUT / "random_model_97_acc_100_frames_FF_data.pt"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(ResNeXtLSTM().state_dict(), path)
    return path


def measure(mode: str, clip: Path, frames: int, weights: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.measure", mode, str(clip), str(frames), "--weights", str(weights)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def clips(names: list[str]) -> list[tuple[Path, str]]:
    with (MEDIA / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    chosen = [r for r in rows if not names or any(n in r["file"] for n in names)]
    return [
        (MEDIA / r["file"], f"{r['width']}x{r['height']}, {float(r['duration_s']):.0f} s") for r in chosen
    ]


def row(name: str, size: str, frames: int, project: dict, baseline: dict | None, floor: dict) -> str:
    ratio = f"{baseline['total'] / project['total']:.1f}×" if baseline else "not run"
    base = f"{baseline['total']:.1f} s / {baseline['peak_rss_mb']:.0f} MB" if baseline else "not run"
    return (
        f"| {name} | {size} | {frames} | {project['decode']:.2f} | {project['faces']:.2f} | "
        f"{project['model']:.2f} | **{project['total']:.2f}** | {project['peak_rss_mb']:.0f} | "
        f"{project['frames_with_face']} | {project['start_to_verdict']:.1f} | {base} | {ratio} | "
        f"{floor['total']:.2f} ({project['total'] / floor['total']:.2f}×) |"
    )


HEADER = (
    "| clip | size | frames | decode s | faces s | model s | **total s** | peak RSS MB | faces found | "
    "process start → verdict s | original path: total / peak RSS | speed-up | floor s (project/floor) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=[], help="substrings of clip names (default: all)")
    parser.add_argument("--frames", nargs="*", type=int, default=[20, 100])
    parser.add_argument(
        "--baseline-frames",
        nargs="*",
        type=int,
        default=[20, 100],
        help="frame counts at which the (slow) original path is also run",
    )
    args = parser.parse_args()
    if not (MEDIA / "MANIFEST.tsv").is_file():
        sys.exit(f"no clips: {MEDIA} is not there")
    weights = random_checkpoint()
    lines = [HEADER]
    for clip, size in clips(args.clips):
        for frames in args.frames:
            project = measure("project", clip, frames, weights)
            baseline = measure("baseline", clip, frames, weights) if frames in args.baseline_frames else None
            floor = measure("floor", clip, frames, weights)
            lines.append(row(clip.stem.split("__")[-1], size, frames, project, baseline, floor))
            print(lines[-1], flush=True)
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    write_table(
        RESULTS,
        "Benchmark: this engine vs the original app's path",
        f"Made by `python -m benchmarks.run` on {cpu} CPU cores, random weights in the public format, "
        "each figure from a fresh process. *Floor* = decoding every frame with `grab()` + the model on "
        "the same number of crops.",
        lines,
    )


def write_table(path: Path, title: str, intro: str, lines: list[str]) -> None:
    """Write a Markdown page: a title, a paragraph, and the table's lines."""
    path.write_text(f"# {title}\n\n{intro}\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
