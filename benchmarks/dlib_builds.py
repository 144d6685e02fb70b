"""The prebuilt dlib (dlib-bin) against a source build of the same release: same faces, same speed?

``python -m benchmarks.dlib_builds --source DIR`` where DIR holds a source build of dlib 20.0.1
installed with ``pip install --no-deps --target DIR dlib-20.0.1-*.whl`` (see :data:`HOW_BUILT`).
Two worker processes (:mod:`benchmarks.dlib_worker`) run the same requests,
one importing the installed dlib (dlib-bin), the other with DIR first on PYTHONPATH. On every
shared clip it compares, bit for bit:

* the engine's HOG boxes and dlib's scores on the sampled frames, and the CNN's on the first few;
* face_recognition's 128-d encoding of every HOG face (the people tracking matches on them);
* the engine's whole result (per-frame scores, boxes, people, verdicts) with a random
  checkpoint, for the default profile and for the ``app`` profile.

Then it times dlib's HOG and CNN detectors on the same frames in both processes, interleaved,
best of ``--rounds``, and writes ``benchmarks/dlib_builds.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.run import REPO, clips, random_checkpoint, write_table

logger = logging.getLogger(__name__)

RESULTS = Path(__file__).with_name("dlib_builds.md")
HOW_BUILT = (
    "The source build: `pip download --no-deps --no-build-isolation --no-binary dlib dlib==20.0.1`, "
    "then `CMAKE_BUILD_PARALLEL_LEVEL=1 pip wheel --no-deps --no-build-isolation` of the unpacked "
    "sdist (dlib's setup.py, Release: `-O3 -mavx`, SSE4 and AVX found on the host, no BLAS found so "
    "dlib's own, CUDA off for want of cuDNN; Debian's GCC 12.2, the Python module with `-flto`), "
    "installed with `pip install --no-deps --target DIR`. dlib-bin 20.0.1.post1: GCC 14.2 "
    "(manylinux), `DLIB_NO_GUI_SUPPORT=ON`; AVX instructions, none of AVX2/FMA (as in the source build)."
)
# The engine's result compared with each of these settings (the default, then the HOG profile).
CONFIGS = {"default profile": {}, "`app` profile": {"DEEPFAKE_PROFILE": "app"}}


class Worker:
    """One dlib build's worker process; :meth:`ask` sends a request and waits for its answer."""

    def __init__(self, name: str, source: Path | None) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        if source is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.dlib_worker"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, do: str, **request: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"do": do, **request}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker stopped (exit {self.process.wait()}); see its stderr")
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()


def compare_faces(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Counts of identical HOG/CNN boxes (box and score) and the largest encoding difference."""
    if a["frames_sha256"] != b["frames_sha256"]:
        raise RuntimeError("the two workers decoded different frames; the comparison means nothing")
    counts: dict[str, Any] = {}
    for model in ("hog", "cnn"):
        pairs = list(zip(a[model], b[model], strict=True))
        same_frames = sum(1 for x, y in pairs if x == y)
        counts[model] = (
            sum(len(x) for x, _ in pairs),
            sum(len(y) for _, y in pairs),
            same_frames,
            len(pairs),
        )
    diff, compared = 0.0, 0
    for frame_a, frame_b in zip(a["encodings"], b["encodings"], strict=True):
        if len(frame_a) != len(frame_b):
            continue  # different faces found: counted above, no encodings to pair
        for enc_a, enc_b in zip(frame_a, frame_b, strict=True):
            diff = max(diff, max(abs(x - y) for x, y in zip(enc_a, enc_b, strict=True)))
            compared += 1
    counts["encodings"] = compared
    counts["encoding_diff"] = diff
    return counts


def compare_results(a: dict[str, Any], b: dict[str, Any]) -> str:
    """ "identical (scored faces, people)" or what differs, with the largest score difference."""
    frames_a, frames_b = a["frames"], b["frames"]
    summary = f"{len(frames_a)} faces, {len(a['people'])} people"
    if a == b:
        return f"identical ({summary})"
    score_diff = max(
        (
            abs(x["fake_probability"] - y["fake_probability"])
            for x, y in zip(frames_a, frames_b, strict=False)
        ),
        default=0.0,
    )
    keys = sorted(key for key in a if a[key] != b.get(key))
    return f"**differs** in {', '.join(keys)}; max score diff {score_diff:.3g} ({summary})"


Timings = dict[str, list[list[float]]]
"""Per build, per frame: [wall-clock seconds, process CPU seconds]."""


def interleaved_best(
    workers: list[Worker],
    paths: list[Path],
    frames: int,
    model: str,
    rounds: int,
    first: Timings | None = None,
) -> Timings:
    """Per build and frame, the best of ``rounds`` (wall and CPU time each on its own). The builds
    take turns clip by clip, swapping who goes first each round, so that load on the machine falls
    on both alike. ``first``: a round already measured (per build, the frames of every clip in order).
    """
    best: Timings = {worker.name: [] for worker in workers}
    for number, clip in enumerate(paths):
        per_clip: dict[str, list[list[float]]] = {}
        if first is not None:
            per_clip = {
                name: seconds[number * frames : (number + 1) * frames] for name, seconds in first.items()
            }
        for round_ in range(1 if per_clip else 0, rounds):
            for worker in workers if round_ % 2 == 0 else workers[::-1]:
                seconds = worker.ask("timed", clip=str(clip), frames=frames, model=model)
                known = per_clip.get(worker.name, seconds)
                per_clip[worker.name] = [list(map(min, a, b)) for a, b in zip(known, seconds, strict=True)]
        for name, seconds in per_clip.items():
            best[name].extend(seconds)
    return best


def _ms(seconds: list[list[float]], which: int) -> float:
    return 1000 * sum(pair[which] for pair in seconds) / len(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="folder holding the source build")
    parser.add_argument("--frames", type=int, default=4, help="frames per clip for boxes and HOG timing")
    parser.add_argument("--cnn-frames", type=int, default=1, help="frames per clip for the CNN")
    parser.add_argument("--engine-frames", type=int, default=8, help="frames per clip for the engine")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best of)")
    parser.add_argument(
        "--cnn-rounds", type=int, default=1, help="CNN timing rounds (the first: the box pass)"
    )
    parser.add_argument("--clips", nargs="*", default=[], help="substrings of clip names (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = [path for path, _ in clips(args.clips)]
    weights = str(random_checkpoint())
    workers = [Worker("prebuilt", None), Worker("source", args.source.resolve())]
    try:
        builds = {worker.name: worker.ask("info") for worker in workers}
        for name, build in builds.items():
            logger.info("%s: %s", name, build)
        if builds["prebuilt"]["extension"] == builds["source"]["extension"]:
            raise RuntimeError(f"both workers import {builds['source']['extension']}: is --source right?")
        rows = []
        cnn_first: Timings = {worker.name: [] for worker in workers}
        for clip in paths:
            found = [
                w.ask("faces", clip=str(clip), frames=args.frames, cnn_frames=args.cnn_frames)
                for w in workers
            ]
            for worker, answer in zip(workers, found, strict=True):
                cnn_first[worker.name].extend(answer["cnn_seconds"])
            counts = compare_faces(*found)
            cells = [clip.name.split("__")[-1]]
            for model in ("hog", "cnn"):
                boxes, other, same, total = counts[model]
                cells.append(f"{same}/{total} ({boxes} / {other} boxes)")
            cells.append(f"{counts['encoding_diff']:.3g} ({counts['encodings']})")
            for env in CONFIGS.values():
                request = {"clip": str(clip), "frames": args.engine_frames, "weights": weights, "env": env}
                cells.append(compare_results(*(w.ask("analyze", **request) for w in workers)))
            rows.append("| " + " | ".join(cells) + " |")
            logger.info(rows[-1])
        hog = interleaved_best(workers, paths, args.frames, "hog", args.rounds)
        cnn = interleaved_best(workers, paths, args.cnn_frames, "cnn", args.cnn_rounds, cnn_first)
    finally:
        for worker in workers:
            worker.close()
    write_table(RESULTS, "dlib: prebuilt wheel vs source build", _intro(args, builds), _lines(rows, hog, cnn))


def _intro(args: argparse.Namespace, builds: dict[str, dict[str, Any]]) -> str:
    described = "; ".join(
        f"*{name}*: `{b['extension']}`, dlib {b['version']} compiled {b['compiled']}, AVX "
        f"{b['USE_AVX_INSTRUCTIONS']}, BLAS {b['DLIB_USE_BLAS']}, CUDA {b['DLIB_USE_CUDA']}"
        for name, b in builds.items()
    )
    return (
        f"{described}.\n\n{HOW_BUILT}\n\n"
        "Per clip: sampled frames whose boxes (and dlib's scores) are identical "
        f"in both builds, of {args.frames} frames (HOG, the engine's search) and {args.cnn_frames} "
        "(dlib's CNN on the 480-pixel copy), with the boxes each build found; the largest "
        "difference between the two builds' 128-d encodings of the HOG faces (how many); the "
        f"engine's whole result with a random checkpoint, {args.engine_frames} frames (per-frame "
        "scores, boxes, people, verdicts; everything but the timings and the time of analysis)."
    )


def _lines(rows: list[str], hog: Timings, cnn: Timings) -> list[str]:
    speed = [
        "",
        "dlib's detector on each frame's 480-pixel RGB copy, upsampled once (the engine's search): "
        "milliseconds per frame, best of the rounds per frame then the mean over the frames, the "
        "two builds interleaved; wall clock, and in brackets the process's CPU time (steadier on a "
        "shared machine: it counts only while the process runs).",
        "",
        "| detector | frames | prebuilt ms | source ms | source / prebuilt |",
        "| --- | --- | --- | --- | --- |",
    ]
    for model, seconds in (("HOG", hog), ("CNN", cnn)):
        cells = [model, str(len(seconds["prebuilt"]))]
        for name in ("prebuilt", "source"):
            cells.append(f"{_ms(seconds[name], 0):.0f} ({_ms(seconds[name], 1):.0f})")
        ratios = [_ms(seconds["source"], which) / _ms(seconds["prebuilt"], which) for which in (0, 1)]
        cells.append(f"{ratios[0]:.2f}× ({ratios[1]:.2f}×)")
        speed.append("| " + " | ".join(cells) + " |")
    return [
        "| clip | HOG frames identical | CNN frames identical | max encoding diff | engine, "
        + " | engine, ".join(CONFIGS)
        + " |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        *speed,
    ]


if __name__ == "__main__":
    main()
