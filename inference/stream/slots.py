"""The live streams a server judges at once, shared between the streams of all visitors."""

from __future__ import annotations

import threading


class LiveSlots:
    """The live streams a server judges at once, at most ``limit`` (DEEPFAKE_LIVE_MAX_STREAMS).

    Thread-safe. A key (a session, a visitor) holds at most one slot.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Take a slot for ``key``; True when it has one (already had, or one was free)."""
        with self._lock:
            if key not in self._held and len(self._held) >= self.limit:
                return False
            self._held.add(key)
            return True

    def give_back(self, key: str) -> None:
        """Free the slot of ``key`` (nothing happens when it holds none)."""
        with self._lock:
            self._held.discard(key)

    def active(self) -> int:
        """How many slots are taken."""
        with self._lock:
            return len(self._held)
