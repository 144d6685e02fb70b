"""The HTML report: self-contained, names the exact bytes, escapes everything from outside, and is
readable in a real browser (every request blocked) and printed to PDF."""

from __future__ import annotations

import csv
import html.parser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import shared_clip

from inference import CANNOT_JUDGE, Detector
from inference.provenance.credentials import Provenance
from inference.report import CONTENT_SECURITY_POLICY, html_report, write_report
from inference.tools import cli

GENUINE = "polimi-ispl__icpr2020dfdc__ffpp-youtube-634.mp4"
SWAPPED = "polimi-ispl__icpr2020dfdc__ffpp-FaceSwap-634_660.mp4"
SECONDS = "2"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox"]
# Set to a folder to keep the browser test's page, screenshot and PDF there.
KEEP = Path(os.environ.get("REPORT_TEST_KEEP", "/nonexistent"))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def two_people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The genuine and the face-swapped clip side by side, 2 s, at half size (two people)."""
    genuine, swapped = shared_clip(GENUINE), shared_clip(SWAPPED)
    clip = tmp_path_factory.mktemp("two-people") / "two people <b>&amp; 'quotes'.mp4"
    ffmpeg(
        *("-t", SECONDS, "-i", str(genuine), "-t", SECONDS, "-i", str(swapped)),
        *("-filter_complex", "[0:v]scale=-2:360[a];[1:v]scale=-2:360[b];[a][b]hstack"),
        *("-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", str(clip)),
    )
    return clip


@pytest.fixture(scope="module")
def explained(second_detector: Detector, two_people: Path):
    """The two-person clip analysed with Explain and the second opinion (6 frames)."""
    return second_detector.analyze(two_people, frames=6, explain=True)


def test_report_opens_offline_in_a_browser_and_prints(explained, second_detector, tmp_path):
    """Every request but the file's own is blocked and counted: none is attempted, nothing throws,
    the verdict, both people, both detectors' lines and the heatmaps show; it prints to an A4 PDF."""
    from playwright.sync_api import expect, sync_playwright

    result = explained
    assert len(result.people) == 2 and [d.status for d in result.detectors] == ["used", "used"]
    assert any(f.heatmap is not None for f in result.frames)
    report = write_report(tmp_path / "report.html", html_report(result, second_detector.settings))
    url = report.as_uri()
    other_requests: list[str] = []
    errors: list[str] = []
    refused: list[str] = []

    def route(handle) -> None:
        if handle.request.url == url:
            handle.continue_()
        else:
            other_requests.append(handle.request.url)
            handle.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.route("**/*", route)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: refused.append(message.text) if "Security" in message.text else None,
            )
            page.goto(url)
            expect(page.locator("#verdict")).to_have_text(result.verdict.label)
            for person in (1, 2):
                expect(page.locator(f"#person-{person}")).to_be_visible()
                expect(page.locator(f"#person-{person} svg.chart polyline")).to_have_count(2)
                expect(page.locator(f"#person-{person} svg.chart")).to_be_visible()
            images = page.locator("img")
            assert images.count() > 4
            # Every picture decoded (a blocked or broken one has no natural size).
            assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            page.emulate_media(media="print")
            pdf = page.pdf(path=str(tmp_path / "report.pdf"), format="A4", print_background=True)
        finally:
            browser.close()
    if KEEP.is_dir():  # for a person to look at
        for name in ("report.html", "report.png", "report.pdf"):
            (KEEP / name).write_bytes((tmp_path / name).read_bytes())
    assert other_requests == [] and refused == [] and errors == []
    assert pdf.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    # Two pages at least (the answer, then the people), every one A4: 595 x 842 points.
    assert len(boxes) >= 2
    assert all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes), boxes


class Markup(html.parser.HTMLParser):
    """What a browser would make of the page: its elements, attributes and text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def self_contained(page: str) -> Markup:
    """Check that ``page`` can run nothing and load nothing, and return what it holds."""
    markup = Markup(page)
    names = [tag for tag, _ in markup.tags]
    assert not {"script", "iframe", "object", "embed", "link", "form", "a", "base"} & set(names)
    for tag, attrs in markup.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "img":
            assert (attrs["src"] or "").startswith("data:image/jpeg;base64,")
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            assert attrs["content"] == CONTENT_SECURITY_POLICY
    assert "Content-Security-Policy" in page
    return markup


def sha256sum(path: Path) -> str:
    done = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return done.stdout.split()[0]


def test_report_names_the_exact_bytes(detector: Detector, genuine_clip: Path, tmp_path: Path):
    """The JSON and the HTML report carry the sha256 that sha256sum gives; one changed byte (the
    container's minor version, which decoding ignores) changes it."""
    clip = shutil.copy(genuine_clip, tmp_path / "clip.mp4")
    result = detector.analyze(clip, frames=2)
    digest = sha256sum(clip)
    assert result.to_dict()["file"] == {
        "name": "clip.mp4",
        "size_bytes": clip.stat().st_size,
        "sha256": digest,
    }
    assert digest in Markup(html_report(result, detector.settings)).words()
    data = bytearray(clip.read_bytes())
    assert data[4:8] == b"ftyp"
    data[12] ^= 0x01
    clip.write_bytes(bytes(data))
    changed = detector.analyze(clip, frames=2)
    assert changed.file.sha256 == sha256sum(clip) != digest
    assert changed.verdict == result.verdict
    assert changed.file.sha256 in html_report(changed, detector.settings)


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "**bold** [link](javascript:alert(3)) ![i](http:evil)",
    '"><svg onload=alert(4)>',
    "{{ 7*7 }} {% raw %}",
]


def test_hostile_names_and_credentials_are_shown_as_text(detector: Detector, genuine_clip: Path, tmp_path):
    """File names and Content Credentials strings with HTML, Markdown, script, template syntax and
    very long text are shown as the characters they are, never interpreted."""
    name = "".join(HOSTILE).replace("/", "|") + ".mp4"
    clip = shutil.copy(genuine_clip, tmp_path / name)
    result = detector.analyze(clip, frames=2)
    long_text = "A" * 20_000
    result.provenance = Provenance(
        status="valid",
        signer=HOSTILE[0] + long_text,
        generator=HOSTILE[1],
        actions=(HOSTILE[2], HOSTILE[3]),
        ai_generated=True,
        ai_declared_in=(HOSTILE[4],),
    )
    page = html_report(result, detector.settings)
    markup = self_contained(page)
    words = markup.words()
    assert name in words
    for text in HOSTILE:
        assert text in words
    assert [tag for tag, _ in markup.tags].count("svg") == len(result.people)  # only the charts
    assert "49" not in words.split()  # the template syntax was not run


def test_cannot_judge_says_why(detector: Detector, no_face_clip: Path):
    result = detector.analyze(no_face_clip, frames=3)
    assert result.verdict.label == CANNOT_JUDGE
    words = self_contained(html_report(result, detector.settings)).words()
    assert f"{CANNOT_JUDGE} cannot judge: face found in 0 of 3 sampled frames" in words
    assert "No face was found in the sampled frames." in words


def test_cli_html_for_one_video_and_for_a_folder(
    hub_cache, genuine_clip, no_face_clip, tmp_path, monkeypatch
):
    """``--html FILE`` for one video; ``--html DIR`` for several, one per video, named in the rows;
    a failed link's report says why in words."""
    monkeypatch.setenv("DEEPFAKE_SECOND_OPINION", "off")
    single = tmp_path / "single.html"
    assert cli.main([str(genuine_clip), "--frames", "2", "--html", str(single)]) == cli.EXIT_OK
    words = self_contained(single.read_text()).words()
    assert sha256sum(genuine_clip) in words and genuine_clip.name in words
    folder, rows = tmp_path / "reports", tmp_path / "rows.csv"
    link = "http://127.0.0.1/clip.mp4"  # refused before any connection: a private address
    args = [str(genuine_clip), str(no_face_clip), link, "--frames", "2", "--html", str(folder)]
    assert cli.main([*args, "--output", str(rows)]) == cli.EXIT_SOME_FAILED
    with rows.open(newline="") as handle:
        written = {row["path"]: Path(row["report"]) for row in csv.DictReader(handle)}
    assert set(written) == {str(genuine_clip), str(no_face_clip), link}
    assert sorted(folder.iterdir()) == sorted(written.values())
    assert written[str(no_face_clip)].name.startswith("no_face_coffee-")
    failed = self_contained(written[link].read_text()).words()
    assert "Not analysed The analysis could not be made: " in failed and link in failed
    assert "non-public address" in failed
