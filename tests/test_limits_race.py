"""Joins fired at the same instant against ``python app.py``: exactly the limits are let in.

Gradio checked its queue's size and awaited the validator that counted a visitor's analyses
before it added the event to its table, so joins that arrived together all saw an empty table
(39 of 40 got in with a limit of 2). Each test here fires its joins from threads released by
one barrier, and afterwards checks that the counts went back to zero (the same burst lets in
as many again).
"""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path

import cv2
import loopback
import pytest
from python_apps import PythonApps, register
from served_app import at_once, cancel, completed, fn_index, join, upload, visitor

from ui.limits import FIRST_FRAME_S

PER_VISITOR = 2
QUEUE = 5


def limits_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {
        "DEEPFAKE_MAX_QUEUED_PER_VISITOR": str(PER_VISITOR),
        "DEEPFAKE_QUEUE_SIZE": str(QUEUE),
        # Every admitted stream gets a camera slot and stays until closed: a stream refused by the
        # slots ends at once and gives its place back, so under load a burst that arrived
        # staggered could let in more than the limit at the same instant without breaking it.
        "DEEPFAKE_LIVE_MAX_STREAMS": str(PER_VISITOR + 2),
    }


register(__name__, "served", limits_env)


@pytest.fixture(scope="module")
def served(python_apps: PythonApps) -> str:
    """This module's ``python app.py`` (see :func:`limits_env`): its URL."""
    return python_apps.get(__name__)[0]


def slow_report(file: dict) -> list:
    """/report's inputs for a run that lasts (60 frames with heatmaps) until it is cancelled."""
    return [file, 60, None, True, "app", None, None]


def burst(url: str, clip: Path, addresses: list[int], each: int) -> list[tuple[int, str, object]]:
    """``each`` /report joins from every address, all at once; returns (address, session, response)."""
    fn = fn_index(url, "report")
    clients = {number: visitor(number) for number in addresses}
    files = {number: upload(clients[number], url, clip) for number in addresses}
    jobs = [(number, secrets.token_hex(8)) for number in addresses for _ in range(each)]
    answers = at_once(
        [
            lambda number=number, session=session: join(
                clients[number], url, fn, slow_report(files[number]), session
            )
            for number, session in jobs
        ]
    )
    return [(number, session, answer) for (number, session), answer in zip(jobs, answers, strict=True)]


def end_all(url: str, admitted: list[tuple[int, str, object]]) -> None:
    """Cancel every admitted run and wait until each has ended."""
    fn = fn_index(url, "report")
    for number, session, answer in admitted:
        cancel(visitor(number), url, fn, session, answer.json()["event_id"])
    for number, session, _ in admitted:
        completed(visitor(number), url, session)
    time.sleep(1.0)  # the queue drops an ended event from its table just after it says so


def refusals(answers: list[tuple[int, str, object]]) -> list[str]:
    return [str(answer.json()["detail"]) for _, _, answer in answers if answer.status_code != 200]


def test_simultaneous_joins_of_one_visitor_get_exactly_the_limit(served: str, genuine_clip: Path):
    for _ in range(2):  # the second round: the counts went back to zero
        answers = burst(served, genuine_clip, [1], 8)
        admitted = [a for a in answers if a[2].status_code == 200]
        try:
            assert len(admitted) == PER_VISITOR, [a.status_code for _, _, a in answers]
            assert all(a.status_code == 422 for _, _, a in answers if a not in [x[2] for x in admitted])
            assert all(
                f"You already have {PER_VISITOR} analyses waiting" in text for text in refusals(answers)
            )
        finally:
            end_all(served, admitted)


def test_simultaneous_joins_of_many_visitors_fill_the_queue_exactly(served: str, genuine_clip: Path):
    answers = burst(served, genuine_clip, [2, 3, 4, 5], 3)
    admitted = [a for a in answers if a[2].status_code == 200]
    try:
        assert len(admitted) == QUEUE, [(n, a.status_code) for n, _, a in answers]
        for number in (2, 3, 4, 5):
            assert sum(n == number for n, _, _ in admitted) <= PER_VISITOR
        # Past the queue's size, told as Gradio tells a full queue (gradio_client: QueueError).
        assert any(a.status_code == 503 for _, _, a in answers), refusals(answers)
        assert all(a.status_code in (200, 422, 503) for _, _, a in answers)
    finally:
        end_all(served, admitted)
    # Every place given back: one visitor gets their limit again.
    again = [a for a in burst(served, genuine_clip, [6], 3) if a[2].status_code == 200]
    end_all(served, again)
    assert len(again) == PER_VISITOR


def test_a_page_has_one_analysis_at_a_time(served: str, genuine_clip: Path):
    """Two joins of the page's own event with one page session, at once: one is let in."""
    page = fn_index(served, private_inputs=8)
    client = visitor(7)
    file = upload(client, served, genuine_clip)
    session = secrets.token_hex(8)
    data = [file, None, 60, None, True, "app", "off", None]
    answers = at_once([lambda: join(client, served, page, data, session) for _ in range(3)])
    admitted = [a for a in answers if a.status_code == 200]
    try:
        assert len(admitted) == 1, [a.status_code for a in answers]
        refused = [str(a.json()["detail"]) for a in answers if a.status_code != 200]
        assert all("This page already has an analysis" in text for text in refused), refused
    finally:
        for answer in admitted:
            cancel(client, served, page, session, answer.json()["event_id"])
        completed(client, served, session)


def camera_frame(clip: Path) -> dict:
    """The first frame of ``clip`` as the page's camera sends it: a JPEG data URL and no path (a
    path the server did not hand out is refused, and the stream would end at once)."""
    capture = cv2.VideoCapture(str(clip))
    ok, frame = capture.read()
    capture.release()
    assert ok
    jpeg = cv2.imencode(".jpg", cv2.resize(frame, (160, 120)))[1].tobytes()
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    return {"url": url, "meta": {"_type": "gradio.FileData"}}


def test_simultaneous_live_streams_of_one_visitor_get_exactly_the_limit(served: str, genuine_clip: Path):
    """The live camera's stream event had no limit of its own: a client could open every live
    worker at once (each stream event stays until it is closed)."""
    config = loopback.get(f"{served}config", timeout=10).json()
    stream = next(dep["id"] for dep in config["dependencies"] if dep.get("connection") == "stream")
    client = visitor(8)
    frame = camera_frame(genuine_clip)
    sessions = [secrets.token_hex(8) for _ in range(5)]
    answers = at_once([lambda s=s: join(client, served, stream, [frame, "app"], s) for s in sessions])
    admitted = [a for a in answers if a.status_code == 200]
    try:
        assert len(admitted) == PER_VISITOR, [(a.status_code, a.text[:200]) for a in answers]
        refused = [str(a.json()["detail"]) for a in answers if a.status_code != 200]
        assert all(f"You already have {PER_VISITOR} live streams" in text for text in refused), refused
        # The admitted streams judge their frame and stay: a join after the burst is refused too.
        time.sleep(1)
        later = join(client, served, stream, [frame, "app"])
        assert later.status_code == 422 and f"You already have {PER_VISITOR} live streams" in later.text
    finally:
        for answer in admitted:
            client.post(f"{served}gradio_api/stream/{answer.json()['event_id']}/close")


def test_admissions_count_from_the_check_and_give_back_what_ended():
    from ui.guards import ANALYSIS
    from ui.limits import LIVE, AdmissionRefusedError, Admissions

    admissions = Admissions(per_visitor=2, analyses=3, streams=1)
    first = admissions.take(ANALYSIS, "a", "page-1", alive=())
    with pytest.raises(AdmissionRefusedError, match="This page already has an analysis"):
        admissions.take(ANALYSIS, "a", "page-1", alive=())
    second = admissions.take(ANALYSIS, "a", None, alive=())
    with pytest.raises(AdmissionRefusedError, match="You already have 2 analyses"):
        admissions.take(ANALYSIS, "a", None, alive=())
    third = admissions.take(ANALYSIS, "b", None, alive=())
    with pytest.raises(AdmissionRefusedError, match="The server is busy"):
        admissions.take(ANALYSIS, "c", None, alive=())
    admissions.take(LIVE, "c", None, alive=())  # streams are counted apart
    admissions.give_back(third)  # Gradio refused that join
    admissions.bind(first, "event-1")
    admissions.bind(second, "event-2")
    assert admissions.count(alive={"event-1", "event-2"}, kind=ANALYSIS) == 2
    admissions.forget_page("page-1")  # Stop: event-1 ends at its next check
    alive = {"event-1", "event-2"}
    with pytest.raises(AdmissionRefusedError, match="You already have 2"):  # another page
        admissions.take(ANALYSIS, "a", "page-2", alive=alive)
    with pytest.raises(AdmissionRefusedError, match="You already have 2"):  # it had not started
        admissions.take(ANALYSIS, "a", "page-1", alive=alive, waiting={"event-1"})
    again = admissions.take(ANALYSIS, "a", "page-1", alive=alive)  # the page's next run
    with pytest.raises(AdmissionRefusedError, match="This page already has"):  # not stopped
        admissions.take(ANALYSIS, "a", "page-1", alive=alive)
    admissions.give_back(again)
    assert admissions.count(alive={"event-2"}, kind=ANALYSIS) == 1  # event-1 ended
    assert admissions.count(alive=(), kind=ANALYSIS) == 0
    one = Admissions(per_visitor=1, analyses=3, streams=1)
    one.take(ANALYSIS, "a", None, alive=())
    with pytest.raises(AdmissionRefusedError, match="You already have 1 analysis waiting"):
        one.take(ANALYSIS, "a", None, alive=())


def test_a_page_refused_at_its_join_is_told_in_text(served: str, genuine_clip: Path):
    """A page's join refused with a validator's list of messages left the page "Analysing…" (its
    JS marks the run complete, with no .failure step); API callers still get the list."""
    client = visitor(9)
    file = upload(client, served, genuine_clip)
    report = fn_index(served, "report")
    sessions = [secrets.token_hex(8) for _ in range(PER_VISITOR)]
    admitted = [(9, s, join(client, served, report, slow_report(file), s)) for s in sessions]
    try:
        assert all(a.status_code == 200 for _, _, a in admitted)
        data = [file, None, 60, None, True, "app", "off", None]
        refused = join(client, served, fn_index(served, private_inputs=8), data)
        assert refused.status_code == 422 and isinstance(refused.json()["detail"], str), refused.text
        assert f"You already have {PER_VISITOR} analyses waiting" in refused.json()["detail"]
        api = join(client, served, report, slow_report(file))
        assert api.status_code == 422 and isinstance(api.json()["detail"], list), api.text
    finally:
        end_all(served, admitted)


def test_a_live_join_that_sends_no_frame_gives_its_place_back(served: str, genuine_clip: Path):
    """Joins with no camera frame held live places until Gradio's stream time limit (minutes)."""
    config = loopback.get(f"{served}config", timeout=10).json()
    stream = next(dep["id"] for dep in config["dependencies"] if dep.get("connection") == "stream")
    client = visitor(10)
    idle = [join(client, served, stream, [None, "app"]) for _ in range(PER_VISITOR)]
    assert [a.status_code for a in idle] == [200] * PER_VISITOR
    assert join(client, served, stream, [None, "app"]).status_code == 422
    time.sleep(FIRST_FRAME_S + 1)
    fresh = join(client, served, stream, [camera_frame(genuine_clip), "app"])
    assert fresh.status_code == 200, fresh.text
    client.post(f"{served}gradio_api/stream/{fresh.json()['event_id']}/close")
