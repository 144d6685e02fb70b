"""How close this engine's face boxes are to the original code's: ``python -m benchmarks.boxes``.

The reference boxes are what the original code's detectors give on whole full-resolution frames
fed as BGR without conversion, with one upsampling: dlib's CNN (MMOD) detector, as its training
preprocessing ran it (``training`` profile), and dlib's HOG detector, as its app ran it (``app``
profile). They are slow (seconds to a minute a frame), so they are computed once per clip and
frame count, in parallel worker processes, and kept in ``benchmarks/out/reference_boxes``.

For each shared clip and profile the script prints the median IoU, over the sampled frames where
the reference finds a face, of the reference's first face and the engine's box for that face
(a frame where the engine has no box counts as IoU 0), and writes ``benchmarks/boxes.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.run import clips, write_table
from inference.faces.detect import Box, iou
from inference.faces.profiles import PROFILES, Profile
from inference.faces.tracking import PeopleTracker
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import analysis_window

logger = logging.getLogger(__name__)

CACHE = Path(__file__).with_name("out") / "reference_boxes"
RESULTS = Path(__file__).with_name("boxes.md")
FRAMES = 6


def reference_boxes(clip: Path, frames: int) -> dict[str, list[list[Box]]]:
    """Full-resolution CNN and HOG boxes (upsample 1, BGR input) of ``frames`` sampled frames.

    Returns:
        {"cnn": boxes per frame, "hog": boxes per frame}; boxes (top, right, bottom, left) in
        the detector's order (face_recognition returns them unsorted, the first is what the
        original code used).
    """
    import face_recognition

    cache = CACHE / f"{clip.stem}-{frames}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    info = probe(clip)
    boxes: dict[str, list[list[Box]]] = {"cnn": [], "hog": []}
    for frame in sample_frames(clip, analysis_window(info, None, None, 1e9), frames, info.decoder):
        for model in boxes:
            found = face_recognition.face_locations(frame.image, 1, model)
            boxes[model].append([list(box) for box in found])
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(boxes))
    return boxes


def engine_boxes(clip: Path, frames: int, profile: Profile | None) -> list[list[Box]]:
    """The boxes this engine crops with ``profile`` (None: the face finder's own), per sampled frame."""
    info = probe(clip)
    tracker = PeopleTracker(expected_frames=frames)
    window = analysis_window(info, None, None, 1e9)
    refiner = profile.refiner() if profile else None
    boxes = []
    for frame in sample_frames(clip, window, frames, info.decoder):
        found = tracker.locate(frame.image)
        if refiner is None:
            boxes.append([box for _, box in found])
        else:
            boxes.append([refiner.box(frame.image, box)[0] for _, box in found])
    return boxes


def agreement(reference: list[list[Box]], ours: list[list[Box]]) -> str:
    """ "median IoU (identical boxes / boxes / frames)" over the frames where the reference has a face."""
    values = []
    for theirs, mine in zip(reference, ours, strict=True):
        if theirs:
            values.append(max((iou(tuple(theirs[0]), box) for box in mine), default=0.0))
    if not values:
        return "no face"
    same = sum(1 for value in values if value == 1.0)
    found = sum(1 for value in values if value > 0.0)
    return f"{statistics.median(values):.2f} ({same}/{found}/{len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--workers", type=int, default=2, help="processes computing reference boxes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = [path for path, _ in clips([])]
    with ProcessPoolExecutor(args.workers) as pool:
        references = dict(
            zip(paths, pool.map(reference_boxes, paths, [args.frames] * len(paths)), strict=True)
        )
    rows = []
    for clip in paths:
        cells = [clip.name.split("__")[-1]]
        finder = engine_boxes(clip, args.frames, None)
        for name, detector in (("training", "cnn"), ("app", "hog")):
            ours = engine_boxes(clip, args.frames, PROFILES[name])
            for boxes in (finder, ours):
                cells.append(agreement(references[clip][detector], boxes))
        rows.append("| " + " | ".join(cells) + " |")
        logger.info(rows[-1])
    intro = (
        f"Median IoU with the original detectors' boxes, {args.frames} frames per clip (in brackets: "
        "frames where the engine's box is identical / where it has a box for the reference's face / "
        "where the reference finds one). *finder*: the face finder's own box (before this profile "
        "work); *profile*: the box the profile crops."
    )
    lines = [
        "| clip | CNN vs finder | CNN vs `training` | HOG vs finder | HOG vs `app` |",
        "| --- | --- | --- | --- | --- |",
        *rows,
    ]
    write_table(RESULTS, "Face boxes vs the original code's", intro, lines)


if __name__ == "__main__":
    main()
