"""PNG plots for the HTML reports, as base64 `data:` URIs (no file, no request).

matplotlib draws on its Agg canvas through `matplotlib.figure.Figure` directly: pyplot is never
imported, so no global state (current figure, backend choice) is touched in the caller's process.
Every function returns PNG bytes, or None when there is nothing sensible to draw (a scalar, an
array that is not numeric, timings without numbers) or matplotlib is missing.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any, Sequence

import numpy as np

DPI = 100
#: arrays with at most this many elements are also drawn side by side (yours, expected)
SIDE_BY_SIDE_MAX = 400
#: and their values are written into the cells when a panel has at most this many
ANNOTATE_MAX = 48
#: a heat map's longer side is pooled (maximum of |error|) down to this many cells
POOL_TO = 160

STATUS_COLORS = {"good": "#2da44e", "mid": "#d4a72c", "bad": "#cf222e"}
CANDIDATE_COLORS = ["#0969da", "#cf222e", "#8250df", "#1a7f37", "#bc4c00", "#57606a"]


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_size(png: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when PNG is not a PNG."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _short(x: float) -> str:
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}"
    return f"{x:.1e}".replace("e-0", "e-").replace("e+0", "e")


# ------------------------------------------------------------------------------- heat maps

def as_matrix(value: Any) -> np.ndarray | None:
    """A float 2-D view for a heat map: a vector is one row, n-D arrays keep their last axis as columns.
    None for scalars, empty and non-numeric arrays."""
    try:
        a = np.asarray(value)
        if a.dtype.kind == "c":
            a = np.abs(a)
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        return None
    if a.ndim == 0 or a.size == 0:
        return None
    if a.ndim == 1:
        return a.reshape(1, -1)
    if a.ndim == 2:
        return a
    return a.reshape(-1, a.shape[-1])


def _pool_max(m: np.ndarray, limit: int = POOL_TO) -> tuple[np.ndarray, tuple[int, int]]:
    """Block maxima so that neither side exceeds LIMIT (one wrong element in a big array still shows).
    NaN (nothing to show) is ignored unless a whole block is NaN; +inf wins."""
    fr = max(1, math.ceil(m.shape[0] / limit))
    fc = max(1, math.ceil(m.shape[1] / limit))
    if fr == 1 and fc == 1:
        return m, (1, 1)
    rows, cols = math.ceil(m.shape[0] / fr), math.ceil(m.shape[1] / fc)
    padded = np.full((rows * fr, cols * fc), np.nan)
    padded[:m.shape[0], :m.shape[1]] = m
    blocks = padded.reshape(rows, fr, cols, fc)
    return np.fmax.reduce(np.fmax.reduce(blocks, axis=3), axis=1), (fr, fc)


def _ticks(ax, shape: tuple[int, int], pooled: tuple[int, int] = (1, 1)) -> None:
    from matplotlib.ticker import MaxNLocator

    rows, cols = shape
    for axis, n, factor in ((ax.xaxis, cols, pooled[1]), (ax.yaxis, rows, pooled[0])):
        axis.set_major_locator(MaxNLocator(nbins=min(n, 6), integer=True))
        if factor > 1:
            axis.set_major_formatter(lambda v, _pos, f=factor: f"{int(v) * f}")
    if rows == 1:
        ax.set_yticks([])
    ax.tick_params(labelsize=8, length=2)


def _annotate(ax, image, m: np.ndarray) -> None:
    """Write each finite value into its cell, in black or white, whichever reads on the cell's colour."""
    for (r, c), v in np.ndenumerate(m):
        if not np.isfinite(v):
            continue
        red, green, blue, _ = image.cmap(image.norm(v))
        light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.55
        ax.text(c, r, _short(float(v)), ha="center", va="center", fontsize=7, color="black" if light else "white")


OK_COLOR = "#dafbe1"  # within the tolerance
NONFINITE_COLOR = "black"


def error_map(actual: np.ndarray, expected: np.ndarray, rtol: float | None = None,
              atol: float | None = None) -> np.ndarray:
    """Per element: NaN where the answer is within the tolerance, +inf where it is NaN or inf (and the
    expected value is not the same), else |actual − expected|.

    The allowance is compare.py's: atol × max(1, largest finite |expected|) + rtol × |expected|.
    Without a tolerance every nonzero difference counts.
    """
    a, e = actual, expected
    finite_e = np.isfinite(e)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - e)
    if rtol is not None and atol is not None:
        scale = max(1.0, float(np.max(np.abs(e[finite_e])))) if finite_e.any() else 1.0
        allowed = atol * scale + rtol * np.abs(np.where(finite_e, e, 0.0))
    else:
        allowed = np.zeros_like(err)
    same_special = (a == e) | (np.isnan(a) & np.isnan(e))
    nonfinite_bad = (finite_e & ~np.isfinite(a)) | (~finite_e & ~same_special)
    bad_finite = finite_e & np.isfinite(a) & (err > allowed)
    return np.where(nonfinite_bad, np.inf, np.where(bad_finite, err, np.nan))


def heatmap_png(actual: Any, expected: Any, index: Sequence[int] | None = None, title: str = "",
                rtol: float | None = None, atol: float | None = None) -> bytes | None:
    """Where an array answer is wrong: |actual − expected| in reds for the elements outside the
    tolerance (green: within it, black: NaN or inf), the worst element marked; for small arrays also
    the two arrays side by side on one colour scale."""
    a, e = as_matrix(actual), as_matrix(expected)
    if a is None or e is None:
        return None
    if a.shape != e.shape:
        try:
            a, e = np.broadcast_arrays(a, e)
        except ValueError:
            return None
    if not available():
        return None
    import matplotlib
    from matplotlib.colors import ListedColormap

    tol_known = isinstance(rtol, (int, float)) and isinstance(atol, (int, float))
    errors = error_map(a, e, rtol if tol_known else None, atol if tol_known else None)
    rows, cols = a.shape
    small = a.size <= SIDE_BY_SIDE_MAX
    shown, pooled = (errors, (1, 1)) if small else _pool_max(errors)
    # the worst element's place in the drawn matrix
    mark = None
    if index is not None and len(index) and a.size > 1:
        try:
            flat = int(np.ravel_multi_index(tuple(int(i) for i in index), np.shape(actual)))
        except (TypeError, ValueError):
            flat = None
        if flat is not None and flat < a.size:
            r, c = divmod(flat, cols)
            mark = (r // pooled[0], c // pooled[1])

    panels = 3 if small else 1
    pr, pc = shown.shape
    cell = 0.42 if max(pr, pc) <= 12 else max(0.02, 4.2 / max(pr, pc))
    panel_w = min(5.2, max(2.0, pc * cell + 0.9))
    panel_h = min(4.2, max(0.9, pr * cell)) + 0.75
    fig = _figure(panel_w * panels + 0.2, panel_h)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    aspect = "equal" if max(pr, pc) <= 60 or pr > 1 else "auto"

    def cmap(name: str, bad: Any):
        return matplotlib.colormaps[name].with_extremes(bad=bad)

    def finish(ax, image, m, label, factor=(1, 1), colorbar=True, annotate=None):
        ax.set_title(label, fontsize=9)
        _ticks(ax, m.shape, factor)
        if colorbar:
            bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02, fraction=0.08 if m.shape[0] > 1 else 0.15)
            bar.ax.tick_params(labelsize=7)
        if annotate is not None and annotate.size <= ANNOTATE_MAX:
            _annotate(ax, image, annotate)
        if mark is not None:
            if max(m.shape) <= 30:  # cells are large: box the cell
                from matplotlib.patches import Rectangle

                ax.add_patch(Rectangle((mark[1] - 0.5, mark[0] - 0.5), 1, 1, fill=False, edgecolor="#00b4d8",
                                       linewidth=2.5))
            else:  # cells are a few pixels: a ring around it that the eye finds
                ax.scatter([mark[1]], [mark[0]], s=260, facecolors="none", edgecolors="#00b4d8", linewidths=2)

    if small:
        both = np.concatenate([a[np.isfinite(a)], e[np.isfinite(e)]])
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        for ax, m, label in ((axes[0], a, "your answer"), (axes[1], e, "expected")):
            image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap("viridis", NONFINITE_COLOR), vmin=lo, vmax=hi,
                              interpolation="nearest", aspect=aspect)
            finish(ax, image, m, label, annotate=m)
    ax = axes[-1]
    # three layers: within tolerance (green), the size of each error outside it (reds), NaN/inf (black)
    ax.imshow(np.zeros(shown.shape), cmap=ListedColormap([OK_COLOR]), interpolation="nearest", aspect=aspect)
    finite_bad = np.ma.masked_where(~np.isfinite(shown), shown)
    reds = ListedColormap(matplotlib.colormaps["Reds"](np.linspace(0.25, 1.0, 256))).with_extremes(
        bad=(0, 0, 0, 0))  # no near-white: a small error must not look like none
    low = float(finite_bad.min()) if finite_bad.count() else 0.0
    top = float(finite_bad.max()) if finite_bad.count() else 1.0
    if low > 0 and top / low > 100:  # errors over orders of magnitude: a log scale shows them all
        from matplotlib.colors import LogNorm

        norm = LogNorm(vmin=low, vmax=top)
    else:
        from matplotlib.colors import Normalize

        norm = Normalize(vmin=0.0, vmax=top if top > 0 else 1.0)
    image = ax.imshow(finite_bad, cmap=reds, norm=norm, interpolation="nearest", aspect=aspect)
    if np.isposinf(shown).any():
        ax.imshow(np.ma.masked_where(~np.isposinf(shown), np.zeros(shown.shape)),
                  cmap=cmap("gray", (0, 0, 0, 0)), vmin=0, vmax=1, interpolation="nearest", aspect=aspect)
    label = "|yours − expected|" + (f" (max of {pooled[0]}×{pooled[1]} blocks)" if pooled != (1, 1) else "")
    finish(ax, image, shown, label, pooled, colorbar=bool(finite_bad.count()), annotate=finite_bad.filled(np.nan))
    legend = []
    if tol_known and np.isnan(shown).any():
        legend.append("green: within the tolerance")
    if np.isposinf(shown).any():
        legend.append("black: NaN or inf")
    heading = "; ".join(p for p in [title, f"shown as {rows}×{cols}" if np.ndim(actual) > 2 else ""] + legend if p)
    if heading:
        fig.suptitle(heading, fontsize=9)
    return _png(fig)


# ------------------------------------------------------------------------------- timing

def _seconds_label(t: float, _pos: Any = None) -> str:
    if t <= 0 or not math.isfinite(t):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def _finite_list(values: Any) -> list[float] | None:
    if not isinstance(values, (list, tuple)):
        return None
    out = []
    for v in values:
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and v > 0 else float("nan"))
    return out


def timing_png(details: dict[str, Any]) -> bytes | None:
    """Median time per call of each candidate: against size on log-log axes (with `scaling`), else a bar
    per input. Error bars: the 95 % intervals of the medians."""
    times = details.get("times")
    if not isinstance(times, dict) or not times or not available():
        return None
    series = {str(label): _finite_list(v) for label, v in times.items()}
    series = {k: v for k, v in series.items() if v and any(math.isfinite(x) for x in v)}
    if not series:
        return None
    n = max(len(v) for v in series.values())
    cis = details.get("times_ci") if isinstance(details.get("times_ci"), dict) else {}
    exponents = details.get("exponents") if isinstance(details.get("exponents"), dict) else {}
    sizes = _finite_list(details.get("sizes"))
    names = details.get("size_names") if isinstance(details.get("size_names"), list) else None
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig = _figure(6.4, 3.6)
    ax = fig.subplots()
    better = details.get("better")

    def bounds(label: str, i: int, mid: float) -> tuple[float, float]:
        ci = cis.get(label)
        if isinstance(ci, list) and i < len(ci) and isinstance(ci[i], list) and len(ci[i]) == 2:
            lo, hi = ci[i]
            if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo <= mid <= hi:
                return mid - lo, hi - mid
        return 0.0, 0.0

    if sizes and len(sizes) == n and n >= 2 and all(math.isfinite(s) for s in sizes):
        order = np.argsort(sizes)
        xs = np.asarray(sizes)[order]
        for k, (label, ts) in enumerate(series.items()):
            ys = np.asarray(ts)[order]
            err = np.array([bounds(label, int(i), ts[int(i)]) for i in order]).T
            exp = exponents.get(label)
            legend = label + (f"  (~ size^{exp:.2f})" if isinstance(exp, (int, float)) and math.isfinite(exp) else "")
            if label == better:
                legend += "  [must scale better]"
            ax.errorbar(xs, ys, yerr=err, marker="o", markersize=5, linewidth=2, capsize=3,
                        color=CANDIDATE_COLORS[k % len(CANDIDATE_COLORS)], label=legend)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(xs)
        labels = [str(names[int(i)]) if names and len(names) == n else _short(float(x)) for i, x in zip(order, xs)]
        ax.set_xticklabels(labels)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("size", fontsize=9)
        ax.set_title("time per call against size (log-log; median, 95% CI)", fontsize=10)
    else:
        width = 0.8 / len(series)
        for k, (label, ts) in enumerate(series.items()):
            xs = np.arange(len(ts)) + (k - (len(series) - 1) / 2) * width
            err = np.array([bounds(label, i, t) for i, t in enumerate(ts)]).T
            ax.bar(xs, ts, width=width * 0.95, color=CANDIDATE_COLORS[k % len(CANDIDATE_COLORS)],
                   label=label + ("  [must be faster]" if label == better else ""))
            has = err.sum(axis=0) > 0
            if has.any():
                ax.errorbar(xs[has], np.asarray(ts)[has], yerr=err[:, has], fmt="none", ecolor="#24292f", capsize=3)
        finite = [t for ts in series.values() for t in ts if math.isfinite(t)]
        if max(finite) / min(finite) > 20:  # a linear axis would hide the fast one
            ax.set_yscale("log")
        ax.set_xticks(range(n))
        ax.set_xticklabels([f"input {i + 1}" for i in range(n)] if n > 1 else [""])
        ax.set_title("time per call (median, 95% CI)", fontsize=10)
    ax.yaxis.set_major_formatter(FuncFormatter(_seconds_label))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("time per call", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


# ------------------------------------------------------------------------------- class summary

def histogram_png(histogram: list[dict[str, Any]], max_score: float = 0.0) -> bytes | None:
    """The score distribution of a class: one bar per bin of `adgrade.batch.summarize`'s histogram."""
    bins = [b for b in histogram or [] if isinstance(b, dict) and {"low", "high", "count"} <= set(b)]
    if not bins or not available():
        return None
    from matplotlib.ticker import MaxNLocator

    fig = _figure(5.4, 3.0)
    ax = fig.subplots()
    lows = [float(b["low"]) for b in bins]
    widths = [float(b["high"]) - float(b["low"]) for b in bins]
    counts = [int(b["count"]) for b in bins]
    ax.bar(lows, counts, width=widths, align="edge", color="#0969da", edgecolor="white", linewidth=1)
    for x, w, c in zip(lows, widths, counts):
        if c:
            ax.text(x + w / 2, c, str(c), ha="center", va="bottom", fontsize=8)
    if max_score:
        ax.axvline(max_score, color="#57606a", linestyle="--", linewidth=1)
    ax.set_xlim(lows[0], lows[-1] + widths[-1])
    ax.set_ylim(0, max(counts) * 1.2 + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("score" + (f" (out of {max_score:g})" if max_score else ""), fontsize=9)
    ax.set_ylabel("submissions", fontsize=9)
    ax.set_title("score distribution", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def rate_color(rate: float) -> str:
    return STATUS_COLORS["good"] if rate >= 0.8 else STATUS_COLORS["mid"] if rate >= 0.5 else STATUS_COLORS["bad"]


def pass_rate_png(problems: list[dict[str, Any]]) -> bytes | None:
    """Pass rate per problem as horizontal bars (green from 80 %, amber from 50 %, red below)."""
    rows = [p for p in problems or [] if isinstance(p, dict) and "id" in p]
    if not rows or not available():
        return None
    fig = _figure(5.4, max(2.0, 0.9 + 0.38 * len(rows)))
    ax = fig.subplots()
    ys = np.arange(len(rows))
    rates = [float(p.get("pass_rate", 0.0)) for p in rows]
    ax.barh(ys, [r * 100 for r in rates], color=[rate_color(r) for r in rates], height=0.65)
    for y, r, p in zip(ys, rates, rows):
        ax.text(min(r * 100, 100) + 1.5, y, f"{r:.0%} ({p.get('passed', 0)}/{p.get('graded', 0)})", va="center",
                fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([str(p["id"]) + (" (bonus)" if p.get("bonus") else "") for p in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.set_title("pass rate per problem", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)
