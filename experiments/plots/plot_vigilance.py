#!/usr/bin/python3
"""Rater vigilance heat maps (configs/rater_vigilance.toml): over patient registration x therapist
false-alarm rate, one row per therapist registration: the prevalence gap (therapist - patient share
of patients with >= 1 detected rupture), the power gap of the lagged rupture term (patient -
therapist rejection rate, correct sign) and how often a study finds the published pattern
(patient ruptures significant and positive, therapist ruptures not significant)."""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import mean_mcse, open_results, run_main, save, significant

PR, TR, TF = ("raters.patient.registration", "raters.therapist.registration",
              "raters.therapist.false_alarm_rate")


def grid(res, values, key_x, key_y, sel):
    xs = np.unique(res.condition_values(key_x)[sel])
    ys = np.unique(res.condition_values(key_y)[sel])
    z = np.full((len(ys), len(xs)), np.nan)
    for c in np.flatnonzero(sel):
        i = np.searchsorted(ys, res.condition_values(key_y)[c])
        j = np.searchsorted(xs, res.condition_values(key_x)[c])
        z[i, j] = values[c]
    return xs, ys, z


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", help="results of configs/rater_vigilance.toml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = open_results(a.results, swept=(PR, TF), scenario="rater_vigilance.toml")
    prev_gap, prev_gap_se = mean_mcse(res.rep("detection.therapist.prevalence")
                                      - res.rep("detection.patient.prevalence"))
    sig_p = significant(res, "lagged", "patient", "rupture", +1)
    sig_t = significant(res, "lagged", "therapist", "rupture", +1)
    pow_gap, pow_gap_se = mean_mcse(sig_p - sig_t)
    p_t = res.rep("lagged.therapist.rupture.p")
    pattern = np.where(np.isfinite(sig_p) & np.isfinite(p_t),
                       (sig_p == 1) & (p_t >= res.alpha()), np.nan).astype(float)
    pat, pat_se = mean_mcse(pattern)

    treg = np.unique(res.condition_values(TR)) if TR in res.conditions else [None]
    def sym(v):  # symmetric colour limits around 0, in steps of 0.1
        m = max(0.1, np.ceil(np.nanmax(np.abs(v)) * 10) / 10)
        return (-m, m)

    panels = [("prevalence gap: therapist − patient\n(share of patients with ≥ 1 detected rupture)",
               prev_gap, "RdBu_r", sym(prev_gap), 0.21),
              ("power gap, lagged rupture term:\npatient − therapist rejection rate", pow_gap,
               "PuOr_r", sym(pow_gap), None),
              ("P(published pattern): patient rupture\nsignificant (+), therapist rupture not", pat,
               "viridis", (0, max(0.1, np.ceil(np.nanmax(pat) * 10) / 10)), None)]
    fig, axes = plt.subplots(len(treg), 3, figsize=(12, 3.0 * len(treg) + 0.9), squeeze=False)
    for row, tr in enumerate(treg):
        sel = np.ones(res.ncond, bool) if tr is None else np.isclose(res.condition_values(TR), tr)
        for col, (title, values, cmap, lim, contour) in enumerate(panels):
            ax = axes[row, col]
            xs, ys, z = grid(res, values, PR, TF, sel)
            im = ax.imshow(z, origin="lower", cmap=cmap, vmin=lim[0], vmax=lim[1], aspect="auto")
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(z[i, j]):
                        ax.text(j, i, f"{z[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                                color="k" if abs(z[i, j] - np.mean(lim)) < 0.3 * (lim[1] - lim[0]) else "w")
            if contour is not None and np.nanmin(z) < contour < np.nanmax(z):
                cs = ax.contour(np.arange(len(xs)), np.arange(len(ys)), z, levels=[contour],
                                colors="k", linewidths=1.2, linestyles="--")
                ax.clabel(cs, fmt={contour: "published 0.21"}, fontsize=7)
            # the base scenario's cell (the unswept values in the resolved config: the seed's)
            bx, by, bt = (float(res.cfg(PR, np.nan)), float(res.cfg(TF, np.nan)),
                          float(res.cfg(TR, np.nan)))
            if (np.any(np.isclose(xs, bx)) and np.any(np.isclose(ys, by))
                    and (tr is None or np.isclose(tr, bt))):
                j0, i0 = int(np.argmin(np.abs(xs - bx))), int(np.argmin(np.abs(ys - by)))
                ax.add_patch(plt.Rectangle((j0 - 0.5, i0 - 0.5), 1, 1, fill=False, ec="red", lw=2))
            ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
            ax.set_yticks(range(len(ys)), [f"{y:.3g}" for y in ys])
            ax.set_xlabel("patient registration (P rupture episode perceived)")
            ax.set_ylabel("therapist false alarms\n(P per session)")
            t = title if row == 0 else ""
            if tr is not None:
                t = (t + "\n" if t else "") + f"therapist registration {tr:g}"
            ax.set_title(t, fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    R = int(np.nanmax(np.sum(np.isfinite(sig_p), axis=1)))
    fig.suptitle(f"Rater vigilance, equal true effects for both raters (β_R = +1.5, β_P = −1.5), seed scenario otherwise (red box)\n"
                 f"{R} replications per cell; max MCSE: prevalence gap {np.nanmax(prev_gap_se):.3f}, "
                 f"power gap {np.nanmax(pow_gap_se):.3f}, pattern {np.nanmax(pat_se):.3f}",
                 fontsize=9)
    fig.text(0.01, 0.004, res.provenance(), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.015, 1, 0.955))
    save(fig, a.out, dpi=95)


if __name__ == "__main__":
    run_main(main)
