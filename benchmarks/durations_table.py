"""Per-file test time, before and after, from two ``pytest --durations=0`` outputs.

Run the same test files on each commit with ``python -m pytest FILES -p no:cacheprovider
--durations=0 -q > before.txt`` (and ``after.txt``), then::

    python benchmarks/durations_table.py before.txt after.txt

prints a markdown table: per file, the seconds of its tests' setup, call and teardown phases
(session fixtures count where they are first set up), and the slowest tests of each run.
The parse takes no time; the two test runs take as long as the tests do.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+(\S+?)::(\S+)")


def durations(path: Path) -> dict[str, dict[str, float]]:
    """{file: {test id: seconds over its phases}} from a ``--durations=0`` output."""
    found: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in path.read_text(errors="replace").splitlines():
        match = LINE.match(line.strip())
        if match:
            seconds, _, file, test = match.groups()
            found[file][test] += float(seconds)
    return found


def summary_line(path: Path) -> str:
    """The run's last line ("N passed ... in S s")."""
    lines = [
        line for line in path.read_text(errors="replace").splitlines() if " in " in line and "passed" in line
    ]
    return lines[-1].strip("= ") if lines else "(no summary)"


def table(before: Path, after: Path, top: int) -> str:
    old, new = durations(before), durations(after)
    rows = ["| file | before (s) | after (s) | change |", "|---|---:|---:|---:|"]
    total_old = total_new = 0.0
    for file in sorted(set(old) | set(new)):
        a, b = sum(old.get(file, {}).values()), sum(new.get(file, {}).values())
        total_old, total_new = total_old + a, total_new + b
        change = f"{(b - a) / a:+.0%}" if a else "new"
        rows.append(f"| {file} | {a:.1f} | {b:.1f} | {change} |")
    change = f"{(total_new - total_old) / total_old:+.0%}" if total_old else ""
    rows.append(f"| **all** | **{total_old:.1f}** | **{total_new:.1f}** | **{change}** |")
    rows += ["", f"before: {summary_line(before)}", f"after: {summary_line(after)}", ""]
    for name, runs in (("before", old), ("after", new)):
        slowest = sorted(
            ((seconds, f"{file}::{test}") for file, tests in runs.items() for test, seconds in tests.items()),
            reverse=True,
        )[:top]
        rows += [f"slowest {top} {name}:", ""] + [f"- {s:.1f} s {t}" for s, t in slowest] + [""]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--top", type=int, default=10, help="slowest tests listed per run")
    args = parser.parse_args()
    sys.stdout.write(table(args.before, args.after, args.top) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
