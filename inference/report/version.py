"""The software's version and, when run from a git checkout, its commit."""

from __future__ import annotations

import logging
import subprocess
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

DISTRIBUTION = "deepfake-video-detector"
REPO_ROOT = Path(__file__).resolve().parents[2]


@cache
def software_version() -> str:
    """The package version: installed metadata, else the checkout's pyproject.toml, else "unknown"."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    pyproject = REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as handle:
            return str(tomllib.load(handle).get("project", {}).get("version", "unknown"))
    return "unknown"


@cache
def git_commit() -> str | None:
    """The checkout's commit (40 hex digits), or None when not run from a git checkout."""
    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.info("the report names no commit: git rev-parse failed (%s)", exc)
        return None
    commit = done.stdout.strip()
    return commit if len(commit) == 40 else None
