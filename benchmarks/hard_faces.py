"""How often faces are found in harder footage: ``python -m benchmarks.hard_faces``.

For every shared clip, ffmpeg makes a darkened copy (a third of the brightness, half the
contrast), a 360p copy and a dark 360p copy in a temporary folder; the engine then analyses
each at 20 frames and the table gives the frames with a face. Writes
``benchmarks/hard_faces.md``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from benchmarks.run import clips, random_checkpoint, write_table

RESULTS = Path(__file__).with_name("hard_faces.md")
FRAMES = 20
DARK = "lutyuv=y=val*0.33,eq=contrast=0.5"
VARIANTS = {
    "original": None,
    "dark": DARK,
    "360p": "scale=-2:360",
    "dark 360p": f"scale=-2:360,{DARK}",
}


def variant(clip: Path, filters: str | None, folder: Path, name: str) -> Path:
    """``clip`` passed through the ffmpeg ``filters`` (H.264), or the clip itself."""
    if filters is None:
        return clip
    target = folder / f"{clip.stem}-{name.replace(' ', '-')}.mp4"
    command = [
        "ffmpeg",
        "-y",
        "-loglevel",
        "error",
        "-i",
        str(clip),
        "-vf",
        filters,
        "-an",
        "-c:v",
        "libx264",
    ]
    subprocess.run([*command, "-crf", "20", str(target)], check=True)
    return target


def main() -> None:
    from inference import Detector, Settings

    detector = Detector.from_settings(
        Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()), "DEEPFAKE_PROFILE": "app"})
    )
    lines = ["| clip | " + " | ".join(VARIANTS) + " |", "| --- |" + " --- |" * len(VARIANTS)]
    totals = dict.fromkeys(VARIANTS, 0)
    with tempfile.TemporaryDirectory() as folder:
        for clip, _ in clips([]):
            cells = []
            for name, filters in VARIANTS.items():
                result = detector.analyze(variant(clip, filters, Path(folder), name), frames=FRAMES)
                totals[name] += result.frames_with_face
                cells.append(f"{result.frames_with_face}/{result.frames_sampled}")
            lines.append(f"| {clip.name.split('__')[-1]} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    lines.append("| **all** | " + " | ".join(str(totals[name]) for name in VARIANTS) + " |")
    intro = (
        f"Sampled frames ({FRAMES} per clip) in which the engine found a face, on the shared clips and on "
        f"copies made with ffmpeg: dark = `{DARK}`, 360p = `scale=-2:360`."
    )
    write_table(RESULTS, "Faces found in harder footage", intro, lines)


if __name__ == "__main__":
    main()
