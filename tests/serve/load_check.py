#!/usr/bin/env python3
"""Load check of `collabzium serve`: 200 concurrent requests from local clients, released together.
Every answer must be 200 or 429, the server must still answer afterwards and stop cleanly on
SIGINT, as Ctrl-C sends it (exit status 0; the browser test stops it with SIGTERM), and its peak memory must stay bounded. Prints the figures the README
quotes (answers by status, wall time, resident memory before, peak and after). No timing is
asserted.

usage: load_check.py COLLABZIUM [--threads T] [--requests N] [--replications R] [--max-rss-mb M]
Standard library only.
"""
import argparse
import collections
import http.client
import json
import signal
import threading
import time
import urllib.parse

import serving


def memory_kb(pid):
    """(VmRSS, VmHWM) of a process, in kB, from /proc."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("collabzium")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--replications", type=int, default=200)
    ap.add_argument("--max-rss-mb", type=float, default=1024,
                    help="refuse a peak resident size above this (a bound, not a measurement)")
    a = ap.parse_args()

    proc, base = serving.start(a.collabzium, "--threads", str(a.threads))
    url = urllib.parse.urlparse(base)
    try:
        serving.get(base + "api/scenario")
        rss_before, _ = memory_kb(proc.pid)
        # Studies (most are refused: only `threads` run at once), cohorts and page loads, interleaved.
        kinds = ["study", "study", "cohort", "page"]
        plan = [kinds[i % len(kinds)] for i in range(a.requests)]
        statuses = collections.Counter()
        errors = []
        barrier = threading.Barrier(a.requests)
        lock = threading.Lock()

        def client(i, kind):
            body = json.dumps({"seed": 1000 + i, "replications": a.replications})
            try:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
                barrier.wait()
                if kind == "page":
                    conn.request("GET", "/")
                else:
                    conn.request("POST", f"/api/{kind}", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                payload = r.read()
                with lock:
                    statuses[(kind, r.status)] += 1
                    if r.status == 200 and kind == "study" and b'"rows": [' not in payload:
                        errors.append(f"request {i}: a study answer without rows")
                conn.close()
            except Exception as e:  # a refused or dropped connection is a failure of the check
                with lock:
                    errors.append(f"request {i} ({kind}): {e!r}")

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i, k)) for i, k in enumerate(plan)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        alive = serving.get(base + "api/scenario")[0] == 200
        rss_after, rss_peak = memory_kb(proc.pid)
    finally:
        status, _, err = serving.stop(proc, sig=signal.SIGINT)

    print(f"{a.requests} concurrent requests ({a.threads} study slots, {a.replications} replications per study) "
          f"in {wall:.1f} s")
    for (kind, code), n in sorted(statuses.items()):
        print(f"  {kind:7s} {code}: {n}")
    print(f"resident memory: {rss_before / 1024:.1f} MB before, peak {rss_peak / 1024:.1f} MB, "
          f"{rss_after / 1024:.1f} MB after")
    problems = list(errors)
    bad = {k: n for k, n in statuses.items() if k[1] not in (200, 429)}
    if bad:
        problems.append(f"answers other than 200 or 429: {bad}")
    if sum(statuses.values()) != a.requests:
        problems.append(f"{a.requests - sum(statuses.values())} requests got no answer")
    if not any(code == 200 for (kind, code) in statuses if kind == "study"):
        problems.append("no study was answered 200")
    if not alive:
        problems.append("the server did not answer after the load")
    if rss_peak > a.max_rss_mb * 1024:
        problems.append(f"peak resident memory {rss_peak / 1024:.0f} MB over the bound {a.max_rss_mb:.0f} MB")
    if status != 0:
        problems.append(f"serve exited with {status} after SIGINT (0 expected): {err[-2000:]}")
    if problems:
        raise SystemExit("load check failed:\n  " + "\n  ".join(problems[:20]))
    print("load check passed")


if __name__ == "__main__":
    main()
