"""What the heatmaps and the PyAV fallback cost: ``python -m benchmarks.explain_and_codecs``.

For each chosen clip of ``../shared/media``, in one process with a random checkpoint in the
public format:

- explain: scoring time vs Grad-CAM time for the same crops (``Detector.analyze(explain=True)``);
- codecs: the whole analysis of the clip as it is (H.264, OpenCV) and re-encoded by ffmpeg as
  AV1 (decoded by PyAV) and VP9 WebM.

Writes ``benchmarks/explain_and_codecs.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import MEDIA, clips, random_checkpoint

RESULTS = Path(__file__).with_name("explain_and_codecs.md")
CODECS = {
    "AV1 (PyAV)": ("av1.mp4", ["-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "32", "-row-mt", "1"]),
    "VP9 (OpenCV)": ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-b:v", "2M"]),
}


def explain_row(detector, clip: Path, frames: int) -> str:
    # The same call twice, the second measured: a process's first Grad-CAM pass also pays for
    # allocations (1.5-3x in single runs here), which a running app pays once.
    detector.analyze(clip, frames=frames, explain=True)
    result = detector.analyze(clip, frames=frames, explain=True)
    model, explain = result.timings["model"], result.timings["explain"]
    return (
        f"| {clip.stem.split('__')[-1]} | {frames} | {result.frames_with_face} | {model:.2f} | "
        f"{explain:.2f} | **{explain / model:.2f}×** |"
    )


def codec_rows(detector, clip: Path, frames: int, folder: Path) -> list[str]:
    plain = detector.analyze(clip, frames=frames)
    name = clip.stem.split("__")[-1]
    rows = [f"| {name} | as shipped ({plain.video.decoder}) | {plain.timings['total']:.2f} | 1.00× |"]
    for codec, (file_name, options) in CODECS.items():
        encoded = folder / file_name
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(clip), "-an", *options, str(encoded)], check=True
        )
        result = detector.analyze(encoded, frames=frames)
        ratio = result.timings["total"] / plain.timings["total"]
        rows.append(f"| | {codec}: {result.video.decoder} | {result.timings['total']:.2f} | {ratio:.2f}× |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=["abqwwspghj", "ffpp-youtube-634", "WDA_KatieHill"])
    parser.add_argument("--frames", nargs="*", type=int, default=[20, 100])
    args = parser.parse_args()
    if not (MEDIA / "MANIFEST.tsv").is_file():
        sys.exit(f"no clips: {MEDIA} is not there")
    from inference import Detector, Settings

    weights = random_checkpoint()
    settings = Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": str(weights), "DEEPFAKE_MAX_FRAMES": "300"})
    detector = Detector.from_settings(settings)
    explain = [
        "| clip | frames | faces | scoring s | Grad-CAM s | Grad-CAM / scoring |",
        "|---|---|---|---|---|---|",
    ]
    codecs = ["| clip | decoded as | total s (20 frames) | vs as shipped |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        for clip, _ in clips(args.clips):
            for frames in args.frames:
                explain.append(explain_row(detector, clip, frames))
                print(explain[-1], flush=True)
            codecs.extend(codec_rows(detector, clip, 20, Path(folder)))
            print("\n".join(codecs[-3:]), flush=True)
    RESULTS.write_text(
        "# Cost of heatmaps and of the PyAV fallback\n\n"
        "Made by `python -m benchmarks.explain_and_codecs`, random weights in the public format, "
        "one process; each Grad-CAM figure is the second of two identical calls.\n\n"
        "## Grad-CAM heatmaps (Explain)\n\n"
        + "\n".join(explain)
        + "\n\n## Decoders: the same clip re-encoded\n\n"
        + "\n".join(codecs)
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
