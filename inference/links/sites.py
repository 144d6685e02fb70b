"""Pages of video sites, read with yt-dlp embedded as a library, every request it makes guarded.

yt-dlp has no hook to vet each request, but it sends every request of its extractors through
``YoutubeDL.urlopen`` and the request handlers of its "request director". Here that director holds
one handler, :class:`GuardedRH`, which sends each request through :func:`inference.links.fetch.open_url`:
the host vetted, the connection made to the vetted address, redirects followed and vetted one by
one, every answer bounded in bytes and by the link's overall deadline. No other handler (urllib,
requests, curl_cffi, websockets) is registered, so a request the guarded handler cannot serve fails.

yt-dlp only reads the page and picks a format (``extract_info(download=False)``); the video itself
is then downloaded by :func:`inference.links.fetch.download`, which checks size and content as it
streams. Only progressive formats (one http/https file) are taken, so ffmpeg never merges or remuxes
anything; HLS/DASH-only videos are refused with a message.

Settings: one item (``noplaylist``; a post with several videos gives its first); the generic
"any web page" extractor off, and the extractors that can run PhantomJS (a browser engine started
as a subprocess) off too; no cache, no config files (the library never reads them), no plugins,
no cookies but the session's own, no proxy; output only in the caller's private folder. Each
answer yt-dlp reads is capped at :data:`PAGE_MAX_BYTES` (2 MiB) after decompression, more only for
the extractors in :data:`PAGE_MAX_BYTES_BY_EXTRACTOR`.

Messages never repeat yt-dlp's error text (it quotes the site); the site's refusal is matched
(YouTube's bot check) and told in our own words, and yt-dlp's text goes to the log.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yt_dlp
import yt_dlp.globals
import yt_dlp.plugins
from yt_dlp.extractor import gen_extractor_classes
from yt_dlp.networking.common import Features, Request, RequestHandler
from yt_dlp.networking.common import Response as YtdlpResponse
from yt_dlp.networking.exceptions import HTTPError, TransportError, UnsupportedRequest
from yt_dlp.utils import DownloadError, ExtractorError

from inference.links import fetch
from inference.links.errors import (
    UPLOAD_INSTEAD,
    AddressNotAllowedError,
    LinkError,
    NoSuitableFormatError,
    NotAVideoError,
    SiteRefusedError,
    TimedOutError,
    TooLargeError,
    TooLongError,
    UnreachableError,
    UnsupportedLinkError,
)

logger = logging.getLogger(__name__)

# Largest side of the frames wanted: 720p, landscape or portrait (yt-dlp's "res" is the smaller side).
MAX_RES = 720
# Progressive formats only (http/https; not DASH segments, HLS, ISM ...): one file, no ffmpeg.
FORMAT = "bv*[protocol^=http][protocol!*=dash]"
# Within that: 720p or the nearest below it, then H.264, then MP4 (all read by OpenCV or PyAV).
FORMAT_SORT = [f"res:{MAX_RES}", "vcodec:h264", "ext:mp4:m4a"]
# Largest page or API answer read during extraction, after decompression. yt-dlp keeps several
# copies of an answer while parsing it (bytes, text, JSON objects): 16 MiB of JSON took 384 MB.
PAGE_MAX_BYTES = 2 * 1024 * 1024
# Extractors that need more, by the key of the extractor of the link. YouTube: the player script
# (base.js, about 2.5-3 MB) that yt-dlp reads to work out the media URLs is over 2 MiB, and the
# watch page itself runs to 1-2 MB.
PAGE_MAX_BYTES_BY_EXTRACTOR = {"Youtube": 4 * 1024 * 1024}
# Modules of yt-dlp extractors that can start PhantomJS (yt_dlp.extractor.openload's
# PhantomJSwrapper, a subprocess running the site's JavaScript with file and network access).
PHANTOMJS_MODULES = frozenset({"douyutv", "iqiyi", "pornhub", "openload"})
# Requests one extraction may make before it is stopped (YouTube needs about ten).
MAX_REQUESTS = 50
# YouTube's answer to data-center addresses, in its curly- and straight-quote spellings.
_BOT_CHECK = re.compile(r"confirm you(?:['’]re| are) not a bot|sign in to confirm", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _no_plugins() -> None:
    """Keep yt-dlp from loading plugins, code found in user folders (its --no-plugin-dirs).

    The plugin folders are a process-wide global of yt-dlp, read once, when the first YoutubeDL
    is made (a YoutubeDL option cannot set them), so this sets the global; it is idempotent and
    runs before any extractor list or YoutubeDL of this module is made, not at import. Plugins
    another part of the process loaded before are left out of the extractors used here.
    """
    if yt_dlp.globals.plugin_dirs.value != []:
        yt_dlp.globals.plugin_dirs.value = []
    if yt_dlp.globals.plugin_ies.value:
        logger.warning("yt-dlp plugins were loaded elsewhere in this process; links do not use them")


def _excluded(extractor: type) -> bool:
    """Whether an extractor is off here: the generic one, a plugin, or one that can run PhantomJS."""
    module = str(getattr(extractor, "_module", None) or extractor.__module__)
    return (
        extractor.ie_key() == "Generic"
        or module.rsplit(".", 1)[-1] in PHANTOMJS_MODULES
        or extractor in yt_dlp.globals.plugin_ies.value.values()
        or module.startswith(yt_dlp.plugins.PACKAGE_NAME)
    )


@functools.cache
def _extractors() -> tuple[type, ...]:
    """yt-dlp's enabled extractors but the excluded ones (compiled once per process)."""
    _no_plugins()
    return tuple(
        extractor
        for extractor in gen_extractor_classes()
        if getattr(extractor, "_ENABLED", True) and not _excluded(extractor)
    )


@functools.cache
def _allowed_extractors() -> tuple[str, ...]:
    """yt-dlp's ``allowed_extractors`` option: the default set without the excluded extractors."""
    _no_plugins()
    off = sorted({extractor.IE_NAME.lower() for extractor in gen_extractor_classes() if _excluded(extractor)})
    return ("default", *(f"-{re.escape(name)}" for name in off))


def extractor_for(url: str) -> str | None:
    """The key of the yt-dlp extractor (generic one excluded) that reads ``url``, or None."""
    for extractor in _extractors():
        if extractor.suitable(url):
            return str(extractor.ie_key())
    return None


@dataclass(frozen=True)
class SiteDownload:
    """A video fetched from a site's page.

    Attributes:
        download: The downloaded file.
        extractor: yt-dlp's extractor key ("Youtube", "Twitter", ...).
        page_url: The page's address as yt-dlp gives it (``webpage_url``), used as the final URL:
            the media URL is not kept, it carries signatures and sometimes this server's address.
    """

    download: fetch.Download
    extractor: str
    page_url: str


@dataclass
class _Session:
    """What one extraction shares with its request handler: the limits and the errors met."""

    deadline: fetch.Deadline
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


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL whose request director holds only :class:`GuardedRH`."""

    def __init__(self, params: dict[str, Any], session: _Session) -> None:
        """A YoutubeDL with ``params`` whose requests all go through ``session``'s guarded handler."""
        _no_plugins()  # before YoutubeDL.__init__, which loads plugins the first time
        self._session = session
        super().__init__(params)

    @functools.cached_property
    def _request_director(self) -> Any:
        """yt-dlp's request director, holding the guarded handler alone."""
        return self.build_request_director([functools.partial(GuardedRH, session=self._session)])


class _Log:
    """yt-dlp's messages into logging (its warnings are informational here: failures raise)."""

    def debug(self, message: str) -> None:
        """A debug message of yt-dlp: logged at debug level."""
        logger.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        """An informational message of yt-dlp: logged at debug level."""
        logger.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        """A warning of yt-dlp: logged at info level (a failure raises anyway)."""
        logger.info("yt-dlp warning: %s", message)

    def error(self, message: str) -> None:
        """An error of yt-dlp: logged at info level (it also raises; the caller reports it)."""
        logger.info("yt-dlp error: %s", message)


def _params(folder: Path, socket_timeout: float) -> dict[str, Any]:
    """yt-dlp's options: one item, guarded formats, nothing written outside ``folder``."""
    return {
        "logger": _Log(),
        "quiet": True,
        "noprogress": True,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "noplaylist": True,
        "playlist_items": "1",
        "format": FORMAT,
        "format_sort": FORMAT_SORT,
        "allowed_extractors": list(_allowed_extractors()),
        "force_generic_extractor": False,
        "default_search": "error",
        "cachedir": False,
        "paths": {"home": str(folder), "temp": str(folder)},
        "outtmpl": {"default": "ytdlp.%(ext)s"},
        "skip_download": True,
        "proxy": "",
        "geo_bypass": False,
        "socket_timeout": socket_timeout,
        "retries": 0,
        "extractor_retries": 0,
        "check_formats": False,
        "remote_components": [],
        # Only Deno runs YouTube's player code: it has no network or file access unless granted
        # (Node and Bun, which yt-dlp can also use, would run it with full access).
        "js_runtimes": {"deno": {}},
    }


def fetch_site(
    url: str,
    folder: Path,
    *,
    max_bytes: int,
    deadline: fetch.Deadline,
    allow_private: bool = False,
    max_duration_s: float | None = None,
    socket_timeout: float = fetch.SOCKET_TIMEOUT_S,
) -> SiteDownload:
    """Read a video site's page with yt-dlp, then download the chosen format into ``folder``.

    Args:
        url: The page (one :func:`extractor_for` recognises).
        folder: The private folder to write into (the caller deletes it).
        max_bytes: Largest video accepted, bytes; a size the site announces is checked first.
        deadline: The overall time limit, for the page requests and the download together.
        allow_private: Allow non-public addresses (tests against a local server only).
        max_duration_s: Longest video accepted, seconds, when the site says how long it is;
            None for no limit (the caller probes the file too).
        socket_timeout: Longest wait for any one network operation, seconds.

    Raises:
        SiteRefusedError: If the site does not give the video (bot check, sign-in, private,
            removed); the message is ours (yt-dlp's text is logged) and suggests uploading the file.
        NoSuitableFormatError: If the site offers no single-file format of at most 720p.
        NotAVideoError: If the link is a live stream or a post without a video, or the file is not one.
        TooLongError: If the site says the video is longer than ``max_duration_s``.
        TooLargeError, TimedOutError, AddressNotAllowedError, UnreachableError: As for direct links,
            for the page requests as for the download.
    """
    page_max_bytes = PAGE_MAX_BYTES_BY_EXTRACTOR.get(extractor_for(url) or "", PAGE_MAX_BYTES)
    session = _Session(deadline=deadline, allow_private=allow_private, page_max_bytes=page_max_bytes)
    with _GuardedYoutubeDL(_params(folder, socket_timeout), session) as ydl:
        try:
            info = ydl.extract_info(url, download=False)
        except (DownloadError, ExtractorError) as exc:
            raise _failure(session, str(exc)) from exc
        # Broad on purpose: yt-dlp's ~1800 extractors parse whatever a site sends and, on an
        # unexpected page, fail with any error (KeyError, TypeError, AttributeError, IndexError
        # ...) that extract_info lets through unwrapped. Each is the site's failure: logged with
        # its traceback, reported as a refusal. BaseException (KeyboardInterrupt) is not caught.
        except Exception as exc:
            logger.warning("yt-dlp failed on %s", fetch.shown_url(url), exc_info=True)
            raise _failure(session, f"{type(exc).__name__}: {exc}") from exc
        deadline.check()
        video = _first_video(info)
        extractor = str(video.get("extractor_key") or info.get("extractor_key") or "unknown")
        _check_video_info(video, extractor, max_bytes, max_duration_s)
        chunk = (video.get("downloader_options") or {}).get("http_chunk_size")
        if not (isinstance(chunk, int) and chunk > 0):
            chunk = None
        logger.info(
            "%s: format %s (%sx%s, %s, %s)",
            extractor,
            video.get("format_id"),
            video.get("width"),
            video.get("height"),
            video.get("vcodec"),
            video.get("ext"),
        )
        download = fetch.download(
            video["url"],
            folder,
            max_bytes=max_bytes,
            deadline=deadline,
            allow_private=allow_private,
            headers=video.get("http_headers") or {},
            cookiejar=ydl.cookiejar,
            chunk_bytes=chunk,
            socket_timeout=socket_timeout,
        )
    page_url = str(video.get("webpage_url") or info.get("webpage_url") or url)
    return SiteDownload(download=download, extractor=extractor, page_url=page_url)


def _first_video(info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The video itself, or the first video of a playlist or multi-video post.

    Raises:
        NotAVideoError: If there is no video (an empty playlist or post).
    """
    while info is not None and info.get("_type") in ("playlist", "multi_video"):
        entries = [entry for entry in info.get("entries") or [] if entry]
        if not entries:
            raise NotAVideoError(f"the link is a post or playlist without any video; {UPLOAD_INSTEAD}")
        logger.info("the link holds several items; the first is fetched")
        info = entries[0]
    if not info:
        raise NotAVideoError("the site gave no video for this link")
    return info


def _check_video_info(
    video: Mapping[str, Any], site: str, max_bytes: int, max_duration_s: float | None
) -> None:
    """Refuse what the site's own description already rules out, before downloading anything."""
    live = video.get("live_status")
    if video.get("is_live") or live in ("is_live", "is_upcoming"):
        raise NotAVideoError(
            f"this {site} link is a live stream (or one not started yet), which cannot be judged; "
            f"wait for the recording, or {UPLOAD_INSTEAD}"
        )
    duration = video.get("duration")
    if max_duration_s is not None and isinstance(duration, int | float) and duration > max_duration_s:
        raise TooLongError(
            f"the video lasts {duration:.0f} s, longer than the {max_duration_s:g} s limit; cut the "
            "part to check and upload it"
        )
    size = video.get("filesize") or video.get("filesize_approx")
    if isinstance(size, int | float) and size > max_bytes:
        raise TooLargeError(
            f"the video is about {size / 1e6:.0f} MB, larger than the {max_bytes / 1e6:g} MB limit; "
            "pick a shorter part of the clip and upload it"
        )
    if not video.get("url") or video.get("requested_formats"):
        raise NoSuitableFormatError(_no_format(site))
    protocol = str(video.get("protocol") or "")
    if protocol not in ("http", "https"):
        raise NoSuitableFormatError(_no_format(site))
    sides = [side for side in (video.get("width"), video.get("height")) if isinstance(side, int)]
    if len(sides) == 2 and min(sides) > MAX_RES:
        raise NoSuitableFormatError(
            f"{site} offers this video only above {MAX_RES}p, which is not downloaded here; {UPLOAD_INSTEAD}"
        )


def _no_format(site: str) -> str:
    """The message for a video offered only as streams or separate parts."""
    return (
        f"{site} offers this video only as a stream (HLS or DASH) or in separate parts, which are "
        f"not downloaded here; {UPLOAD_INSTEAD}"
    )


def _failure(session: _Session, message: str) -> LinkError:
    """The error to raise when yt-dlp could not read the page.

    A refusal of the guard (address, deadline, size) is reported as itself, whatever yt-dlp made
    of it; otherwise yt-dlp's message (which quotes the site) is matched against the cases known
    here and logged, and the person gets a fixed message.
    """
    for kind in (TimedOutError, AddressNotAllowedError, UnsupportedLinkError, TooLargeError):
        for error in session.errors:
            if isinstance(error, kind):
                return error
    if session.deadline.expired():
        return session.deadline.error()
    text = _ANSI.sub("", message).strip()
    logger.info("yt-dlp could not read the page: %s", text[:2000])
    if _BOT_CHECK.search(text):
        return SiteRefusedError(
            "the site asks this server to sign in to confirm it is not a bot (YouTube does this for "
            "data-center addresses such as this app's), so the video cannot be fetched here; "
            f"{UPLOAD_INSTEAD}"
        )
    if "requested format is not available" in text.lower():
        return NoSuitableFormatError(_no_format("the site"))
    for error in session.errors:
        if isinstance(error, UnreachableError):
            return error
    return SiteRefusedError(
        "the site did not give the video (it may be private, removed, region-locked or need a "
        f"sign-in); if it plays in your browser, {UPLOAD_INSTEAD}"
    )
