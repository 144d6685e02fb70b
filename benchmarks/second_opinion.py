"""What the second opinion costs: ``python -m benchmarks.second_opinion``.

On the three 1080p clips of ``../shared/media``, at 20 and 100 frames (100: the app's default,
the checkpoint's), the total time of an analysis without the second opinion and with it (random
weights in the public formats, the shared BlazeFace files), the better of two runs each, in one
process after a warm-up; then BlazeFace's milliseconds per frame and the EfficientNet's per face.
Writes ``benchmarks/second_opinion.md``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import cv2
import torch

from benchmarks.run import MEDIA, OUT, random_checkpoint, write_table

RESULTS = Path(__file__).with_name("second_opinion.md")
CLIPS = (
    "aaronchong888__DeepFake-Detect__abqwwspghj.mp4",
    "polimi-ispl__icpr2020dfdc__brtujopkby.mp4",
    "polimi-ispl__icpr2020dfdc__lynaeydofd.mp4",
)
BLAZEFACE = MEDIA.parent / "models" / "blazeface" / "blazeface.pth"
SECOND = "effnet-autoatt-b4-dfdc"


def random_effnet() -> Path:
    """A random EfficientNetAutoAttB4 in the public format (made once, reused)."""
    from inference.models.efficientnet import AUTOATT, build

    path = OUT / "random_effnet_autoatt_b4.pth"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(build(AUTOATT).state_dict(), path)
    return path


def best_of(runs: int, work) -> float:
    """The shortest of ``runs`` timings of ``work()``, seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    from inference import Detector, Settings, second_opinion
    from inference.faces.icpr_crops import paper_crop

    logging.basicConfig(level=logging.WARNING)
    effnet = random_effnet()
    env = {
        "DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()),
        "DEEPFAKE_SECOND_OPINION": SECOND,
        "DEEPFAKE_SECOND_OPINION_PATH": str(effnet),
        "DEEPFAKE_PINS": f"{SECOND}={hashlib.sha256(effnet.read_bytes()).hexdigest()}",
        "DEEPFAKE_BLAZEFACE_PATH": str(BLAZEFACE),
    }
    settings = Settings.from_env(env)
    detector = Detector.from_settings(settings)
    clips = [MEDIA / name for name in CLIPS]
    detector.analyze(clips[0], frames=4)  # warm-up: both networks loaded and run once
    lines = [
        "| clip | frames | total s, first detector only | total s, with second opinion | ratio "
        "| faces scored by the second |",
        "|---|---|---|---|---|---|",
    ]
    for clip in clips:
        for frames in (20, 100):
            alone = best_of(2, lambda c=clip, f=frames: detector.analyze(c, frames=f, second_opinion="off"))
            result = detector.analyze(clip, frames=frames)
            both = best_of(2, lambda c=clip, f=frames: detector.analyze(c, frames=f))
            scored = result.detectors[1].frames_scored
            lines.append(
                f"| {clip.stem.split('__')[-1]} | {frames} | {alone:.2f} | {both:.2f} | "
                f"**{both / alone:.2f}×** | {scored} |"
            )
            print(lines[-1], flush=True)
    spec = settings.second_opinion_spec()
    assert spec is not None
    second = second_opinion.load(
        spec, settings.blazeface_specs(), settings.device, settings.torch_threads, settings.network_runtime()
    )
    capture = cv2.VideoCapture(str(clips[0]))
    frames_rgb = []
    while len(frames_rgb) < 10:
        ok, image = capture.read()
        if not ok:
            break
        frames_rgb.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    capture.release()
    per_frame = best_of(2, lambda: [second.finder.detect(f) for f in frames_rgb]) / len(frames_rgb)
    rows = [second.finder.detect(f)[0] for f in frames_rgb]
    per_crop = best_of(2, lambda: [paper_crop(f, r) for f, r in zip(frames_rgb, rows, strict=True)]) / 10
    faces = [paper_crop(f, r).face for f, r in zip(frames_rgb, rows, strict=True)] * 3
    per_face = best_of(2, lambda: second.scorer.score(faces)) / len(faces)
    lines += [
        "",
        "BlazeFace (9 tiles of a 1080p frame, decoding, weighted NMS): "
        f"**{per_frame * 1000:.0f} ms per frame**; "
        f"the paper's crop (512 px region, JPEG round trip, 224 px): {per_crop * 1000:.0f} ms per face; "
        f"EfficientNetAutoAttB4 at 224 px, batches of 8: **{per_face * 1000:.0f} ms per face** "
        f"({torch.get_num_threads()} torch threads).",
    ]
    write_table(
        RESULTS,
        "The second opinion's cost",
        "Made by `python -m benchmarks.second_opinion` on 2 CPU cores, random weights in the public "
        "formats, the shared BlazeFace files; the better of two runs after a warm-up, in one process. "
        "The second opinion looks at up to 32 evenly spread sampled frames with a face and scores "
        "each person's faces BlazeFace finds there.",
        lines,
    )


if __name__ == "__main__":
    main()
