"""The upload routes' middleware: every way in for a file under the upload limits."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from inference import Settings
from ui.guards import visitor
from ui.mcp_files import STREAMABLE, is_mcp, is_mcp_post, mcp_call, release_after_calls, served
from ui.route_path import route_of
from ui.upload_route import plain_response, receive_upload
from ui.uploads import Uploads


class UploadQuota:
    """ASGI middleware: every way in for a file under the upload limits (cancels:
    :class:`ui.routes.Routes`).

    On the exact routes: ``POST /gradio_api/upload`` is served by :func:`receive_upload` (bytes
    counted as they arrive, quota, file count, size, time limit, each visitor's share), an MCP
    post's ``data:`` files are stored as uploads first (:func:`mcp_call`), and Gradio's
    ``/gradio_api/process_recording`` (screen recordings, which this app does not offer:
    unbounded encodes) and every path under ``/gradio_api/mcp`` but the MCP server's own are
    refused (404).

    Args:
        settings: The per-visitor share (``DEEPFAKE_UPLOADS_PER_VISITOR``,
            ``DEEPFAKE_UPLOAD_VISITOR_SHARE``) and the trusted proxies; None: no share.
    """

    def __init__(
        self,
        app: ASGIApp,
        uploads: Uploads,
        max_file_bytes: int,
        timeout_s: float,
        settings: Settings | None = None,
    ) -> None:
        self.app = app
        self.uploads = uploads
        self.limits = (max_file_bytes, timeout_s)
        self.trusted_proxies = settings.trusted_proxies if settings is not None else 0
        if settings is not None:
            uploads.limit_visitors(settings.uploads_per_visitor, settings.upload_visitor_share)
        uploads.sweep_often()
        self._released = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve uploads and MCP files, refuse recordings and stray MCP paths, pass the rest."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope)
        post = scope["method"] == "POST"
        if route == RECORDING or (is_mcp(route) and not served(route)):
            await plain_response(send, 404, "Not Found")
            return
        who = visitor(Request(scope), self.trusted_proxies)
        if post and route == UPLOAD:
            await receive_upload(scope, receive, send, self.uploads, self.limits, who)
        elif post and is_mcp_post(route):
            blocks = self.uploads.blocks
            if not self._released:
                self._released = release_after_calls(blocks, self.uploads)
            caller = (who, route in STREAMABLE)
            await mcp_call(self.app, scope, receive, send, blocks, self.uploads, self.limits, caller)
        else:
            await self.app(scope, receive, send)


UPLOAD = "/gradio_api/upload"
RECORDING = "/gradio_api/process_recording"
