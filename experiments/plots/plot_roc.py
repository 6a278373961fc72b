#!/usr/bin/python3
"""ROC curves of rupture-onset detection per rater and rule, AUC with MCSE, and the threshold with
the largest Youden J (sensitivity + specificity - 1) marked. One results file per rule, each a run
of configs/detection_roc.toml with that rule and its roc_thresholds."""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import ResultsError, open_results, run_main, save

RATERS = [("patient", "tab:blue", "o"), ("therapist", "tab:orange", "s")]
UNITS = {"absolute_drop": "scale points", "sd_drop": "SDs of differences",
         "rci": "RCI units (× s₁√(2(1−r)))", "percent_drop": "proportion of previous score"}


def roc_points(res, rater):
    """Thresholds, mean sensitivity/specificity and their MCSE, from the tidy summary."""
    thresholds = [float(t) for t in res.cfg("detection.roc_thresholds", [])]
    if not thresholds:
        raise ResultsError(f"{res.path}: detection.roc_thresholds is empty, no ROC in this file")
    sens = np.array([res.rep(f"roc.{rater}.{k}.sensitivity")[0] for k in range(len(thresholds))])
    spec = np.array([res.rep(f"roc.{rater}.{k}.specificity")[0] for k in range(len(thresholds))])
    n = np.sum(np.isfinite(sens), axis=1)
    s_m, p_m = np.nanmean(sens, axis=1), np.nanmean(spec, axis=1)
    s_se = np.nanstd(sens, axis=1, ddof=1) / np.sqrt(np.maximum(n, 1))
    p_se = np.nanstd(spec, axis=1, ddof=1) / np.sqrt(np.maximum(n, 1))
    return np.array(thresholds), s_m, s_se, p_m, p_se


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="+", help="results files, one per rule (RULE=FILE.h5 or FILE.h5)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    runs = []
    for spec in a.files:
        path = spec.split("=", 1)[1] if "=" in spec else spec
        res = open_results(path)
        if res.ncond != 1:
            raise ResultsError(f"{path}: expected one condition, found {res.ncond}")
        runs.append((res.cfg("detection.rule", "?"), res))
    ncol = 2 if len(runs) > 1 else 1
    nrow = (len(runs) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.6 * nrow), squeeze=False)
    for ax, (rule, res) in zip(axes.flat, runs):
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.7, ls="--")
        for rater, color, marker in RATERS:
            thr, s, s_se, p, p_se = roc_points(res, rater)
            auc = res.rep(f"roc.{rater}.auc")[0]
            auc_m = np.nanmean(auc)
            auc_se = np.nanstd(auc, ddof=1) / np.sqrt(np.sum(np.isfinite(auc)))
            fpr = 1 - p
            o = np.argsort(fpr)
            xs = np.concatenate([[0], fpr[o], [1]])
            ys = np.concatenate([[0], s[o], [1]])
            ax.plot(xs, ys, color=color, lw=1.3,
                    label=f"{rater}: AUC {auc_m:.3f} (MCSE {auc_se:.4f})")
            ax.errorbar(fpr, s, xerr=1.96 * p_se, yerr=1.96 * s_se, fmt=marker, ms=3,
                        color=color, elinewidth=0.6, capsize=0)
            j = s + p - 1
            b = int(np.nanargmax(j))
            ax.plot(fpr[b], s[b], marker="*", ms=15, color=color, markeredgecolor="k", zorder=5)
            ax.annotate(f"best J = {j[b]:.2f}\nat {thr[b]:.3g}", (fpr[b], s[b]),
                        textcoords="offset points", xytext=(14, -34 if rater == "patient" else 10),
                        fontsize=8, color=color,
                        bbox=dict(boxstyle="round,pad=0.2", fc="w", ec="none", alpha=0.8))
            default = res.cfg("detection.threshold")
            if default is not None:
                k = int(np.argmin(np.abs(thr - float(default))))
                if np.isclose(thr[k], float(default), atol=1e-6):
                    ax.plot(fpr[k], s[k], marker="o", ms=9, mfc="none", color=color, mew=1.2)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("1 − specificity (false-positive rate per session)")
        ax.set_ylabel("sensitivity (true onsets detected)")
        ax.set_title(f"{rule}: thresholds {min(thr):.3g}–{max(thr):.3g} {UNITS.get(rule, '')}",
                     fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    fig.suptitle("Rupture-onset detection per session (t ≥ 2) against the latent truth, seed design\n"
                 "★ max Youden J (sensitivity + specificity − 1), ○ configured threshold (seed: 2/3 point for absolute_drop; rule defaults otherwise); bars ±1.96 MCSE", fontsize=10)
    fig.text(0.01, 0.005, runs[0][1].provenance(), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 0.95))
    save(fig, a.out)


if __name__ == "__main__":
    run_main(main)
