"""Analysing many videos: finding them, one output row per video, resuming a stopped run."""

from __future__ import annotations

import csv
import json
import logging
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import DeepfakeDetectorError
from inference.links import looks_like_link
from inference.pipeline import Detector
from inference.result import AnalysisResult

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}
)
ROW_FIELDS = (
    "path",
    "verdict",
    "fake_probability",
    "confidence",
    "first_detector",
    "first_verdict",
    "first_fake_probability",
    "second_detector",
    "second_verdict",
    "second_fake_probability",
    "provenance",
    "provenance_signer",
    "provenance_trusted",
    "provenance_ai_generated",
    "provenance_ai_declared_by_signer",
    "provenance_generator",
    "frames_sampled",
    "frames_with_face",
    "people_judged",
    "max_person_fake_probability",
    "profile",
    "decode_s",
    "faces_s",
    "model_s",
    "explain_s",
    "second_opinion_s",
    "total_s",
    "report",
    "error",
)


def find_videos(inputs: Iterable[str | Path]) -> list[Path | str]:
    """Expand files and folders (recursively, by video suffix) into a sorted list of files;
    links (http/https) are kept as they are, in their place.

    Raises:
        FileNotFoundError: If an input that is not a link does not exist.
    """
    found: list[Path | str] = []
    for raw in inputs:
        if isinstance(raw, str) and looks_like_link(raw):
            found.append(raw)
            continue
        item = Path(raw)
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

    path: Path | str
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
        # One column group per detector, by role (the combined verdict is "verdict"); an
        # unavailable second opinion gives its name and an empty verdict.
        for role, detector in zip(("first", "second"), self.result.detectors, strict=False):
            row[f"{role}_detector"] = detector.name
        provenance = self.result.provenance
        row.update(
            provenance=provenance.status,
            provenance_signer=provenance.signer,
            provenance_trusted=provenance.trusted if provenance.present else None,
            provenance_ai_generated=provenance.ai_generated if provenance.present else None,
            provenance_ai_declared_by_signer=provenance.ai_declared_by_signer if provenance.present else None,
            provenance_generator=provenance.generator,
        )
        for role, opinion in zip(("first", "second"), self.result.opinions, strict=False):
            row[f"{role}_verdict"] = opinion.verdict.label
            row[f"{role}_fake_probability"] = opinion.verdict.fake_probability
        return row


def analyze_all(detector: Detector, paths: Iterable[Path | str], **options: Any) -> Iterator[Outcome]:
    """Analyse each path (or link) in turn, turning the engine's errors into outcomes, not exceptions.

    Args:
        detector: The loaded detector.
        paths: Videos to analyse: files, or http/https links (fetched by :meth:`Detector.analyze_link`).
        **options: Passed to :meth:`Detector.analyze` (frames, start_s, end_s, explain).
    """
    for path in paths:
        try:
            if isinstance(path, str) and looks_like_link(path):
                yield Outcome(path, detector.analyze_link(path, **options), None)
            else:
                yield Outcome(path, detector.analyze(path, **options), None)
        except DeepfakeDetectorError as exc:
            yield Outcome(path, None, exc)


def describe(outcome: Outcome) -> str:
    """One human-readable line for a video."""
    if outcome.error is not None:
        return f"{outcome.path}: error: {outcome.error}"
    assert outcome.result is not None
    line = f"{outcome.path}: {outcome.result.verdict.message}"
    provenance = outcome.result.provenance
    if provenance.present and not provenance.decides:
        line += f" [{provenance.message()}]"
    return line


# A CSV cell starting with one of these is a formula to a spreadsheet (CSV injection): such
# strings are written with a leading apostrophe, as are strings already starting with one (so that
# reading can take exactly one off).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """``value`` as written to a CSV cell: a string a spreadsheet would run as a formula gets a
    leading ``'`` (as does a string already starting with ``'``); anything else is unchanged."""
    if isinstance(value, str) and value.startswith((*FORMULA_START, "'")):
        return "'" + value
    return value


def _uncell(value: Any) -> Any:
    """A CSV cell as read back: the apostrophe :func:`_cell` added is taken off."""
    if (
        isinstance(value, str)
        and len(value) > 1
        and value[0] == "'"
        and value[1:].startswith((*FORMULA_START, "'"))
    ):
        return value[1:]
    return value


class RowFile:
    """An append-only JSON Lines (``.jsonl``) or CSV (``.csv``) file of rows, one per video.

    A row with an ``error`` is a failed analysis; :meth:`done` leaves such rows out, so that a
    resumed run retries them, and :meth:`forget_failed` removes them before the retry appends
    the new row, so that no video has two rows.

    CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
    carriage return: a file named ``=HYPERLINK(...).mp4``, a signer name from a video's Content
    Credentials) are written with a leading ``'``; :meth:`rows` takes it off again.

    Resuming into a CSV file written by an older version, whose header is not ROW_FIELDS: rows
    are appended under the file's own header, never shifted. Columns the file lacks are left
    out of the new rows and columns the new rows lack stay empty, and a warning names both
    headers; write to a new file to get every current column.
    """

    def __init__(self, path: Path) -> None:
        if path.suffix not in (".jsonl", ".csv"):
            raise ValueError(f"output file must end in .jsonl or .csv, got {path.name}")
        self.path = path
        self._warned = False

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
            rows = [{key: _uncell(value) for key, value in row.items()} for row in reader]
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
                    writer.writerows({key: _cell(value) for key, value in row.items()} for row in kept)
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
        """Write one row and flush it, so that an interrupted run loses nothing.

        A CSV row goes under the file's own header (see the class); a new or empty file gets
        ROW_FIELDS.

        Raises:
            ValueError: If an existing CSV file's first line is empty (no header to write under).
        """
        header = self._header() if self.path.suffix == ".csv" else None
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            if self.path.suffix == ".csv":
                writer = csv.DictWriter(handle, fieldnames=header or ROW_FIELDS, extrasaction="ignore")
                if header is None:
                    writer.writeheader()
                writer.writerow({key: _cell(value) for key, value in row.items()})
            else:
                handle.write(json.dumps(row) + "\n")

    def _header(self) -> list[str] | None:
        """The header of the CSV file (None when there is no file or it is empty), with a warning
        the first time it is not ROW_FIELDS."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return None
        with self.path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        if not header:
            raise ValueError(
                f"{self.path} starts with an empty line, not a header; write the rows to a new file"
            )
        if tuple(header) != ROW_FIELDS and not self._warned:
            self._warned = True
            logger.warning(
                "%s was written with other columns than this version writes; new rows follow its "
                "header (columns it lacks are left out: %s; columns it has that are no longer "
                "written stay empty: %s). File header: %s. Current columns: %s. Write to a new file "
                "to get every column.",
                self.path,
                ", ".join(name for name in ROW_FIELDS if name not in header) or "none",
                ", ".join(name for name in header if name not in ROW_FIELDS) or "none",
                ",".join(header),
                ",".join(ROW_FIELDS),
            )
        return header
