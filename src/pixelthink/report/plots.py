"""Report plots (PNG files) drawn with matplotlib's object API (``matplotlib.figure.Figure``).

No ``pyplot`` and no global backend switch: each figure is a standalone ``Figure`` saved with the Agg
renderer, so plotting is safe inside other programs (servers, notebooks) and in threads.

Inputs are per-sample results of ``pixelthink.evaluate`` (``SampleResult``: ``bucket``, ``tokens``,
``iou``, ``failed``) and per-bucket results (``BucketResult``). Every function writes one PNG and
returns its path; empty inputs give a figure that says so instead of failing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pixelthink.evaluate.results import BucketResult, SampleResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BUCKET_COLORS",
    "PLOT_BUCKETS",
    "plot_compare",
    "plot_iou_vs_tokens",
    "plot_token_distribution",
]

#: Difficulty buckets in display order (``all`` is not a bucket of samples).
PLOT_BUCKETS: tuple[str, ...] = ("easy", "medium", "hard", "unrated")
BUCKET_COLORS: dict[str, str] = {
    "easy": "#2e9e5b",
    "medium": "#e69f00",
    "hard": "#d1495b",
    "unrated": "#8a8f98",
    "all": "#3b6ea8",
}
RUN_COLORS: tuple[str, ...] = ("#3b6ea8", "#e07b39", "#5aa469", "#9b5fc0", "#c44e52", "#8c8c8c", "#d4a017")
DPI = 110


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            f"pixelthink report needs matplotlib for its plots ({exc}); install it: pip install matplotlib"
        ) from None


def _figure(width: float, height: float) -> Figure:
    _require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def _style(ax: Axes) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", color="#e3e6ea", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _length_label(unit: str) -> str:
    return f"reasoning length ({unit})" if unit and unit != "length" else "reasoning length"


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format="png", dpi=DPI, facecolor="white")
    return p


def plot_token_distribution(
    samples: Sequence[SampleResult], path: str | os.PathLike[str], *, unit: str = "tokens"
) -> Path:
    """Box plot of reasoning length per difficulty bucket, with every sample as a jittered dot.

    Args:
        samples: per-sample results; samples with ``tokens is None`` are left out.
        path: PNG file to write.
        unit: axis label of the length (the report's ``length_unit``).
    """
    groups = {
        b: np.asarray([s.tokens for s in samples if s.bucket == b and s.tokens is not None], dtype=float)
        for b in PLOT_BUCKETS
    }
    shown = [b for b in PLOT_BUCKETS if groups[b].size or b in ("easy", "medium", "hard")]
    fig = _figure(6.2, 3.8)
    ax = fig.add_subplot()
    _style(ax)
    ax.set_title("Reasoning length per difficulty bucket", fontsize=11, loc="left")
    if not any(groups[b].size for b in shown):
        _empty(ax, "no reasoning lengths recorded")
        return _save(fig, path)
    data = [groups[b] if groups[b].size else np.asarray([np.nan]) for b in shown]
    positions = np.arange(1, len(shown) + 1)
    bp = ax.boxplot(
        data,
        positions=positions,
        widths=0.5,
        showfliers=False,
        patch_artist=True,
        medianprops={"color": "#222222", "linewidth": 1.4},
    )
    rng = np.random.default_rng(0)  # fixed jitter: the same inputs give the same picture
    for pos, b, box in zip(positions, shown, bp["boxes"], strict=True):
        box.set_facecolor(BUCKET_COLORS[b] + "40")
        box.set_edgecolor(BUCKET_COLORS[b])
        vals = groups[b]
        if vals.size:
            x = pos + rng.uniform(-0.17, 0.17, size=vals.size)
            ax.scatter(x, vals, s=10, color=BUCKET_COLORS[b], alpha=0.65, linewidths=0, zorder=3)
            ax.scatter([pos], [vals.mean()], marker="D", s=28, color="white", edgecolors="#222222", zorder=4)
    ax.set_xticks(positions, [f"{b}\n(n={groups[b].size})" for b in shown])
    ax.set_ylabel(_length_label(unit), fontsize=9)
    ax.set_ylim(bottom=0)
    ax.text(0.99, 0.98, "◆ mean", transform=ax.transAxes, ha="right", va="top", fontsize=8, color="#444444")
    return _save(fig, path)


def plot_iou_vs_tokens(
    samples: Sequence[SampleResult], path: str | os.PathLike[str], *, unit: str = "tokens"
) -> Path:
    """Scatter of per-sample IoU against reasoning length, coloured by bucket; failures drawn as x.

    Samples without a length or without an IoU (``segzero`` drops empty unions) are left out and
    counted in the title.
    """
    fig = _figure(6.2, 3.8)
    ax = fig.add_subplot()
    _style(ax)
    usable = [s for s in samples if s.tokens is not None and s.iou is not None]
    left_out = len(samples) - len(usable)
    title = "Per-sample IoU vs reasoning length"
    ax.set_title(title, fontsize=11, loc="left")
    if not usable:
        _empty(ax, "no samples with both a reasoning length and an IoU")
        return _save(fig, path)
    for b in PLOT_BUCKETS:
        ok = [s for s in usable if s.bucket == b and not s.failed]
        bad = [s for s in usable if s.bucket == b and s.failed]
        if ok:
            ax.scatter(
                [s.tokens for s in ok],
                [s.iou for s in ok],
                s=16,
                color=BUCKET_COLORS[b],
                alpha=0.75,
                linewidths=0,
                label=f"{b} ({len(ok)})",
            )
        if bad:
            ax.scatter(
                [s.tokens for s in bad],
                [s.iou for s in bad],
                s=26,
                marker="x",
                color=BUCKET_COLORS[b],
                alpha=0.9,
                label=f"{b} failed ({len(bad)})",
            )
    ax.set_xlabel(_length_label(unit), fontsize=9)
    ax.set_ylabel("IoU", fontsize=9)
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlim(left=0)
    ax.grid(axis="x", color="#e3e6ea", linewidth=0.8)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.3)
    if left_out:
        ax.text(
            1.02,
            0.0,
            f"{left_out} sample(s) without\nlength or IoU not shown",
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=7.5,
            color="#666666",
        )
    return _save(fig, path)


def _bar_labels(ax: Axes, bars: Any, values: Sequence[float | None], fmt: str) -> None:
    for bar, v in zip(bars, values, strict=True):
        if v is None:
            ax.text(bar.get_x() + bar.get_width() / 2, 0, "–", ha="center", va="bottom", fontsize=7)
            continue
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height(),
            format(v, fmt),
            ha="center",
            va="bottom",
            fontsize=7,
            color="#333333",
        )


def plot_compare(
    runs: Mapping[str, Mapping[str, BucketResult]],
    path: str | os.PathLike[str],
    *,
    buckets: Sequence[str] = ("easy", "medium", "hard", "all"),
    unit: str = "tokens",
) -> Path:
    """Grouped bars per bucket, one bar per run: mean reasoning length (left) and gIoU in % (right).

    Args:
        runs: run name -> bucket name -> ``BucketResult`` (insertion order = bar order).
        path: PNG file to write.
        buckets: the bucket groups on the x axis.
        unit: length unit for the axis label.
    """
    names = list(runs)
    fig = _figure(12.4, 3.4)
    ax_tok, ax_iou = fig.subplots(1, 2)
    for ax in (ax_tok, ax_iou):
        _style(ax)
    ax_tok.set_title("Mean reasoning length per bucket", fontsize=11, loc="left")
    ax_iou.set_title("gIoU (%) per bucket", fontsize=11, loc="left")
    if not names:
        _empty(ax_tok, "no runs")
        _empty(ax_iou, "no runs")
        return _save(fig, path)
    x = np.arange(len(buckets), dtype=float)
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        res = runs[name]
        toks = [res[b].tokens_mean if b in res else None for b in buckets]
        ious = [100.0 * res[b].giou if b in res and res[b].giou is not None else None for b in buckets]
        color = RUN_COLORS[k % len(RUN_COLORS)]
        offs = x - 0.4 + width * (k + 0.5)
        bars = ax_tok.bar(offs, [0.0 if v is None else v for v in toks], width, color=color, label=name)
        _bar_labels(ax_tok, bars, toks, ".0f")
        bars = ax_iou.bar(offs, [0.0 if v is None else v for v in ious], width, color=color, label=name)
        _bar_labels(ax_iou, bars, ious, ".1f")
    for ax in (ax_tok, ax_iou):
        ax.set_xticks(x, list(buckets))
    ax_tok.set_ylabel("mean " + _length_label(unit), fontsize=9)
    ax_iou.set_ylabel("gIoU (%)", fontsize=9)
    ax_iou.set_ylim(0, 105)
    ax_tok.legend(fontsize=8, frameon=False, loc="upper left")
    return _save(fig, path)
