#!/usr/bin/env bash
# The vector runner must pass vector files it has never seen, not just the
# one shared file: build two new files in the cacophony format from it
# (different subsets, key order and layout, split across files) and check the
# runner passes them, then check that one changed ciphertext byte makes it
# fail with exit status 1 and a mismatch report.
set -eu
runner=$DSB_BUILD_DIR/noise-vectors
src=${DSB_NOISE_VECTORS_DIR:-}/cacophony.txt
if [ ! -f "$src" ]; then
  echo "SKIPPED: $src does not exist"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$src" "$tmp" <<'PY'
import json, random, sys
src, out = sys.argv[1], sys.argv[2]
vectors = json.load(open(src))["vectors"]
ours = [v for v in vectors if "_25519_" in v["protocol_name"]]
rng = random.Random(20261125)
rng.shuffle(ours)
half = len(ours) // 2
def reorder(v):
    keys = list(v.keys())
    rng.shuffle(keys)
    return {k: v[k] for k in keys}
# File 1: indented, keys shuffled. File 2: one line, plus one 448 vector.
json.dump({"vectors": [reorder(v) for v in ours[:half]]},
          open(out + "/a.json", "w"), indent=3)
extra = [v for v in vectors if "_448_" in v["protocol_name"]][:1]
json.dump({"vectors": ours[half:] + extra}, open(out + "/b.txt", "w"),
          separators=(",", ":"))
# A broken copy: one byte of one transport ciphertext changed.
bad = dict(ours[0])
bad["messages"] = [dict(m) for m in bad["messages"]]
ct = bytearray.fromhex(bad["messages"][-1]["ciphertext"])
ct[0] ^= 0x01
bad["messages"][-1]["ciphertext"] = ct.hex()
json.dump({"vectors": [bad]}, open(out + "/bad.json", "w"))
print(len(ours))
PY

want=$(python3 -c 'import json,sys; print(sum("_25519_" in v["protocol_name"] for v in json.load(open(sys.argv[1]))["vectors"]))' "$src")
out=$("$runner" "$tmp/a.json" "$tmp/b.txt")
last=$(tail -n 1 <<<"$out")
echo "unseen files: $last"
[ "$last" = "$want passed, 0 failed, 1 skipped" ] || { echo "FAIL: expected '$want passed, 0 failed, 1 skipped'"; exit 1; }

set +e
badout=$("$runner" "$tmp/bad.json" 2>&1)
rc=$?
set -e
echo "changed byte: $(tail -n 1 <<<"$badout") (exit $rc)"
[ $rc = 1 ] || { echo "FAIL: runner exit $rc on a changed ciphertext"; exit 1; }
[ "$(tail -n 1 <<<"$badout")" = "0 passed, 1 failed, 0 skipped" ] || { echo "FAIL: wrong count line"; exit 1; }
grep -qE "FAIL .*(differ|mismatch)" <<<"$badout" || { echo "FAIL: no mismatch report"; echo "$badout"; exit 1; }
echo "PASS"
