"""The app's look: deep navy, neon magenta and cyan, readable in light and dark mode."""

from __future__ import annotations

import gradio as gr
from gradio.themes.utils import colors

# Mid-tone colours, readable on the light and the dark page alike.
PLOT_LINES = ("#d946ef", "#06b6d4", "#f59e0b", "#22c55e")
PLOT_MUTED = "#7c8aa5"

# The seed product's look: deep navy, neon magenta and cyan, glowing controls. Every colour is
# set for light and dark mode so that both stay readable.
THEME = gr.themes.Base(
    primary_hue=colors.fuchsia,
    secondary_hue=colors.cyan,
    neutral_hue=colors.slate,
    radius_size="lg",
    font=("ui-sans-serif", "system-ui", "sans-serif"),
    font_mono=("ui-monospace", "SFMono-Regular", "monospace"),
).set(
    body_background_fill="*neutral_50",
    body_background_fill_dark="#070a17",
    block_background_fill_dark="#0e1326",
    block_border_color="*primary_200",
    block_border_color_dark="*primary_800",
    block_shadow="0 0 0 1px *primary_100, 0 4px 18px rgba(192, 38, 211, 0.10)",
    block_shadow_dark="0 0 0 1px *primary_900, 0 0 22px rgba(217, 70, 239, 0.22)",
    block_label_text_color="*primary_700",
    block_label_text_color_dark="*secondary_300",
    block_title_text_color_dark="*secondary_200",
    button_primary_background_fill="linear-gradient(90deg, *primary_600, *secondary_500)",
    button_primary_background_fill_dark="linear-gradient(90deg, *primary_500, *secondary_400)",
    button_primary_background_fill_hover="linear-gradient(90deg, *secondary_500, *primary_600)",
    button_primary_background_fill_hover_dark="linear-gradient(90deg, *secondary_400, *primary_500)",
    button_primary_text_color="white",
    button_primary_text_color_dark="#070a17",
    button_primary_shadow="0 0 12px rgba(217, 70, 239, 0.45)",
    button_primary_shadow_hover="0 0 22px rgba(34, 211, 238, 0.75)",
    # Not "all": an outline that fades in from the text colour hides where focus is.
    button_transition="background 0.35s ease, box-shadow 0.35s ease, color 0.35s ease",
    slider_color="*primary_500",
    slider_color_dark="*secondary_400",
    loader_color="*secondary_500",
    link_text_color="*primary_600",
    link_text_color_dark="*secondary_300",
)

# The page's own rules (``launch(css=...)``): where focus is, tables that fit a phone, the plot
# under its label, one readable progress display.
CSS = """
/* Every control shows where keyboard focus is, in both themes. Text fields draw it inside their
   edge: their block clips anything outside (overflow: hidden). The colour is a variable: Gradio
   scopes the page's rules under its container, inside <body class="dark">, so ".dark button"
   would never match, while ".dark" itself (the body) does. */
:root { --focus-ring: #c026d3; }
.dark { --focus-ring: #22d3ee; }
button:focus-visible, [role="tab"]:focus-visible, a:focus-visible, select:focus-visible,
input:focus-visible, textarea:focus-visible, .gallery-item:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid var(--focus-ring) !important;
  outline-offset: 2px !important;
}
textarea:focus, input:not([type="checkbox"], [type="radio"], [type="range"]):focus {
  outline: 3px solid var(--focus-ring) !important;
  outline-offset: -3px !important;
}

/* Tables wrap at spaces, never inside a word; a table wider than its column scrolls sideways,
   with a hint on its own line above it when it does (the page script in ui/hints.py says when). */
.people-scroll { overflow-x: auto; }
#people td, #people th { word-break: normal; overflow-wrap: normal; overflow: visible; }
#live-people td, #live-people th { white-space: nowrap; }
.people-wrap .scroll-hint { display: none; margin: 0 0 4px; font-size: 0.9em; opacity: 0.85; }
.people-wrap.overflows .scroll-hint { display: block; }
.prose table td, .prose table th { word-break: normal !important; overflow-wrap: normal !important; }
#about table { display: block; overflow-x: auto; width: max-content; max-width: 100%; }
#about td:first-child { white-space: nowrap; }
#about code { overflow-wrap: anywhere; word-break: break-all; }
/* On a phone, "How to read the result" is one block per label, each line named. */
@media (max-width: 700px) {
  #about table, #about tbody, #about tr, #about td { display: block; width: auto; border: none; }
  #about thead { display: none; }
  #about tr { padding: 6px 0; border-top: 1px solid var(--border-color-primary); }
  #about td { padding: 2px 0; white-space: normal !important; }
  #about td:nth-child(2)::before { content: "average fake probability: "; opacity: 0.8; }
  #about td:nth-child(3)::before { content: "meaning: "; opacity: 0.8; }
}

/* A long file name or link in a message wraps anywhere rather than run off the screen or take
   a line of its own (and leave the colon after it to start the next). */
#status code, #summary code, #progress code {
  display: inline; white-space: normal; overflow-wrap: anywhere; word-break: break-all;
}

/* Gallery captions ("P2 2nd 0.87") whole, on a phone too. */
#gallery .caption-label { max-width: calc(100% - 4px) !important; padding: 1px 4px !important; }

/* The plot starts under its block label, which would cover the 1.0 tick. */
#timeline img, #timeline .matplotlib { margin-top: 26px; }

/* The one progress display of an analysis: room for its bar and the stage in words. */
#progress { min-height: 72px; }
#progress .progress-text, #progress .meta-text { font-size: 0.95rem; white-space: normal; }
"""
