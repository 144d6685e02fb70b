"""The page's HTML report is cleaned as /report's JSON is: no server path, no inner URL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from inference import Detector, Settings


def test_the_html_report_names_no_server_path_and_no_inner_url(detector: Detector, genuine_clip: Path):
    from ui import reports

    result = detector.analyze(genuine_clip, frames=2)
    note = "could not read /srv/app/secret/weights.pt from http://127.0.0.1:7861/gradio_api/file=x"
    result = dataclasses.replace(result, notes=[*result.notes, note])
    path = Path(reports.html_file(result, Settings.from_env({})))
    page = path.read_text()
    assert "weights.pt" in page  # the note is there, cut to the file's name
    assert "/srv/app" not in page and "127.0.0.1" not in page
    assert len(path.stem.rsplit("-", 1)[1]) == 16  # a random name, not the clock
