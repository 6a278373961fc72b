#!/usr/bin/python3
"""The seed-study report (markdown): power of the four lagged effects, how often a study of the
seed's size finds the published pattern, and the type I error of "patient ruptures predict
distress" under null effects with mood-congruent ratings. Reads only HDF5 results."""

import argparse
import os

import numpy as np

from czresults import ResultsError, mean_mcse, open_results, run_main, significant


def fmt(m, se, pct=True):
    if pct:
        d = 1 if 100 * se >= 0.1 else 2
        return f"{100 * m:.{d}f}% ({100 * se:.{d}f})"
    d = 3 if se >= 0.001 else 4
    return f"{m:.{d}f} ({se:.{d}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed-results", required=True, help="results of configs/gidhagen2025.toml")
    ap.add_argument("--null-results", required=True, help="results of configs/null_mood.toml")
    ap.add_argument("--config-sha", default="", help="git sha of configs/gidhagen2025.toml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    seed = open_results(a.seed_results)
    null = open_results(a.null_results)
    if seed.ncond != 1:
        raise ResultsError(f"{a.seed_results}: expected one condition, found {seed.ncond}")
    alpha = seed.alpha()
    br, bp = seed.cfg("distress.effects.rupture"), seed.cfg("distress.effects.repair")
    L = []
    L.append(f"Seed study `{seed.cfg('name')}`: {seed.cfg('design.patients')} patients, "
             f"{seed.cfg('design.therapists')} therapists, sessions {seed.cfg('design.sessions.distribution')} "
             f"mean {seed.cfg('design.sessions.mean'):g} in [{seed.cfg('design.sessions.min')}, "
             f"{seed.cfg('design.sessions.max')}]; detection rule {seed.cfg('detection.rule')} "
             f"(threshold {seed.cfg('detection.threshold', 'rule default')}); true effects "
             f"β_R = {br:g}, β_P = {bp:g} for both raters; α = {alpha:g}; seed {seed.seed}; "
             f"program git {seed.git_sha}" + (f"; config at git {a.config_sha}" if a.config_sha else "") + ".")
    L.append("")
    n = int(np.nanmax(np.sum(np.isfinite(seed.rep("lagged.patient.rupture.p")), axis=1)))
    L.append(f"Replications: {n}. Values: mean (Monte Carlo SE).")
    L.append("")
    L.append("| lagged effect | mean estimate | bias | power: p < α | power: p < α, right sign | coverage |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    sig = {}
    for rater in ("patient", "therapist"):
        for term, sign in (("rupture", +1), ("repair", -1)):
            est_m, est_se = seed.summary("lagged", rater, term, "mean")
            bias, bias_se = seed.summary("lagged", rater, term, "bias")
            pw, pw_se = seed.summary("lagged", rater, term, "power")
            cov, cov_se = seed.summary("lagged", rater, term, "coverage")
            s = significant(seed, "lagged", rater, term, sign)
            sig[(rater, term)] = s[0]
            m, se = mean_mcse(s[0])
            L.append(f"| {rater} {term} | {fmt(est_m[0], est_se[0], False)} | {fmt(bias[0], bias_se[0], False)} | "
                     f"{fmt(pw[0], pw_se[0])} | {fmt(m, se)} | {fmt(cov[0], cov_se[0])} |")
    for term in ("rupture", "repair"):
        pw, pw_se = seed.summary("oracle", "truth", term, "power")
        est_m, est_se = seed.summary("oracle", "truth", term, "mean")
        L.append(f"| oracle (true events) {term} | {fmt(est_m[0], est_se[0], False)} | | {fmt(pw[0], pw_se[0])} | | |")
    L.append("")
    p_t = seed.rep("lagged.therapist.rupture.p")[0]
    therapist_ns = np.where(np.isfinite(p_t), (p_t >= alpha).astype(float), np.nan)
    parts = [sig[("patient", "rupture")], therapist_ns, sig[("patient", "repair")], sig[("therapist", "repair")]]
    ok = np.all([np.isfinite(x) for x in parts], axis=0)
    pattern = np.where(ok, np.all([x == 1 for x in parts], axis=0), np.nan).astype(float)
    m, se = mean_mcse(pattern)
    m2, se2 = mean_mcse(np.where(ok, (parts[0] == 1) & (parts[1] == 1), np.nan).astype(float))
    sig_t = sig[("therapist", "rupture")]
    m3, se3 = mean_mcse(np.where(ok, (sig_t == 1) & (parts[0] == 0), np.nan).astype(float))
    L.append(f"Published pattern (patient ruptures significant and positive, therapist ruptures not "
             f"significant, patient and therapist repairs significant and negative), true effects equal "
             f"for both raters: **{fmt(m, se)}** of {int(ok.sum())} replications. "
             f"The rupture half alone (patient significant, therapist not): {fmt(m2, se2)}; "
             f"the reverse (therapist significant, patient not): {fmt(m3, se3)}.")
    L.append("")
    pr, pr_se = seed.summary("detection", "patient", "rupture", "prevalence")
    tr, tr_se = seed.summary("detection", "therapist", "rupture", "prevalence")
    tp, tp_se = seed.summary("detection", "patient", "rupture", "true_prevalence")
    L.append(f"Prevalence of ≥ 1 detected rupture: patients {fmt(pr[0], pr_se[0])}, therapists "
             f"{fmt(tr[0], tr_se[0])} (targets 52% / 73%); true ≥ 1 rupture {fmt(tp[0], tp_se[0])}.")
    L.append("")
    mood = null.condition_values("raters.patient.mood_congruence")
    ba = null.condition_values("distress.effects.alliance")
    L.append(f"Null effects (β_R = β_P = β_U = 0), `{null.cfg('name')}`, seed {null.seed}: rejection rate of "
             f"lagged.patient.rupture (type I error at α = {null.alpha():g}), mean (MCSE):")
    L.append("")
    L.append("| mood congruence | " + " | ".join(f"β_A = {b:g}" for b in np.unique(ba)[::-1]) + " | therapist rupture (β_A = " + f"{np.unique(ba)[::-1][0]:g}) |")
    L.append("| --- |" + " --- |" * (len(np.unique(ba)) + 1))
    pw, pw_se = null.summary("lagged", "patient", "rupture", "power")
    tw, tw_se = null.summary("lagged", "therapist", "rupture", "power")
    for mc in np.unique(mood)[::-1]:
        cells = []
        for b in np.unique(ba)[::-1]:
            c = np.flatnonzero(np.isclose(mood, mc) & np.isclose(ba, b))
            cells.append(fmt(pw[c[0]], pw_se[c[0]]) if c.size else "")
        c = np.flatnonzero(np.isclose(mood, mc) & np.isclose(ba, np.unique(ba)[::-1][0]))
        cells.append(fmt(tw[c[0]], tw_se[c[0]]) if c.size else "")
        L.append(f"| {mc:g} | " + " | ".join(cells) + " |")
    L.append("")
    nn = int(np.nanmax(null.summary("lagged", "patient", "rupture", "n")[0]))
    L.append(f"({nn} replications per condition.)")
    text = "\n".join(L) + "\n"
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, a.out)
    print(text)


if __name__ == "__main__":
    run_main(main)
