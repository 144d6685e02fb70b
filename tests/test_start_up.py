"""What one command line call loads: ``--help`` no engine; a plain file no app, cluster, link
fetcher or explanation libraries (``python -X importtime`` lists the modules a process imports).
Which modules load, not how long they take: the times are in benchmarks/cli.py."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, SHARED_BLAZEFACE, put_in_hub_cache, random_state_dict
from torch import nn

from inference.weights import registry


def imported_by(*args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules ``python -m inference ARGS`` imports, and the finished process."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "inference", *args],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    return modules, done


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (packages, or modules such as torch._dynamo) are among ``modules``."""
    return sorted(name for name in names if any(m == name or m.startswith(name + ".") for m in modules))


def test_help_loads_no_engine():
    modules, done = imported_by("--help")
    assert done.returncode == 0, done.stderr
    assert "usage: python -m inference" in done.stdout and "--second-opinion" in done.stdout
    assert "inference.tools.cli" in modules  # the listing works
    heavy = ("gradio", "ray", "yt_dlp", "c2pa", "captum", "torch", "torchvision", "cv2", "numpy")
    assert loaded(modules, heavy) == []


def test_a_plain_file_loads_only_what_its_analysis_needs(hub_cache: Path, genuine_clip: Path):
    modules, done = imported_by(str(genuine_clip), "--frames", "3")
    assert done.returncode == 0, done.stderr
    assert f"{genuine_clip}: " in done.stdout
    # The file's Content Credentials are part of the answer: c2pa is read.
    assert loaded(modules, ("torch", "c2pa")) == ["c2pa", "torch"]
    unneeded = (
        "gradio",
        "ray",
        "yt_dlp",
        "captum",
        "torchvision",
        "torch._dynamo",  # and with it SymPy: 2-3 s, pulled in by torchvision or by init on meta tensors
        "matplotlib",
        "pandas",
        "sklearn",
        "jinja2",
        "pkg_resources",
    )
    assert loaded(modules, unneeded) == []


def test_resnext_backbone_is_torchvisions():
    from torchvision.models import resnext50_32x4d

    from inference.models.resnext import resnext50_backbone

    torch.manual_seed(0)
    theirs = nn.Sequential(*list(resnext50_32x4d().children())[:-2]).eval()
    torch.manual_seed(0)
    ours = resnext50_backbone().eval()
    assert repr(ours) == repr(theirs)
    # A seeded random start is torchvision's too (training from scratch reproduces earlier runs).
    state = theirs.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in ours.state_dict().items())
    ours.load_state_dict(state, strict=True)
    crops = torch.randn(2, 3, 112, 112)
    with torch.inference_mode():
        assert torch.equal(ours(crops), theirs(crops))


def test_networks_built_without_init_hold_no_meta_tensor(checkpoint_file: Path):
    from inference.models.efficientnet import AUTOATT, build, load_network
    from inference.models.network import build_network

    network = build_network(random_state_dict())
    assert not any(t.is_meta for t in [*network.parameters(), *network.buffers()])
    torch.manual_seed(1)
    path = checkpoint_file.with_name("effnet.pth")
    torch.save(build(AUTOATT).state_dict(), path)
    icpr = load_network(path, AUTOATT)
    assert not any(t.is_meta for t in [*icpr.parameters(), *icpr.buffers()])
    assert not icpr.training


def test_profile_names_are_the_profiles():
    from inference.faces.profile_names import PROFILE_NAMES
    from inference.faces.profiles import PROFILES

    assert tuple(PROFILES) == PROFILE_NAMES


class _Counted(http.server.BaseHTTPRequestHandler):
    """A Hub that has nothing, and remembers what it was asked."""

    asked: list[str]

    def _missing(self) -> None:
        self.asked.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _missing

    def log_message(self, *args) -> None:
        pass


def test_a_pinned_file_in_the_cache_is_used_without_asking_the_hub(tmp_path: Path):
    if not SHARED_BLAZEFACE.is_file():
        pytest.skip(f"{SHARED_BLAZEFACE} not present")
    spec = registry.file("blazeface")
    put_in_hub_cache(tmp_path, str(spec.repo_id), f"{spec.subfolder}/{spec.filename}", SHARED_BLAZEFACE)
    asked: list[str] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Hub", (_Counted,), {"asked": asked}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "import sys; from dataclasses import replace; from inference.weights import hub, registry\n"
        "spec = replace(registry.file('blazeface'), urls=())\n"  # the Hub only (here: the loopback)
        "spec = spec if sys.argv[1] == 'pinned' else replace(spec, sha256=None)\n"
        "try:\n    print(hub.resolve(spec).weights_file)\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        "HF_HUB_CACHE": str(tmp_path),
        "HF_HUB_ETAG_TIMEOUT": "5",
    }
    try:
        for pin in ("pinned", "unpinned"):
            done = subprocess.run(
                [sys.executable, "-c", script, pin], cwd=REPO_ROOT, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            if pin == "pinned":
                assert done.stdout.strip().endswith("blazeface.pth") and asked == []
        assert asked  # unpinned: the Hub is asked which version is current (the check can fail)
    finally:
        server.shutdown()
        server.server_close()
