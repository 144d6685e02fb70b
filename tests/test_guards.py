"""The page's run registry: Stop reaches a running analysis and one still waiting in the queue."""

from __future__ import annotations

import gradio as gr
import pytest

from inference import Settings
from ui.guards import PAGES_KEPT, PROGRESS_POLL_S, QUEUE_POLL_S, AnalysisStoppedError, Runs, poll_less


def stopped(runs: Runs, session: str) -> bool:
    """Whether the next analysis of ``session`` is stopped as it starts."""
    try:
        runs.start(session, 60).check()
    except AnalysisStoppedError:
        return True
    return False


def test_stop_ends_the_running_analysis():
    runs = Runs()
    run = runs.start("page", 60)
    assert runs.stop("page")
    with pytest.raises(AnalysisStoppedError):
        run.check()


def test_stop_pressed_while_queued_ends_that_analysis_as_it_starts_and_only_that_one():
    runs = Runs()
    runs.halt("page", queued=True)
    assert stopped(runs, "page")
    assert not stopped(runs, "page")


def test_a_stop_with_nothing_queued_leaves_the_next_analysis_alone():
    runs = Runs()
    runs.halt("page", queued=False)
    assert not runs.stop("api-client")  # a cancelled API job that was no longer running
    assert not stopped(runs, "page")
    assert not stopped(runs, "api-client")


def test_a_new_analysis_of_the_page_is_not_stopped_by_an_earlier_stop():
    runs = Runs()
    runs.halt("page", queued=True)
    runs.forget("page")  # the page's next Analyze
    assert not stopped(runs, "page")


def test_a_stop_on_one_page_leaves_the_others_running():
    runs = Runs()
    other = runs.start("other", 60)
    runs.halt("page", queued=True)
    other.check()
    assert not stopped(runs, "third")


def test_a_page_that_left_leaves_nothing_behind():
    runs = Runs()
    run = runs.start("page", 60)
    assert runs.forget("page")
    with pytest.raises(AnalysisStoppedError):
        run.check()
    runs.halt("page", queued=True)
    assert not runs.forget("page")
    assert not stopped(runs, "page")


def test_a_stop_names_the_pages_latest_analysis():
    runs = Runs()
    earlier = runs.asked("page")
    runs.asked("page")
    assert not runs.halt("page", queued=True, token=earlier)  # for an analysis before the latest
    assert not stopped(runs, "page")
    runs = Runs()
    latest = runs.asked("page")
    assert runs.halt("page", queued=False, token=latest)  # before its analysis joined the queue
    assert stopped(runs, "page")
    assert not stopped(runs, "page")


def test_stops_of_pages_that_never_asked_keep_nothing_and_tables_are_bounded():
    runs = Runs()
    assert runs.halt("made-up", queued=False, token="")  # answered "Stopped.", but kept nowhere
    assert not stopped(runs, "made-up")
    pages = [f"page-{number}" for number in range(PAGES_KEPT + 10)]
    for page in pages:
        assert runs.halt(page, queued=False, token=runs.asked(page))
    assert not stopped(runs, pages[0])  # the oldest went
    assert stopped(runs, pages[-1])
    assert not runs.halt(pages[-1], queued=False, token="not its token")
    assert runs.halt(pages[0], queued=False, token="any")  # its token was forgotten: as before


def test_the_apps_idle_queue_polls_every_20_ms_not_every_1(hub_cache, caplog: pytest.LogCaptureFixture):
    import app

    queue = app.build_demo(Settings.from_env({}))._queue
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (QUEUE_POLL_S, PROGRESS_POLL_S)
    with gr.Blocks() as other:
        gr.Button()
    other.queue()
    other._queue.sleep_when_free = 0.5  # a Gradio that polls less often keeps its own
    del other._queue.progress_update_sleep_when_free  # a Gradio without it: said in the log
    poll_less(other)
    assert other._queue.sleep_when_free == 0.5
    assert "no progress_update_sleep_when_free" in caplog.text
