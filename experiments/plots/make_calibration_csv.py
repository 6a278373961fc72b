#!/usr/bin/python3
"""Targets vs achieved for the calibrated seed scenario, from a `collabzium run` of
configs/gidhagen2025.toml: writes the CSV read by plot_calibration.py, columns
target,measure,value,achieved,mcse (target = MODEL.RATER.TERM, measure = summary measure,
value = the published target, achieved = the simulated summary value, mcse = its Monte Carlo SE).

Default targets: Gidhagen, Holmqvist & Falkenstrom (2025): 52% of patients and 73% of therapists
reported >= 1 rupture. Add more with --target MODEL.RATER.TERM.MEASURE=VALUE."""

import argparse
import csv
import os

from czresults import ResultsError, open_results, run_main

DEFAULT_TARGETS = ["detection.patient.rupture.prevalence=0.52",
                   "detection.therapist.rupture.prevalence=0.73"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", help="results of configs/gidhagen2025.toml")
    ap.add_argument("--target", action="append", help="MODEL.RATER.TERM.MEASURE=VALUE (repeatable)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = open_results(a.results)
    rows = []
    for spec in a.target or DEFAULT_TARGETS:
        key, _, value = spec.partition("=")
        parts = key.split(".")
        if len(parts) != 4 or not value:
            raise ResultsError(f"--target {spec}: expected MODEL.RATER.TERM.MEASURE=VALUE")
        model, rater, term, measure = parts
        v, se = res.summary(model, rater, term, measure)
        rows.append([f"{model}.{rater}.{term}", measure, float(value), float(v[0]), float(se[0])])
    tmp = a.out + ".tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["target", "measure", "value", "achieved", "mcse"])
        for r in rows:
            w.writerow([r[0], r[1], f"{r[2]:.6g}", f"{r[3]:.6g}", f"{r[4]:.6g}"])
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    run_main(main)
