#!/usr/bin/env bash
# test_facade.sh - dsoftbusd with --backend netstackd (the sockets facade).
#
#   1. every two-daemon scenario of test_daemon.sh again in facade mode
#      (discovery, trust, 32 MiB both ways, concurrency, garbage clients,
#      descriptors back to baseline after 1000 stream cycles, restart);
#   2. fail closed: no netstackd, no daemon (and no API socket left);
#   3. netstackd killed while dsoftbusd runs: a stream in flight keeps
#      going, new streams on the session work, inbound sessions still come
#      in on the listener it already holds, outbound connects fail cleanly;
#      netstackd restarted: dsoftbusd reconnects and dials out again;
#   4. 50 fresh outbound sessions through netstackd: descriptors of the
#      daemon and of its netstackd back to their baseline.
# The sandbox itself is checked at every daemon start (log line from the
# daemon's own socket(AF_INET) -> EPERM check, Seccomp: 2, NoNewPrivs: 1).
# Every wait is a polled condition with a deadline; no packet leaves lo.
set -u
BUILD=${DSB_BUILD_DIR:?DSB_BUILD_DIR not set}
SRC=${DSB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DSOFTBUSD=$BUILD/dsoftbusd
NETSTACKD=$BUILD/netstackd
DSB=$BUILD/dsb
for bin in "$DSOFTBUSD" "$NETSTACKD" "$DSB"; do
  [ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

echo "== test_daemon.sh with --backend netstackd"
DSB_BACKEND=netstackd bash "$SRC/tests/integration/test_daemon.sh"
rc=$?
[ $rc = 0 ] || { echo "FAIL: test_daemon.sh in facade mode (rc $rc)"; exit $rc; }

T=$(mktemp -d /tmp/dsb-test-facade.XXXXXX)
PIDS=()
cleanup() {
  exec 3>&- 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() { echo "FAIL: $*"; for n in a b a.ns b.ns; do [ -f "$T/$n.log" ] && { echo "--- $n.log"; tail -30 "$T/$n.log"; }; done; exit 1; }
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

PORT=$((20000 + RANDOM % 20000))

start_netstackd() {
  local n=$1
  rm -f "$T/$n.ns.sock"
  "$NETSTACKD" --socket "$T/$n.ns.sock" >>"$T/$n.ns.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  eval "NSPID_$n=$pid"
  wait_for 10 test -S "$T/$n.ns.sock" || die "netstackd of $n did not start"
}
stop_netstackd() {
  local pid
  eval "pid=\$NSPID_$1"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null
}
start() {
  local n=$1
  "$DSOFTBUSD" --state-dir "$T/$n" --socket "$T/$n.sock" --interface lo \
    --discovery-port "$PORT" --name "node-$n" --log-level info \
    --backend netstackd --netstackd-socket "$T/$n.ns.sock" >>"$T/$n.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_$n=$pid"
  wait_for 20 "$DSB" --socket "$T/$n.sock" id || die "daemon $n did not start"
  grep -q "^Seccomp:[[:space:]]*2" "/proc/$pid/status" || die "daemon $n has no seccomp filter"
}
stop() {
  local pid
  eval "pid=\$PID_$1"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null
  local rc=$?
  [ $rc = 0 ] || fail "daemon $1 exited with $rc on SIGTERM"
}
dsb() { local n=$1; shift; "$DSB" --socket "$T/$n.sock" "$@"; }
devid() { dsb "$1" --json id | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])'; }
has_service() { dsb "$1" --json peers | python3 -c 'import json,sys; sys.exit(0 if any(p["device_id"]=="'"$2"'" and "'"$3"'" in p["services"] for p in json.load(sys.stdin)) else 1)'; }
outbound() { grep -c "established (outbound)" "$T/a.log"; }

step "fail closed: netstackd not running -> no daemon"
out=$(timeout 30 "$DSOFTBUSD" --state-dir "$T/x" --socket "$T/x.sock" --interface lo \
  --discovery-port "$PORT" --backend netstackd --netstackd-socket "$T/none.sock" 2>&1); rc=$?
[ $rc != 0 ] && [ $rc != 124 ] && grep -q "netstackd at $T/none.sock" <<<"$out" ||
  fail "no netstackd: rc=$rc '$out'"
[ -e "$T/x.sock" ] && fail "a daemon that could not start left its API socket"
out=$("$DSOFTBUSD" --backend nosuch 2>&1); rc=$?
[ $rc = 2 ] && grep -q "option --backend 'nosuch'" <<<"$out" || fail "bad --backend: rc=$rc '$out'"
printf '{"backend": "netstack"}' >"$T/bad.json"
out=$("$DSOFTBUSD" --config "$T/bad.json" --state-dir "$T/x" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "config $T/bad.json: field 'backend'" <<<"$out" || fail "bad backend key: rc=$rc '$out'"

step "A and B in facade mode, trusted, B serves sha and echo, A serves sha"
start_netstackd a
start_netstackd b
start a
start b
A=$(devid a) B=$(devid b)
dsb a trust add "$B" && dsb b trust add "$A" || die "trust add failed"
dsb b serve sha -- sha256sum >"$T/serve-b-sha.log" 2>&1 & PIDS+=($!)
dsb b serve echo -- cat >"$T/serve-b-echo.log" 2>&1 & PIDS+=($!)
dsb a serve sha -- sha256sum >"$T/serve-a-sha.log" 2>&1 & PIDS+=($!)
wait_for 20 has_service a "$B" sha || die "A does not see B's sha service"
wait_for 20 has_service a "$B" echo || die "A does not see B's echo service"
wait_for 20 has_service b "$A" sha || die "B does not see A's sha service"
got=$(echo first | dsb a cat "$B" echo)
[ "$got" = first ] || die "first stream A->B: '$got'"
[ "$(outbound)" = 1 ] || fail "expected one outbound session, log says $(outbound)"

step "netstackd of A killed: the stream in flight keeps going"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/part1"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/part2"
want=$(cat "$T/part1" "$T/part2" | sha256sum | cut -d' ' -f1)
mkfifo "$T/fifo"
dsb a cat "$B" sha <"$T/fifo" >"$T/long.out" 2>"$T/long.err" &
catpid=$!
exec 3>"$T/fifo"
cat "$T/part1" >&3
stop_netstackd a
wait_for 10 grep -q "netstackd down" "$T/a.log" || fail "A did not report netstackd down"
cat "$T/part2" >&3
exec 3>&-
wait "$catpid" || fail "stream across the netstackd restart failed: $(cat "$T/long.err")"
got=$(cut -d' ' -f1 <"$T/long.out")
[ "$got" = "$want" ] || fail "stream across netstackd death: hash '$got' != '$want'"

step "netstackd of A down: new streams on the session still work"
got=$(echo same-session | dsb a cat "$B" echo)
[ "$got" = same-session ] || fail "new stream on the existing session: '$got'"

step "netstackd of A down: B restarted; A cannot dial out, B can dial in"
stop b
start b
dsb b serve echo -- cat >"$T/serve-b-echo2.log" 2>&1 & PIDS+=($!)
wait_for 20 has_service a "$B" echo || die "A does not see restarted B's echo"
out=$(echo x | timeout 30 "$DSB" --socket "$T/a.sock" cat "$B" echo 2>&1); rc=$?
[ $rc != 0 ] && [ $rc != 124 ] || fail "A dialled out without netstackd? rc=$rc '$out'"
echo "   A's error while netstackd is down: $out"
grep -q "connect through netstackd" "$T/a.log" || fail "A did not log the failed connect"
wait_for 20 has_service b "$A" sha || die "restarted B does not see A's sha service"
got=$(echo inbound | dsb b cat "$A" sha | cut -d' ' -f1)
[ "$got" = "$(echo inbound | sha256sum | cut -d' ' -f1)" ] ||
  fail "inbound session on A's listener while its netstackd is down: '$got'"

step "netstackd of A back: A reconnects and dials out again"
stop b
before=$(outbound)
start_netstackd a
wait_for 20 grep -q "netstackd is back" "$T/a.log" || fail "A did not reconnect to netstackd"
start b
dsb b serve echo -- cat >"$T/serve-b-echo3.log" 2>&1 & PIDS+=($!)
wait_for 20 has_service a "$B" echo || die "A does not see B's echo again"
got=$(echo after-return | dsb a cat "$B" echo)
[ "$got" = after-return ] || fail "stream after netstackd returned: '$got'"
[ "$(outbound)" -gt "$before" ] || fail "no new outbound session after netstackd returned"
dsb a --json status | python3 -c '
import json,sys
s=json.load(sys.stdin)
assert s.get("netstackd.down",0) >= 1 and s.get("netstackd.reconnected",0) >= 1, s
' || fail "status lacks the netstackd counters"

step "50 fresh outbound sessions through netstackd; descriptors back to baseline"
fdcount() { ls "/proc/$1/fd" | wc -l; }
no_sessions() { dsb a --json status | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["sessions"] == 0 else 1)'; }
base_a=$(fdcount "$PID_a") base_ns=$(fdcount "$NSPID_a") before=$(outbound)
for i in $(seq 50); do
  dsb a trust remove "$B" >/dev/null || { fail "trust remove"; break; }
  wait_for 10 no_sessions || { fail "session with B did not close"; break; }
  dsb a trust add "$B" >/dev/null || { fail "trust add"; break; }
  got=$(echo "cycle-$i" | dsb a cat "$B" echo)
  [ "$got" = "cycle-$i" ] || { fail "fresh session $i: '$got'"; break; }
  # Pacing, not waiting for an event: B admits 20 handshakes/s per source.
  sleep 0.06
done
[ $(($(outbound) - before)) = 50 ] || fail "expected 50 new outbound sessions, got $(($(outbound) - before))"
fd_back() { [ "$(fdcount "$PID_a")" -le "$base_a" ] && [ "$(fdcount "$NSPID_a")" -le "$base_ns" ]; }
wait_for 10 fd_back || fail "fds not back: A $(fdcount "$PID_a") (was $base_a), netstackd $(fdcount "$NSPID_a") (was $base_ns)"

step "clean shutdown; no sanitizer reports"
stop a
stop b
if grep -l -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/*.log; then
  fail "sanitizer report in a daemon log"
fi

if [ $FAILS != 0 ]; then
  for n in a b a.ns; do echo "--- $n.log"; tail -20 "$T/$n.log"; done
  echo "test_facade: $FAILS failure(s)"
  exit 1
fi
echo "test_facade: all steps passed"
