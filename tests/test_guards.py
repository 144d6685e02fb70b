"""The page's run registry: Stop reaches a running analysis and one still waiting in the queue."""

from __future__ import annotations

import pytest

from ui.guards import AnalysisStoppedError, Runs


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
