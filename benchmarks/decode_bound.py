"""Decoding work per request on the worst clips the limits allow: ``python -m benchmarks.decode_bound``.

Issue 19: a 15 MB black 8K clip, 60 fps, 600 s, made with ``ffmpeg -c copy`` from 30 copies of
a 20 s clip, held the worker for 57 s with 60 frames and 226 s with 61 (from 61 frames on, every
frame was decoded). This builds such clips in a temporary folder (deleted afterwards):

- ``8K 60 fps``: black 7680x4320, 60 fps, 20 s with one keyframe (x264 ultrafast, GOP 1200),
  concatenated 30 times with ``-c copy`` to 600 s (36 000 frames, 30 keyframes);
- ``8K 1000 fps``: the same 1200 frames re-timed to 1000 fps (1.2 s) and concatenated 500 times
  to 600 s (600 000 frames, 500 keyframes): the largest frame rate, size and duration the
  settings accept (DEEPFAKE_MAX_PIXELS, 1000 fps, DEEPFAKE_MAX_DURATION_S), in about 60 MB.

and times :func:`inference.video.read.sample_frames` (probe, plan, decode and convert every
sampled frame to BGR) for each frame count, after (this tree) and before (:data:`BEFORE`, the
sampling module before decoding was bounded, loaded as a separate module). The "before" runs stop at
``--before-limit-s`` and are projected from the samples done by then (they come evenly spread,
so each takes about the same time). It also times plain decoding (1080p H.264 from
``../shared/media``, black 8K), to put the budget in seconds.

Writes ``benchmarks/decode_bound.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import cv2

from inference.video.plan import DECODE_BUDGET_PIXELS, plan_sampling
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import analysis_window

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
RESULTS = Path(__file__).with_name("decode_bound.md")
# The last commit whose decoding was not bounded, and where its sampling module was then.
BEFORE = "ad60b58:inference/video.py"
REAL_1080P = "polimi-ispl__icpr2020dfdc__lynaeydofd.mp4"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


def concatenated(part: Path, copies: int, out: Path) -> Path:
    """``copies`` copies of ``part`` joined with ``-c copy`` (the issue's recipe)."""
    listing = out.with_suffix(".txt")
    listing.write_text(f"file '{part.name}'\n" * copies, encoding="utf-8")
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    return out


def build_clips(folder: Path) -> dict[str, Path]:
    """The two worst-case clips (see the module docstring)."""
    part = folder / "black20.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=black:s=7680x4320:r=60:d=20",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "1200", "-pix_fmt", "yuv420p", str(part),
    )  # fmt: skip
    # Same frames, 1000 per second: rewrap the raw stream with a new rate, no re-encoding.
    raw = folder / "black20.h264"
    ffmpeg("-i", str(part), "-c", "copy", "-bsf:v", "h264_mp4toannexb", str(raw))
    fast = folder / "black1200ms.mp4"
    ffmpeg("-r", "1000", "-i", str(raw), "-c", "copy", str(fast))
    return {
        "8K 60 fps": concatenated(part, 30, folder / "black600.mp4"),
        "8K 1000 fps": concatenated(fast, 500, folder / "black600_1000fps.mp4"),
    }


def old_video_module(folder: Path) -> ModuleType:
    """The sampling module before decoding was bounded (:data:`BEFORE`), importable on its own."""
    source = subprocess.run(
        ["git", "show", BEFORE],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = folder / "video_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("video_before", path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def time_after(clip: Path, count: int) -> dict[str, float | int | str]:
    started = time.perf_counter()
    info = probe(clip)
    window = analysis_window(info, None, None, 600)
    plan = plan_sampling(clip, info, window, count)
    planned = time.perf_counter()
    frames = sum(1 for _ in sample_frames(clip, window, count, info.decoder, plan))
    done = time.perf_counter()
    return {
        "mode": plan.mode,
        "frames": frames,
        "requested": plan.requested,
        "decoded": plan.decoded,
        "plan_s": planned - started,
        "total_s": done - started,
    }


def time_before(module: ModuleType, clip: Path, count: int, limit_s: float) -> tuple[float, int, bool]:
    """Seconds for the old ``sample_frames`` (projected when stopped), samples done, stopped."""
    started = time.perf_counter()
    info = module.probe(clip)
    window = module.analysis_window(info, None, None, 600)
    requested = len(module.sample_indices(window.first, window.stop, count))
    frames = module.sample_frames(clip, window, count, info.decoder)
    done = 0
    for _ in frames:
        done += 1
        if time.perf_counter() - started > limit_s:
            frames.close()
            elapsed = time.perf_counter() - started
            return elapsed * requested / done, done, True
    return time.perf_counter() - started, done, False


def decode_rate(clip: Path, frames: int) -> float:
    """Milliseconds per frame for OpenCV to decode (grab) the first ``frames`` frames."""
    capture = cv2.VideoCapture(str(clip))
    started = time.perf_counter()
    got = 0
    while got < frames and capture.grab():
        got += 1
    capture.release()
    return (time.perf_counter() - started) * 1000 / max(1, got)


READING = [
    "How to read it:",
    "",
    "- mode: `sequential` reads as before; `seek` decodes each exact frame from the keyframe "
    "before it; `keyframes` takes the keyframe nearest each evenly spread place (one decoded "
    "frame each) and, where the window has fewer keyframes than samples, buys exact frames "
    "with what is left of the budget. The report then says so (`DecodePlan.note()`).",
    "- frames decoded: counted while decoding (`DecodePlan.decoded`). Beyond the budget only "
    "when one decoded frame per sample already is (200 samples of 8K: 200 > 125).",
    "- The 60 fps clip has 30 keyframes in its 600 s, so at most 30 samples plus what the "
    "budget buys; exact frames need a start/end window of at most 2 s (125 frames) from a "
    "keyframe, which the error for other windows names.",
    "- The 1000 fps clip is 1000 fps inside each 1.2 s part; each of the 500 joins adds 17 ms, "
    "so OpenCV reads 987 fps and the 600 s window holds 592 106 of its 600 000 frames. "
    "Listing them (demuxing, no decoding) is most of the plan time.",
    "- before: from 61 samples on (60 fps) every frame up to each sample is decoded; below, or "
    "at 1000 fps, OpenCV seeks and decodes from the keyframe before each sample, up to 1200 "
    "frames of 8K. Those runs were stopped at the time limit and projected.",
]


def budget_lines(full_hd_ms: float, eight_k_ms: float) -> list[str]:
    """The budget in frames and, at the measured decoding speeds, in seconds."""
    budget = DECODE_BUDGET_PIXELS
    eight_k_frames = budget // (7680 * 4320)
    return [
        "## The budget in seconds",
        "",
        f"`DECODE_BUDGET_PIXELS` = {budget:,} pixels = 2000 frames of 1920x1080 = "
        f"{eight_k_frames} frames of 7680x4320.",
        "",
        "| decoding (OpenCV grab) | ms per frame | the budget takes |",
        "|---|---|---|",
        f"| 1080p H.264 ({REAL_1080P.split('__')[-1]}) | {full_hd_ms:.1f} | {full_hd_ms * 2:.1f} s |",
        f"| black 8K H.264 (the clip above) | {eight_k_ms:.1f} | {eight_k_ms * eight_k_frames / 1e3:.1f} s |",
    ]


def row(name: str, clip: Path, count: int, before: ModuleType | None, limit_s: float) -> str:
    after = time_after(clip, count)
    cells = [
        name,
        f"{clip.stat().st_size / 1e6:.0f}",
        str(count),
        str(after["mode"]),
        f"{after['frames']} of {after['requested']}",
        str(after["decoded"]),
        f"{after['plan_s']:.2f}",
        f"**{after['total_s']:.1f}**",
    ]
    if before is None:
        cells.append("not run")
    else:
        seconds, done, stopped = time_before(before, clip, count, limit_s)
        projected = f"~{seconds:.0f} (projected from {done} frames in {limit_s:.0f} s)"
        cells.append(projected if stopped else f"{seconds:.1f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", nargs="*", type=int, default=[60, 61, 200])
    parser.add_argument("--before-limit-s", type=float, default=120.0)
    parser.add_argument("--skip-before", action="store_true", help="only time this tree")
    options = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed to build the clips")
    folder = Path(tempfile.mkdtemp(prefix="decode-bound-"))
    load_before = os.getloadavg()[0]
    try:
        started = time.perf_counter()
        clips = build_clips(folder)
        built_s = time.perf_counter() - started
        before = None if options.skip_before else old_video_module(folder)
        rows = []
        for name, clip in clips.items():
            for count in options.frames:
                rows.append(row(name, clip, count, before, options.before_limit_s))
                print(rows[-1], flush=True)
        eight_k_ms = decode_rate(clips["8K 60 fps"], 120)
        real = MEDIA / REAL_1080P
        full_hd_ms = decode_rate(real, 300) if real.is_file() else float("nan")
    finally:
        shutil.rmtree(folder)
    load_after = os.getloadavg()[0]
    lines = [
        "# Bounded decoding per request (issue 19)",
        "",
        f"Made by `python -m benchmarks.decode_bound` on {os.cpu_count()} shared CPU cores; the clips "
        f'took {built_s:.0f} s to build and were deleted afterwards. "after": probe, plan and decode '
        'with this tree (`sample_frames` with the plan of `plan_sampling`, default budget); "before": '
        f"the same call with `{BEFORE}`, before decoding was bounded. Other work shared the cores: load "
        f"average {load_before:.1f} at the start, {load_after:.1f} at the end.",
        "",
        "| clip | MB | frames asked | mode | frames given | frames decoded | plan s | after s | before s |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *READING,
        "",
        *budget_lines(full_hd_ms, eight_k_ms),
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
