#!/usr/bin/env bash
# An inference on 2 MPI ranks writes the same draws and posterior, bit for bit, as one process.
set -euo pipefail
single=$1 mpi=$2 config=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
"$single" infer "$config" --out "$dir/one.h5" --threads 2 >/dev/null
mpirun -np 2 "$mpi" infer "$config" --out "$dir/two.h5" --threads 1 >/dev/null
h5diff "$dir/one.h5" "$dir/two.h5" /draws /draws
h5diff "$dir/one.h5" "$dir/two.h5" /summary /summary
cmp "$dir/one.summary.csv" "$dir/two.summary.csv"
echo "2 ranks match 1 process"
