#!/usr/bin/python3
"""Example trajectories from `collabzium simulate` + `collabzium analyze --events`: for three
patients, the latent alliance, both raters' ratings, true ruptures (shaded while active) and
repairs, the ruptures and repairs each rater's rule detected, and distress."""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from czresults import read_csv_rows, run_main, save

COHORT_COLUMNS = ["patient", "therapist", "session", "distress", "alliance_patient",
                  "alliance_therapist", "true_alliance", "true_ruptured", "true_onset",
                  "true_repair", "registered_patient", "registered_therapist"]
EVENT_COLUMNS = ["patient", "session", "rater", "rupture", "repair"]


def num(v):
    return np.nan if v in ("", "NA") else float(v)


def choose(patients, events, k):
    """Deterministic, illustrative picks: (1) a true rupture that both raters detected and that was
    repaired, (2) a true rupture the patient missed, (3) a detected rupture with no true rupture."""
    def true_onsets(p):
        return {int(r["session"]) for r in patients[p] if r["true_onset"] == "1"}

    def detected(p, rater):
        return {s for (q, rr, s), e in events.items() if q == p and rr == rater and e[0] == 1}

    picks = []
    long_enough = [p for p in patients if len(patients[p]) >= 12]
    rules = [
        lambda p: (true_onsets(p) & detected(p, "patient") & detected(p, "therapist"))
        and any(r["true_repair"] == "1" for r in patients[p]),
        lambda p: bool(true_onsets(p) - detected(p, "patient")) and bool(true_onsets(p) & detected(p, "therapist")),
        lambda p: not true_onsets(p) and bool(detected(p, "therapist") | detected(p, "patient")),
    ]
    for rule in rules:
        for p in long_enough:
            if p not in picks and rule(p):
                picks.append(p)
                break
    for p in long_enough + list(patients):
        if len(picks) >= k:
            break
        if p not in picks:
            picks.append(p)
    return picks[:k]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cohort", required=True, help="CSV from `collabzium simulate`")
    ap.add_argument("--events", required=True, help="CSV from `collabzium analyze --events`")
    ap.add_argument("--patients", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = read_csv_rows(a.cohort, COHORT_COLUMNS)
    ev_rows = read_csv_rows(a.events, EVENT_COLUMNS)
    patients = {}
    for r in rows:
        patients.setdefault(r["patient"], []).append(r)
    for p in patients:
        patients[p].sort(key=lambda r: int(r["session"]))
    events = {(r["patient"], r["rater"], int(r["session"])): (int(r["rupture"]), int(r["repair"]))
              for r in ev_rows}
    picks = choose(patients, events, a.patients)

    fig, axes = plt.subplots(2, len(picks), figsize=(4.6 * len(picks), 7.0), sharex="col",
                             gridspec_kw={"height_ratios": [2.2, 1]}, squeeze=False)
    for col, p in enumerate(picks):
        rs = patients[p]
        t = np.array([int(r["session"]) for r in rs])
        ax, axd = axes[0, col], axes[1, col]
        ruptured = np.array([num(r["true_ruptured"]) for r in rs])
        for ti, s in zip(t, ruptured):
            if s == 1:
                for a_ in (ax, axd):
                    a_.axvspan(ti - 0.5, ti + 0.5, color="tab:red", alpha=0.12, lw=0)
        ax.plot(t, [num(r["true_alliance"]) for r in rs], color="k", lw=1.6, label="latent alliance A")
        for rater, color, marker in [("patient", "tab:blue", "o"), ("therapist", "tab:orange", "s")]:
            y = np.array([num(r[f"alliance_{rater}"]) for r in rs])
            ax.plot(t, y, color=color, marker=marker, ms=3.5, lw=1, label=f"{rater} rating")
            rup = [ti for ti in t if events.get((p, rater, ti), (0, 0))[0] == 1]
            rep = [ti for ti in t if events.get((p, rater, ti), (0, 0))[1] == 1]
            yi = dict(zip(t, y))
            ax.plot(rup, [yi[s] - 0.12 for s in rup], "v", color=color, ms=8, mec="k",
                    label=f"{rater}: detected rupture")
            ax.plot(rep, [yi[s] + 0.12 for s in rep], "^", color=color, ms=8, mec=color, mfc="w", mew=1.8,
                    label=f"{rater}: detected repair")
        on = [int(r["session"]) for r in rs if r["true_onset"] == "1"]
        rp = [int(r["session"]) for r in rs if r["true_repair"] == "1"]
        lo = ax.get_ylim()[0]
        ax.plot(on, [lo] * len(on), "x", color="tab:red", ms=9, mew=2, clip_on=False, label="true onset")
        ax.plot(rp, [lo] * len(rp), "+", color="tab:green", ms=11, mew=2, clip_on=False, label="true repair")
        reg = {rater: any(r[f"registered_{rater}"] == "1" for r in rs) for rater in ("patient", "therapist")}
        ax.set_title(f"patient {p} (therapist {rs[0]['therapist']}); true onsets {on or '—'}\n"
                     f"registered by patient: {'yes' if reg['patient'] else 'no'}, "
                     f"therapist: {'yes' if reg['therapist'] else 'no'}", fontsize=8.5)
        ax.set_ylabel("alliance (WAI-SR item mean, 1–5)")
        ax.grid(alpha=0.3)
        axd.plot(t, [num(r["distress"]) for r in rs], color="tab:purple", marker=".", label="distress (observed)")
        if "true_distress" in rs[0]:
            axd.plot(t, [num(r["true_distress"]) for r in rs], color="tab:purple", ls=":", lw=1,
                     label="distress (latent)")
        axd.set_ylabel("distress (CORE-10, 0–40)")
        axd.set_xlabel("session")
        axd.xaxis.set_major_locator(MaxNLocator(integer=True))
        axd.grid(alpha=0.3)
    h1, l1 = axes[0, 0].get_legend_handles_labels()
    h2, l2 = axes[1, 0].get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=6, fontsize=7.5, frameon=False)
    fig.suptitle("Simulated patients, seed scenario (shading: true rupture active; ▼ detected rupture, "
                 "△ detected repair per rater; × true onset, + true repair)", fontsize=9.5)
    fig.text(0.01, 0.004, f"{os.path.basename(a.cohort)}, {os.path.basename(a.events)}",
             fontsize=6, color="0.4")
    fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.14, wspace=0.28, hspace=0.12)
    save(fig, a.out)


if __name__ == "__main__":
    run_main(main)
