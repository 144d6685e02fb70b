"""Analysing many videos: finding them, one output row per video, resuming a stopped run."""

from __future__ import annotations

import csv
import json
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Iterator
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
    """An append-only JSON Lines (``.jsonl``) or CSV (``.csv``) file of rows, one per video.

    A row with an ``error`` is a failed analysis; :meth:`done` leaves such rows out, so that a
    resumed run retries them, and :meth:`forget_failed` removes them before the retry appends
    the new row, so that no video has two rows.
    """

    def __init__(self, path: Path) -> None:
        if path.suffix not in (".jsonl", ".csv"):
            raise ValueError(f"output file must end in .jsonl or .csv, got {path.name}")
        self.path = path

    def rows(self) -> list[dict[str, Any]]:
        """Every row already in the file (none when it does not exist yet).

        Raises:
            ValueError: If a line of a ``.jsonl`` file is not a JSON object with a ``path``, or
                a ``.csv`` file has no ``path`` column.
        """
        return self._read()[1]

    def _read(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The CSV header (ROW_FIELDS for JSON Lines) and the rows."""
        if not self.path.is_file():
            return list(ROW_FIELDS), []
        with self.path.open(encoding="utf-8", newline="") as handle:
            if self.path.suffix == ".jsonl":
                rows = [self._parse(line, number) for number, line in enumerate(handle, 1) if line.strip()]
                return list(ROW_FIELDS), rows
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = list(reader.fieldnames or ROW_FIELDS)
        if rows and "path" not in fields:
            raise ValueError(f"{self.path} has no 'path' column; write the rows to a new file")
        return fields, rows

    def _parse(self, line: str, number: int) -> dict[str, Any]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"line {number} of {self.path} is not valid JSON ({exc.msg}); remove or fix that line"
            ) from exc
        if not isinstance(row, dict) or "path" not in row:
            raise ValueError(f"line {number} of {self.path} is not a row with a 'path'; remove that line")
        return row

    def done(self, include_failed: bool = False) -> set[str]:
        """Paths already analysed, so that a stopped run can resume.

        Args:
            include_failed: Also count the rows whose analysis failed (they are then not retried).
        """
        return {row["path"] for row in self.rows() if include_failed or not row.get("error")}

    def forget_failed(self, paths: Collection[str]) -> int:
        """Remove the failed rows of ``paths`` from the file, so that a retry leaves one row each.

        The file is rewritten through a temporary file beside it and renamed into place, so an
        interruption leaves either the old file or the new one.

        Returns:
            The number of rows removed.
        """
        fields, rows = self._read()
        kept = [row for row in rows if not (row.get("error") and row["path"] in paths)]
        if len(kept) == len(rows):
            return 0
        descriptor, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
                if self.path.suffix == ".csv":
                    writer = csv.DictWriter(handle, fieldnames=fields)
                    writer.writeheader()
                    writer.writerows(kept)
                else:
                    handle.writelines(json.dumps(row) + "\n" for row in kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(name, stat.S_IMODE(self.path.stat().st_mode))
            os.replace(name, self.path)
        finally:
            Path(name).unlink(missing_ok=True)  # only left when something failed
        return len(rows) - len(kept)

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
