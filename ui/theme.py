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
    button_transition="all 0.35s ease",
    slider_color="*primary_500",
    slider_color_dark="*secondary_400",
    loader_color="*secondary_500",
    link_text_color="*primary_600",
    link_text_color_dark="*secondary_300",
)
