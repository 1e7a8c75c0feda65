#!/usr/bin/env bash
# The mux, netstackd and local-API remote-call vector files are written by an
# independent Python writer from the docs/PROTOCOL.md tables, not by the C
# encoders: they must match what the writer produces now, so a hand edit of a
# vector file, or a writer changed without regenerating, fails here.
set -eu
python3 "${DSB_SOURCE_DIR:?}/tests/vectors/wire_vectors.py" --check
echo "wire vector files match their generator"
