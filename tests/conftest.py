"""Shared fixtures: an offline Hugging Face cache holding a random checkpoint in the public format.

The environment is set before anything imports huggingface_hub, which reads it at import time.
Everything the session (and its subprocesses) puts in a temp folder goes to a folder of its own,
so that leftover files can be counted without other processes on the machine disturbing it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

if __name__ != "conftest":
    # A second copy (``tests.conftest``) would point the session at a second, empty Hub cache.
    raise ImportError("import the test fixtures' module as `conftest`, not `tests.conftest`")

# pytest-xdist's workers inherit the controller's TMPDIR (below): each makes its folder beside the
# controller's, not inside it, so that paths stay short (Ray's socket paths must fit 107 bytes).
_OUTER_TMP = os.environ.setdefault("TESTS_OUTER_TMPDIR", tempfile.gettempdir())
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="deepfake-tests-", dir=_OUTER_TMP))
_TMP = _SESSION_DIR / "tmp"
_TMP.mkdir()
tempfile.tempdir = str(_TMP)
os.environ["TMPDIR"] = str(_TMP)
_HF_HOME = _SESSION_DIR / "hf"
os.environ["HF_HOME"] = str(_HF_HOME)
os.environ["HF_HUB_CACHE"] = str(_HF_HOME / "hub")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
for name in list(os.environ):
    if name.startswith("DEEPFAKE_"):
        del os.environ[name]

# pytest-xdist's workers share the machine's cores: each (with the servers, CLI runs and Ray it
# starts) gets its share as torch's and ONNX Runtime's thread count, so that their threads do not
# outnumber the cores (threads that wait on each other on a busy core cost CPU time, not only wall).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if _WORKERS:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _WORKERS)))

import pytest  # noqa: E402
import torch  # noqa: E402

from inference import Settings  # noqa: E402
from inference.models.network import ResNeXtLSTM  # noqa: E402
from inference.weights import registry  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"
SHARED_BLAZEFACE = REPO_ROOT.parent / "shared" / "models" / "blazeface" / "blazeface.pth"
SECOND = "effnet-autoatt-b4-dfdc"
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random-initialised state_dict with exactly the keys and shapes of the public files."""
    torch.manual_seed(seed)
    state = ResNeXtLSTM().state_dict()
    return {k: v.clone() for k, v in state.items()}


def put_in_hub_cache(
    cache: Path, repo_id: str, filename: str, source: Path, commit: str = FAKE_COMMIT
) -> Path:
    """Place ``source`` in a Hugging Face cache as ``repo_id``'s ``filename`` at ``commit``.

    Same layout as huggingface_hub writes: ``models--org--name/snapshots/<commit>/...`` and
    ``refs/main`` naming the commit.
    """
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    target = repo_dir / "snapshots" / commit / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return target


@pytest.fixture(scope="session")
def checkpoint_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random checkpoint saved like the public ``.pt`` files (a plain state_dict)."""
    path = tmp_path_factory.mktemp("weights") / "model_97_acc_100_frames_FF_data.pt"
    torch.save(random_state_dict(), path)
    return path


@pytest.fixture(scope="session")
def hub_cache(checkpoint_file: Path) -> Path:
    """The offline Hub cache with the random checkpoint at the default registry location."""
    spec = registry.get(registry.default_name())
    cache = Path(os.environ["HF_HUB_CACHE"])
    put_in_hub_cache(cache, str(spec.repo_id), f"{spec.subfolder}/{spec.filename}", checkpoint_file)
    return cache


def pytest_unconfigure(config: pytest.Config) -> None:
    # In every process of the run: pytest-xdist's controller runs no fixture but has a folder too.
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


# Resources made once for the files that share them (one Ray; the `python app.py` servers,
# started together): under pytest-xdist (`--dist loadgroup`, the default run) every file using one
# runs in one worker. Other files are one group each, so that module fixtures are made once.
_SHARED_RESOURCES = ("ray_cluster", "python_apps")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[str, str] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        resource = next((name for name in _SHARED_RESOURCES if name in item.fixturenames), None)
        if resource is not None and groups.get(module, module) == module:
            groups[module] = resource
        groups.setdefault(module, module)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid.split("::")[0]]))


@pytest.fixture(scope="session")
def second_opinion_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a second opinion that loads offline: a random EfficientNetAutoAttB4 in the
    public format (pinned by DEEPFAKE_PINS, as an operator pins their own copy) and the shared
    BlazeFace files (pinned by the registry). Skips when ../shared has no BlazeFace."""
    if not SHARED_BLAZEFACE.is_file():
        pytest.skip(f"{SHARED_BLAZEFACE} not present")
    from inference.models.efficientnet import AUTOATT, build

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("effnet") / registry.get(SECOND).filename
    torch.save(build(AUTOATT).state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "DEEPFAKE_SECOND_OPINION": SECOND,
        "DEEPFAKE_SECOND_OPINION_PATH": str(path),
        "DEEPFAKE_PINS": f"{SECOND}={digest}",
        "DEEPFAKE_BLAZEFACE_PATH": str(SHARED_BLAZEFACE),
    }


@pytest.fixture(scope="session")
def second_detector(hub_cache: Path, second_opinion_env: dict[str, str]):
    """A detector whose second opinion loads (see :func:`second_opinion_env`)."""
    from inference import Detector

    return Detector.from_settings(Settings.from_env(second_opinion_env))


@pytest.fixture(scope="session")
def detector(hub_cache: Path):
    """A detector built from the default settings, loading weights through hf_hub_download."""
    from inference import Detector

    return Detector.from_settings(Settings.from_env({}))


def serve(settings: Settings) -> Iterator[str]:
    """Serve the app built for ``settings`` on a free local port; yields its URL."""
    import app

    app.warm_up(settings)  # as `python app.py` does
    demo = app.build_demo(settings)
    demo.launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **app.launch_options(demo, settings)
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="session")
def app_url(hub_cache: Path) -> Iterator[str]:
    """The app with default settings (weights from the offline Hub cache), served once.

    But one: every test is the same visitor (the loopback), and a tab closed or a file uploaded
    and never analysed keeps counting towards that visitor's uploads until the page's session
    ends or the upload expires (10 minutes); how many follow depends on the order and the speed
    of the tests before. The tests of the per-visitor upload limit serve apps of their own."""
    yield from serve(Settings.from_env({"DEEPFAKE_UPLOADS_PER_VISITOR": "1000"}))


@pytest.fixture(scope="session")
def browsers():
    """One Playwright driver and one Chromium (per fake camera) for the run (tests/browsers.py);
    skips when Chromium is not installed."""
    from browsers import running

    yield from running()


@pytest.fixture
def pages(browsers):
    """``pages.open(url, ...)`` opens a tab (in the browser's shared context, or a context of its
    own: tests/browsers.py); after the test the tabs are closed and the test fails on any error
    thrown in them."""
    with browsers.visiting() as visit:
        yield visit


@pytest.fixture(scope="session")
def page_app(hub_cache: Path, second_opinion_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """The app with the second opinion on, links allowed from the loopback (test-only) and one
    analysis per visitor, beside a web server on the loopback holding the examples: (app URL,
    the examples' base URL). Served once for the browser tests that need any of these."""
    env = {**second_opinion_env, "DEEPFAKE_ALLOW_PRIVATE_URLS": "1", "DEEPFAKE_MAX_QUEUED_PER_VISITOR": "1"}
    # Every page is one visitor (127.0.0.1), and a closed page's upload is given back when its
    # unload reaches the server, later on a busy machine: the upload limit has tests of its own.
    env["DEEPFAKE_UPLOADS_PER_VISITOR"] = "1000"
    for files in files_on_loopback(EXAMPLES):
        for app in serve(Settings.from_env(env)):
            yield app, files


@pytest.fixture(scope="session")
def served_apps(hub_cache: Path) -> Iterator[Callable[[dict[str, str]], str]]:
    """``served_apps(env)``: the URL of the app served (by :func:`serve`) with the settings of
    ``env``, started at the first ask and shared by every test of the session that asks for the
    same ``env``; all are closed at the end of the session."""
    with contextlib.ExitStack() as stack:
        urls: dict[tuple[tuple[str, str], ...], str] = {}

        def url_for(env: dict[str, str]) -> str:
            key = tuple(sorted(env.items()))
            if key not in urls:
                urls[key] = stack.enter_context(contextlib.contextmanager(serve)(Settings.from_env(env)))
            return urls[key]

        yield url_for


@pytest.fixture(scope="session")
def second_opinion_url(
    served_apps: Callable[[dict[str, str]], str], second_opinion_env: dict[str, str]
) -> str:
    """The app with the second opinion on (random offline weights), served once per session."""
    return served_apps(second_opinion_env)


@pytest.fixture(scope="session")
def private_links_url(served_apps: Callable[[dict[str, str]], str]) -> str:
    """The app allowed to fetch links from the loopback (DEEPFAKE_ALLOW_PRIVATE_URLS=1, test-only),
    second opinion off, served once per session."""
    return served_apps({"DEEPFAKE_ALLOW_PRIVATE_URLS": "1", "DEEPFAKE_SECOND_OPINION": "off"})


_PYTHON_APPS = pytest.StashKey["PythonApps"]()
_LAST_USER = pytest.StashKey["str | None"]()


@pytest.fixture(scope="session")
def python_apps(request: pytest.FixtureRequest, hub_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """The ``python app.py`` servers test modules register (tests/python_apps.py): started
    together when the first is asked for, stopped together after the last test that uses them
    (:func:`pytest_runtest_teardown`) or at the end of the session."""
    from python_apps import PythonApps

    apps = PythonApps(request, tmp_path_factory)
    request.config.stash[_PYTHON_APPS] = apps
    try:
        yield apps
    finally:
        apps.close()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    # The tests using the servers run in collection order in one worker (their xdist group):
    # after the last of them, the servers stop rather than idle (about 0.013 of a core each).
    if _LAST_USER not in item.config.stash:
        users = [i.nodeid for i in item.session.items if "python_apps" in getattr(i, "fixturenames", ())]
        item.config.stash[_LAST_USER] = users[-1] if users else None
    apps = item.config.stash.get(_PYTHON_APPS, None)
    if item.nodeid == item.config.stash[_LAST_USER] and apps is not None:
        apps.close(wait=False)


@pytest.fixture(scope="session")
def genuine_clip() -> Path:
    return EXAMPLES / "genuine_astronaut.mp4"


@pytest.fixture(scope="session")
def manipulated_clip() -> Path:
    return EXAMPLES / "manipulated_astronaut.mp4"


@pytest.fixture(scope="session")
def no_face_clip() -> Path:
    return EXAMPLES / "no_face_coffee.mp4"


@pytest.fixture(scope="session")
def frame(genuine_clip: Path):
    """The genuine example's first frame as a camera gives it: (H, W, 3) uint8 RGB."""
    import cv2

    capture = cv2.VideoCapture(str(genuine_clip))
    ok, image = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def shared_clip(name: str) -> Path:
    """A clip from ../shared/media, or skip the test when it is not there."""
    path = SHARED_MEDIA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def files_on_loopback(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# Where this process's sockets connected while the tests' Ray started (see ray_cluster).
RAY_START_CONNECTIONS: list[str] = []


@pytest.fixture(scope="module")
def ray_cluster(hub_cache: Path) -> Iterator[str]:
    """A Ray for the module's tests, started as ``--ray`` starts one (on the loopback), with 2 CPUs
    and its token in the environment (not in ~/.ray); yields its address. Skips when Ray is not
    installed. Stopped after the module: idle, its processes take about 0.05 of a core."""
    import contextlib
    import importlib.util
    import secrets
    import socket

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install -r requirements-cluster.txt")
    from inference.tools import ray_runner

    connect = socket.socket.connect

    def recorded(self: socket.socket, address: object) -> None:
        RAY_START_CONNECTIONS.append(str(address[0] if isinstance(address, tuple) else address))
        connect(self, address)

    with contextlib.ExitStack() as stack:
        environment = stack.enter_context(pytest.MonkeyPatch.context())
        environment.delenv("RAY_ADDRESS", raising=False)
        environment.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(socket.socket, "connect", recorded)
            stack.enter_context(ray_runner.session(None, cpus=2))
        import ray

        yield ray.get_runtime_context().gcs_address
