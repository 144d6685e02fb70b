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
from ui.guards import ANALYSIS

logger = logging.getLogger(__name__)

LIVE = "live"
"""The concurrency group of the live camera's stream event (see ``ui/live_tab.py``)."""

# A refusal is logged with at most this many characters of what the client sent.
LOG_CHARS = 200


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

    def take(self, kind: str, who: str, session: str | None, alive: Collection[str]) -> Ticket:
        """Admit one event of ``kind`` for visitor ``who`` (and page ``session``), or refuse it.

        Args:
            kind: ``ANALYSIS`` or ``LIVE``.
            who: The visitor (:func:`ui.guards.visitor`, or an MCP caller's own address).
            session: The page session, for the page's own analysis (one at a time per page).
            alive: Event ids still in Gradio's queue table; admitted events not among them ended.

        Raises:
            AdmissionRefusedError: Saying which limit was reached and what to do.
        """
        with self._lock:
            self._sweep(alive)
            self._check(kind, who, session)
            ticket = Ticket(kind, who, session)
            self._tickets.append(ticket)
            return ticket

    def refusal(self, kind: str, who: str, session: str | None, alive: Collection[str]) -> str | None:
        """Why :meth:`take` would refuse such an event now, or None: read only, counts nothing."""
        with self._lock:
            self._sweep(alive)
            try:
                self._check(kind, who, session)
            except AdmissionRefusedError as exc:
                return str(exc)
        return None

    def _check(self, kind: str, who: str, session: str | None) -> None:
        """Refuse an event of ``kind`` past a limit (under ``_lock``)."""
        mine = [t for t in self._tickets if t.kind == kind]
        if session is not None and any(t.session == session for t in mine):
            raise AdmissionRefusedError(
                "This page already has an analysis waiting or running; wait for it, or press Stop."
            )
        if sum(t.visitor == who for t in mine) >= self.per_visitor:
            what = "analyses" if kind == ANALYSIS else "live streams"
            raise AdmissionRefusedError(
                f"You already have {self.per_visitor} {what} waiting or running; "
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
        holds the page's one place no more, though it counts for its visitor until it ends."""
        with self._lock:
            for ticket in self._tickets:
                if ticket.session == session:
                    ticket.session = None

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
        except Exception:  # an unknown fn_index: Gradio's own push answers it
            return await push(body=body, request=request, username=username)
        kind = kind_of(fn)
        if kind is None:
            return await push(body=body, request=request, username=username)
        page = kind == ANALYSIS and fn.api_visibility == "private"
        visitor_ = who(request)
        try:
            session = body.session_hash if page else None
            ticket = admissions.take(kind, visitor_, session, queue.event_ids_to_events)
        except AdmissionRefusedError as exc:
            logger.info("join refused (%s, visitor %s): %s", kind, visitor_[:LOG_CHARS], exc)
            if isinstance(exc, QueueFullError):  # HTTP 503, as Gradio's own full queue
                return False, str(exc), "queue_full"
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
