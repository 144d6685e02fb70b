"""Admission into Gradio's queue: each analysis and live stream counted from the instant it is let in.

Gradio checks its queue's size, then awaits the event's validator, and only then adds the event
to its table; joins that arrive together all saw an empty table and all got in. Here the check
and the count are one step under one lock, taken before Gradio's own ``push`` runs (so before
any await), and the count is given back when Gradio refuses the join or the event leaves its
table: the run ended, failed, was cancelled, or its client went away.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio import route_utils
from gradio.context import LocalContext
from gradio.queueing import process_validation_response

from inference import LimitExceededError
from ui.guards import ANALYSIS, Runs

logger = logging.getLogger(__name__)

LIVE = "live"
"""The concurrency group of the live camera's stream event (see ``ui/live_tab.py``)."""

# A refusal is logged with at most this many characters of what the client sent.
LOG_CHARS = 200
# A live stream with no camera frame this long after its join is ended (ui/live.py's QUIET_S: a
# camera quiet that long was stopped).
FIRST_FRAME_S = 4.0


class AdmissionRefusedError(LimitExceededError):
    """A join was refused: its visitor, its page or the server has as many as it may."""


class QueueFullError(AdmissionRefusedError):
    """A join was refused: the server holds as many as it may (told as Gradio's full queue)."""


@dataclass
class Ticket:
    """One admitted event: what it is, whose, and (once Gradio took it) its event id."""

    kind: str
    visitor: str
    session: str | None
    event: str | None = None
    taken: float = field(default_factory=time.monotonic)
    # Its page stopped it (Stop, a new video, an example, a new Analyze): it ends at the run's next
    # check, and no longer counts against that page's next join (see Admissions._check).
    ending: bool = False
    # A live stream that got a camera frame (see close_idle_streams).
    started: bool = False


class Admissions:
    """The events admitted into Gradio's queue and not yet ended, counted per visitor and in all.

    Thread-safe; :meth:`take` checks and counts in one step under the lock.

    Args:
        per_visitor: Analyses (and, separately, live streams) one visitor may have waiting or
            running (DEEPFAKE_MAX_QUEUED_PER_VISITOR).
        analyses: Analyses the server holds at once, waiting or running (DEEPFAKE_QUEUE_SIZE).
        streams: Live stream events the server holds at once (the live event's concurrency limit).
    """

    def __init__(self, per_visitor: int, analyses: int, streams: int) -> None:
        self.per_visitor = per_visitor
        self.limits = {ANALYSIS: analyses, LIVE: streams}
        self._lock = threading.Lock()
        self._tickets: list[Ticket] = []

    def take(
        self,
        kind: str,
        who: str,
        session: str | None,
        alive: Collection[str],
        waiting: Collection[str] = (),
    ) -> Ticket:
        """Admit one event of ``kind`` for visitor ``who`` (and page ``session``), or refuse it.

        Args:
            kind: ``ANALYSIS`` or ``LIVE``.
            who: The visitor (:func:`ui.guards.visitor`, or an MCP caller's own address).
            session: The page session, for the page's own analysis (one at a time per page).
            alive: Event ids still in Gradio's queue table; admitted events not among them ended.
            waiting: Event ids still waiting for their turn (not running).

        Raises:
            AdmissionRefusedError: Saying which limit was reached and what to do.
        """
        with self._lock:
            self._sweep(alive)
            self._check(kind, who, session, waiting)
            ticket = Ticket(kind, who, session)
            self._tickets.append(ticket)
            return ticket

    def refusal(
        self,
        kind: str,
        who: str,
        session: str | None,
        alive: Collection[str],
        waiting: Collection[str] = (),
    ) -> str | None:
        """Why :meth:`take` would refuse such an event now, or None: read only, counts nothing."""
        with self._lock:
            self._sweep(alive)
            try:
                self._check(kind, who, session, waiting)
            except AdmissionRefusedError as exc:
                return str(exc)
        return None

    def _check(self, kind: str, who: str, session: str | None, waiting: Collection[str]) -> None:
        """Refuse an event of ``kind`` past a limit (under ``_lock``).

        A run its own page stopped while it ran (``ending``, and not ``waiting``) ends at its next
        check: it counts for the server, but neither for that page nor against that page's next
        join for its visitor, else a new Analyze or example would stop the old run and be refused.
        """
        mine = [t for t in self._tickets if t.kind == kind]
        if session is not None and any(t.session == session and not t.ending for t in mine):
            raise AdmissionRefusedError(
                "This page already has an analysis waiting or running; wait for it, or press Stop."
            )

        def stopped_here(t: Ticket) -> bool:
            return session is not None and t.session == session and t.ending and t.event not in waiting

        if sum(t.visitor == who and not stopped_here(t) for t in mine) >= self.per_visitor:
            raise AdmissionRefusedError(
                f"You already have {_counted(self.per_visitor, kind)} waiting or running; "
                "wait for them to end, or press Stop."
            )
        if len(mine) >= self.limits[kind]:
            raise QueueFullError(
                "The server is busy: as many requests as it holds are waiting or running. "
                "Try again in a few minutes."
            )

    def bind(self, ticket: Ticket, event: str) -> None:
        """Gradio took the event: it is counted until ``event`` leaves Gradio's table."""
        with self._lock:
            ticket.event = event

    def give_back(self, ticket: Ticket) -> None:
        """Gradio refused the join (or it failed): the event was never queued."""
        with self._lock:
            if ticket in self._tickets:
                self._tickets.remove(ticket)

    def forget_page(self, session: str) -> None:
        """The page moved on (Stop, a new video, an example, it left): its analysis, stopped,
        holds the page's one place no more, and (once running) no longer counts against the
        page's next join; it counts for the server until it ends."""
        with self._lock:
            for ticket in self._tickets:
                if ticket.session == session:
                    ticket.ending = True

    def unstarted_streams(self, older_s: float) -> list[Ticket]:
        """Live streams in Gradio's queue, admitted over ``older_s`` seconds ago, with no frame seen."""
        now = time.monotonic()
        with self._lock:
            return [
                t
                for t in self._tickets
                if t.kind == LIVE and t.event is not None and not t.started and now - t.taken > older_s
            ]

    def count(self, alive: Collection[str], kind: str | None = None, who: str | None = None) -> int:
        """Admitted events still waiting or running, of ``kind`` and visitor ``who`` when given."""
        with self._lock:
            self._sweep(alive)
            return sum(
                (kind is None or t.kind == kind) and (who is None or t.visitor == who) for t in self._tickets
            )

    def _sweep(self, alive: Collection[str]) -> None:
        """Forget admitted events that left Gradio's table (under ``_lock``)."""
        self._tickets = [t for t in self._tickets if t.event is None or t.event in alive]


def close_idle_streams(queue: Any, admissions: Admissions) -> None:
    """End the live streams whose join brought no camera frame and none came in ``FIRST_FRAME_S``.

    Such a join held a live place until Gradio's stream time limit (minutes): a few addresses
    could hold them all. Ended as Gradio's ``/stream/<event>/close`` ends one; its place is
    given back at once.
    """
    for ticket in admissions.unstarted_streams(FIRST_FRAME_S):
        event = queue.event_ids_to_events.get(ticket.event)
        if event is None:
            continue
        data = getattr(event.data, "data", None)
        if isinstance(data, list) and data and data[0] is not None:
            ticket.started = True  # a frame came: it runs until the page or its limits end it
            continue
        logger.info("a live stream got no camera frame in %g s; it was ended", FIRST_FRAME_S)
        event.run_time = math.inf
        event.closed = True
        event.signal.set()
        admissions.give_back(ticket)


def _counted(number: int, kind: str) -> str:
    """``number`` events of ``kind`` in words: "1 analysis", "2 live streams"."""
    if kind == ANALYSIS:
        return f"{number} {'analysis' if number == 1 else 'analyses'}"
    return f"{number} live {'stream' if number == 1 else 'streams'}"


def waiting_ids(blocks: gr.Blocks, kind: str) -> set[str]:
    """Ids of the events of ``kind`` still waiting in Gradio's queue for their turn (not running)."""
    return {event._id for event in _waiting(blocks) if kind_of(event.fn) == kind}


def _waiting(blocks: gr.Blocks) -> list[Any]:
    """The events waiting in Gradio's queues (copies: a page's quick step reads them from a
    worker thread while the queue changes them on the event loop)."""
    queues = list(getattr(blocks._queue, "event_queue_per_concurrency_id", {}).values())
    return [event for q in queues for event in list(q.queue)]


def page_moves_on(blocks: gr.Blocks, runs: Runs, admissions: Admissions, session: str) -> None:
    """The page starts a new analysis (Analyze, an example): its running analysis stops, one it has
    still waiting stops as it starts, and neither holds the page's place against the new join."""
    running = runs.forget(session)
    mine = [e for e in _waiting(blocks) if e.session_hash == session and kind_of(e.fn) == ANALYSIS]
    if not running and mine:
        runs.halt(session, queued=True)
    admissions.forget_page(session)


def trust_no_forwarding_peer() -> None:
    """Make uvicorn keep each connection's own address as the client's.

    uvicorn trusts X-Forwarded-For from 127.0.0.1 by default (its FORWARDED_ALLOW_IPS), so a
    client on the loopback could name any address and be counted as another visitor;
    DEEPFAKE_TRUSTED_PROXIES alone decides which forwarded addresses count (ui.guards.visitor).
    Call before ``launch`` (Gradio's uvicorn config reads it then).
    """
    os.environ["FORWARDED_ALLOW_IPS"] = ""


def kind_of(fn: Any) -> str | None:
    """Which count a Gradio event function takes: ``ANALYSIS``, ``LIVE``, or None (not counted)."""
    if fn.concurrency_id == ANALYSIS:
        return ANALYSIS
    if fn.connection == "stream":
        return LIVE
    return None


def guard_queue(
    blocks: gr.Blocks, admissions: Admissions, who: Callable[[Any], str], clean: Callable[[str], str]
) -> None:
    """Admit every join of an analysis or a live stream through ``admissions``.

    Wraps ``blocks._queue.push``, which every route that queues an event calls (``/queue/join``,
    ``/call/<api>``, ``/call/v2/<api>``, and the MCP server through its loopback client).

    Args:
        blocks: The app, its queue set up.
        admissions: The counts.
        who: The visitor of a join's request (a Starlette request).
        clean: What a join's error may tell the client (no server paths).
    """
    queue = blocks._queue
    push = queue.push
    if not inspect.iscoroutinefunction(push):
        raise RuntimeError("this Gradio version's queue has no async push; the limits need one")

    async def admitted_push(body: Any, request: Any, username: str | None) -> tuple[bool, Any, str]:
        try:
            fn = route_utils.get_fn(blocks, None, body)
        except (route_utils.FnIndexInferError, KeyError):  # an unknown fn_index: Gradio's push answers it
            return await push(body=body, request=request, username=username)
        kind = kind_of(fn)
        if kind is None:
            return await push(body=body, request=request, username=username)
        page = kind == ANALYSIS and fn.api_visibility == "private"
        if kind == LIVE:
            close_idle_streams(queue, admissions)
        visitor_ = who(request)
        try:
            session = body.session_hash if page else None
            ticket = admissions.take(
                kind, visitor_, session, queue.event_ids_to_events, waiting_ids(blocks, kind)
            )
        except AdmissionRefusedError as exc:
            logger.info("join refused (%s, visitor %s): %s", kind, visitor_[:LOG_CHARS], exc)
            if isinstance(exc, QueueFullError):  # HTTP 503, as Gradio's own full queue
                return False, str(exc), "queue_full"
            if page:
                # The page's JS ends a run on a refusal with a text message (and runs its
                # .failure step: Analyze back, Stop hidden); a validator's list of messages
                # would mark the run complete, with no step after it.
                return False, str(exc), "validator_error"
            return False, refusal(fn, str(exc)), "validator_error"
        try:
            ok, detail, state = await push(body=body, request=request, username=username)
        except BaseException:
            admissions.give_back(ticket)
            raise
        if ok:
            admissions.bind(ticket, detail)
        else:
            admissions.give_back(ticket)
        if state == "error" and isinstance(detail, str):
            detail = clean(detail)
        return ok, detail, state

    queue.push = admitted_push


def refusal(fn: Any, message: str) -> list[dict[str, Any]]:
    """A join's refusal in the shape of a validator's (HTTP 422): the page shows it, and
    ``gradio_client`` raises it with the message."""
    checks = [gr.validate(False, message), *(gr.validate(True, "") for _ in fn.inputs[1:])]
    return process_validation_response(checks, fn)[1]


def run_key(request: gr.Request | None, page: bool) -> str:
    """The key of a run, for Stop and cancel: a page's session, else the event id the server gave.

    A key a client names (its address, a session hash of its own) would let another client stop
    the run; the event id is random and told only to the client that joined. A run outside the
    queue (none is, with the API closed to direct calls) gets a random token nobody knows.
    """
    if page and request is not None and request.session_hash:
        return request.session_hash
    return current_event() or f"run-{secrets.token_hex(16)}"


def current_event() -> str | None:
    """The queue event the calling thread runs for (Gradio sets it), or None outside the queue."""
    return LocalContext.event_id.get(None)
