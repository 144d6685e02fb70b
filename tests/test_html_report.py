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
from inference.provenance.claims import Provenance
from inference.report import CONTENT_SECURITY_POLICY, html_report, write_report
from inference.tools import cli

GENUINE = "polimi-ispl__icpr2020dfdc__ffpp-youtube-634.mp4"
SWAPPED = "polimi-ispl__icpr2020dfdc__ffpp-FaceSwap-634_660.mp4"
SECONDS = "2"
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
    """The two-person clip analysed with Explain and the second opinion (4 frames)."""
    return second_detector.analyze(two_people, frames=4, explain=True)


def test_report_opens_offline_in_a_browser_and_prints(pages, explained, second_detector, tmp_path):
    """Every request but the file's own is blocked and counted: none is attempted, nothing throws,
    the verdict, both people, both detectors' lines and the heatmaps show; it prints to an A4 PDF."""
    from playwright.sync_api import expect

    result = explained
    assert len(result.people) == 2 and [d.status for d in result.detectors] == ["used", "used"]
    assert any(f.heatmap is not None for f in result.frames)
    report = write_report(tmp_path / "report.html", html_report(result, second_detector.settings))
    url = report.as_uri()
    other_requests: list[str] = []
    refused: list[str] = []

    def route(handle) -> None:
        if handle.request.url == url:
            handle.continue_()
        else:
            other_requests.append(handle.request.url)
            handle.abort()

    page = pages.open(None, viewport={"width": 1100, "height": 1400})  # errors: fail the test
    page.route("**/*", route)
    page.on("console", lambda message: refused.append(message.text) if "Security" in message.text else None)
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
    letter = page.pdf(format="Letter", print_background=True)
    if KEEP.is_dir():  # for a person to look at
        for name in ("report.html", "report.png", "report.pdf"):
            (KEEP / name).write_bytes((tmp_path / name).read_bytes())
    assert other_requests == [] and refused == []
    assert pdf.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    # Two pages at least (the answer, then the people), every one A4: 595 x 842 points.
    assert len(boxes) >= 2
    assert all(abs(float(w) - 595.3) < 1.5 and abs(float(h) - 841.9) < 1.5 for w, h in boxes), boxes
    letter_boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", letter)
    assert letter_boxes and all(
        abs(float(w) - 612) < 1.5 and abs(float(h) - 792) < 1.5 for w, h in letter_boxes
    )
    # Every printed page names the file's bytes (its short sha256, in the page's top margin).
    pages = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\f")
    pages = [text for text in pages if text.strip()]
    unnamed = [n + 1 for n, text in enumerate(pages) if result.file.sha256[:16] not in text]
    assert len(pages) >= 2 and unnamed == [], f"printed pages without the file's sha256: {unnamed}"


def test_report_says_the_thresholds_the_combination_and_every_face_time(explained, second_detector):
    """The deciding settings say both thresholds (0.5 ± margin), the two-detector rule says what the
    page says, and the second opinion's face captions carry their time as the first's do."""
    result = explained
    words = self_contained(html_report(result, second_detector.settings)).words()
    margin = second_detector.settings.uncertain_margin
    assert f"FAKE at a mean fake probability of at least 0.5 + margin ({0.5 + margin:g})" in words
    assert f"REAL at most 0.5 − margin ({0.5 - margin:g})" in words
    assert "UNCERTAIN when they disagree or neither leans either way" in words
    second = result.detectors[1].name
    shown = re.findall(rf"(\S+ \S+ )?{re.escape(second)}, frame \d+: \d\.\d\d", words)
    assert shown, "no second-opinion face captions"
    assert all(re.fullmatch(r"\d+\.\d\d s, ", before) for before in shown), shown


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


@pytest.mark.slow
def test_a_100_frame_report_with_heatmaps_stays_small(second_detector: Detector, tmp_path: Path):
    """100 frames, both detectors explained: every face with its heatmap as a JPEG (112 px high,
    quality 80) keeps the page under 5 MB."""
    result = second_detector.analyze(shared_clip(GENUINE), frames=100, explain=True)
    shown = sum(f.heatmap is not None for f in result.frames)
    attention = sum(s.attention is not None for p in result.people for o in p.opinions[1:] for s in o.frames)
    assert shown >= 90 and attention > 0, (shown, attention)  # the second opinion looks at fewer
    report = write_report(tmp_path / "long.html", html_report(result, second_detector.settings))
    size = report.stat().st_size
    print(f"100-frame report: {size} bytes, {shown} heatmaps, {attention} attention maps")
    assert size < 5_000_000
    self_contained(report.read_text())


def test_report_endpoint_returns_the_html_file(app_url: str, genuine_clip: Path):
    """/report answers the JSON and the HTML report; the page names the bytes and, served to
    anyone, no path of the server's and no name of its settings."""
    from gradio_client import handle_file
    from loopback import api

    data, page_file = api(app_url).predict(handle_file(str(genuine_clip)), 2, api_name="/report")
    assert data["file"]["sha256"] == sha256sum(genuine_clip)
    assert Path(page_file).suffix == ".html"
    page = Path(page_file).read_text(encoding="utf-8")
    words = self_contained(page).words()
    assert data["file"]["sha256"] in words and data["verdict"] in words and genuine_clip.name in words
    assert os.environ["HF_HOME"] not in page and "DEEPFAKE_" not in page
    assert "Read from" not in words  # the weights are named by file, repository and sha256 only
    assert data["weights"]["sha256"] in words


def test_page_offers_the_html_report_beside_the_json(pages, app_url: str, genuine_clip: Path, tmp_path: Path):
    """After an example's analysis the page's "Download report (HTML)" gives the report of the
    example's bytes; clearing the video hides it again."""
    from playwright.sync_api import expect
    from test_browser import frames_to_sample, settled, video_block

    page = pages.open(app_url)  # errors thrown in the page fail the test
    download = page.get_by_role("button", name="Download report (HTML)")
    expect(download).to_have_count(0)
    frames_to_sample(page, 2)
    page.get_by_role("button", name="Genuine (camera motion)").click()
    settled(page, r"^\s*(FAKE|REAL|UNCERTAIN)\s*$")
    with page.expect_download() as started:
        download.click()
    saved = tmp_path / "from-the-page.html"
    started.value.save_as(saved)
    video_block(page).get_by_role("button", name="Clear", exact=True).click()
    expect(download).to_have_count(0)
    words = self_contained(saved.read_text(encoding="utf-8")).words()
    assert sha256sum(genuine_clip) in words and "Person 1" in words


def test_live_stream_report(detector: Detector, genuine_clip: Path):
    """A finished live stream's report: no file hash (there is no file), the stream's figures."""
    import cv2

    from inference.stream import LiveAnalyser
    from inference.video.probe import probe
    from inference.video.read import sample_frames
    from inference.video.window import analysis_window

    info = probe(genuine_clip)
    frames = sample_frames(genuine_clip, analysis_window(info, None, None, 600.0), 4, info.decoder)
    with LiveAnalyser(detector, name="live-camera", threaded=False) as live:
        for frame in frames:
            live.score(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB), frame.timestamp_s)
        result = live.finish()
    assert result.file is None and result.to_dict()["file"] is None
    words = self_contained(html_report(result, detector.settings)).words()
    assert "live stream live-camera" in words and "4 received, 4 scored, 0 dropped" in words
    assert "SHA-256 of the analysed bytes" not in words
