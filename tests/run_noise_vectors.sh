#!/usr/bin/env bash
# Run the Noise vector runner over every file of a vector folder.
# Exit 77 (CTest: skipped) with the reason when the folder is absent.
set -u
runner=$1
dir=$2
if [ ! -d "$dir" ]; then
  echo "SKIPPED: Noise vector folder $dir does not exist" >&2
  exit 77
fi
shopt -s nullglob
files=("$dir"/*.txt "$dir"/*.json)
if [ ${#files[@]} -eq 0 ]; then
  echo "SKIPPED: no vector files in $dir" >&2
  exit 77
fi
exec "$runner" "${files[@]}"
