#!/usr/bin/env bash
# tests/vectors/session_xk.hex is written by an independent Python Noise
# implementation (tests/vectors/session_vectors.py, from the specification):
# it must match what that writer produces now. The writer needs Python's
# `cryptography` module; without it this test is skipped with that reason.
set -eu
src=${DSB_SOURCE_DIR:?}
if ! python3 -c 'import cryptography' 2>/dev/null; then
  echo "SKIPPED: python3 has no 'cryptography' module (Debian: python3-cryptography)"
  exit 77
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
python3 "$src/tests/vectors/session_vectors.py" >"$tmp"
cmp "$tmp" "$src/tests/vectors/session_xk.hex"
echo "session vector file matches its generator"
