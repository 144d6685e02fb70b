"""Which uploaded files Gradio's queue still needs, and this server's own links to uploads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import gradio as gr
from gradio.utils import get_upload_folder
from gradio_client.utils import is_http_url_like

from ui.guards import queued_events


def uploaded_file(url: str) -> Path | None:
    """The file behind this server's own link ``.../gradio_api/file=PATH`` to an upload, else None.

    MCP clients upload with Gradio's ``upload_file_to_gradio`` tool (``gradio upload-mcp``),
    which answers such a link. The file is taken from disk, never fetched, and only from the
    upload folder, so the host named in the link does not matter.
    """
    _, marker, rest = urlsplit(url).path.partition("/gradio_api/file=")
    if not marker:
        return None
    file = Path(unquote(rest)).resolve()
    folder = Path(get_upload_folder()).resolve()
    return file if file.is_relative_to(folder) and file.is_file() else None


def named_in_queue(blocks: gr.Blocks, path: str) -> int:
    """How many requests waiting in or running from Gradio's queue have the file ``path`` as input
    (by its path, or by this server's own link to it)."""
    path = os.path.realpath(path)
    return sum(path in _file_paths(getattr(event.data, "data", None)) for event in queued_events(blocks))


def _file_paths(data: Any) -> set[str]:
    """The ``path`` of every FileData in a request's inputs (a link to an upload: its file)."""
    if isinstance(data, dict):
        path = data.get("path")
        found = set()
        if isinstance(path, str):
            own = uploaded_file(path) if is_http_url_like(path) else None
            found.add(os.path.realpath(own if own is not None else path))
        return found.union(*(_file_paths(value) for value in data.values()))
    if isinstance(data, list | tuple):
        return set().union(*(_file_paths(item) for item in data))
    return set()
