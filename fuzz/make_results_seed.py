#!/usr/bin/env python3
"""Writes fuzz/corpus/results_file/tiny.h5: a valid collabzium results file of a few kilobytes that
`collabzium summarize` accepts (one condition, two replications, only the detection columns the
summary always reads). A real `run` file preallocates every chunk and holds hundreds of columns,
hundreds of kilobytes, too big for a fuzzing seed. Usage: fuzz/make_results_seed.py OUT.h5 [CONFIG]
(CONFIG replaces the scenario stored in the file, to write regression inputs)."""
import sys

import h5py
import numpy as np

CONFIG = 'name = "tiny"\n[run]\nreplications = 2\nseed = 3\n[design]\npatients = 6\ntherapists = 2\n'
RATER_MEASURES = ["sensitivity", "specificity", "ppv", "f1", "prevalence", "true_prevalence",
                  "repair_sensitivity", "repair_specificity", "repair_ppv", "repair_f1"]


def main(out, config=CONFIG):
    text = h5py.string_dtype("utf-8")
    with h5py.File(out, "w", track_order=True) as f:
        f.attrs.create("format", "collabzium-results", dtype=text)
        f.attrs.create("format_version", np.array([1, 0], dtype=np.int32))
        for name, value in [("program_version", "0.1.0"), ("git_sha", "0000000"),
                            ("created", "2026-01-01T00:00:00Z"), ("config", config)]:
            f.attrs.create(name, value, dtype=text)
        f.attrs.create("seed", np.int64(3))
        f.attrs.create("complete", np.int32(1))
        conditions = f.create_group("conditions", track_order=True)
        conditions.create_dataset("index", data=np.array([1], dtype=np.int32))
        replications = f.create_group("replications", track_order=True)
        columns = ["detection.kappa"] + [f"detection.{r}.{m}" for r in ("patient", "therapist")
                                         for m in RATER_MEASURES]
        for i, name in enumerate(columns):
            replications.create_dataset(name, data=np.array([[0.5, 0.25 + i / 100]]))
        replications.create_dataset("done", data=np.array([[1, 1]], dtype=np.uint8))
        summary = f.create_group("summary", track_order=True)
        summary.create_dataset("condition", data=np.array([1], dtype=np.int32))
        for name, value in [("model", "detection"), ("rater", "patient"), ("term", "rupture"),
                            ("measure", "f1")]:
            summary.create_dataset(name, data=[value], dtype=text)
        summary.create_dataset("value", data=np.array([0.5]))
        summary.create_dataset("mcse", data=np.array([0.0]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
