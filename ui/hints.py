"""The page's scripts that keep what matters in view: a table's "scroll sideways" hint shown only
where the table is wider than its column (CSS cannot: Gradio drops ``@container`` rules from the
page's CSS), and an analysis's progress scrolled into view when it appears (on a phone it would
start below the fold, under Analyze).
"""

from __future__ import annotations

from ui.clicks import PAGE_JS

# A class on the table's wrapper says it overflows; ui/theme.py shows the hint for it. Checked a
# few times a second: the table is replaced with each result and the column changes with the window.
HINT_JS = """
() => {
  setInterval(() => {
    for (const wrap of document.querySelectorAll(".people-wrap")) {
      const scroll = wrap.querySelector(".people-scroll");
      if (scroll) wrap.classList.toggle("overflows", scroll.scrollWidth > scroll.clientWidth + 1);
    }
  }, 250);
}
"""

# When the progress display appears (an analysis started) out of view, it is scrolled to the
# middle of the screen, which keeps Stop, just above it, in view too.
PROGRESS_JS = """
() => {
  let shown = false;
  setInterval(() => {
    const progress = document.querySelector("#progress");
    const now = !!(progress && progress.offsetParent);
    if (now && !shown) {
      const box = progress.getBoundingClientRect();
      if (box.bottom > window.innerHeight || box.top < 0) progress.scrollIntoView({ block: "center" });
    }
    shown = now;
  }, 200);
}
"""


def page_js(*scripts: str) -> str:
    """One function for ``launch(js=...)`` that runs each of ``scripts`` (functions of no arguments)."""
    calls = "".join(f"({script.strip()})();\n" for script in scripts)
    return "() => {\n" + calls + "}"


def all_page_js() -> str:
    """The page's scripts for ``launch(js=...)``: one run per click, the scroll hints, progress in view."""
    return page_js(PAGE_JS, HINT_JS, PROGRESS_JS)
