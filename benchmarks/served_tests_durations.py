"""Per-file durations of the served-app tests, as a markdown table.

Either runs them (``python benchmarks/served_tests_durations.py``: the default run, ``-m 'not
slow'``; several minutes on 2 cores) or reads saved outputs of ``pytest --durations=0``
(``--read before.txt after.txt``) and puts them side by side. Setup, call and teardown times of a
file's tests are summed; a session fixture's start-up counts for the first file that uses it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

FILES = [
    "tests/test_served.py",
    "tests/test_served_load.py",
    "tests/test_app.py",
    "tests/test_routes.py",
    "tests/test_limits_race.py",
    "tests/test_upload_limits.py",
    "tests/test_upload_limits_more.py",
    "tests/test_page_refused.py",
    "tests/test_link_analysis.py",
    "tests/test_app_exit.py",
    "tests/test_stop_between_phases.py",
    "tests/test_concurrency.py",
    "tests/test_second_opinion.py",
    "tests/test_disagreement.py",
]
LINE = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(tests/[^:]+)::")
TOTAL = re.compile(r"in ([\d.]+)s")


def per_file(text: str) -> tuple[dict[str, float], float | None]:
    """Seconds per test file, and the run's wall time, from ``pytest --durations=0`` output."""
    files: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if match := LINE.match(line):
            files[match.group(3)] += float(match.group(1))
    wall = [float(m.group(1)) for m in TOTAL.finditer(text.splitlines()[-1])] if text.strip() else []
    return dict(files), wall[0] if wall else None


def run() -> str:
    command = [sys.executable, "-m", "pytest", *FILES, "-p", "no:cacheprovider", "--durations=0", "-q"]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout


def table(outputs: list[tuple[str, str]]) -> str:
    parsed = [(name, *per_file(text)) for name, text in outputs]
    names = sorted({file for _, files, _ in parsed for file in files})
    head = "| file | " + " | ".join(f"{name} (s)" for name, _, _ in parsed) + " |"
    rows = [head, "|---" * (len(parsed) + 1) + "|"]
    for file in names:
        seconds = " | ".join(f"{files.get(file, 0.0):.1f}" for _, files, _ in parsed)
        rows.append(f"| {file} | {seconds} |")
    rows.append("| **sum** | " + " | ".join(f"{sum(files.values()):.1f}" for _, files, _ in parsed) + " |")
    rows.append("| **wall** | " + " | ".join(f"{wall or 0:.1f}" for _, _, wall in parsed) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--read", nargs="+", type=Path, help="saved pytest --durations=0 outputs")
    args = parser.parse_args()
    outputs = [(path.stem, path.read_text()) for path in args.read] if args.read else [("now", run())]
    print(table(outputs))


if __name__ == "__main__":
    main()
