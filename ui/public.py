"""What visitors may be told: no names of the server's settings, no server paths, no inner URLs.

Reports (``/report``, MCP, the page's JSON download), errors of joins and MCP errors pass
through here. The operator's log keeps the full text.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ui.guards import for_visitors

# An absolute path inside a text: a slash not after a letter, a colon or a slash (so neither
# "and/or" nor a URL), then at least two parts.
_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.\-]+/)+([\w.\-]+)")
# This server's own addresses (the MCP server calls the app through one of them).
_INNER_URL = re.compile(r"https?://(?:127(?:\.\d{1,3}){3}|localhost|0\.0\.0\.0|\[::1\])(?::\d+)?[^\s'\"]*")
# Longest text passed on; the rest is in the log.
MOST_CHARS = 500


def public_text(text: str) -> str:
    """``text`` (an error) for a visitor: :func:`scrubbed`, at most ``MOST_CHARS`` characters."""
    text = scrubbed(text[: MOST_CHARS * 4])
    return text if len(text) <= MOST_CHARS else f"{text[:MOST_CHARS]}…"


def scrubbed(text: str) -> str:
    """``text`` with settings unnamed, paths cut to their file name and inner URLs hidden."""
    text = for_visitors(text)
    text = _INNER_URL.sub("this server", text)
    return _PATH.sub(lambda match: match.group(1), text)


def public_report(data: Any) -> Any:
    """A report (plain JSON types) as visitors get it: every text :func:`scrubbed`,
    and a value that is a server path (the operator's weights file) cut to its file name."""
    if isinstance(data, dict):
        return {key: public_report(value) for key, value in data.items()}
    if isinstance(data, list):
        return [public_report(item) for item in data]
    if isinstance(data, str):
        if os.path.isabs(data) and "\n" not in data:
            return os.path.basename(data.rstrip("/"))
        return scrubbed(data)
    return data
