"""One look for every artbandit chart and table: fonts, tick labels, a colour per policy, number format.

The simulate, replay and demo reports all draw through this module, so that `vw:select` (the default) is
the same blue on every page, impressions read "10k, 20k" instead of "10000" run into "12500", legends
and heatmap labels are legible at the size the page shows them, and a table never puts
"1.252e+04" next to "0.3454". `overlapping_labels` is how the tests (and anyone changing a chart)
check that no two tick labels collide.
"""

from __future__ import annotations

import functools
import math
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

import matplotlib

matplotlib.use("Agg")  # no display on servers/CI; must happen before pyplot is imported anywhere

# The page column is 1100 CSS px wide and figures are saved at DPI, so a figure this wide is shown
# at its natural size: 1 pt of font = 1.39 px on screen, never scaled down by the browser.
DPI = 100
PAGE_WIDTH_IN = 10.6
TICK_SIZE = 10
LABEL_SIZE = 11
LEGEND_SIZE = 10
TITLE_SIZE = 12

RC: dict[str, Any] = {
    "font.size": LABEL_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": LABEL_SIZE,
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "legend.fontsize": LEGEND_SIZE,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "text.parse_math": False,  # a "$" in a policy, segment or title name is text, not TeX
}

# Okabe-Ito (colour-blind safe) for the policies artbandit ships; the same spec, the same colour,
# in the simulate, replay and demo reports.
POLICY_COLOURS: dict[str, str] = {
    "vw:select": "#0072B2",
    "vw": "#0072B2",  # `vw` is vw:select, the default
    "vw:squarecb": "#44AA99",
    "linucb": "#E69F00",
    "ts-per-title": "#009E73",
    "uniform": "#999999",
    "vw:epsilon": "#56B4E9",
    "vw:softmax": "#CC79A7",
    "vw:bag": "#D55E00",
    "vw:cover": "#332288",
    "best-fixed": "#8C564B",
}
# other names (model:DIR, library policies): a stable pick from these, by a hash of the name
_SPARE = ("#882255", "#117733", "#AA4499", "#DDCC77", "#6699CC", "#661100", "#888855")
# the references drawn as lines (not policies that ran)
REFERENCE_STYLES: dict[str, dict[str, Any]] = {
    "oracle": {"color": "#222222", "ls": "-", "lw": 1.0},
    "best fixed": {"color": "#222222", "ls": "--", "lw": 1.0},
    "uniform expected": {"color": "#222222", "ls": ":", "lw": 1.2},
    "logging policy": {"color": "#222222", "ls": ":", "lw": 1.2},
}
BASELINE_COLOUR = "#BBBBBB"  # bars of the "one artwork for everyone" baseline
GAIN_COLOUR = "#1B7837"
LOSS_COLOUR = "#B2182B"


def policy_key(label: str) -> str:
    """The policy a report label stands for: 'vw:squarecb [reward=quality_play]' and 'vw:squarecb#2'
    are vw:squarecb (same colour, the label tells them apart)."""
    base = label.split(" [", 1)[0].strip()
    for sep in (" #", "#"):
        head, _, tail = base.rpartition(sep)
        if head and tail.isdigit():
            base = head
            break
    return base


def policy_colour(label: str) -> str:
    """The one colour of a policy in every report."""
    key = policy_key(label)
    if key in POLICY_COLOURS:
        return POLICY_COLOURS[key]
    return _SPARE[zlib.crc32(key.encode("utf-8")) % len(_SPARE)]


def policy_linestyle(label: str) -> str:
    """Solid for a policy on the run's reward, dashed for the same policy rerun on the other one."""
    return "--" if "[reward=" in label else "-"


def count_label(value: float) -> str:
    """Counts for axes: 0, 500, 2.5k, 10k, 100k, 1.5M (never 1e5, never 12500 next to 15000)."""
    v = abs(value)
    sign = "-" if value < 0 else ""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= size:
            return f"{sign}{v / size:.3g}{suffix}"
    return f"{sign}{v:.3g}" if v != int(v) else f"{sign}{int(v)}"


def format_number(value: Any, digits: int = 4) -> str:
    """The one number format of report tables.

    Integers with thousands separators (12,520); floats of 1,000 or more rounded to whole numbers
    with separators (1,600); other floats with `digits` decimals (0.3454); missing values "-".
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return f"{int(value):,}"
    if isinstance(value, float) or hasattr(value, "dtype"):
        f = float(value)
        if not math.isfinite(f):
            return "-" if math.isnan(f) else ("inf" if f > 0 else "-inf")
        return f"{f:,.0f}" if abs(f) >= 1000 else f"{f:.{digits}f}"
    return str(value)


def format_percent(value: float | None, *, signed: bool = False, digits: int = 1) -> str:
    """Shares and lifts as percentages: 81.2%, +39.2%, -13.7% ("-" when missing)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


@contextmanager
def style() -> Iterator[None]:
    """The report style, for drawing and for saving (matplotlib reads some settings at save time)."""
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]  # the stubs want literal keys
        yield


F = TypeVar("F", bound=Callable[..., Any])


def styled(draw: F) -> F:
    """Run a chart-building function in the report style: labels set after the figure is made
    (ticks, titles, annotations) read the style too, e.g. a "$" in a name stays text."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style():
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def figure(nrows: int = 1, ncols: int = 1, *, width: float = PAGE_WIDTH_IN, height: float = 3.6, **kwargs: Any):
    """A figure in the report style (fonts, grid, layout); returns (fig, axes) like plt.subplots."""
    import matplotlib.pyplot as plt

    with style():
        kwargs.setdefault("layout", "constrained")
        fig, axes = plt.subplots(nrows, ncols, figsize=(min(width, PAGE_WIDTH_IN), height), **kwargs)
    for ax in axes.flat if hasattr(axes, "flat") else [axes]:
        ax.tick_params(labelsize=TICK_SIZE)  # stored on the axis, so lazily created ticks get it too
    return fig, axes


# Policies that are hindsight references, not deployable candidates (best-fixed picks each action in
# hindsight; the oracle knows every click probability): drawn, but never allowed to set an axis, so a
# reference's huge interval cannot squash the candidates it is there to be compared with.
HINDSIGHT_REFERENCES = ("best-fixed", "oracle")


def is_hindsight_reference(name: str) -> bool:
    return name in HINDSIGHT_REFERENCES or name.startswith(tuple(f"{r} " for r in HINDSIGHT_REFERENCES))


def limit_to_candidates(
    ax: Any,
    drawn: Sequence[tuple[float, float, float, float, bool]],
    *,
    extra: Sequence[float] = (),
    vertical: bool = True,
    annotate: bool = True,
) -> None:
    """Fit the value axis to the candidates' intervals (and `extra` values such as a reference line);
    a hindsight reference reaching past it is cut at the edge with its number written there.

    drawn: (position, value, low, high, is_hindsight) per point drawn."""
    own = [v for _, value, low, high, ref in drawn if not ref for v in (value, low, high) if math.isfinite(v)]
    own += [v for v in extra if v is not None and math.isfinite(v)]
    if not own or all(not ref for *_, ref in drawn):
        return
    lo, hi = min(own), max(own)
    pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1e-3)
    lo, hi = lo - pad, hi + pad
    (ax.set_ylim if vertical else ax.set_xlim)(lo, hi)
    for pos, value, low, high, ref in drawn if annotate else ():
        if not ref or not math.isfinite(value):
            continue
        inside = lo <= value <= hi
        if inside and not (high > hi or low < lo):
            continue
        up = value > hi or (inside and high > hi)
        text = f"{value:.3g} [{low:.3g}, {high:.3g}]" if not inside else f"to {high if up else low:.3g}"
        arrow = ("↑ " if up else "↓ ") if vertical else ("→ " if up else "← ")
        xy = (pos, hi if up else lo) if vertical else (hi if up else lo, pos)
        ax.annotate(
            arrow + text,
            xy=xy,
            rotation=90 if vertical else 0,
            fontsize=7,
            color="#555555",
            ha=("right" if vertical else ("right" if up else "left")),
            va=(("top" if up else "bottom") if vertical else "bottom"),
            xytext=(-3, 0) if vertical else (0, 3),
            textcoords="offset points",
        )


def count_axis(axis: Any, nbins: int = 5) -> None:
    """An axis of counts (impressions, events): at most `nbins` round ticks labelled 10k, 100k."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], integer=True))
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: count_label(x)))


def percent_axis(axis: Any, *, decimals: int | None = None) -> None:
    """An axis of shares/rates shown as percentages."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=decimals))


def legend(target: Any, **kwargs: Any) -> Any:
    """A legend at the report's legend size (ax.legend or fig.legend)."""
    kwargs.setdefault("fontsize", LEGEND_SIZE)
    kwargs.setdefault("frameon", False)
    return target.legend(**kwargs)


def overlapping_labels(fig: Any) -> list[tuple[str, str]]:
    """Pairs of tick labels (x or y, any axes of `fig`) whose drawn boxes overlap, plus any label
    drawn outside the figure. Empty means every label can be read."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    clashes: list[tuple[str, str]] = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            pad = (hi - lo) * 1e-9
            boxes = [
                (t.get_text(), t.get_window_extent(renderer))
                for loc, t in zip(axis.get_majorticklocs(), axis.get_ticklabels())
                if t.get_visible() and t.get_text() and lo - pad <= loc <= hi + pad
            ]
            for i, (a, box_a) in enumerate(boxes):
                if box_a.x0 < fig_box.x0 - 1 or box_a.x1 > fig_box.x1 + 1:
                    clashes.append((a, "<outside the figure>"))
                for b, box_b in boxes[i + 1 :]:
                    if box_a.overlaps(box_b):
                        clashes.append((a, b))
    return clashes


def tick_font_sizes(fig: Any) -> list[float]:
    """Font sizes (pt) of every visible tick label, legend text and axes title in `fig`."""
    sizes: list[float] = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            sizes += [t.get_fontsize() for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
        if ax.get_legend() is not None:
            sizes += [t.get_fontsize() for t in ax.get_legend().get_texts()]
    for leg in fig.legends:
        sizes += [t.get_fontsize() for t in leg.get_texts()]
    return sizes
