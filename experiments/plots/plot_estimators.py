#!/usr/bin/python3
"""Estimator bias (configs/estimators.toml): bias of the rupture coefficient of the lagged, within,
initial (Wooldridge 2005) and oracle models, and of the oracle's, within's and initial's `distress`
(autoregressive) coefficient, against series length, one line per distress AR."""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import mean_mcse, open_results, run_main, save

AR, T = "distress.ar", "design.sessions.mean"


def lines(ax, res, values, mcse, styles=None, label_prefix="", ls="-", marker="o"):
    ar = res.condition_values(AR)
    t = res.condition_values(T)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(np.unique(ar))))
    for color, a in zip(colors, np.unique(ar)):
        sel = np.isclose(ar, a)
        o = np.argsort(t[sel])
        ax.errorbar(t[sel][o], values[sel][o], yerr=1.96 * mcse[sel][o], color=color, ls=ls,
                    marker=marker, ms=3.5, capsize=2, lw=1.2, label=f"{label_prefix}AR {a:g}")
    ax.axhline(0, color="k", lw=0.7)
    ax.grid(alpha=0.3)
    ax.set_xlabel("sessions per patient (fixed plan)")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", help="results of configs/estimators.toml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = open_results(a.results, swept=(AR, T), scenario="estimators.toml")
    beta_r = res.cfg("distress.effects.rupture")
    panels = [("oracle", "truth", "oracle (lagged form, true events)"),
              ("initial", "truth", "initial, true events"),
              ("lagged", "patient", "lagged, patient-rated events"),
              ("lagged", "therapist", "lagged, therapist-rated events"),
              ("within", "patient", "within, patient-rated events"),
              ("within", "therapist", "within, therapist-rated events"),
              ("initial", "patient", "initial, patient-rated events"),
              ("initial", "therapist", "initial, therapist-rated events")]
    fig, axes = plt.subplots(3, 3, figsize=(12.5, 10.5))
    for ax, (model, rater, title) in zip(axes.flat, panels):
        b, se = res.summary(model, rater, "rupture", "bias")
        lines(ax, res, b, se)
        ax.set_title(f"rupture term: {title}", fontsize=9)
        ax.set_ylabel(f"bias of β_R estimate (distress points;\ntrue β_R = {beta_r:g})")
    # shared y range for the rupture panels so attenuation is comparable
    k = len(panels)
    lo = min(axes.flat[i].get_ylim()[0] for i in range(k))
    hi = max(axes.flat[i].get_ylim()[1] for i in range(k))
    for i in range(k):
        axes.flat[i].set_ylim(lo, hi)
    ax = axes.flat[k]
    ar = res.condition_values(AR)
    for model, rater, ls, marker in [("oracle", "truth", "-", "o"), ("within", "patient", "--", "s"),
                                     ("initial", "patient", ":", "^")]:
        est = res.rep(f"{model}.{rater}.distress.estimate")
        m, se = mean_mcse(est - ar[:, None])
        lines(ax, res, m, se, label_prefix=f"{model}: ", ls=ls, marker=marker)
    ax.set_title("distress(t) coefficient: oracle (lagged form, solid),\n"
                 "within (dashed), initial (patient events, dotted)", fontsize=9)
    ax.set_ylabel("bias of β_D vs the latent AR\n(estimate − distress.ar)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    axes.flat[0].legend(handles, labels, fontsize=8, title="distress AR", title_fontsize=8)
    ax.legend(fontsize=6, ncol=3)
    n = int(np.nanmax(res.summary("oracle", "truth", "rupture", "n")[0]))
    fig.suptitle(f"Estimator bias by series length and distress autocorrelation (119 patients, 6 therapists; "
                 f"{n} replications per point; bars ±1.96 MCSE)", fontsize=10)
    fig.text(0.01, 0.004, res.provenance(), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.015, 1, 0.97))
    save(fig, a.out)


if __name__ == "__main__":
    run_main(main)
