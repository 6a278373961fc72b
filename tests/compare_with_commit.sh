#!/usr/bin/env bash
# Proves that a change moved no number: builds COMMIT from git beside the working tree, runs the
# same studies with both binaries (fixed seed, 2 threads) and compares every /replications dataset
# of the old file bit for bit with h5diff (new columns may be added), then the summary CSVs (every
# old row unchanged; new measures may be added).
#   tests/compare_with_commit.sh [COMMIT] [REPLICATIONS] [CONFIG ...]
# Defaults: c99c69d, 40 replications, every scenario in configs/. Not run by CI (it builds twice).
# COMPARE_OLD_BIN=path skips building COMMIT and uses that binary (built from COMMIT) instead;
# COMPARE_NEW_BIN=path likewise uses an already built binary of the working tree.
# COMPARE_SUMMARY_ALLOW=REGEX lets old summary rows matching it change (e.g. measures of a term
# whose true value was NaN before), and counts them.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:-c99c69d}
reps=${2:-40}
shift $(( $# < 2 ? $# : 2 ))
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  # Every shipped study scenario; `infer` scenarios ([infer] table) are not studies that `run` takes.
  for c in configs/*.toml; do grep -q '^\[infer' "$c" || configs+=("$c"); done
fi

work=$(mktemp -d /tmp/collabzium-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
old_bin=${COMPARE_OLD_BIN:-}
if [ -z "$old_bin" ]; then
  echo "compare: building $commit in $work/old" >&2
  mkdir -p "$work/old"
  git archive "$commit" | tar -x -C "$work/old"
  cmake -S "$work/old" -B "$work/old/build" -DCMAKE_BUILD_TYPE=Release -DCOLLABZIUM_MPI=OFF >/dev/null
  cmake --build "$work/old/build" -j"$(nproc)" --target collabzium_cli >/dev/null
  old_bin="$work/old/build/collabzium"
fi
new_bin=${COMPARE_NEW_BIN:-}
if [ -z "$new_bin" ]; then
  echo "compare: building the working tree" >&2
  cmake -S . -B "$work/new" -DCMAKE_BUILD_TYPE=Release -DCOLLABZIUM_MPI=OFF >/dev/null
  cmake --build "$work/new" -j"$(nproc)" --target collabzium_cli >/dev/null
  new_bin="$work/new/collabzium"
fi

status=0
for config in "${configs[@]}"; do
  stem=$(basename "$config" .toml)
  # The old binary runs the file as it was at COMMIT when it existed there: a scenario may since
  # have been rewritten in syntax the old binary does not know (e.g. `base`) for the same study.
  # Under its own name in a folder of the commit's scenarios, so that a relative `base` resolves.
  old_config=$config
  if git cat-file -e "$commit:$config" 2>/dev/null; then
    mkdir -p "$work/old-configs"
    for other in $(git ls-tree --name-only "$commit" "$(dirname "$config")/"); do
      [[ $other == *.toml ]] && git show "$commit:$other" >"$work/old-configs/$(basename "$other")"
    done
    old_config="$work/old-configs/$stem.toml"
  fi
  for side in old new; do
    bin=$old_bin; cfg=$old_config; [ "$side" = new ] && { bin=$new_bin; cfg=$config; }
    "$bin" run "$cfg" --out "$work/$side.$stem.h5" --replications "$reps" --seed 12345 --threads 2 \
      >/dev/null 2>"$work/$side.$stem.err" || { echo "compare: $side run of $cfg failed" >&2; cat "$work/$side.$stem.err" >&2; exit 1; }
  done
  datasets=$(h5ls "$work/old.$stem.h5/replications" | awk '{print $1}')
  n=0; bad=0
  for d in $datasets; do
    n=$((n + 1))
    if ! h5diff -q "$work/old.$stem.h5" "$work/new.$stem.h5" "/replications/$d" "/replications/$d" >/dev/null 2>&1; then
      echo "compare: $stem: /replications/$d differs" >&2; bad=$((bad + 1))
    fi
  done
  # Every row of the old summary CSV must be in the new one unchanged (new measures may be added),
  # except rows matching COMPARE_SUMMARY_ALLOW (an extended regex), for changes made on purpose.
  grep -Fxv -f "$work/new.$stem.summary.csv" "$work/old.$stem.summary.csv" >"$work/changed.$stem.csv" || true
  if [ -n "${COMPARE_SUMMARY_ALLOW:-}" ]; then
    allowed=$(grep -Ec -- "$COMPARE_SUMMARY_ALLOW" "$work/changed.$stem.csv" || true)
    [ "$allowed" = 0 ] || echo "compare: $stem: $allowed old summary rows changed as COMPARE_SUMMARY_ALLOW permits"
    grep -Ev -- "$COMPARE_SUMMARY_ALLOW" "$work/changed.$stem.csv" >"$work/changed.$stem.rest" || true
    mv "$work/changed.$stem.rest" "$work/changed.$stem.csv"
  fi
  missing=$(grep -c . "$work/changed.$stem.csv" || true)
  [ "$missing" = 0 ] || head -5 "$work/changed.$stem.csv" >&2
  if [ "$missing" != 0 ]; then
    echo "compare: $stem: $missing rows of the old summary CSV differ or are missing" >&2; bad=$((bad + 1))
  fi
  if [ "$bad" -eq 0 ]; then
    echo "compare: $stem: $n /replications datasets and the summary CSV rows identical"
  else
    status=1
  fi
done
exit $status
