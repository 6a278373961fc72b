#!/usr/bin/python3
"""Calibration plot: published targets vs the values the calibrated seed scenario achieves, with
Monte Carlo SE. Reads a CSV with columns target,measure,value,achieved,mcse (written by
make_calibration_csv.py from the seed run, or by the calibrate verb)."""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import ResultsError, read_csv_rows, run_main, save

COLUMNS = ["target", "measure", "value", "achieved", "mcse"]


def read(path):
    rows = []
    for line, r in enumerate(read_csv_rows(path, COLUMNS, "calibration file (run experiments/run_all first)"), start=2):
        try:
            rows.append((r["target"], r["measure"], float(r["value"]), float(r["achieved"]),
                         float(r["mcse"]) if r["mcse"] not in ("", "NA") else np.nan))
        except ValueError as e:
            raise ResultsError(f"{path}:{line}: expected numbers in value, achieved, mcse ({e})")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv")
    ap.add_argument("--title", default="Calibrated seed scenario (configs/gidhagen2025.toml)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = read(a.csv)
    labels = [t if t.endswith("." + m) else f"{t}.{m}" for t, m, *_ in rows]
    value = np.array([r[2] for r in rows])
    ach = np.array([r[3] for r in rows])
    se = np.array([r[4] for r in rows])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 1.6 + 0.55 * len(rows) + 1.6),
                                   gridspec_kw={"width_ratios": [1, 1.3]})
    lo, hi = min(value.min(), ach.min()), max(value.max(), ach.max())
    pad = 0.1 * (hi - lo) + 0.02
    ax1.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", ls="--", lw=0.8, label="achieved = target")
    ax1.errorbar(value, ach, yerr=1.96 * se, fmt="o", color="tab:blue", capsize=3, label="achieved ± 1.96 MCSE")
    for x, y, l in zip(value, ach, labels):
        ax1.annotate(l.split(".")[1] if l.count(".") >= 3 else l, (x, y), textcoords="offset points",
                     xytext=(6, -10), fontsize=8)
    ax1.set_xlabel("published target (proportion / model units)")
    ax1.set_ylabel("achieved in simulation (mean over replications)")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.grid(alpha=0.3)
    y = np.arange(len(rows))[::-1]
    d = ach - value
    ax2.axvline(0, color="0.5", ls="--", lw=0.8)
    ax2.errorbar(d, y, xerr=1.96 * se, fmt="o", color="tab:blue", capsize=3)
    ax2.axvspan(-0.03, 0.03, color="tab:green", alpha=0.12, label="± 0.03 (issue 6 tolerance for prevalences)")
    for yi, di, v, av, s in zip(y, d, value, ach, se):
        ax2.annotate(f"target {v:.3g}, achieved {av:.4f} (MCSE {s:.4f})", (di, yi), textcoords="offset points",
                     xytext=(0, 7), ha="center", fontsize=7.5)
    ax2.set_yticks(y, labels, fontsize=8)
    ax2.set_ylim(-0.7, len(rows) - 0.3)
    ax2.set_xlabel("achieved − target")
    ax2.legend(fontsize=7, loc="lower right")
    ax2.grid(alpha=0.3, axis="x")
    fig.suptitle(a.title + " — targets vs achieved, bars ±1.96 MCSE", fontsize=10)
    fig.text(0.01, 0.004, os.path.basename(a.csv), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 0.95))
    save(fig, a.out)


if __name__ == "__main__":
    run_main(main)
