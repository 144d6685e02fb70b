"""The caller's Stop and time limit, checked in the phases that report no progress of their own.

The engine learns of a Stop (or a time limit) only through its ``progress`` callback, which may
raise; fetching a link, probing, reading Content Credentials and listing the frames report no
progress, so the pipeline reports between them, and the link fetch calls :func:`throttled`'s
check between its requests and chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[float, str], None]


def throttled(report: Progress | None, message: str, every_s: float = 0.25) -> Callable[[], None] | None:
    """A check that calls ``report(0.0, message)`` at most every ``every_s`` seconds (None without
    ``report``): what ``report`` raises ends the phase it is called from.

    The first call reports at once; later ones within ``every_s`` do nothing, so that a download
    read in many small chunks does not flood the page with progress updates.
    """
    if report is None:
        return None
    last = [-float("inf")]

    def check() -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            report(0.0, message)

    return check
