#!/usr/bin/python3
"""Inference figures (configs/gidhagen2025_infer.toml, `collabzium infer`; docs/model.md section 8).

posterior.png: per continuous prior key, the prior draws (grey) against the accepted draws (colour),
as densities, with the posterior mean and 95% interval; per choice key (the mechanisms), the prior
and posterior probability of each value with ±1.96 MCSE bars and the Bayes factor.

rater_posterior.png: the accepted draws of the patient's registration against the therapist's
false-alarm rate ("reluctant patients or vigilant therapists?"), as a 2-D density over the prior's
box, with both marginals.

Acceptance is the file's own `accepted` (the tolerances `infer` ran with)."""

import argparse
import math

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from czresults import ResultsError, run_main, save

X, Y = "raters.patient.registration", "raters.therapist.false_alarm_rate"


def load(path):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ResultsError(f"{path}: not readable as HDF5 ({e})")
    fmt = f.attrs.get("format", b"")
    fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
    if fmt != "collabzium-inference":
        raise ResultsError(f"{path}: not a collabzium inference file (format '{fmt}')")
    d = f["draws"]
    done = d["done"][:].astype(bool)
    acc = d["accepted"][:].astype(bool) & done
    if not done.any():
        raise ResultsError(f"{path}: no finished draws")
    names = [n for n in d.keys() if n not in ("accepted", "invalid", "done")]
    summary = {}
    s = f["summary"]
    if "measure" in s:
        dec = lambda a: [x.decode() if isinstance(x, bytes) else str(x) for x in a]
        for p, v, m, x, e in zip(dec(s["parameter"][:]), dec(s["value"][:]), dec(s["measure"][:]),
                                 s["value_num"][:], s["mcse"][:]):
            summary[(p, v, m)] = (x, e)
    return f, d, names, done, acc, summary


def prior_keys(f):
    """Prior keys in the order of the [infer.prior] table of the file's config."""
    cfg = f.attrs["config"]
    cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
    keys, inside = [], False
    for line in cfg.splitlines():
        if line.startswith("["):
            inside = line.strip() == "[infer.prior]"
        elif inside and line.startswith('"'):
            keys.append(line.split('"')[1])
    return keys


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("inference", help="inference file of `collabzium infer`")
    ap.add_argument("--out", required=True, help="posterior figure (PNG)")
    ap.add_argument("--rater-out", required=True, help="rater figure (PNG)")
    a = ap.parse_args()
    f, d, names, done, acc, summary = load(a.inference)
    keys = [k for k in prior_keys(f) if k in d]
    if not keys:
        raise ResultsError(f"{a.inference}: no prior keys in /draws")
    n_done, n_acc = int(done.sum()), int(acc.sum())
    choice = [k for k in keys if "values" in d[k].attrs]
    cont = [k for k in keys if k not in choice]

    panels = len(cont) + len(choice)
    cols = 4
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.9 * rows), squeeze=False)
    for ax, key in zip(axes.flat, cont):
        x = d[key][:]
        lo, hi = np.nanmin(x[done]), np.nanmax(x[done])
        bins = np.linspace(lo, hi, 31)
        ax.hist(x[done], bins=bins, density=True, color="0.8", label="prior")
        if n_acc:
            ax.hist(x[acc], bins=bins, density=True, histtype="stepfilled", alpha=0.6, color="C0",
                    label="posterior")
            q = np.quantile(x[acc], [0.025, 0.5, 0.975])
            ax.axvline(q[1], color="C0", lw=1.5)
            ax.axvspan(q[0], q[2], color="C0", alpha=0.08)
        ratio = summary.get((key, "", "sd_ratio"), (np.nan, np.nan))[0]
        ax.set_title(f"{key}\nsd ratio {ratio:.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax, key in zip(axes.flat[len(cont):], choice):
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in d[key].attrs["values"]]
        idx = d[key][:]
        pos = np.arange(len(values))
        prior = [np.mean(idx[done] == i) for i in pos]
        post = [np.mean(idx[acc] == i) if n_acc else np.nan for i in pos]
        err = [1.96 * math.sqrt(p * (1 - p) / n_acc) if n_acc else np.nan for p in post]
        ax.bar(pos - 0.2, prior, 0.4, color="0.8", label="prior")
        if n_acc:  # no accepted draw: the prior alone (matplotlib refuses all-NaN bars)
            ax.bar(pos + 0.2, post, 0.4, color="C1", yerr=err, capsize=3, label="posterior ±1.96 MCSE")
            for i, v in enumerate(values):
                bf = summary.get((key, v, "bayes_factor"), (np.nan, np.nan))[0]
                ax.text(i + 0.2, post[i] + err[i] + 0.02, f"BF {bf:.2f}", ha="center", fontsize=7)
        ax.set_xticks(pos)
        ax.set_xticklabels(values, fontsize=8)
        ax.set_ylim(0, 1.15)
        ax.set_title(key, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    if choice:
        axes.flat[len(cont)].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"ABC posterior (grey: prior draws): {n_acc} of {n_done} draws accepted "
                 f"({100 * n_acc / n_done:.2f}%)", fontsize=10)
    fig.tight_layout()
    save(fig, a.out)

    if X not in d or Y not in d:
        raise ResultsError(f"{a.inference}: the rater figure needs priors on {X} and {Y}")
    x, y = d[X][:], d[Y][:]
    fig = plt.figure(figsize=(6.2, 5.6))
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4), wspace=0.05, hspace=0.05)
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    side = fig.add_subplot(grid[1, 1], sharey=ax)
    xr = (np.min(x[done]), np.max(x[done]))
    yr = (np.min(y[done]), np.max(y[done]))
    if n_acc:
        h = ax.hist2d(x[acc], y[acc], bins=(20, 20), range=(xr, yr), cmap="Blues", density=True)
        fig.colorbar(h[3], ax=side, fraction=0.5, label="posterior density")
        ax.plot(np.median(x[acc]), np.median(y[acc]), "k+", ms=12, label="posterior median")
        ax.legend(fontsize=7, loc="upper right")
    bins_x, bins_y = np.linspace(*xr, 21), np.linspace(*yr, 21)
    top.hist(x[done], bins=bins_x, density=True, color="0.8")
    side.hist(y[done], bins=bins_y, density=True, color="0.8", orientation="horizontal")
    if n_acc:
        top.hist(x[acc], bins=bins_x, density=True, histtype="step", color="C0", lw=1.5)
        side.hist(y[acc], bins=bins_y, density=True, histtype="step", color="C0", lw=1.5,
                  orientation="horizontal")
    ax.set_xlabel("patient registration (P(patient registers a rupture))")
    ax.set_ylabel("therapist false-alarm rate (per session)")
    top.axis("off")
    side.axis("off")
    top.set_title("Reluctant patients or vigilant therapists? Accepted draws (grey: prior)", fontsize=9)
    save(fig, a.rater_out)


if __name__ == "__main__":
    run_main(main)
