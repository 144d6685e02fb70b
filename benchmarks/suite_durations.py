"""Test run time before and after a change: the same test files, from a git ref and from this tree.

``python -m benchmarks.suite_durations --ref REF FILE...`` checks REF out in a temporary git
worktree beside this one (so that ``../shared`` is found from both), runs the default selection
(``-m 'not slow'``) of the given test files there and here, one after the other and ``--rounds``
times interleaved, and prints a markdown table of the seconds per test file (setup, call and
teardown summed; best of the rounds) with the ratio. Pass few files for a run under 3 minutes,
e.g. the heavy ones: ``tests/test_ray.py tests/test_cli.py``. The machine's load moves both
columns: read the ratios, and rerun on a quiet machine for absolute figures.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DURATION = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+?)::")


def seconds_per_file(tree: Path, files: list[str]) -> tuple[dict[str, float], float, str]:
    """Run ``files`` in ``tree``; returns seconds by file, the run's wall time and pytest's last line."""
    command = [sys.executable, "-m", "pytest", *files, "-p", "no:cacheprovider", "-q", "--durations=0"]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    by_file: dict[str, float] = defaultdict(float)
    for line in done.stdout.splitlines():
        if match := DURATION.match(line):
            by_file[match.group(3)] += float(match.group(1))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    wall = re.search(r"in ([\d.]+)s", summary)
    return dict(by_file), float(wall.group(1)) if wall else float("nan"), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="test files, relative to the repository root")
    parser.add_argument("--ref", required=True, help="the git ref to compare with (e.g. main)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs of each side (best kept)")
    args = parser.parse_args()
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    walls = {"before": float("inf"), "after": float("inf")}
    with tempfile.TemporaryDirectory(prefix="durations-", dir=REPO.parent) as folder:
        old = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.ref], cwd=REPO, check=True)
        reference = REPO / "tests" / ".reference"
        if reference.exists():
            (old / "tests" / ".reference").symlink_to(reference.resolve())
        try:
            for _ in range(args.rounds):
                for side, tree, best in (("before", old, before), ("after", REPO, after)):
                    seconds, wall, summary = seconds_per_file(tree, args.files)
                    print(f"{side}: {summary}", file=sys.stderr)
                    walls[side] = min(walls[side], wall)
                    for name, value in seconds.items():
                        best[name] = min(best.get(name, float("inf")), value)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO, check=False)
    print(f"| test file | before ({args.ref}), s | after, s | after / before |")
    print("| --- | --- | --- | --- |")
    for name in sorted(set(before) | set(after), key=lambda n: -before.get(n, 0.0)):
        old_s, new_s = before.get(name, 0.0), after.get(name, 0.0)
        ratio = f"{new_s / old_s:.2f}" if old_s else "-"
        print(f"| {name} | {old_s:.1f} | {new_s:.1f} | {ratio} |")
    total_old, total_new = sum(before.values()), sum(after.values())
    print(f"| **sum** | {total_old:.1f} | {total_new:.1f} | {total_new / max(total_old, 1e-9):.2f} |")
    print(f"| wall (pytest) | {walls['before']:.1f} | {walls['after']:.1f} | |")


if __name__ == "__main__":
    main()
