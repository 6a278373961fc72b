#!/usr/bin/python3
"""Lists, for each scenario, the resolved keys that differ from the seed scenario's
(configs/gidhagen2025.toml), besides the sweep and [run]: the scenarios are meant to be the seed
study with only their documented changes, so an unexpected difference means the seed was
recalibrated and the scenario should follow. Usage: check_base.py CLI SEED.toml SCENARIO.toml..."""

import subprocess
import sys
import tomllib


def resolved(cli, path):
    out = subprocess.run([cli, "validate", path], check=True, capture_output=True, text=True).stdout
    return tomllib.loads(out)


def flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def main():
    cli, seed_path, *scenarios = sys.argv[1:]
    seed = dict(flat(resolved(cli, seed_path)))
    for path in scenarios:
        cfg = resolved(cli, path)
        swept = set(cfg.get("sweep", {}))
        diffs = []
        for k, v in flat(cfg):
            if k.split(".")[0] in ("name", "description", "run", "sweep", "analysis") or k in swept:
                continue
            if k.startswith("detection.roc_thresholds"):
                continue
            if seed.get(k) != v:
                diffs.append(f"{k} = {v!r} (seed: {seed.get(k)!r})")
        print(f"{path}: " + ("same as the seed scenario except the sweep" if not diffs else "; ".join(diffs)))


if __name__ == "__main__":
    main()
