"""``python app.py`` servers shared by the session, one per test module that registers one.

Each module registers the environment of its server and the fixture that serves it. The first
module to ask for its server starts every registered server that the session's selected tests
use, all at once: their start-ups (imports, weights, warm-up; mostly one core each) overlap
instead of following each other. All of them stop together after the last test (in collection
order) that uses one (tests/conftest.py), or at the end of the session.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from served_app import start_app, stop_apps, wait_until_served

Env = Callable[[pytest.FixtureRequest], dict[str, str]]


@dataclass(frozen=True)
class Registration:
    """A module's server: its environment (from the session's fixtures) and the fixture its tests use."""

    module: str
    fixture: str
    env: Env


REGISTERED: dict[str, Registration] = {}


def register(module: str, fixture: str, env: Env) -> None:
    """Register ``module``'s server, used by its tests through ``fixture``; called at import."""
    REGISTERED[module] = Registration(module, fixture, env)


class PythonApps:
    """The session's ``python app.py`` servers, by the name of the module that registered each."""

    def __init__(self, request: pytest.FixtureRequest, folders: pytest.TempPathFactory) -> None:
        self.request = request
        self.folders = folders
        self.started: dict[str, tuple[str, subprocess.Popen, Path]] = {}
        self.ready: set[str] = set()
        self._stopping: list[threading.Thread] = []

    def get(self, module: str) -> tuple[str, subprocess.Popen, Path]:
        """``module``'s server once it serves: its URL, process and log file."""
        if module not in self.started:
            self._start(self._needed() | {module})
        url, process, log = self.started[module]
        if module not in self.ready:
            wait_until_served(url, process, log)
            self.ready.add(module)
        return url, process, log

    def _needed(self) -> set[str]:
        """The registered modules whose server a selected test of this session uses."""
        return {
            item.module.__name__
            for item in self.request.session.items
            if isinstance(item, pytest.Function)
            and item.module.__name__ in REGISTERED
            and REGISTERED[item.module.__name__].fixture in item.fixturenames
        }

    def _start(self, modules: set[str]) -> None:
        for module in sorted(modules - set(self.started)):
            env = REGISTERED[module].env(self.request)
            self.started[module] = start_app(env, self.folders.mktemp(module))

    def close(self, wait: bool = True) -> None:
        """Stop every server; how they stop is no test's subject here (tests/test_app_exit.py
        has that): a few seconds' grace, then they are killed. With ``wait`` False they stop in a
        thread while the tests go on (joined by the next close that waits). A later :meth:`get`
        starts them again."""
        processes = [process for _, process, _ in self.started.values()]
        self.started.clear()
        self.ready.clear()
        if processes:
            stopping = threading.Thread(target=stop_apps, args=(processes,), kwargs={"grace_s": 5})
            stopping.start()
            self._stopping.append(stopping)
        if wait:
            for thread in self._stopping:
                thread.join()
