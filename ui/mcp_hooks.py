"""One way to wrap the MCP server's tool calls (Gradio 6.31 keeps the handler in its request table)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr

Handler = Callable[[Any], Awaitable[Any]]


def wrap_tool_calls(blocks: gr.Blocks, wrap: Callable[[Handler], Handler]) -> bool:
    """Replace the MCP server's tool-call handler by ``wrap(handler)``.

    Returns:
        Whether the MCP server (and its tool-call handler) was there to wrap.
    """
    server = getattr(blocks, "mcp_server_obj", None)
    if server is None:
        return False
    from mcp import types

    handlers = server.mcp_server.request_handlers
    told = handlers.get(types.CallToolRequest)
    if told is None:
        return False
    handlers[types.CallToolRequest] = wrap(told)
    return True
