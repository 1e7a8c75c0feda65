#!/usr/bin/env bash
# Run every benchmark program of a build and collect their figures.
#   scripts/bench.sh BUILD_DIR OUT_DIR
# Starts OUT_DIR/results.json as an empty JSON array; each bench/bench_*
# program appends its figures to it (bench/support/bench_json.c) and keeps it
# a valid array after every figure. Exits non-zero if a program fails or the
# file is not a JSON array at the end.
set -euo pipefail

build=${1:?usage: scripts/bench.sh BUILD_DIR OUT_DIR}
out=${2:?usage: scripts/bench.sh BUILD_DIR OUT_DIR}

mkdir -p "$out"
results="$(cd "$out" && pwd)/results.json"
echo '[]' >"$results"
export DSB_BENCH_RESULTS="$results"

shopt -s nullglob
progs=("$build"/bench/bench_*)
status=0
ran=0
for prog in "${progs[@]}"; do
  [[ -f $prog && -x $prog ]] || continue
  echo "== $(basename "$prog")"
  ran=$((ran + 1))
  if ! "$prog"; then
    echo "bench: $(basename "$prog") failed" >&2
    status=1
  fi
done
if ((ran == 0)); then
  echo "bench: no bench_* programs in $build/bench (build first)" >&2
  exit 1
fi

if command -v python3 >/dev/null 2>&1; then
  python3 - "$results" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    data = json.load(f)
assert isinstance(data, list), "results.json is not an array"
keys = {"name", "value", "unit", "baseline", "baseline_value", "ratio"}
for item in data:
    assert set(item) == keys, "bad result object: %r" % (item,)
print("bench: %d figures in %s" % (len(data), sys.argv[1]))
PY
fi
exit $status
