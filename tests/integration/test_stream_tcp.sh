#!/usr/bin/env bash
# Streams over a real TCP session between two processes (tools/stream-probe):
# a server that receives and a sender, on 127.0.0.1 only. Every stream's
# SHA-256 as sent must equal the SHA-256 as received; in message mode the
# hash also covers each message's length, so boundaries are checked too.
#
#   bulk:  8 concurrent streams x 64 MiB in 64 KiB messages (two frames each)
#   mixed: priorities 0..7, message mode with fixed and random sizes (1 byte
#          up to the 256 KiB maximum, i.e. well over one 32 KiB frame,
#          including exactly one frame and one byte more), and byte mode
#
# Both builds move the full 8 x 64 MiB: the sanitizer build takes about 7 s
# on two cores (OpenSSL, which does the hashing and AEAD, is not
# instrumented).
set -euo pipefail

build=${DSB_BUILD_DIR:?DSB_BUILD_DIR not set}
probe="$build/stream-probe"
if [[ ! -x $probe ]]; then
  echo "SKIP: $probe not built"
  exit 77
fi

tmp=$(mktemp -d)
srv_pid=
cleanup() {
  if [[ -n $srv_pid ]] && kill -0 "$srv_pid" 2>/dev/null; then
    kill "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
  fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.out "$tmp"/*.err; do
    [[ -s $f ]] && { echo "--- $f"; head -40 "$f"; }
  done
  exit 1
}

# run_case NAME NSTREAMS SEND-ARGS...
run_case() {
  local name=$1 nstreams=$2
  shift 2
  local fifo="$tmp/$name.fifo" word host port id key
  local start=$SECONDS

  mkfifo "$fifo"
  "$probe" serve --timeout-ms 90000 >"$fifo" 2>"$tmp/$name.serve.err" &
  srv_pid=$!
  exec 3<"$fifo"
  # The server's first line says where it listens and who it is; a bounded
  # wait on that line, not a sleep.
  if ! read -r -t 20 -u 3 word host port id key || [[ $word != listening ]]; then
    fail "$name: server did not report its address"
  fi
  if ! timeout 120 "$probe" send --connect "$host:$port" --peer-id "$id" \
      --peer-key "$key" --timeout-ms 90000 "$@" \
      >"$tmp/$name.send.out" 2>"$tmp/$name.send.err"; then
    fail "$name: sender failed"
  fi
  # The sender closes only after the server closed every stream, so the
  # server's remaining output is complete once it exits.
  timeout 30 cat <&3 >"$tmp/$name.recv.out" || fail "$name: server output"
  exec 3<&-
  if ! wait "$srv_pid"; then
    srv_pid=
    fail "$name: server failed"
  fi
  srv_pid=

  grep '^sent ' "$tmp/$name.send.out" | cut -d' ' -f2- | sort >"$tmp/$name.sent"
  grep '^recv ' "$tmp/$name.recv.out" | cut -d' ' -f2- | sort >"$tmp/$name.recv"
  [[ $(wc -l <"$tmp/$name.sent") -eq $nstreams ]] ||
    fail "$name: expected $nstreams streams sent"
  diff -u "$tmp/$name.sent" "$tmp/$name.recv" >"$tmp/$name.diff.err" ||
    fail "$name: received streams differ from sent streams"
  grep -q '^done .* reason=ok$' "$tmp/$name.recv.out" ||
    fail "$name: server did not end cleanly"
  echo "ok: $name ($nstreams streams, $((SECONDS - start)) s)"
  grep '^done ' "$tmp/$name.recv.out"
}

bulk=$((64 << 20))

run_case bulk 8 --streams 8 --bytes "$bulk" --msg-size 65536 --seed 1
# Every stream carries exactly the bytes it was asked to.
grep -c "^recv s[0-7] bytes=$bulk " "$tmp/bulk.recv.out" | grep -qx 8 ||
  fail "bulk: a stream did not carry $bulk bytes"

run_case mixed 8 --seed 7 \
  --stream big:0:msg:100000-262144:8388608 \
  --stream tiny:7:msg:1-64:262144 \
  --stream frame:3:msg:32768:4194304 \
  --stream frame1:4:msg:32769:4194304 \
  --stream rand:2:msg:1-262144:8388608 \
  --stream bulk:5:bytes:65536:16777216 \
  --stream one:6:msg:1:4096 \
  --stream max:1:msg:262144:4194304
echo "PASS"
