#!/usr/bin/env bash
# experiments/run_all --quick produces every figure (non-empty) and the seed-study report; every
# plot script fails loudly (non-zero exit, an "error:" line) on a missing results file, on a file
# that is not HDF5, on a foreign HDF5 file and on a results file of another major format version.
#
#   tests/experiments_quick.sh [PATH/TO/collabzium]     (default: $COLLABZIUM, else build/collabzium)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="${1:-${COLLABZIUM:-$ROOT/build/collabzium}}"
PY="${COLLABZIUM_PYTHON:-/usr/bin/python3}"
PLOTS="$ROOT/experiments/plots"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

COLLABZIUM="$CLI" "$ROOT/experiments/run_all" --quick --out "$dir/results" --threads 2 > "$dir/run_all.out" 2>&1 \
  || { tail -30 "$dir/run_all.out" >&2; fail "experiments/run_all --quick failed"; }

for f in power roc vigilance estimators null_mood trajectories calibration mechanisms posterior rater_posterior; do
  [[ -s "$dir/results/figures/$f.png" ]] || fail "figure $f.png missing or empty"
  head -c 8 "$dir/results/figures/$f.png" | od -An -tx1 | grep -q "89 50 4e 47" || fail "$f.png is not a PNG"
done
[[ -s "$dir/results/seed_report.md" ]] || fail "seed_report.md missing or empty"
[[ -s "$dir/results/calibration.csv" ]] || fail "calibration.csv missing or empty"
grep -q "^seed: " "$dir/results/run_all.log" || fail "run_all.log lacks the seed"
grep -q "^machine: nproc " "$dir/results/run_all.log" || fail "run_all.log lacks the machine"
grep -q "^total wall time: " "$dir/results/run_all.log" || fail "run_all.log lacks the wall time"
echo "run_all --quick: every figure written"

# Bad inputs: a missing file, a text file, an HDF5 file that is not ours, a wrong major version,
# a wrong format name.
bad="$dir/bad"; mkdir -p "$bad"
echo "not hdf5" > "$bad/text.h5"
src="$dir/results/power_patients.h5"
"$PY" - "$src" "$bad" <<'EOF'
import shutil, sys
import h5py, numpy as np
src, bad = sys.argv[1], sys.argv[2]
with h5py.File(f"{bad}/foreign.h5", "w") as f:
    f.create_dataset("x", data=np.arange(3))
shutil.copy(src, f"{bad}/v2.h5")
with h5py.File(f"{bad}/v2.h5", "a") as f:
    f.attrs["format_version"] = np.array([2, 0], dtype=np.int32)
shutil.copy(src, f"{bad}/otherformat.h5")
with h5py.File(f"{bad}/otherformat.h5", "a") as f:
    f.attrs["format"] = "something-else"
EOF

expect_fail() {  # expect_fail LABEL COMMAND...
  local label="$1"; shift
  local rc=0
  "$@" > "$dir/out.txt" 2> "$dir/err.txt" || rc=$?
  [[ $rc != 0 ]] || fail "$label: exit status 0, expected failure"
  grep -q "error:" "$dir/err.txt" || { cat "$dir/err.txt" >&2; fail "$label: no 'error:' message on stderr"; }
  if grep -q "Traceback" "$dir/err.txt"; then cat "$dir/err.txt" >&2; fail "$label: traceback instead of a message"; fi
  [[ ! -e "$dir/out.png" ]] || fail "$label: wrote a figure anyway"
}

for case in missing text foreign v2 otherformat; do
  f="$bad/$case.h5"
  [[ $case == missing ]] && f="$bad/does_not_exist.h5"
  expect_fail "plot_power $case" "$PY" "$PLOTS/plot_power.py" --patients "$f" \
    --sessions "$dir/results/power_sessions.h5" --effect "$dir/results/power_effect.h5" --out "$dir/out.png"
  expect_fail "plot_roc $case" "$PY" "$PLOTS/plot_roc.py" "$f" --out "$dir/out.png"
  expect_fail "plot_vigilance $case" "$PY" "$PLOTS/plot_vigilance.py" "$f" --out "$dir/out.png"
  expect_fail "plot_estimators $case" "$PY" "$PLOTS/plot_estimators.py" "$f" --out "$dir/out.png"
  expect_fail "plot_mechanisms $case" "$PY" "$PLOTS/plot_mechanisms.py" "$f" --out "$dir/out.png"
  expect_fail "plot_null_mood $case" "$PY" "$PLOTS/plot_null_mood.py" "$f" --out "$dir/out.png"
  expect_fail "plot_infer $case" "$PY" "$PLOTS/plot_infer.py" "$f" --out "$dir/out.png" --rater-out "$dir/out.png"
  expect_fail "make_calibration_csv $case" "$PY" "$PLOTS/make_calibration_csv.py" "$f" --out "$dir/out.csv"
  expect_fail "seed_report $case" "$PY" "$PLOTS/seed_report.py" --seed-results "$f" \
    --null-results "$dir/results/null_mood.h5" --out "$dir/out.md"
done
grep -q "format_version 2.0 is not supported" <("$PY" "$PLOTS/plot_vigilance.py" "$bad/v2.h5" --out "$dir/out.png" 2>&1) \
  || fail "wrong-version message does not name the version"
# the CSV-reading plots
expect_fail "plot_calibration missing" "$PY" "$PLOTS/plot_calibration.py" "$bad/none.csv" --out "$dir/out.png"
echo "a,b" > "$bad/wrong.csv"
expect_fail "plot_calibration wrong columns" "$PY" "$PLOTS/plot_calibration.py" "$bad/wrong.csv" --out "$dir/out.png"
expect_fail "plot_trajectories missing" "$PY" "$PLOTS/plot_trajectories.py" --cohort "$bad/none.csv" \
  --events "$dir/results/example_events.csv" --out "$dir/out.png"
expect_fail "plot_trajectories wrong columns" "$PY" "$PLOTS/plot_trajectories.py" --cohort "$bad/wrong.csv" \
  --events "$dir/results/example_events.csv" --out "$dir/out.png"
echo "plot scripts refuse missing, foreign and wrong-version inputs"

# The driver itself refuses a missing CLI.
rc=0; COLLABZIUM="$bad/no_such_cli" "$ROOT/experiments/run_all" --quick --out "$dir/x" > /dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "run_all with a missing CLI: exit $rc, expected 2"
echo "experiments quick test passed"
