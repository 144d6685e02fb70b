"""A visitor's page in Chromium: one run per click, progress in words, captions and tables on a phone,
links shown as plain text, Enter in the link box. Fails on any page error and on any output still
pending after the result. Screenshots go to $SCREENSHOT_DIR when set (else the test's tmp folder).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from browsers import CHROMIUM, NOT_INSTALLED
from conftest import EXAMPLES as EXAMPLES_DIR
from conftest import shared_clip
from test_browser import (
    ANY_VERDICT,
    PENDING,
    analyze_button,
    frames_to_sample,
    idle,
    results_seen,
    settled,
    shot,
    start_long_run,
    upload,
    watch_results,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NOT_INSTALLED)


def analyses_of(caplog: pytest.LogCaptureFixture, name: str) -> int:
    """How many analyses of ``name`` the server completed: the engine logs each one it finishes."""
    return sum(
        1 for r in caplog.records if r.name.startswith("inference") and r.getMessage().startswith(f"{name}: ")
    )


def test_a_double_click_starts_one_analysis(pages, app_url: str, genuine_clip: Path, tmp_path: Path, caplog):
    from playwright.sync_api import expect

    caplog.set_level(logging.INFO)
    page = pages.open(app_url)
    upload(page, genuine_clip)
    frames_to_sample(page, 2)
    analyze_button(page).dblclick()
    settled(page, ANY_VERDICT)
    idle(page)
    # A second run would start as soon as the first ended (2 frames: done in a second or two);
    # give it time to end and show.
    deadline = time.monotonic() + 6
    while analyses_of(caplog, genuine_clip.name) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    expect(page.locator(PENDING)).to_have_count(0)
    idle(page)
    shot(page, tmp_path, "double-click")
    assert analyses_of(caplog, genuine_clip.name) == 1, "one double-click ran the analysis more than once"


@pytest.fixture(scope="module")
def two_people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two talking heads side by side, 3 s (made with ffmpeg from the shared clips)."""
    left, right = (
        shared_clip("iperov__DeepFaceLive__Obama_speaking.mp4"),
        shared_clip("OpenTalker__SadTalker__WDA_KatieHill_000.mp4"),
    )
    path = tmp_path_factory.mktemp("two") / "two_people.mp4"
    # Same frame rate and height for both, or hstack waits on the slower stream for ever.
    scale = (
        "[0:v]fps=25,scale=-2:256,setsar=1[a];[1:v]fps=25,scale=-2:256,setsar=1[b];[a][b]hstack=shortest=1"
    )
    command = ["ffmpeg", "-y", "-loglevel", "error", "-t", "3", "-i", str(left), "-t", "3", "-i", str(right)]
    encode = ["-t", "3", "-an", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    subprocess.run(
        [*command, "-filter_complex", scale, *encode, str(path)], check=True, stdin=subprocess.DEVNULL
    )
    return path


# Words a table cell breaks inside (a word drawn on two lines), and cells whose content is cut.
BROKEN_WORDS = """() => {
    const broken = [];
    for (const cell of document.querySelectorAll("table td, table th")) {
        if (!cell.offsetParent) continue;
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const match of node.textContent.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, match.index);
                range.setEnd(node, match.index + match[0].length);
                const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
                if (lines.size > 1) broken.push(match[0]);
            }
        }
    }
    return broken;
}"""
CUT = "element => element.scrollWidth > element.clientWidth + 1"
# Why the focused element shows no focus ring ("" when it does): an outline at least 2 px wide,
# not clipped by an ancestor that hides overflow, in a colour with a contrast of at least 3 to
# the background it is drawn on (WCAG's for non-text).
FOCUS_RING = """() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const width = parseFloat(style.outlineWidth);
    if (style.outlineStyle === "none" || width < 2) return `no outline on ${element.outerHTML.slice(0, 80)}`;
    const reach = Math.max(0, parseFloat(style.outlineOffset) + width);
    const box = element.getBoundingClientRect();
    for (let a = element.parentElement; a; a = a.parentElement) {
        const clip = getComputedStyle(a);
        if (clip.overflowX === "visible" && clip.overflowY === "visible") continue;
        const r = a.getBoundingClientRect();
        if (box.left - reach < r.left - 0.5 || box.right + reach > r.right + 0.5
            || box.top - reach < r.top - 0.5 || box.bottom + reach > r.bottom + 0.5) {
            return `ring clipped by ${a.tagName}.${a.className}`;
        }
    }
    const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
        const linear = (v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
        const c = [r, g, b].map(linear);
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    // An inset ring is drawn on the element, an outer one on what is behind it.
    let behind = parseFloat(style.outlineOffset) < 0 ? element : element.parentElement;
    while (behind && (rgb(getComputedStyle(behind).backgroundColor)[3] === 0
        || getComputedStyle(behind).backgroundColor === "transparent")) behind = behind.parentElement;
    const back = behind ? rgb(getComputedStyle(behind).backgroundColor) : [255, 255, 255];
    const [l1, l2] = [luminance(rgb(style.outlineColor)), luminance(back)].sort((x, y) => y - x);
    const contrast = (l1 + 0.05) / (l2 + 0.05);
    return contrast >= 3 ? "" : `ring ${style.outlineColor} on ${back} has contrast ${contrast.toFixed(2)}`;
}"""
# Table cells (of the people table and How to read the result) beyond the width their table shows,
# or cut, when no hint says so wholly in view: one line per table with such cells.
HIDDEN_CELLS = """() => {
    const problems = [];
    const right = document.documentElement.clientWidth;
    for (const table of document.querySelectorAll("#people table, #about table")) {
        if (!table.offsetParent) continue;
        let box = {left: 0, right};
        for (let a = table; a; a = a.parentElement) {
            if (getComputedStyle(a).overflowX === "visible") continue;
            a.scrollLeft = 0;
            const r = a.getBoundingClientRect();
            box = {left: Math.max(0, r.left), right: Math.min(right, r.right)};
            break;
        }
        const hidden = [...table.querySelectorAll("td, th")].filter((cell) => {
            const r = cell.getBoundingClientRect();
            return r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1
                || cell.scrollWidth > cell.clientWidth + 1);
        });
        if (!hidden.length) continue;
        const hint = table.closest("#people, #about").querySelector(".scroll-hint");
        const r = hint && hint.offsetParent ? hint.getBoundingClientRect() : null;
        const whole = r && r.width > 0 && r.left >= box.left - 1 && r.right <= box.right + 1
            && hint.scrollWidth <= hint.clientWidth + 1;
        const cells = hidden.map((c) => c.innerText.trim()).join(" | ");
        if (!whole) problems.push(table.closest("#people, #about").id + ": " + cells);
    }
    return problems;
}"""


def focus_ring_shown(page, where: str) -> None:
    """The focused control shows a focus ring, in the page's dark and then light theme."""
    for dark in ("true", "false"):
        page.evaluate(f"() => document.body.classList.toggle('dark', {dark})")
        problem = page.evaluate(FOCUS_RING)
        assert problem == "", f"{where} ({'dark' if dark == 'true' else 'light'}): {problem}"
    page.evaluate("() => document.body.classList.add('dark')")


def check_phone_layout(page, fits: bool = False) -> None:
    """Captions keep the fake probability, the Verdict cells are whole, no table breaks a word, no
    table cell is out of view without a hint in view that says so (with ``fits``, none at all)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(600)  # the page script shows the scroll hint a moment after a resize
    hidden = page.evaluate(HIDDEN_CELLS)
    assert hidden == [], f"table cells out of view and no hint in view: {hidden}"
    if fits:
        page.evaluate("() => document.querySelectorAll('.people-scroll').forEach((s) => s.scrollLeft = 0)")
        wider = page.locator("#people .people-scroll").evaluate(CUT)
        assert not wider, "the people table is wider than its column on a desktop"
        expect(page.locator("#people .scroll-hint")).to_be_hidden()

    captions = page.locator("#gallery .caption-label")
    expect(captions.first).to_be_visible()
    texts = captions.all_inner_texts()
    assert any(re.fullmatch(r"P\d 2nd \d\.\d\d", t.strip()) for t in texts), texts
    assert any(t.strip() == "Person 2" for t in texts), f"no heading for person 2: {texts}"
    faces = [t for t in texts if not t.startswith("Person")]
    assert all(re.fullmatch(r"P\d (2nd )?\d\.\d\d", t.strip()) for t in faces), faces
    cut = [captions.nth(i).inner_text() for i in range(captions.count()) if captions.nth(i).evaluate(CUT)]
    assert cut == [], f"gallery captions cut: {cut}"
    heads = [h.strip() for h in page.locator("#people th").all_inner_texts()]
    column = heads.index("Verdict")
    rows = page.locator("#people tbody tr")
    assert rows.count() == 2
    for i in range(rows.count()):
        cell = rows.nth(i).locator("td").nth(column)
        cell.scroll_into_view_if_needed()
        assert not cell.evaluate(CUT), f"verdict cell cut: {cell.inner_text()}"
        expect(cell).to_have_text(
            re.compile(r"^\s*(FAKE \d+%|REAL \d+%|UNCERTAIN.*|could not judge|.*seen.*)$")
        )
    assert page.evaluate(BROKEN_WORDS) == [], "a table breaks a word inside"


def shot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)


def second_page(pages, url: str):
    """A second page from the same address, its video in, ready to ask (:func:`refused_while_running`)."""
    other = pages.open(url, viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
    upload(other, EXAMPLES_DIR / "genuine_astronaut.mp4")
    return other


def refused_while_running(other) -> None:
    """The second page (:func:`second_page`) asks for an analysis while the first runs: the server
    refuses it (one per visitor here), and that page says so and is left ready, nothing pending."""
    from playwright.sync_api import expect

    analyze_button(other).click()
    said = re.compile("Not started: you already have 1 analysis waiting", re.IGNORECASE)
    expect(other.locator("#status")).to_contain_text(said)
    expect(analyze_button(other)).to_be_enabled()
    expect(other.get_by_role("button", name="Stop")).to_be_hidden()
    # Nothing pending, no tracker left (the refusal is told in the status line and a toast).
    expect(other.locator(PENDING)).to_have_count(0)
    other.close()


def test_a_double_clicked_stop_handled_late_leaves_the_next_analysis_alone(pages, app_url: str):
    """A double-click on Stop sends two Stops; a busy server that handles the second after the
    visitor's next Analyze ended that analysis too (the page said "Stopped." and showed no
    verdict). Here the second Stop is held back until the next analysis has started."""
    from playwright.sync_api import expect

    page = pages.open(app_url)
    stops, held = [], []

    def hold_the_second_stop(route) -> None:
        if page_stop_body(route.request.post_data or ""):
            stops.append(route)
            if len(stops) == 2:
                held.append(route)
                return
        route.continue_()

    page.route("**/gradio_api/run/**", hold_the_second_stop)
    start_long_run(page)
    page.get_by_role("button", name="Stop").dblclick()
    expect(page.locator("#status")).to_have_text(re.compile(r"^\s*Stopped\.\s*$"))
    assert len(held) == 1, f"{len(stops)} Stop request(s) sent by the double-click"
    frames_to_sample(page, 2)
    with page.expect_response("**/gradio_api/queue/join**"):  # then the analysis is queued or running
        analyze_button(page).click()
    held[0].continue_()
    settled(page, ANY_VERDICT)
    idle(page)


def page_stop_body(body: str) -> bool:
    """Whether a page step's request body is a Stop's (its one input: a hex token)."""
    return re.search(r'"data":\s*\["[0-9a-f]{16}"\]', body) is not None


def test_phone_and_desktop_captions_tables_and_one_progress(
    pages, page_app: tuple[str, str], two_people: Path, tmp_path: Path
):
    """Two people, Explain and the second opinion, on a phone (dark) and then on a desktop."""
    from playwright.sync_api import expect

    url, _ = page_app
    page = pages.open(url, viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
    upload(page, two_people)
    # The second page is ready before the first asks, and asks as soon as the first shows its
    # progress: 8 frames (2 people, Explain, both detectors) last several seconds longer. A page
    # opened only then had sometimes found the first analysis over (with 6 frames).
    other = second_page(pages, url)
    frames_to_sample(page, 8, explain=True)
    analyze_button(page).click()
    # One progress display, with the stage in words; no tracker over any other output.
    stage = re.compile(r"Reading frames and finding faces|Scoring faces|Second opinion|Explaining")
    expect(page.locator("#progress").get_by_text(stage).first).to_be_visible(timeout=60_000)
    trackers = page.locator("[data-testid='status-tracker']:not(.hide)")
    outside = [t for t in trackers.all() if not t.evaluate("e => !!e.closest('#progress')")]
    assert outside == [], f"{len(outside)} progress trackers outside the progress display"
    refused_while_running(other)
    page.screenshot(path=str(shot_dir(tmp_path) / "phone-390-running.png"))
    settled(page, ANY_VERDICT)
    idle(page)
    expect(page.locator("#progress")).to_be_hidden()
    check_phone_layout(page)
    shot(page, tmp_path, "phone-390-dark")
    page.set_viewport_size({"width": 1400, "height": 1000})
    check_phone_layout(page, fits=True)
    shot(page, tmp_path, "desktop-1400-dark")


def test_links_are_plain_text_and_enter_runs_the_analysis(
    pages, page_app: tuple[str, str], genuine_clip: Path, tmp_path: Path
):
    """A refused link, Enter in the link box, and a file whose name is Markdown: no link, no backslash."""
    from playwright.sync_api import expect

    url, files = page_app
    # Gradio drops ":" from uploaded names; the rest is a Markdown link all the same.
    named = tmp_path / "[Verified REAL by moderators](evil.example).mp4"
    shutil.copyfile(genuine_clip, named)
    status = "#status"
    page = pages.open(url, color_scheme="dark")
    frames_to_sample(page, 4)
    watch_results(page)
    # Analyze with nothing given is refused; a link and Analyze right after start at once
    # (the page's click guard ends with the server's answer, not 10 s later).
    analyze_button(page).click()
    expect(page.locator(status)).to_contain_text("Upload or record a video, or paste a link")
    box = page.locator("#link textarea, #link input").first
    box.fill(f"{files}/no_such_clip.mp4")
    analyze_button(page).click()
    expect(page.locator(status)).to_contain_text(re.compile("Analysing|Cannot analyse"), timeout=8_000)
    expect(page.locator(status)).to_contain_text("Cannot analyse", timeout=60_000)
    idle(page)
    shown = page.locator(status).inner_text()
    assert "\\" not in shown and "no_such_clip.mp4" in shown, shown
    assert shown.rstrip().endswith("."), f"a message without a full stop: {shown}"
    expect(page.locator(f"{status} a")).to_have_count(0)
    shot(page, tmp_path, "refused-link")
    # Keyboard focus shows, in both themes: on the link box, Explain and Analyze after it.
    box.focus()
    focus_ring_shown(page, "the link box")
    page.keyboard.press("Tab")
    focus_ring_shown(page, "the control after the link box")
    page.keyboard.press("Tab")
    focus_ring_shown(page, "the second control after the link box")

    box.fill(f"{files}/manipulated_astronaut.mp4")
    box.press("Enter")
    expect(page.locator(status)).to_contain_text("Analysing")  # the refusal above is gone
    settled(page, ANY_VERDICT)
    idle(page)
    expect(page.locator("#summary")).to_contain_text("manipulated_astronaut")
    # The run's JSON and HTML reports share a name.
    json_link = page.locator("a[href$='.json']").first.get_attribute("href") or ""
    with page.expect_download() as started:
        page.get_by_role("button", name="Download report (HTML)").click()
    html_name = started.value.suggested_filename
    assert Path(html_name).stem == Path(json_link.split("?")[0]).stem, (html_name, json_link)

    # With the link still typed: the page says the file is judged.
    page.locator("input[type=file]").first.set_input_files(str(named))
    expect(page.get_by_test_id("Video-player")).to_have_attribute("src", re.compile(r"evil\.example\)\.mp4$"))
    analyze_button(page).click()
    settled(page, ANY_VERDICT)
    expect(page.locator("#summary")).to_contain_text(named.name)
    # The finished page still says the link in its box was not used.
    expect(page.locator(status)).to_contain_text("The link was not used")
    expect(page.locator("#summary a, #status a")).to_have_count(0)
    shot(page, tmp_path, "markdown-name")
    statuses = [seen[2] for seen in results_seen(page)]
    assert [s for s in statuses if "\\" in s] == [], f"a status line shows backslashes: {statuses}"
    assert any("Analysing http" in s for s in statuses), f"never said it analysed the link: {statuses}"
    assert any(named.name in s and "the link is not used" in s for s in statuses), statuses
