"""How every middleware of this app names a request's route: its path below the app's root path."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import Scope

# The scope key under which ui.routes.Routes notes when a request arrived (monotonic seconds).
ARRIVED = "deepfake.arrived"


def route_of(scope: Scope) -> str:
    """The request's path below the app's root path (``root_path``, where the app is mounted
    behind a proxy); the path itself when there is none."""
    path, root = scope["path"], scope.get("root_path") or ""
    return path[len(root) :] if root and path.startswith(root + "/") else path


def stamp_arrival(scope: Scope) -> None:
    """Note in ``scope`` when the request arrived (the first middleware calls it)."""
    scope[ARRIVED] = time.monotonic()


def arrived(request: Any) -> float:
    """When a Gradio event's request arrived (monotonic seconds), before any wait for a worker
    thread: a page's events arrive in the order the page sent them, but on a busy server their
    handlers can run in another order. Now, for a request :func:`stamp_arrival` never saw."""
    starlette_request = getattr(request, "request", None)
    scope = getattr(starlette_request, "scope", None) or {}
    return scope.get(ARRIVED) or time.monotonic()
