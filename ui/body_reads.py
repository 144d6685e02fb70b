"""How long, and how much at once, the app waits for request bodies it reads whole.

A body read whole (a join, a live stream's frame, an MCP post) is held in memory until it has
all arrived. Forty joins of one address that declared 7.9 MB each and sent all but a byte took
320 MB for a minute; two MCP posts sending a byte every 5 s kept every other visitor's video
call out for the whole upload timeout (300 s by default). So:

- a body must keep arriving at :data:`MIN_RATE` bytes a second on average once
  :data:`GRACE_S` have passed (:func:`wait_s`), besides each reader's idle limit and deadline;
- the large bodies of the routes :class:`ui.routes.Routes` reads (over its join cap) are read
  within a memory budget (:class:`ReadBudget`): :data:`PER_VISITOR` bytes per visitor,
  :data:`TOTAL` overall, reserved by their declared length (their cap when chunked).
"""

from __future__ import annotations

import time

MIN_RATE = 10_000
"""Bytes a second, on average from the request's start: a video's base64 arriving slower than
this (80 kbit/s) is an attack, not a visitor."""
GRACE_S = 10.0
"""Seconds a body may take before :data:`MIN_RATE` applies (a slow start, a proxy's buffering)."""
IDLE_S = 10.0
"""Seconds a body read by Routes may send nothing (joins and frames come in one go)."""
PER_VISITOR = 16_000_000
"""Bytes of large bodies one visitor may have arriving at once: two live frames of the largest."""
TOTAL = 64_000_000
"""Bytes of large bodies everyone may have arriving at once."""


def wait_s(started: float, size: int, deadline: float, idle_s: float) -> float:
    """Seconds to wait for a body's next chunk: until its ``deadline``, ``idle_s`` from now, or
    the moment the ``size`` bytes received since ``started`` (all ``time.monotonic()``) fall
    below :data:`MIN_RATE` after :data:`GRACE_S`, whichever comes first (0 once passed)."""
    now = time.monotonic()
    return max(0.0, min(deadline, now + idle_s, started + GRACE_S + size / MIN_RATE) - now)


class ReadBudget:
    """Bytes of large bodies being read at once, per visitor and overall (used from the event
    loop only: no lock)."""

    def __init__(self) -> None:
        self.used = 0
        self._by_who: dict[str, int] = {}

    def take(self, who: str, size: int) -> bool:
        """Reserve ``size`` bytes for visitor ``who``; False (nothing reserved) past
        :data:`PER_VISITOR` or :data:`TOTAL`."""
        mine = self._by_who.get(who, 0)
        if mine + size > PER_VISITOR or self.used + size > TOTAL:
            return False
        self._by_who[who] = mine + size
        self.used += size
        return True

    def give(self, who: str, size: int) -> None:
        """Give back ``size`` bytes that ``who`` reserved."""
        self.used -= size
        left = self._by_who.get(who, 0) - size
        if left > 0:
            self._by_who[who] = left
        else:
            self._by_who.pop(who, None)
