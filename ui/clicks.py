"""One run per click: the page's script that lets a burst of clicks (or Enters) start one analysis.

Gradio's ``trigger_mode="once"`` skips an event only while that event's own request is pending,
and the page checks it before it registers the request (it first gathers the inputs, awaiting),
so the two clicks of a double-click both pass it; the chain's next step (the analysis, queued
with ``"always_last"`` so that a new video can replace a running one) then runs twice. The
button is disabled by the server's first reply, too late for a double-click. So the page itself
ignores a click on Analyze, an example or Enter in the link box from the moment one was taken
until the server has answered it: a request to the server's event routes (``/run/`` for the
first, unqueued step, ``/queue/join``), sent after the click, completed, and the page shows its
answer: a start disables Analyze, which then refuses clicks itself; a refusal (nothing given,
too many analyses) leaves it enabled with a new status line (or, the same line again, for
``SETTLE_MS``), and the next click is taken. If no
answer is seen (the resource timing of the request is missing), the guard ends after ``GUARD_MS``.
"""

from __future__ import annotations

GUARD_MS = 10_000
SETTLE_MS = 300

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
  let takenAt = 0;
  let shownBefore = "";
  const shown = () => {
    const status = document.querySelector("#status");
    return status ? status.innerText : "";
  };
  const taken = () => {
    guardUntil = Date.now() + GUARD_MS;
    takenAt = performance.now();
    shownBefore = shown();
  };
  // The server answered a request sent after the click: the guard ends once the page shows the
  // answer (Analyze disabled for a start, and then it refuses clicks itself; a new status line
  // for a refusal), or SETTLE_MS after the answer when it shows nothing new (the same refusal).
  new PerformanceObserver((list) => {
    const answered = list.getEntries().some((entry) => entry.startTime >= takenAt
      && ["/gradio_api/run/", "/gradio_api/queue/join"].some((route) => entry.name.includes(route)));
    if (!answered || !burst()) return;
    const ends = guardUntil;
    const settleBy = Date.now() + SETTLE_MS_VALUE;
    const watch = setInterval(() => {
      const button = analyze();
      const applied = (button && button.disabled) || shown() !== shownBefore || Date.now() >= settleBy;
      if (guardUntil !== ends) clearInterval(watch);
      else if (applied) { guardUntil = 0; clearInterval(watch); }
    }, 20);
  }).observe({ type: "resource", buffered: false });
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
""".replace("GUARD_MS_VALUE", str(GUARD_MS)).replace("SETTLE_MS_VALUE", str(SETTLE_MS))
