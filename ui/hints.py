"""The page's script that shows a table's "scroll sideways" hint only where the table is wider
than its column (CSS cannot: Gradio drops ``@container`` rules from the page's CSS).
"""

from __future__ import annotations

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


def page_js(*scripts: str) -> str:
    """One function for ``launch(js=...)`` that runs each of ``scripts`` (functions of no arguments)."""
    calls = "".join(f"({script.strip()})();\n" for script in scripts)
    return "() => {\n" + calls + "}"
