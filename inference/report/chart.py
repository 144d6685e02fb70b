"""The static chart of a person's fake probability over time, as numbers for an inline SVG."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 640, 210
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 10, 34
# Line styles per detector, the first detector first: colour, dash pattern, marker.
STYLES = (("#1f5fbf", "", "circle"), ("#c2570c", "6 4", "square"))


@dataclass(frozen=True)
class Series:
    """One detector's points on the chart."""

    detector: str
    colour: str
    dash: str
    marker: str
    points: str  # "x,y x,y ..." in SVG pixels
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Chart:
    """Everything the template draws: the frame, the uncertain band, ticks and one series per detector."""

    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, width, height of the plotting area
    band: tuple[float, float]  # top y and height of the uncertain band
    threshold_y: float
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    series: tuple[Series, ...]


def chart(
    lines: list[tuple[str, list[tuple[float, float]]]], duration_s: float, uncertain_margin: float
) -> Chart:
    """Lay out the chart of ``lines``: (detector name, [(time s, fake probability), ...]) each.

    Args:
        lines: One line per detector, the first detector first; points in time order.
        duration_s: The end of the time axis (the clip's length, or the last point's time).
        uncertain_margin: Half-width of the UNCERTAIN band around 0.5.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    end = max(duration_s, max((t for _, points in lines for t, _ in points), default=0.0), 1e-3)

    def x(t: float) -> float:
        return round(LEFT + plot_w * t / end, 1)

    def y(p: float) -> float:
        return round(TOP + plot_h * (1.0 - min(max(p, 0.0), 1.0)), 1)

    series = []
    for (name, points), (colour, dash, marker) in zip(lines, STYLES * len(lines), strict=False):
        dots = tuple((x(t), y(p)) for t, p in points)
        series.append(Series(name, colour, dash, marker, " ".join(f"{a},{b}" for a, b in dots), dots))
    top = y(0.5 + uncertain_margin)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot=(LEFT, TOP, plot_w, plot_h),
        band=(top, round(y(0.5 - uncertain_margin) - top, 1)),
        threshold_y=y(0.5),
        x_ticks=tuple((x(end * i / 4), f"{end * i / 4:.1f} s") for i in range(5)),
        y_ticks=tuple((y(p), f"{p:.2f}") for p in (0.0, 0.25, 0.5, 0.75, 1.0)),
        series=tuple(series),
    )
