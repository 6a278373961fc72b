"""Reading Collabzium results files (HDF5) for the experiment plots.

Every plot script goes through `open_results`, which refuses (with a clear message and a non-zero
exit through `run_main`) a missing file, a file that is not HDF5, a file that is not a Collabzium
results file, a file of another major format version, and an incomplete run.

Run with Debian's /usr/bin/python3 (h5py, numpy, matplotlib).
"""

import csv
import os
import sys
import tomllib

import numpy as np

FORMAT = "collabzium-results"
SUPPORTED_MAJOR = 1
DPI = 100


class ResultsError(Exception):
    """A results file (or other input) that cannot be used; the message says why."""


def _text(x):
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, np.ndarray) and x.shape == ():
        return _text(x[()])
    return str(x)


class Results:
    """One `collabzium run` output: attributes, conditions, replications and the tidy summary."""

    def __init__(self, path, allow_partial=False):
        import h5py  # imported here so a missing h5py is reported by run_main, not as a traceback

        self.path = path
        if not os.path.exists(path):
            raise ResultsError(f"{path}: no such results file (run experiments/run_all first)")
        if not h5py.is_hdf5(path):
            raise ResultsError(f"{path}: not an HDF5 file, expected a Collabzium results file")
        self.file = h5py.File(path, "r")
        attrs = self.file.attrs
        if "format" not in attrs:
            raise ResultsError(f"{path}: no 'format' attribute, not a Collabzium results file")
        fmt = _text(attrs["format"])
        if fmt != FORMAT:
            raise ResultsError(f"{path}: format is '{fmt}', expected '{FORMAT}'")
        if "format_version" not in attrs:
            raise ResultsError(f"{path}: no 'format_version' attribute")
        version = np.atleast_1d(np.asarray(attrs["format_version"]))
        if version.size < 1 or int(version[0]) != SUPPORTED_MAJOR:
            raise ResultsError(
                f"{path}: format_version {'.'.join(str(int(v)) for v in version)} is not supported, "
                f"expected major version {SUPPORTED_MAJOR}")
        self.version = tuple(int(v) for v in version)
        self.complete = int(np.asarray(attrs.get("complete", 0))) == 1
        if not self.complete and not allow_partial:
            raise ResultsError(f"{path}: the run is incomplete (complete = 0); finish it with --resume")
        for group in ("conditions", "replications", "summary"):
            if group not in self.file:
                raise ResultsError(f"{path}: group /{group} is missing")
        self.seed = int(np.asarray(attrs.get("seed", -1)))
        self.git_sha = _text(attrs.get("git_sha", ""))
        try:
            self.config = tomllib.loads(_text(attrs["config"]))
        except (KeyError, tomllib.TOMLDecodeError) as e:
            raise ResultsError(f"{path}: the 'config' attribute is missing or not TOML ({e})")
        cond = self.file["conditions"]
        self.index = np.asarray(cond["index"][:]) if "index" in cond else None
        self.conditions = {k: np.asarray(cond[k][:]) for k in cond if k != "index"}
        self.ncond = len(self.index) if self.index is not None else 1
        reps = self.file["replications"]
        self.done = np.asarray(reps["done"][:]).astype(bool) if "done" in reps else None
        s = self.file["summary"]
        self._summary = {
            "condition": np.asarray(s["condition"][:]).astype(int),
            "model": np.array([_text(x) for x in s["model"][:]]),
            "rater": np.array([_text(x) for x in s["rater"][:]]),
            "term": np.array([_text(x) for x in s["term"][:]]),
            "measure": np.array([_text(x) for x in s["measure"][:]]),
            "value": np.asarray(s["value"][:], dtype=float),
            "mcse": np.asarray(s["mcse"][:], dtype=float),
        }

    def cfg(self, dotted, default=None):
        node = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def alpha(self):
        return float(self.cfg("run.alpha", 0.05))

    def condition_values(self, key):
        """Value of `key` per condition (1..C order): swept or the constant from the config."""
        if key in self.conditions:
            return np.asarray(self.conditions[key], dtype=float)
        value = self.cfg(key)
        if value is None:
            raise ResultsError(f"{self.path}: no condition value or config key '{key}'")
        return np.full(self.ncond, float(value))

    def rep(self, column):
        """[C x R] replication values of `column`, NaN where a replication is not done."""
        reps = self.file["replications"]
        if column not in reps:
            raise ResultsError(f"{self.path}: /replications/{column} is missing")
        x = np.asarray(reps[column][:], dtype=float)
        if self.done is not None and self.done.shape == x.shape:
            x = np.where(self.done, x, np.nan)
        return x

    def summary(self, model, rater, term, measure):
        """(value, mcse) arrays over conditions 1..C (NaN where absent)."""
        s = self._summary
        mask = ((s["model"] == model) & (s["rater"] == rater) & (s["term"] == term)
                & (s["measure"] == measure))
        value = np.full(self.ncond, np.nan)
        mcse = np.full(self.ncond, np.nan)
        idx = s["condition"][mask] - 1
        if idx.size == 0:
            raise ResultsError(
                f"{self.path}: summary has no row {model}/{rater}/{term}/{measure}")
        value[idx] = s["value"][mask]
        mcse[idx] = s["mcse"][mask]
        return value, mcse

    def provenance(self):
        return f"{os.path.basename(self.path)}: seed {self.seed}, git {self.git_sha}"


def open_results(path, allow_partial=False, swept=(), scenario=None):
    """Open a results file; `swept` keys must be swept in it (they identify the scenario, named in
    the message as configs/`scenario`)."""
    res = Results(path, allow_partial=allow_partial)
    for key in swept:
        if key not in res.conditions:
            raise ResultsError(f"{path}: '{key}' is not swept; expected configs/{scenario}")
    return res


def read_csv_rows(path, needed, what="file"):
    """The rows of a CSV file as dicts, after checking that the `needed` columns are there."""
    if not os.path.exists(path):
        raise ResultsError(f"{path}: no such {what}")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(needed)}")
        rows = list(reader)
    if not rows:
        raise ResultsError(f"{path}: no data rows")
    return rows


def mean_mcse(x, axis=-1):
    """Mean and Monte Carlo SE (sd / sqrt(n)) ignoring NaN."""
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    m = np.nanmean(x, axis=axis)
    sd = np.nanstd(x, axis=axis, ddof=1)
    return m, sd / np.sqrt(np.maximum(n, 1))


def significant(res, model, rater, term, direction):
    """[C x R] 1.0 where p < alpha with the estimate in `direction` (+1/-1), 0.0 otherwise,
    NaN where the fit failed or the replication is missing."""
    p = res.rep(f"{model}.{rater}.{term}.p")
    est = res.rep(f"{model}.{rater}.{term}.estimate")
    out = ((p < res.alpha()) & (np.sign(est) == direction)).astype(float)
    out[~(np.isfinite(p) & np.isfinite(est))] = np.nan
    return out


def save(fig, out, dpi=DPI):
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, out)
    print(f"wrote {out}")


def run_main(main):
    """Run a plot's main(); a ResultsError or a missing input becomes one line and exit 2."""
    try:
        main()
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (OSError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
