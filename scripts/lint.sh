#!/usr/bin/env bash
# Static analysis over src/: cppcheck (fast, whole tree) and clang-tidy with
# the checks in .clang-tidy, using BUILD/compile_commands.json (configure
# with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON). Prints every finding and exits 1
# if there is any, prints "lint: clean" and exits 0 otherwise; exits 2 when
# it cannot run (no build directory, no compilation database, missing tool).
#
#   scripts/lint.sh BUILD
set -eu -o pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
if [ ! -f "$1/compile_commands.json" ]; then
  echo "lint: $1/compile_commands.json not found (configure with" \
    "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
for tool in cppcheck clang-tidy; do
  if ! command -v "$tool" >/dev/null; then
    echo "lint: $tool not found (scripts/deps.sh installs it)" >&2
    exit 2
  fi
done

status=0
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
  --inline-suppr --suppress=missingIncludeSystem -I include -I src src ||
  status=1

# A source the database does not know would be checked without its include
# paths and flags: report it instead (re-run cmake, or build, to re-glob).
mapfile -t files < <(find src -name '*.c' | sort)
for f in "${files[@]}"; do
  if ! grep -qF "\"file\": \"$PWD/$f\"" "$build/compile_commands.json"; then
    echo "lint: $f is not in $build/compile_commands.json"
    status=1
  fi
done

# One clang-tidy process per file, as run-clang-tidy does: clang-tidy 14
# carries analyzer state from one translation unit into the next when given
# several, and then reports clang-analyzer-valist.Uninitialized on the
# vsnprintf of every correct va_start/va_end logger after the first file.
# Each process writes its own report so parallel output cannot interleave.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
njobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2016 # expanded by the inner shell
if ! printf '%s\0' "${files[@]}" | xargs -0 -n 1 -P "$njobs" bash -c \
  'clang-tidy --quiet -p "$1" "$3" >"$2/${3//\//_}.txt" 2>/dev/null' \
  lint-tidy "$build" "$out"; then
  status=1 # a file that does not compile, or clang-tidy failed on it
fi
if cat "$out"/*.txt | grep -E 'warning:|error:'; then
  echo "lint: see the path of a finding with: clang-tidy -p $build FILE"
  status=1
fi

if [ $status = 0 ]; then
  echo "lint: clean"
fi
exit $status
