"""The rows file of a batch run: resuming, retrying failed videos, unreadable files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from inference.tools.batch import ROW_FIELDS, RowFile


def row(path: str, error: str | None = None) -> dict[str, str | None]:
    return {**dict.fromkeys(ROW_FIELDS), "path": path, "verdict": None if error else "REAL", "error": error}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_failed_rows_are_not_done_and_are_removed_for_a_retry(tmp_path: Path, suffix: str):
    rows = RowFile(tmp_path / f"rows{suffix}")
    for item in (row("a.mp4"), row("b.mp4", "VideoError: broken"), row("c.mp4", "VideoError: broken")):
        rows.append(item)
    rows.path.chmod(0o640)
    assert rows.done() == {"a.mp4"}
    assert rows.done(include_failed=True) == {"a.mp4", "b.mp4", "c.mp4"}
    # Only the failed rows of the videos being retried go; c.mp4 is not part of this run.
    assert rows.forget_failed({"a.mp4", "b.mp4"}) == 1
    assert [r["path"] for r in rows.rows()] == ["a.mp4", "c.mp4"]
    assert rows.forget_failed({"a.mp4", "b.mp4"}) == 0
    rows.append(row("b.mp4"))
    assert [(r["path"], r["verdict"]) for r in rows.rows()] == [
        ("a.mp4", "REAL"),
        ("c.mp4", "" if suffix == ".csv" else None),
        ("b.mp4", "REAL"),
    ]
    assert rows.path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [rows.path.name]
    if suffix == ".csv":
        with rows.path.open() as handle:
            assert tuple(next(csv.reader(handle))) == ROW_FIELDS


def test_unreadable_line_is_named(tmp_path: Path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row("a.mp4")) + '\n{"path": "b.mp4", "verd\n')
    with pytest.raises(
        ValueError, match=r"line 2 of .*rows.jsonl is not valid JSON .*remove or fix that line"
    ):
        RowFile(path).done()
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="line 1 of .* is not a row with a 'path'"):
        RowFile(path).done()
