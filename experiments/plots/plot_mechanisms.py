#!/usr/bin/python3
"""Mechanisms figure (configs/mechanisms.toml, docs/model.md 2.7): for each mechanism (which onsets and
repairs move distress: every latent one, or those the patient or the therapist registered; with
or without a responsive therapist; with or without an effect of patient false alarms), the power
of the lagged patient and therapist rupture and repair terms (rejections in the true direction),
the probability of the published pattern (patient rupture significant and positive, therapist
rupture not, both repair terms significant and negative) and of its rupture half, and the
detected prevalences, which the calibration put at 52% / 73%. Bars: ±1.96 MCSE."""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import ResultsError, mean_mcse, open_results, run_main, save, significant

RV, PV = "distress.effects.rupture_via", "distress.effects.repair_via"
RESP, BF = "rupture.responsiveness.therapist", "distress.effects.false_alarm"
PUBLISHED = {"patient": 0.52, "therapist": 0.73}
OFF = 0.05  # a detected prevalence further than this from the published one is named in the figure


def text_values(res, key):
    """Per-condition values of a string key: swept, or the config's constant."""
    if key in res.conditions:
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in res.conditions[key]])
    value = res.cfg(key)
    if value is None:
        raise ResultsError(f"{res.path}: no condition value or config key '{key}'")
    return np.full(res.ncond, str(value))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", help="results of configs/mechanisms.toml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = open_results(a.results, swept=(RV, PV), scenario="mechanisms.toml")
    rv, pv = text_values(res, RV), text_values(res, PV)
    resp, bf = res.condition_values(RESP), res.condition_values(BF)
    alpha = res.alpha()

    sig = {(r, t): significant(res, "lagged", r, t, s)
           for r in ("patient", "therapist") for t, s in (("rupture", +1), ("repair", -1))}
    p_t = res.rep("lagged.therapist.rupture.p")
    therapist_ns = np.where(np.isfinite(p_t), (p_t >= alpha).astype(float), np.nan)
    parts = [sig[("patient", "rupture")], therapist_ns, sig[("patient", "repair")], sig[("therapist", "repair")]]
    ok = np.all([np.isfinite(x) for x in parts], axis=0)
    pattern = np.where(ok, np.all([x == 1 for x in parts], axis=0), np.nan).astype(float)
    half = np.where(ok, (parts[0] == 1) & (parts[1] == 1), np.nan).astype(float)

    mechanisms = []  # (rupture_via, repair_via) in first-appearance order
    for c in range(res.ncond):
        if (rv[c], pv[c]) not in mechanisms:
            mechanisms.append((rv[c], pv[c]))
    variants = sorted({(resp[c], bf[c]) for c in range(res.ncond)})
    colors = plt.cm.tab10(np.arange(len(variants)))
    width = 0.7 / max(1, len(variants))

    def cell(m, v):
        sel = np.flatnonzero((rv == m[0]) & (pv == m[1]) & np.isclose(resp, v[0]) & np.isclose(bf, v[1]))
        return sel[0] if sel.size else None

    def plot(ax, values, label_fmt, filled=True, legend=True):
        m_all, se_all = mean_mcse(values)
        for vi, v in enumerate(variants):
            xs, ys, es = [], [], []
            for mi, m in enumerate(mechanisms):
                c = cell(m, v)
                if c is None:
                    continue
                # open markers sit a little right of filled ones, so both stay visible in a panel
                xs.append(mi + (vi - (len(variants) - 1) / 2) * width + (0 if filled else 0.4 * width))
                ys.append(m_all[c])
                es.append(1.96 * se_all[c])
            ax.errorbar(xs, ys, yerr=es, fmt="o" if filled else "s", ms=4.5, capsize=2, color=colors[vi],
                        mfc=colors[vi] if filled else "white", lw=1,
                        label=label_fmt.format(resp=v[0], bf=v[1]) if legend else None)
        return m_all, se_all

    labels = [f"onset via {m[0]}\nrepair via {m[1]}" for m in mechanisms]
    fig, axes = plt.subplots(3, 2, figsize=(13, 11.5), sharex=True)
    variant = "therapist responsiveness {resp:g}, β_F {bf:g}"
    titles = {("patient", "rupture"): "power, lagged patient rupture term (significant, +)",
              ("therapist", "rupture"): "power, lagged therapist rupture term (significant, +)",
              ("patient", "repair"): "power, lagged patient repair term (significant, −)",
              ("therapist", "repair"): "power, lagged therapist repair term (significant, −)"}
    for ax, key in zip(axes[:2].ravel(), titles):
        plot(ax, sig[key], variant)
        ax.set_title(titles[key], fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("rejection rate")
    axes[0, 0].legend(fontsize=7, loc="best")

    ax = axes[2, 0]
    pat_m, pat_se = plot(ax, pattern, "pattern: " + variant)
    half_m, half_se = plot(ax, half, "rupture half", filled=False, legend=False)
    ax.set_title("P(published pattern) (filled) and P(its rupture half) (open)", fontsize=10)
    ax.set_ylabel("probability")
    ax.set_ylim(bottom=0)

    ax = axes[2, 1]
    notes = []
    prev = {}
    for rater, filled in (("patient", True), ("therapist", False)):
        prev[rater] = plot(ax, res.rep(f"detection.{rater}.prevalence"), variant, filled=filled, legend=False)
        ax.axhline(PUBLISHED[rater], color="k", ls="--" if filled else ":", lw=0.8)
        for c in range(res.ncond):
            if abs(prev[rater][0][c] - PUBLISHED[rater]) > OFF:
                notes.append(f"{rater} {prev[rater][0][c]:.2f} at onset via {rv[c]}, repair via {pv[c]}, "
                             f"responsiveness {resp[c]:g}, β_F {bf[c]:g}")
    ax.set_title("detected prevalence (≥ 1 rupture): patient (filled, published 0.52 dashed),\n"
                 "therapist (open, published 0.73 dotted)", fontsize=10)
    ax.set_ylabel("share of patients")
    for ax in axes[2]:
        ax.set_xticks(range(len(mechanisms)), labels, rotation=45, ha="right", fontsize=7.5)
    for ax in axes.ravel():
        ax.grid(alpha=0.3)

    R = int(np.nanmax(np.sum(np.isfinite(pattern), axis=1)))
    worst = np.nanmax(pat_se)
    off = ("detected prevalences within ±0.05 of 52% / 73% in every condition" if not notes else
           f"{len(notes)} prevalences off the published ones by > 0.05, e.g. " + "; ".join(notes[:2]))
    fig.suptitle(f"Mechanisms (docs/model.md 2.7) on the calibrated seed scenario, β_R = +1.5, β_P = −1.5; "
                 f"{R} replications per condition, max MCSE of P(pattern) {worst:.4f}\n{off}", fontsize=9)
    fig.text(0.01, 0.004, res.provenance(), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.015, 1, 0.955))
    save(fig, a.out, dpi=95)
    for c in range(res.ncond):  # the table behind the figure, for the results README
        print(f"{rv[c]:9s} {pv[c]:9s} resp {resp[c]:3g} bF {bf[c]:3g}  pattern {pat_m[c]:.4f} ({pat_se[c]:.4f})  "
              f"half {half_m[c]:.4f}  " + "  ".join(f"{r[0]}{t[0:3]} {mean_mcse(sig[(r, t)])[0][c]:.3f}"
                                                   for r, t in sig) +
              f"  prev {prev['patient'][0][c]:.3f}/{prev['therapist'][0][c]:.3f}")


if __name__ == "__main__":
    run_main(main)
