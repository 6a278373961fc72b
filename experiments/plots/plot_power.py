#!/usr/bin/python3
"""Power curves of the lagged rupture and repair effects by rater: over patients, mean sessions
and true effect size (results of configs/power_patients, power_sessions, power_effect)."""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import open_results, run_main, save

SERIES = [("lagged", "patient", "patient-rated (lagged)", "tab:blue", "o"),
          ("lagged", "therapist", "therapist-rated (lagged)", "tab:orange", "s"),
          ("oracle", "truth", "true events (oracle)", "0.35", "^")]


def curve(ax, x, res, term, mask=None, order=None):
    for model, rater, label, color, marker in SERIES:
        p, se = res.summary(model, rater, term, "power")
        xs, ps, ses = x, p, se
        if mask is not None:
            xs, ps, ses = xs[mask], ps[mask], ses[mask]
        o = np.argsort(xs)
        xs, ps, ses = xs[o], ps[o], ses[o]
        ax.fill_between(xs, np.clip(ps - 1.96 * ses, 0, 1), np.clip(ps + 1.96 * ses, 0, 1),
                        color=color, alpha=0.2, linewidth=0)
        ax.plot(xs, ps, color=color, marker=marker, ms=4, label=label)
    ax.axhline(0.8, color="k", lw=0.7, ls=":")
    ax.axhline(res.alpha(), color="k", lw=0.7, ls="--")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patients", required=True, help="results of configs/power_patients.toml")
    ap.add_argument("--sessions", required=True, help="results of configs/power_sessions.toml")
    ap.add_argument("--effect", required=True, help="results of configs/power_effect.toml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rp, rs, re_ = open_results(a.patients), open_results(a.sessions), open_results(a.effect)

    fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharey=True)
    for row, term in enumerate(["rupture", "repair"]):
        sign = "+" if term == "rupture" else "−"
        x = rp.condition_values("design.patients")
        ax = axes[row, 0]
        curve(ax, x, rp, term)
        ax.axvline(float(rp.cfg("design.patients")), color="tab:red", lw=0.8, alpha=0.6)
        ax.set_xlabel("patients (6 therapists, ~16 sessions)")
        x = rs.condition_values("design.sessions.mean")
        ax = axes[row, 1]
        curve(ax, x, rs, term)
        ax.axvline(float(rs.cfg("design.sessions.mean")), color="tab:red", lw=0.8, alpha=0.6)
        ax.set_xlabel("mean planned sessions per patient (119 patients)")
        ax = axes[row, 2]
        br = re_.condition_values("distress.effects.rupture")
        bp = re_.condition_values("distress.effects.repair")
        if term == "rupture":
            other = bp[np.argmin(np.abs(bp - float(re_.cfg("distress.effects.repair"))))]
            mask = np.isclose(bp, other)
            curve(ax, br, re_, term, mask)
            ax.set_xlabel(f"true rupture effect β_R (distress points; β_P = {other:g})")
        else:
            other = br[np.argmin(np.abs(br - float(re_.cfg("distress.effects.rupture"))))]
            mask = np.isclose(br, other)
            curve(ax, -bp, re_, term, mask)
            ax.set_xlabel(f"true repair effect −β_P (distress points; β_R = {other:g})")
        ax.axvline(abs(float(re_.cfg(f"distress.effects.{term}"))), color="tab:red", lw=0.8, alpha=0.6)
        axes[row, 0].set_ylabel(f"power: lagged {term} term (β {sign}),\nrejection rate at α = {rp.alpha():g}")
    axes[0, 0].legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.suptitle("Power of next-session effects on distress, seed design (red line: seed value); "
                 "bands ±1.96 MCSE; dotted 0.80, dashed α", fontsize=10)
    fig.text(0.01, 0.005, " | ".join(r.provenance() for r in (rp, rs, re_)), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    save(fig, a.out)


if __name__ == "__main__":
    run_main(main)
