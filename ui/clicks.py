"""One run per click: the page's script that lets a burst of clicks (or Enters) start one analysis.

Gradio's ``trigger_mode="once"`` skips an event only while that event's own request is pending,
and the page checks it before it registers the request (it first gathers the inputs, awaiting),
so the two clicks of a double-click both pass it; the chain's next step (the analysis, queued
with ``"always_last"`` so that a new video can replace a running one) then runs twice. The
button is disabled by the server's first reply, too late for a double-click. So the page itself
ignores a click on Analyze, an example or Enter in the link box from the moment one was taken
until the server has disabled Analyze (or, if it never does, for ``GUARD_MS``).
"""

from __future__ import annotations

GUARD_MS = 10_000

# Runs once when the page loads (``launch(js=...)``). Capture-phase listeners run before Gradio's.
PAGE_JS = """
() => {
  const GUARD_MS = GUARD_MS_VALUE;
  let guardUntil = 0;
  let enterBlocked = false;
  const analyze = () => {
    const found = document.querySelector("#analyze");
    return found && !found.matches("button") ? found.querySelector("button") : found;
  };
  const burst = () => Date.now() < guardUntil;
  const running = () => { const button = analyze(); return (button && button.disabled) || burst(); };
  const taken = () => {
    guardUntil = Date.now() + GUARD_MS;
    const watch = setInterval(() => {
      const button = analyze();
      // Once the server disabled Analyze, the disabled button itself refuses clicks.
      if ((button && button.disabled) || !burst()) { guardUntil = 0; clearInterval(watch); }
    }, 50);
  };
  const refuse = (event) => { event.preventDefault(); event.stopImmediatePropagation(); };
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest("#analyze")) {
      if (running()) refuse(event); else taken();
    } else if (target.closest("#examples button, #examples .gallery-item, #examples tr")) {
      // An example may replace a running analysis, but one burst of clicks loads it once.
      if (burst()) refuse(event); else taken();
    }
  }, true);
  const enter = (event) => event.key === "Enter" && event.target instanceof Element
    && event.target.closest("#link");
  document.addEventListener("keydown", (event) => {
    if (!enter(event)) return;
    enterBlocked = running();
    if (enterBlocked) refuse(event); else taken();
  }, true);
  document.addEventListener("keypress", (event) => {
    if (enter(event) && enterBlocked) refuse(event);
  }, true);
}
""".replace("GUARD_MS_VALUE", str(GUARD_MS))
