"""yt-dlp's requests, every one guarded: the only request handler it is given, and the answers it reads.

yt-dlp has no hook to vet each request, but it sends every request of its extractors through
``YoutubeDL.urlopen`` and the request handlers of its "request director". Here that director holds
one handler, :class:`GuardedRH`, which sends each request through :func:`inference.links.fetch.open_url`:
the host vetted, the connection made to the vetted address, redirects followed and vetted one by
one, every answer bounded in bytes (:data:`PAGE_MAX_BYTES` after decompression, unless the session
allows more) and by the link's overall deadline, at most :data:`MAX_REQUESTS` requests.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from yt_dlp.networking.common import Features, Request, RequestHandler
from yt_dlp.networking.common import Response as YtdlpResponse
from yt_dlp.networking.exceptions import HTTPError, TransportError, UnsupportedRequest

from inference.links import fetch
from inference.links.connection import Deadline
from inference.links.errors import (
    UPLOAD_INSTEAD,
    LinkError,
    TooLargeError,
    UnreachableError,
)

logger = logging.getLogger(__name__)

# Largest page or API answer read during extraction, after decompression. yt-dlp keeps several
# copies of an answer while parsing it (bytes, text, JSON objects): 16 MiB of JSON took 384 MB.
PAGE_MAX_BYTES = 2 * 1024 * 1024


# Requests one extraction may make before it is stopped (YouTube needs about ten).
MAX_REQUESTS = 50


@dataclass
class _Session:
    """What one extraction shares with its request handler: the limits and the errors met."""

    deadline: Deadline
    allow_private: bool
    page_max_bytes: int = PAGE_MAX_BYTES
    requests: int = 0
    errors: list[LinkError] = field(default_factory=list)

    def failed(self, error: LinkError) -> TransportError:
        """Record ``error`` and give yt-dlp the transport error it expects from a handler."""
        self.errors.append(error)
        return TransportError(msg=str(error), cause=error)


class _GuardedResponse(YtdlpResponse):
    """yt-dlp's view of a guarded response: reads bounded in bytes (after decompression) and time."""

    def __init__(self, response: fetch.Response, session: _Session) -> None:
        """Wrap ``response``, its reads counted against ``session``'s page cap."""
        super().__init__(
            fp=response.raw,
            url=response.url,
            headers=response.headers,
            status=response.status,
            reason=response.reason,
        )
        self._response = response
        self._session = session
        self._read = 0
        self._pending = bytearray()
        self._ended = False
        # "Accept-Encoding: identity" is sent, but some servers compress anyway.
        encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
        self._decoder = (
            zlib.decompressobj(16 + zlib.MAX_WBITS)
            if encoding in ("gzip", "x-gzip")
            else zlib.decompressobj()
            if encoding == "deflate"
            else None
        )

    def read(self, amt: int | None = None) -> bytes:
        """Read ``amt`` bytes, or all when None; at most the session's page cap in all."""
        whole = amt is None or amt < 0
        try:
            while not self._ended and (whole or len(self._pending) < amt):
                self._fill()
        except LinkError as exc:
            raise self._session.failed(exc) from exc
        except zlib.error as exc:
            logger.info("%s: bad compressed answer: %s", fetch.shown_url(self._response.url), exc)
            raise self._session.failed(UnreachableError("a page of the site is corrupt")) from exc
        cut = len(self._pending) if whole else amt
        data = bytes(self._pending[:cut])
        del self._pending[:cut]
        return data

    def _fill(self) -> None:
        """Read one chunk (decompressed when need be) into the pending bytes, counting it.

        Raises:
            TooLargeError: If the answer passes the session's page cap.
        """
        cap = self._session.page_max_bytes
        data = self._response.read_some()
        if not data:
            self._ended = True
        if self._decoder is not None:
            # Decompressed in bounded steps: a small compressed answer may expand enormously.
            data = self._decoder.decompress(data, cap + 1) if data else self._decoder.flush()
            if self._decoder.unconsumed_tail:
                raise _page_too_large(cap)
        self._read += len(data)
        if self._read > cap:
            raise _page_too_large(cap)
        self._pending += data

    def close(self) -> None:
        """Close the connection."""
        self._response.close()
        super().close()


def _page_too_large(cap: int) -> TooLargeError:
    """The error for an answer of the site over ``cap`` bytes."""
    return TooLargeError(f"a page of the site is larger than {cap / 2**20:g} MiB, so it is not read")


class GuardedRH(RequestHandler):
    """yt-dlp's only request handler here: each request vetted and bounded (see the module doc)."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = None
    _SUPPORTED_FEATURES = (Features.ALL_PROXY, Features.NO_PROXY)
    RH_NAME = "guarded"

    def __init__(self, *, session: _Session, **kwargs: Any) -> None:
        """A handler for one extraction, sharing its limits and errors through ``session``."""
        super().__init__(**kwargs)
        self._session = session

    def _check_proxies(self, proxies: Mapping[str, str | None]) -> None:
        """Refuse any proxy (yt-dlp's hook, called before :meth:`_send`)."""
        # A proxy would connect where the guard cannot see; the session sets none, and an
        # extractor's own (a geo-bypass one) is refused.
        if any(value is not None for key, value in proxies.items() if key != "no"):
            raise UnsupportedRequest("proxies are not used when fetching links")

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        """Accept the request extensions served here (cookies, timeout); refuse the others."""
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _send(self, request: Request) -> YtdlpResponse:
        """Send ``request`` through :func:`fetch.open_url` (vetted, capped) and wrap the answer.

        Raises:
            TransportError: If the guard refused the request or it failed (the error is kept in
                the session); HTTPError for an error status, as yt-dlp expects.
        """
        session = self._session
        session.requests += 1
        if session.requests > MAX_REQUESTS:
            raise session.failed(
                UnreachableError(f"the site needed more than {MAX_REQUESTS} requests; {UPLOAD_INSTEAD}")
            )
        try:
            response = fetch.open_url(
                request.url,
                deadline=session.deadline,
                allow_private=session.allow_private,
                method=request.method,
                headers=self._get_headers(request),
                body=_body(request.data),
                cookiejar=self._get_cookiejar(request),
                socket_timeout=self._calculate_timeout(request),
            )
        except LinkError as exc:
            raise session.failed(exc) from exc
        try:
            answer = _GuardedResponse(response, session)
            if response.status >= 400:
                raise HTTPError(answer)  # yt-dlp closes it
        except HTTPError:
            raise
        except BaseException:
            response.close()
            raise
        return answer


def _body(data: bytes | Iterable[bytes] | io.IOBase | None) -> bytes | None:
    """A request body as bytes (yt-dlp allows bytes, a file or an iterable of bytes)."""
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, io.IOBase):
        return bytes(data.read())
    return b"".join(data)
