#!/usr/bin/env bash
# Run every fuzz target in a fuzz build for SECONDS each, on its seed corpus.
set -eu
build=$1
seconds=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
status=0
for t in "$build"/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work="$build/fuzz/corpus-work/$name"
  mkdir -p "$work"
  seeds=()
  [ -d "$src/fuzz/corpus/$name" ] && seeds=("$src/fuzz/corpus/$name")
  echo "fuzz: $name for ${seconds}s"
  "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" "${seeds[@]}" 2>"$work.log" || {
    echo "fuzz: $name FAILED (see $work.log)"; status=1; }
  grep -E 'stat::number_of_executed_units' "$work.log" || true
done
exit $status
