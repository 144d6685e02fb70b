"""How every middleware of this app names a request's route: its path below the app's root path."""

from __future__ import annotations

from starlette.types import Scope


def route_of(scope: Scope) -> str:
    """The request's path below the app's root path (``root_path``, where the app is mounted
    behind a proxy); the path itself when there is none."""
    path, root = scope["path"], scope.get("root_path") or ""
    return path[len(root) :] if root and path.startswith(root + "/") else path
