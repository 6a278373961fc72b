#!/usr/bin/env bash
# A study run on 2 MPI ranks writes the same records and summary, bit for bit, as one process.
set -euo pipefail
single=$1 mpi=$2 config=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
"$single" run "$config" --out "$dir/one.h5" --threads 2 >/dev/null
mpirun -np 2 "$mpi" run "$config" --out "$dir/two.h5" --threads 1 >/dev/null
h5diff "$dir/one.h5" "$dir/two.h5" /replications /replications
h5diff "$dir/one.h5" "$dir/two.h5" /summary /summary
cmp "$dir/one.summary.csv" "$dir/two.summary.csv"
echo "2 ranks match 1 process"
# The binary without MPI refuses to run as one of several ranks (exit 2, one line naming collabzium-mpi).
if mpirun -np 2 "$single" validate "$config" >/dev/null 2>"$dir/refused.err"; then
  echo "the non-MPI binary ran under mpirun -np 2" >&2; exit 1
fi
grep -q "run collabzium-mpi under mpirun" "$dir/refused.err"
echo "the non-MPI binary refuses mpirun -np 2"
