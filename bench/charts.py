#!/usr/bin/env python3
"""charts.py - the PNG charts of the benchmark report (needs matplotlib).

usage: charts.py COMBINED_CSV OUT_DIR

Reads the merged rows report.py wrote (combined.csv) and writes, printing
each file name it makes:
  ratios_<program>.png  one bar per row: how many times faster (right) or
                        slower (left) pyconc is than that peer, on a log
                        scale, with the best and worst round as a whisker;
  scaling.png           time per operation as the work grows (pool workers,
                        queue producers, scheduler events), pyconc and peer.
"""
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

FASTER, SLOWER, SKIPPED = "#2a9d8f", "#e76f51", "#9e9e9e"
TICKS = [1, 1.5, 2, 3, 5, 10, 20, 50, 100, 1000, 1e4, 1e5, 1e6]


def number(text):
    return float(text) if text else None


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("pyconc_s", "peer_s", "ratio", "ratio_min", "ratio_max", "x"):
            r[k] = number(r[k])
    return rows


def speed_words(ratio):
    times = 1 / ratio if ratio <= 1 else ratio
    decimals = 2 if times < 9.995 else 1 if times < 99.95 else 0
    return "%.*fx %s" % (decimals, times, "faster" if ratio <= 1 else "slower")


# >>ratios  Bars of log10(peer / pyconc): right of zero pyconc is faster.
def tick_words(v):
    times = 10 ** abs(v)
    if abs(v) < 1e-9:
        return "same"
    words = "{:,.0f}".format(times) if times >= 1000 else "%g" % round(times, 1)
    return "%sx %s" % (words, "faster" if v > 0 else "slower")


def ratio_ticks(left, right):
    """Ticks at 1.5x, 2x, 3x, 5x, 10x ... within [left, right], none closer
    than a ninth of the width to another, so their words never overlap."""
    gap = (right - left) / 9
    ticks = [0.0]
    for t in TICKS[1:]:
        for v in (math.log10(t), -math.log10(t)):
            inside = left + gap / 2 <= v <= right - gap / 2     # the words fit
            if inside and all(abs(v - u) >= gap for u in ticks):
                ticks.append(v)
    return sorted(ticks)


def bar_label(r):
    return "%s  vs %s" % (r["case"], r["peer"])


def draw_ratio_bars(ax, rows):
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        if r["ratio"] is None:
            ax.text(0, y, "  " + r["pyconc_is"], va="center", ha="left", color=SKIPPED,
                    fontsize=9, style="italic")
            continue
        v = math.log10(1 / r["ratio"])
        lo = math.log10(1 / r["ratio_max"]) if r["ratio_max"] else v
        hi = math.log10(1 / r["ratio_min"]) if r["ratio_min"] else v
        ax.barh(y, v, color=FASTER if v >= 0 else SLOWER, height=0.62)
        if hi - lo > 1e-6:         # the rounds disagree: show by how much
            ax.errorbar(v, y, xerr=[[v - lo], [hi - v]], fmt="none", ecolor="#333333",
                        elinewidth=0.8, capsize=2.5)
        end = max(v, hi) if v >= 0 else min(v, lo)
        ax.text(end + (0.04 if v >= 0 else -0.04), y, speed_words(r["ratio"]), va="center",
                ha="left" if v >= 0 else "right", fontsize=8.5)
    for y, prev, r in zip(ys[1:], rows, rows[1:]):
        if r["case"] != prev["case"]:       # a thin rule between cases
            ax.axhline(y + 0.5, color="#cccccc", linewidth=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels([bar_label(r) for r in rows], fontsize=9)


def ratio_limits(rows):
    """The x range: every bar and whisker, zero, and room for the words."""
    values = [0.0]
    for r in rows:
        for k in ("ratio", "ratio_min", "ratio_max"):
            if r[k]:
                values.append(math.log10(1 / r[k]))
    left, right = min(values), max(values)
    pad = max(right - left, 1.0) * 0.28         # the words at the bar ends
    return left - (pad if left < 0 else 0.15), right + pad


def ratio_chart(program, rows, out_dir):
    rows = [r for r in rows if r["program"] == program and r["kind"] == "row"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.36 * len(rows)))
    left, right = ratio_limits(rows)
    ax.axvspan(left, 0, color=SLOWER, alpha=0.07)
    ax.axvspan(0, right, color=FASTER, alpha=0.07)
    draw_ratio_bars(ax, rows)
    ax.axvline(0, color="#333333", linewidth=0.9)
    ax.set_xlim(left, right)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.xaxis.set_major_locator(FixedLocator(ratio_ticks(left, right)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_words(v)))
    ax.tick_params(axis="x", labelsize=8.5)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title("%s: pyconc against each peer (log scale; green: pyconc faster)" % program,
                 fontsize=11)
    fig.tight_layout()
    name = "ratios_%s.png" % program
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


# >>scaling  Time per operation against the size of the work.
def time_axis_words(s, _pos=None):
    if s < 1e-6:
        return "%g ns" % round(s * 1e9, 3)
    if s < 1e-3:
        return "%g us" % round(s * 1e6, 3)
    return "%g ms" % round(s * 1e3, 3)


def count_words(v):
    """1, 16, 10k, 1M: a size as the case names say it."""
    for unit, word in ((1e6, "M"), (1e3, "k")):
        if v >= unit and v % unit == 0:
            return "%g%s" % (v / unit, word)
    return "%g" % v


def common_prefix(pts):
    """What the series' case names share ("throughput", "enter+run")."""
    prefix = os.path.commonprefix([p["case"] for p in pts])
    return prefix.rstrip(" ,0123456789") or pts[0]["case"]


def draw_series(ax, name, pts):
    xs = [p["x"] for p in pts]
    peer = pts[0]["peer"]
    ax.plot(xs, [p["pyconc_s"] for p in pts], "o-", color="#264653", linewidth=2,
            label="pyconc")
    measured = [p for p in pts if p["peer_s"]]
    ax.plot([p["x"] for p in measured], [p["peer_s"] for p in measured], "s--",
            color="#e9c46a", linewidth=2, label=peer)
    for p in measured:         # below pyconc's point when it is the lower line
        ax.annotate(speed_words(p["ratio"]), (p["x"], p["pyconc_s"]), fontsize=7.5,
                    textcoords="offset points", xytext=(0, -14 if p["ratio"] <= 1 else 8),
                    ha="center", color=FASTER if p["ratio"] <= 1 else SLOWER)
    ax.set_xscale("log", base=2 if max(xs) <= 64 else 10)
    ax.set_xticks(xs)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: count_words(v)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(time_axis_words))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel(name)
    ax.set_ylabel("time per operation")
    ax.set_title("%s: %s" % (pts[0]["program"], common_prefix(pts)), fontsize=10)
    ax.grid(color="#dddddd", linewidth=0.6, which="major")
    ax.legend(fontsize=8.5, loc="upper left")     # costs grow to the upper right
    ax.margins(y=0.25)


def scaling_chart(rows, out_dir):
    series = []
    for r in rows:
        if r["kind"] == "row" and r["series"] and r["series"] not in series:
            series.append(r["series"])
    if not series:
        return None
    width = max(6.4, 5.2 * len(series))
    fig, axes = plt.subplots(1, len(series), figsize=(width, 4.6), squeeze=False)
    for ax, name in zip(axes[0], series):
        pts = sorted((r for r in rows if r["kind"] == "row" and r["series"] == name),
                     key=lambda r: r["x"])
        draw_series(ax, name, pts)
    fig.suptitle("How the cost per operation grows with the work (log scales)", fontsize=11)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "scaling.png"), dpi=110)
    plt.close(fig)
    return "scaling.png"


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    rows, out_dir = read(argv[1]), argv[2]
    programs = []
    for r in rows:
        if r["program"] not in programs:
            programs.append(r["program"])
    made = [ratio_chart(p, rows, out_dir) for p in programs] + [scaling_chart(rows, out_dir)]
    for name in made:
        if name:
            print(name, flush=True)


if __name__ == "__main__":
    main(sys.argv)
