#!/usr/bin/env bash
# Static analysis over src/: cppcheck (fast, whole tree) and clang-tidy with
# the checks in .clang-tidy, using the build's compile_commands.json.
set -eu
build=$1
status=0
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
  --inline-suppr --suppress=missingIncludeSystem -I include -I src src || status=1
if command -v clang-tidy >/dev/null; then
  files=$(find src -name '*.c' | sort)
  # shellcheck disable=SC2086
  clang-tidy --quiet -p "$build" $files 2>/dev/null | grep -E 'warning:|error:' && status=1
fi
[ $status = 0 ] && echo "lint: clean"
exit $status
