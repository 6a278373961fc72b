#!/usr/bin/env python3
"""Answer times of `collabzium serve`, as the page sees them: N sequential studies of R replications
of the starting scenario (each with its own seed, as a class moving sliders would ask), and N
cohorts, timed at the client. Prints the median and range, the server's thread count and the load
average, for the README's "Sandbox" section.

usage: serve_latency.py COLLABZIUM [--threads T] [--requests N] [--replications R]
"""
import argparse
import json
import os
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "serve"))
import serving  # noqa: E402


def timed_post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        r.read()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("collabzium")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--replications", type=int, default=200)
    a = ap.parse_args()
    proc, base = serving.start(a.collabzium, "--threads", str(a.threads))
    try:
        serving.get(base + "api/scenario")
        load = os.getloadavg()
        study = [timed_post(base + "api/study", {"seed": 1 + i, "replications": a.replications})
                 for i in range(a.requests)]
        cohort = [timed_post(base + "api/cohort", {"seed": 1 + i}) for i in range(a.requests)]
        load_after = os.getloadavg()
    finally:
        serving.stop(proc)

    def show(name, xs):
        print(f"{name}: median {statistics.median(xs):.3f} s, range {min(xs):.3f}-{max(xs):.3f} s")
    print(f"serve --threads {a.threads}; {a.requests} sequential requests each; load average "
          f"{load[0]:.1f} before, {load_after[0]:.1f} after")
    show(f"/api/study, {a.replications} replications", study)
    show("/api/cohort", cohort)


if __name__ == "__main__":
    main()
