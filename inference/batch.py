"""Analysing many videos: finding them, one output row per video, resuming a stopped run."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import DeepfakeDetectorError
from inference.pipeline import Detector
from inference.result import AnalysisResult

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}
)
ROW_FIELDS = (
    "path",
    "verdict",
    "fake_probability",
    "confidence",
    "frames_sampled",
    "frames_with_face",
    "people_judged",
    "max_person_fake_probability",
    "profile",
    "decode_s",
    "faces_s",
    "model_s",
    "explain_s",
    "total_s",
    "error",
)


def find_videos(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, by video suffix) into a sorted list of files.

    Raises:
        FileNotFoundError: If an input does not exist.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
        elif item.exists():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return found


@dataclass(frozen=True)
class Outcome:
    """One video's result, or the error that stopped its analysis."""

    path: Path
    result: AnalysisResult | None
    error: DeepfakeDetectorError | None

    def row(self) -> dict[str, Any]:
        """The flat record written per video (see ROW_FIELDS)."""
        row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
        row["path"] = str(self.path)
        if self.error is not None:
            row["error"] = f"{type(self.error).__name__}: {self.error}"
            return row
        assert self.result is not None
        verdict = self.result.verdict
        row.update(
            verdict=verdict.label,
            fake_probability=verdict.fake_probability,
            confidence=verdict.confidence,
            frames_sampled=self.result.frames_sampled,
            frames_with_face=self.result.frames_with_face,
            people_judged=self.result.people_judged,
            profile=self.result.profile,
            max_person_fake_probability=max(
                (p.verdict.fake_probability for p in self.result.people if p.judged), default=None
            ),
            **{f"{stage}_s": round(s, 3) for stage, s in self.result.timings.items()},
        )
        return row


def analyze_all(detector: Detector, paths: Iterable[Path], **options: Any) -> Iterator[Outcome]:
    """Analyse each path in turn, turning the engine's errors into outcomes, not exceptions.

    Args:
        detector: The loaded detector.
        paths: Videos to analyse.
        **options: Passed to :meth:`Detector.analyze` (frames, start_s, end_s, explain).
    """
    for path in paths:
        try:
            yield Outcome(path, detector.analyze(path, **options), None)
        except DeepfakeDetectorError as exc:
            yield Outcome(path, None, exc)


class RowFile:
    """An append-only JSON Lines (``.jsonl``) or CSV (``.csv``) file of rows, one per video."""

    def __init__(self, path: Path) -> None:
        if path.suffix not in (".jsonl", ".csv"):
            raise ValueError(f"output file must end in .jsonl or .csv, got {path.name}")
        self.path = path

    def done(self) -> set[str]:
        """Paths already in the file, so that a stopped run can resume."""
        if not self.path.is_file():
            return set()
        with self.path.open(encoding="utf-8", newline="") as handle:
            if self.path.suffix == ".csv":
                return {row["path"] for row in csv.DictReader(handle)}
            return {json.loads(line)["path"] for line in handle if line.strip()}

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and flush it, so that an interrupted run loses nothing."""
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            if self.path.suffix == ".csv":
                writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
                if new:
                    writer.writeheader()
                writer.writerow(row)
            else:
                handle.write(json.dumps(row) + "\n")
