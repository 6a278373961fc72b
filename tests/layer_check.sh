#!/usr/bin/env bash
# The layer check passes on the source tree and refuses a tree in which a lower layer includes a
# higher one (model including study), naming the file and both layers.
set -euo pipefail
src=$1
cmake -DSRC="$src" -P "$src/cmake/check_layers.cmake"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/model" "$work/include/collabzium/study"
printf '#include "collabzium/study/runner.h"\n' >"$work/src/model/upward.cpp"
printf '#include "collabzium/numeric.h"\n' >"$work/include/collabzium/study/runner.h"
if out=$(cmake -DSRC="$work" -P "$src/cmake/check_layers.cmake" 2>&1); then
  echo "layer_check: an include up a layer was accepted" >&2; exit 1
fi
grep -q 'src/model/upward.cpp (layer model) includes collabzium/study/runner.h (layer study)' <<<"$out" ||
  { echo "layer_check: unexpected message: $out" >&2; exit 1; }
echo "layer_check: the tree passes; an upward include is refused"
