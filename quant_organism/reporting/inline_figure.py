"""Figures small enough to show on an asset's page, not behind a link.

Dagster's UI renders a Markdown metadata value in place only when it is shorter than 1,000 characters (longer ones
become a "[Show Markdown]" link), and it lets an image's source be a `data:` URI. A PNG does not fit; an SVG of a
few dozen points does. So each figure here is an SVG drawn with small relative integer steps and percent-encoded
(base64 would cost a third more), its points thinned until the whole value fits, with a one-line caption that
says what is drawn. The full-size PNG stays beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

import numpy as np

INLINE_LIMIT = 1000
"""The UI renders Markdown metadata in place below this many characters."""
WIDTH, HEIGHT = 240, 64
COLOURS = ("steelblue", "crimson", "seagreen")  # names: a "#" costs three characters in a URI
REFERENCE = "stroke='gray' stroke-dasharray='3'"


def line_figure(title: str, series: Mapping[str, Sequence[float]], reference: float | None = None, note: str = "") -> str:
    """Up to three lines (their names and last values in the caption) and a dashed reference level, as Markdown."""
    shown = {name: np.asarray(values, float) for name, values in list(series.items())[:3]}
    shown = {name: v[np.isfinite(v)] for name, v in shown.items() if np.isfinite(v).sum() >= 2}
    if not shown:
        return f"{title}: nothing to draw yet"
    caption = "; ".join(f"{_swatch(i)} {name} (last {v[-1]:.3g})" for i, (name, v) in enumerate(shown.items()))
    for points in (120, 80, 60, 40, 30, 20, 12, 8):
        values = {name: _thinned(v, max(2, points // len(shown))) for name, v in shown.items()}
        low, high = _range([*values.values()], reference)
        paths = "".join(
            f"<path d='{_path(v, low, high)}' fill='none' stroke='{COLOURS[i]}' stroke-width='1.5'/>"
            for i, v in enumerate(values.values())
        )
        text = _markdown(title, _svg(paths + _level(reference, low, high)), caption, note)
        if len(text) < INLINE_LIMIT:
            return text
    return f"{title}: {caption}"


def bar_figure(title: str, values: Mapping[str, float], reference: float | None = None, note: str = "") -> str:
    """One bar per name (at most 12, in order) against a dashed reference level, as Markdown."""
    shown = {name: float(v) for name, v in list(values.items())[:12] if np.isfinite(v)}
    if not shown:
        return f"{title}: nothing to draw yet"
    low, high = _range([np.array([*shown.values(), 0.0])], reference)
    width = WIDTH / len(shown)
    zero = _y(0.0, low, high)
    bars = _bars([(int(i * width + 1), max(1, int(width - 2)), zero, _y(v, low, high)) for i, v in enumerate(shown.values())])
    text = _markdown(title, _svg(bars + _level(reference, low, high)), "", note)
    return text if len(text) < INLINE_LIMIT else f"{title}: " + ", ".join(f"{k} {v:.3g}" for k, v in shown.items())


def histogram_figure(title: str, values: Sequence[float], reference: float | None = None, note: str = "") -> str:
    """The distribution of `values` in 16 bins (a bar per bin) with a dashed reference at `reference`, as Markdown."""
    data = np.asarray(values, float)
    data = data[np.isfinite(data)]
    if len(data) < 2:
        return f"{title}: nothing to draw yet"
    counts, edges = np.histogram(data, bins=16)
    low, high = _range([np.array([0.0, counts.max()])], None)
    width = WIDTH / len(counts)
    bars = _bars([(int(i * width), max(1, int(width - 1)), HEIGHT, _y(c, low, high)) for i, c in enumerate(counts) if c])
    marker = ""
    if reference is not None and edges[0] <= reference <= edges[-1]:
        x = int((reference - edges[0]) / (edges[-1] - edges[0]) * WIDTH)
        marker = f"<path d='M{x},0V{HEIGHT}' {REFERENCE}/>"
    text = _markdown(title, _svg(bars + marker), f"from {edges[0]:.3g} to {edges[-1]:.3g}", note)
    return text if len(text) < INLINE_LIMIT else f"{title}: {len(data)} values from {edges[0]:.3g} to {edges[-1]:.3g}"


def _bars(bars: Sequence[tuple[int, int, int, int]]) -> str:
    """Bars (x, width, base y, top y) as one filled path: a rectangle costs about 16 characters, not 80."""
    return f"<path d='{''.join(f'M{x},{base}V{top}h{w}V{base}z' for x, w, base, top in bars)}' fill='{COLOURS[0]}'/>"


def _markdown(title: str, svg: str, caption: str, note: str) -> str:
    words = " ".join(part for part in (caption, note) if part)
    uri = "data:image/svg+xml," + quote(svg, safe=",/:=;-.'")
    return f"![{title}]({uri})" + (f"  \n{words}" if words else "")


def _svg(body: str) -> str:
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}'>{body}</svg>"


def _swatch(i: int) -> str:
    return ("blue", "red", "green")[i] + ":"


def _thinned(values: np.ndarray, points: int) -> np.ndarray:
    if len(values) <= points:
        return values
    return values[np.linspace(0, len(values) - 1, points).round().astype(int)]


def _range(arrays: Sequence[np.ndarray], reference: float | None) -> tuple[float, float]:
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)
    if reference is not None:
        low, high = min(low, reference), max(high, reference)
    if high - low < 1e-12:
        low, high = low - 1.0, high + 1.0
    return low, high


def _y(value: float, low: float, high: float) -> int:
    return int(round((HEIGHT - 2) - (value - low) / (high - low) * (HEIGHT - 4)))


def _path(values: np.ndarray, low: float, high: float) -> str:
    """Relative steps ("l4,-3"): two or three characters a number, where absolute coordinates take three."""
    step = (WIDTH - 1) / max(1, len(values) - 1)
    xs = [int(round(i * step)) for i in range(len(values))]
    ys = [_y(v, low, high) for v in values]
    return f"M0,{ys[0]}" + "".join(f"l{xs[i] - xs[i - 1]},{ys[i] - ys[i - 1]}" for i in range(1, len(values)))


def _level(reference: float | None, low: float, high: float) -> str:
    if reference is None:
        return ""
    y = _y(reference, low, high)
    return f"<path d='M0,{y}H{WIDTH}' {REFERENCE}/>"
