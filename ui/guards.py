"""Guards around the served app: stopping runs, per-visitor and disk limits, strict API inputs.

Everything here protects the one worker of a free 2-vCPU Space from a visitor who leaves, a
visitor who queues many requests, uploads that fill the disk, links that Gradio would download
on its own, and API inputs of the wrong type.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from inference import (
    CheckpointFormatError,
    DeepfakeDetectorError,
    LimitExceededError,
    WeightsUnavailableError,
)

logger = logging.getLogger(__name__)

ANALYSIS = "analysis"
PAGES_KEPT = 1_000
"""Page sessions one table keeps, the oldest going first (this app's, and Gradio's copy of each
session's components, about 150 kB each): a bound on what made-up session names can take."""
"""The one concurrency group of every event that analyses a video (UI, examples, API)."""


class AnalysisStoppedError(DeepfakeDetectorError):
    """The visitor stopped the analysis, changed the video, or left the page."""


class TimeLimitError(LimitExceededError):
    """An analysis ran past the per-request time limit."""


class InputTypeError(DeepfakeDetectorError):
    """An API input has the wrong type (e.g. the string "false" for a checkbox)."""


@dataclass
class Run:
    """One analysis in progress: its key (a page session or an event id), its deadline, its stop
    signal, and the queue event it runs for (None outside the queue)."""

    visitor: str
    deadline: float
    limit_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    event: str | None = None

    def check(self) -> None:
        """Raise if the run was stopped or is past its deadline (called between frames and batches).

        Raises:
            AnalysisStoppedError: If the visitor stopped it, changed the video or left.
            TimeLimitError: If it ran longer than the per-request limit.
        """
        if self.stop.is_set():
            raise AnalysisStoppedError("the analysis was stopped")
        if time.monotonic() > self.deadline:
            raise TimeLimitError(
                f"the analysis took longer than this server's limit of {self.limit_s:g} s per request; "
                "try fewer frames, a shorter clip, or a start/end window"
            )


# A Stop pressed while the page's analysis waited is kept this long: the queue holds at most
# DEEPFAKE_QUEUE_SIZE analyses of a few minutes each, so that one has started well before.
HALT_KEEP_S = 3600.0

# One analysis at a time in the process, whatever Gradio's queue believes: a cancelled request
# frees its queue slot at once, but its thread runs on until the engine next checks the run.
_ONE_AT_A_TIME = threading.Semaphore(1)


@contextlib.contextmanager
def turn(run: Run) -> Iterator[None]:
    """Wait for the process's one analysis slot (still stoppable while waiting), then hold it."""
    while not _ONE_AT_A_TIME.acquire(timeout=0.5):
        run.check()
    try:
        yield
    finally:
        _ONE_AT_A_TIME.release()


class Runs:
    """The runs in progress, by page session, so that Stop, a new video or leaving can end them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        # Pages that pressed Stop while their analysis waited in the queue, with when: it ends as
        # it starts. Forgotten after HALT_KEEP_S (that analysis has long started or been dropped).
        self._halted: dict[str, float] = {}
        # Pages, with the token of the analysis they asked for last: a Stop that names another
        # was clicked for an earlier one.
        self._asked: dict[str, str] = {}

    def asked(self, session: str) -> str:
        """Page ``session`` asks for a new analysis; returns its token, for the page's Stop."""
        token = secrets.token_hex(8)
        with self._lock:
            _keep(self._asked, session, token)
        return token

    def refuse(self, session: str) -> None:
        """The page was told its latest analysis did not start: it must not run later (its
        token is no longer the latest; the latest is one nobody was given)."""
        with self._lock:
            _keep(self._asked, session, secrets.token_hex(8))

    def may_start(self, session: str, token: str | None) -> bool:
        """Whether the page's analysis ``token`` may run: not one the page asked for before its
        latest, nor one it was told did not start (the page holds a join back while its previous
        analysis ends, and sends it later, whatever the page then says). None: not checked."""
        with self._lock:
            latest = self._asked.get(session, token)
            return token is None or token == latest

    def start(self, session: str, limit_s: float, event: str | None = None) -> Run:
        """Register a new run for ``session`` (a run it still had is stopped), of queue ``event``.

        The run starts stopped when the page pressed Stop while it waited in the queue.
        """
        run = Run(session, time.monotonic() + limit_s, limit_s, event=event)
        with self._lock:
            previous = self._runs.get(session)
            if previous is not None:
                previous.stop.set()
            halted = self._halted.pop(session, None)
            if halted is not None and time.monotonic() - halted < HALT_KEEP_S:
                run.stop.set()
            self._runs[session] = run
        return run

    def finish(self, run: Run) -> None:
        """Forget ``run`` once it has ended."""
        with self._lock:
            if self._runs.get(run.visitor) is run:
                del self._runs[run.visitor]

    def stop(self, session: str) -> bool:
        """Stop the run of ``session``; returns whether one was running."""
        with self._lock:
            run = self._runs.pop(session, None)
        return _stopped(run, session)

    def cancel(self, session: str, event: str) -> bool:
        """A client cancelled queue ``event``: stop its run (keyed by the event id, or the page
        ``session``'s run of that event). Returns whether one was running.

        Only the event id, which the server gave the client that joined, selects a run: a session
        or an address a client names is not enough.
        """
        with self._lock:
            key = event if event in self._runs else session
            run = self._runs.get(key)
            if run is None or run.event != event:
                return False
            del self._runs[key]
        run.stop.set()
        logger.info("stopped the analysis of session %s: its event was cancelled", key[:8])
        return True

    def halt(self, session: str, queued: bool, token: str | None = None) -> bool:
        """The page pressed Stop (or changed its video): stop its run, and when it has an analysis
        waiting in the queue (``queued``, from :func:`queued_events`), that one as it starts.

        ``token``: the Stop's, of the analysis the page showed when it was clicked. A Stop for an
        analysis before the page's latest (:meth:`asked`), handled late by a busy server (a
        double-click's second Stop after the next Analyze), stops nothing: this returns False.
        A Stop for the latest stops it even before it joins the queue (the page holds a join
        back while its previous analysis ends), until the page asks for another.
        """
        now = time.monotonic()
        with self._lock:
            if token is not None and token != self._asked.get(session, token):
                return False
            run = self._runs.pop(session, None)
            # Only a page that asked for an analysis (made-up sessions would fill the table).
            if run is None and (queued or (token is not None and session in self._asked)):
                _keep(self._halted, session, now)
        _stopped(run, session)
        return True

    def forget(self, session: str) -> bool:
        """Stop the run of ``session`` and forget a Stop it pressed while queued: the page starts a
        new analysis (which must run) or left. Returns whether a run was running."""
        running = self.stop(session)
        with self._lock:
            self._halted.pop(session, None)
        return running

    def leave(self, session: str) -> bool:
        """The page left: as :meth:`forget`, and its latest analysis is forgotten too."""
        with self._lock:
            self._asked.pop(session, None)
        return self.forget(session)


def _keep(table: dict[str, Any], session: str, value: Any) -> None:
    """Set ``table[session]`` as its newest entry, the oldest going past :data:`PAGES_KEPT`."""
    table.pop(session, None)
    table[session] = value
    if len(table) > PAGES_KEPT:
        del table[next(iter(table))]


def _stopped(run: Run | None, session: str) -> bool:
    """Tell ``run`` (taken out of the runs) to stop; whether there was one."""
    if run is None:
        return False
    run.stop.set()
    logger.info("stopped the analysis of session %s", session[:8])
    return True


def visitor(request: gr.Request | None, trusted_proxies: int = 0) -> str:
    """Who sent a request: the address the nearest untrusted hop saw.

    Each proxy appends the address it was reached from to X-Forwarded-For, so with N trusted
    proxies in front of the app (the Space's is one) the visitor is the N-th entry from the
    right; entries further left are the visitor's own words. With none, the peer address.
    """
    if request is None:
        return "local"
    hops = [hop.strip() for hop in (request.headers.get("x-forwarded-for") or "").split(",") if hop.strip()]
    if trusted_proxies and len(hops) >= trusted_proxies:
        return hops[-trusted_proxies]
    return request.client.host if request.client else "unknown"


def waiting(blocks: gr.Blocks, session: str) -> bool:
    """Whether the page ``session`` has an analysis in Gradio's queue (waiting or running)."""
    events = queued_events(blocks)
    return any(event.session_hash == session and event.fn.concurrency_id == ANALYSIS for event in events)


def queued_events(blocks: gr.Blocks) -> list[Any]:
    """Every event waiting in or running from Gradio's queue (a copy: the table changes as it runs)."""
    return list(blocks._queue.event_ids_to_events.values())


def check_gradio(blocks: gr.Blocks) -> None:
    """Fail at start-up, not silently later, if Gradio's queue no longer has what the guards read."""
    if not isinstance(getattr(blocks._queue, "event_ids_to_events", None), dict):
        raise RuntimeError("this Gradio version's queue has no event table; the visitor limit needs one")


# Gradio's queue looks for an event it can start every 1 ms while it has none running or none
# waiting, and for progress to send every 10 ms: about 5 % of a core for a server with nothing to
# do (measured), a core the free 2-vCPU Space shares with the analyses. At 20 ms a waiting
# analysis starts up to 20 ms after a slot frees, and progress goes out every 50 ms (a stage
# shorter than that may not show): nothing a visitor could notice beside an analysis of seconds
# (Gradio itself waits 50 ms and 100 ms on Windows).
QUEUE_POLL_S = 0.02
PROGRESS_POLL_S = 0.05


def poll_less(blocks: gr.Blocks) -> None:
    """Make the queue of ``blocks`` (set up) look for an event it can start every
    :data:`QUEUE_POLL_S` and send progress every :data:`PROGRESS_POLL_S`, where Gradio does so
    more often."""
    queue = blocks._queue
    for name, every_s in (
        ("sleep_when_free", QUEUE_POLL_S),
        ("progress_update_sleep_when_free", PROGRESS_POLL_S),
    ):
        now = getattr(queue, name, None)
        if not isinstance(now, float):
            logger.warning("this Gradio version's queue has no %s: it polls as Gradio chose", name)
            continue
        setattr(queue, name, max(now, every_s))


def visitor_message(exc: DeepfakeDetectorError) -> str:
    """What to tell a visitor: what they can do. Operator advice (variables to set) goes to the log."""
    if isinstance(exc, WeightsUnavailableError | CheckpointFormatError):
        logger.error("weights unusable: %s", exc)
        return (
            "The model weights are not available on this server right now, so nothing can be "
            "analysed. Try again later, or choose other weights under 'Frames and model weights'."
        )
    text = str(exc)
    if "DEEPFAKE_" in text:
        logger.warning("told a visitor, without the setting's name: %s", text)
    return for_visitors(text)


def for_visitors(text: str) -> str:
    """``text`` without the names of the server's settings, which only its operator can change."""
    text = re.sub(r"\s*\((?:see )?DEEPFAKE_[A-Z0-9_]+\)", "", text)
    return re.sub(r"DEEPFAKE_[A-Z0-9_]+", "this server's setting", text)


def whole_number(value: Any, name: str) -> int | None:
    """``value`` as a whole number (None stays None); anything else is refused.

    Raises:
        InputTypeError: For booleans, strings, lists, NaN, infinity and fractions.
    """
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value == int(value)):
        raise InputTypeError(f"{name} must be a whole number, got {described(value)}")
    return int(value)


def flag(value: Any, name: str) -> bool:
    """``value`` as a boolean: true or false only (None is false); "false" and 1 are refused.

    Raises:
        InputTypeError: For anything but a JSON boolean or null.
    """
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputTypeError(f"{name} must be true or false, got {described(value)}")
    return value


def choice(value: Any, name: str, allowed: list[str]) -> str | None:
    """``value`` if it is one of ``allowed`` (None stays None).

    Raises:
        InputTypeError: For anything else, naming the allowed values.
    """
    if value is None or value in allowed:
        return value
    raise InputTypeError(f"{name} must be one of {', '.join(allowed)}, got {described(value)}")


def described(value: Any) -> str:
    """What a refused input was, never the value itself (it may be megabytes, or a script)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        whole = math.isfinite(value) and value == int(value)
        return "a number" if whole else "a fraction or a non-finite number"
    if isinstance(value, str):
        return f"text of {len(value)} characters"
    if isinstance(value, list | tuple | dict):
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)} items"
    return type(value).__name__


def link_text(value: Any, name: str = "url") -> str | None:
    """``value`` as a link to fetch: a string (trimmed; empty means none), at most 2000 characters.

    Raises:
        InputTypeError: For anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise InputTypeError(
            f"{name} must be a link (text of at most 2000 characters), got {type(value).__name__}"
        )
    return value.strip() or None


class StrictNumber(gr.Number):
    """A number input that passes the value as sent (no rounding), for :func:`whole_number`."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own number component."""
        return "number"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent, checked by the function."""
        return payload


class StrictCheckbox(gr.Checkbox):
    """A checkbox input that passes the value as sent, for :func:`flag`."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own checkbox component."""
        return "checkbox"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent, checked by the function."""
        return payload
