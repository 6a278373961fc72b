#!/usr/bin/python3
"""Type I error under null rupture/repair effects with mood-congruent patient ratings
(configs/null_mood.toml): rejection rate of the lagged rupture and repair terms per rater against
the strength of mood congruence, one panel per alliance-fluctuation effect beta_A."""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import open_results, run_main, save

MOOD, BA = "raters.patient.mood_congruence", "distress.effects.alliance"
SERIES = [("lagged", "patient", "rupture", "patient-rated rupture", "tab:blue", "-", "o"),
          ("lagged", "therapist", "rupture", "therapist-rated rupture", "tab:orange", "-", "s"),
          ("oracle", "truth", "rupture", "true rupture (oracle)", "0.35", "-", "^"),
          ("lagged", "patient", "repair", "patient-rated repair", "tab:blue", "--", "o"),
          ("lagged", "therapist", "repair", "therapist-rated repair", "tab:orange", "--", "s")]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", help="results of configs/null_mood.toml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = open_results(a.results, swept=(MOOD,), scenario="null_mood.toml")
    mood = res.condition_values(MOOD)
    ba = res.condition_values(BA)
    levels = np.unique(ba)[::-1]
    alpha = res.alpha()
    fig, axes = plt.subplots(1, len(levels), figsize=(5.6 * len(levels), 4.4), sharey=True, squeeze=False)
    ymax = 0.1
    for ax, level in zip(axes.flat, levels):
        sel = np.isclose(ba, level)
        x = -mood[sel]
        o = np.argsort(x)
        for model, rater, term, label, color, ls, marker in SERIES:
            p, se = res.summary(model, rater, term, "power")
            p, se = p[sel][o], se[sel][o]
            ax.errorbar(x[o], p, yerr=1.96 * se, color=color, ls=ls, marker=marker, ms=4,
                        capsize=2, lw=1.2, label=label)
            ymax = max(ymax, np.nanmax(p + 1.96 * se))
        n = np.nanmax(res.summary("lagged", "patient", "rupture", "n")[0][sel])
        band = 1.96 * np.sqrt(alpha * (1 - alpha) / n)
        ax.axhspan(alpha - band, alpha + band, color="0.85", zorder=0)
        ax.axhline(alpha, color="k", lw=0.8, ls=":")
        ax.axvline(-float(res.cfg(MOOD)), color="tab:red", lw=0.8, alpha=0.6)
        ax.set_xlabel("mood congruence of patient ratings\n(alliance points lower per within-person SD of distress)")
        ax.set_title(f"β_R = β_P = β_U = 0; alliance-fluctuation effect β_A = {level:g}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(f"rejection rate at α = {alpha:g} (type I error)")
    axes[0, 0].set_ylim(0, min(1, ymax * 1.05))
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Do patient-reported ruptures 'predict' distress when they have no effect? "
                 "(grey band: α ± 1.96 MCSE of an exact test; red line: seed value 0.05; bars ±1.96 MCSE)",
                 fontsize=9)
    fig.text(0.01, 0.004, res.provenance(), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 0.95))
    save(fig, a.out)


if __name__ == "__main__":
    run_main(main)
