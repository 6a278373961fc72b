#!/usr/bin/python3
"""Lists, for each scenario, the resolved keys that differ from the seed scenario's
(configs/gidhagen2025.toml), besides the sweep and [run], and the base file it names. The scenarios
are the seed study with only their documented changes: each names the seed as its `base` and sets
only what differs, so a scenario without that base, or a difference its comments do not explain,
needs a look. The comparison uses the resolved scenarios (`collabzium validate`), so it holds
whatever the files inherit. Usage: check_base.py CLI SEED.toml SCENARIO.toml..."""

import os
import subprocess
import sys
import tomllib


def resolved(cli, path):
    out = subprocess.run([cli, "validate", path], check=True, capture_output=True, text=True).stdout
    return tomllib.loads(out)


def named_base(path, seed_path):
    """The `base` the file names, and whether it is the seed scenario."""
    with open(path, "rb") as f:
        base = tomllib.load(f).get("base")
    if base is None:
        return "no base", False
    resolved = os.path.join(os.path.dirname(path), base)
    return f"base {base}", os.path.samefile(resolved, seed_path) if os.path.exists(resolved) else False


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
        base, is_seed = named_base(path, seed_path)
        base_note = "" if is_seed else f" [{base}, not the seed scenario]"
        print(f"{path}: " + ("same as the seed scenario except the sweep" if not diffs else "; ".join(diffs)) +
              base_note)


if __name__ == "__main__":
    main()
