"""yt-dlp embedded as a library: its extractors (some left out), its options, its log, its request director.

The generic "any web page" extractor is off, and the extractors that can run PhantomJS (a browser
engine started as a subprocess) off too; no cache, no config files (the library never reads
them), no plugins, no cookies but the session's own, no proxy; output only in the caller's
private folder. The request director holds only the guarded handler of
:mod:`inference.links.ytdlp_requests`.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

import yt_dlp
import yt_dlp.globals
import yt_dlp.plugins
from yt_dlp.extractor import gen_extractor_classes

from inference.links.formats import FORMAT, FORMAT_SORT
from inference.links.ytdlp_requests import GuardedRH, _Session

logger = logging.getLogger(__name__)

# Modules of yt-dlp extractors that can start PhantomJS (yt_dlp.extractor.openload's
# PhantomJSwrapper, a subprocess running the site's JavaScript with file and network access).
PHANTOMJS_MODULES = frozenset({"douyutv", "iqiyi", "pornhub", "openload"})


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
