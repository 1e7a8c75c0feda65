#!/usr/bin/env bash
# test_daemon.sh - dsoftbusd and dsb end to end: real daemons on loopback.
#
#   A, B   share a discovery port and find each other by multicast on lo;
#   C, D   use distinct ports and find each other only by the unicast list.
#   trust, untrusted and unpublished errors, 32 MiB both ways with sha256,
#   concurrent streams, garbage from local clients, restart keeps identity
#   and trust, daemon descriptors back to baseline after 1000 streams.
# Every wait is a polled condition with a deadline; no packet leaves lo.
#
# DSB_BACKEND=netstackd runs every step in facade mode: each daemon gets its
# sockets from its own netstackd (kept running across daemon restarts) and
# must be sandboxed (test_facade.sh runs it so).
set -u
BUILD=${DSB_BUILD_DIR:?DSB_BUILD_DIR not set}
SRC=${DSB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DSOFTBUSD=$BUILD/dsoftbusd
DSB=$BUILD/dsb
IPC_TOOL="python3 $SRC/tests/integration/ipc_tool.py"
BACKEND=${DSB_BACKEND:-direct}
NETSTACKD=$BUILD/netstackd
for bin in "$DSOFTBUSD" "$DSB"; do
  [ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
done
if [ "$BACKEND" = netstackd ]; then
  [ -x "$NETSTACKD" ] || { echo "SKIP: $NETSTACKD not built"; exit 77; }
fi
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

T=$(mktemp -d /tmp/dsb-test-daemon.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() { echo "FAIL: $*"; for n in a b c d a.ns b.ns; do [ -f "$T/$n.log" ] && { echo "--- $n.log"; tail -30 "$T/$n.log"; }; done; exit 1; }

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

BASE=$((20000 + RANDOM % 20000))
PA=$BASE PC=$((BASE + 1)) PD=$((BASE + 2))

# Facade mode: NAME's netstackd, started once and kept across restarts.
start_netstackd() {
  local n=$1 nspid
  eval "nspid=\${NSPID_$n:-}"
  [ -n "$nspid" ] && kill -0 "$nspid" 2>/dev/null && return 0
  rm -f "$T/$n.ns.sock"
  "$NETSTACKD" --socket "$T/$n.ns.sock" >>"$T/$n.ns.log" 2>&1 &
  nspid=$!
  PIDS+=("$nspid")
  eval "NSPID_$n=$nspid"
  wait_for 10 test -S "$T/$n.ns.sock" || die "netstackd of $n did not start"
}

# start NAME DISCPORT [extra args]
start() {
  local n=$1 port=$2; shift 2
  local backend_args=()
  if [ "$BACKEND" = netstackd ]; then
    start_netstackd "$n"
    backend_args=(--backend netstackd --netstackd-socket "$T/$n.ns.sock")
  fi
  "$DSOFTBUSD" --state-dir "$T/$n" --socket "$T/$n.sock" --interface lo \
    --discovery-port "$port" --name "node-$n" --log-level info \
    "${backend_args[@]}" "$@" >>"$T/$n.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_$n=$pid"
  wait_for 20 "$DSB" --socket "$T/$n.sock" id || die "daemon $n did not start"
  if [ "$BACKEND" = netstackd ]; then
    # Sandboxed (the daemon checked that socket(AF_INET) gets EPERM) and
    # the kernel agrees: a seccomp filter and no_new_privs are in force.
    grep -q "socket(AF_INET) -> EPERM" "$T/$n.log" || die "daemon $n not sandboxed"
    grep -q "^Seccomp:[[:space:]]*2" "/proc/$pid/status" || die "daemon $n has no seccomp filter"
    grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$pid/status" || die "daemon $n lacks no_new_privs"
  fi
}
dsb() { local n=$1; shift; "$DSB" --socket "$T/$n.sock" "$@"; }
devid() { dsb "$1" --json id | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])'; }
sees() { dsb "$1" --json peers | python3 -c 'import json,sys; sys.exit(0 if any(p["device_id"]=="'"$2"'" for p in json.load(sys.stdin)) else 1)'; }
has_service() { dsb "$1" --json peers | python3 -c 'import json,sys; sys.exit(0 if any(p["device_id"]=="'"$2"'" and "'"$3"'" in p["services"] for p in json.load(sys.stdin)) else 1)'; }
fdcount() { ls "/proc/$1/fd" | wc -l; }

step "bad config: no daemon, one line naming file and field"
printf '{"port": "x"}' >"$T/bad.json"
out=$("$DSOFTBUSD" --config "$T/bad.json" --state-dir "$T/bad" --socket "$T/bad.sock" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "config $T/bad.json: field 'port'" <<<"$out" || fail "bad config: rc=$rc '$out'"
printf '{"interfaces": ["lo"], "nmae": "typo"}' >"$T/typo.json"
out=$("$DSOFTBUSD" --config "$T/typo.json" --state-dir "$T/bad" --socket "$T/bad.sock" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "field 'nmae': unknown field" <<<"$out" || fail "unknown key: rc=$rc '$out'"
[ -e "$T/bad.sock" ] && fail "a bad config left a socket behind"

step "start A and B (multicast on lo), C and D (unicast peer list only)"
start a "$PA"
start b "$PA"
start c "$PC" --peer "127.0.0.1:$PD"
start d "$PD" --peer "127.0.0.1:$PC"
A=$(devid a) B=$(devid b) C=$(devid c) D=$(devid d)
[ ${#A} = 32 ] && [ ${#B} = 32 ] || die "bad device ids '$A' '$B'"

step "discovery"
wait_for 20 sees a "$B" || die "A does not see B (multicast)"
wait_for 20 sees b "$A" || die "B does not see A (multicast)"
wait_for 20 sees c "$D" || die "C does not see D (unicast)"
wait_for 20 sees d "$C" || die "D does not see C (unicast)"
sees a "$C" && fail "A sees C although they share no discovery path"
# stop NAME: SIGTERM, then the daemon must exit 0 (sanitizer builds exit
# non-zero on a leak or error).
stop() {
  local pid
  eval "pid=\$PID_$1"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null
  local rc=$?
  [ $rc = 0 ] || fail "daemon $1 exited with $rc on SIGTERM"
  grep -q "stopped" "$T/$1.log" || fail "daemon $1 did not log a clean stop"
}
stop c
stop d
dsb a --json peers | python3 -c '
import json,sys
for p in json.load(sys.stdin):
    for k in ("device_id","name","addresses","services","trust","session"):
        assert k in p, k
' || fail "peers --json lacks a key"

step "untrusted device: clear error"
out=$(echo x | dsb a cat "$B" echo 2>&1); rc=$?
[ $rc != 0 ] && grep -q "device $B is not trusted" <<<"$out" || fail "untrusted: rc=$rc '$out'"

step "trust both ways"
dsb a trust add "$B" && dsb b trust add "$A" || die "trust add failed"
dsb a --json trust list | grep -q "$B" || fail "trust list lacks B"

step "unpublished service: clear error"
out=$(echo x | dsb a cat "$B" nosuch 2>&1); rc=$?
[ $rc != 0 ] && grep -q "no such service nosuch on device $B" <<<"$out" || fail "unpublished: rc=$rc '$out'"

step "services: B serves sha and echo, A serves sha"
dsb b serve sha -- sha256sum >"$T/serve-b-sha.log" 2>&1 & PIDS+=($!)
dsb b serve echo -- cat >"$T/serve-b-echo.log" 2>&1 & PIDS+=($!)
dsb a serve sha -- sha256sum >"$T/serve-a-sha.log" 2>&1 & PIDS+=($!)
wait_for 20 has_service a "$B" echo || die "A does not see B's echo service"
wait_for 20 has_service a "$B" sha || die "A does not see B's sha service"
wait_for 20 has_service b "$A" sha || die "B does not see A's sha service"

step "a peer's services outside the service-name rule: listed, not openable"
# disc-probe announces like a peer of another version: a 60-byte name and
# one with '/' and ':' (discovery allows both; local apps may not publish
# them). dsb peers lists them; opening one is a clear local error.
if [ -x "$BUILD/disc-probe" ]; then
  LONG=$(printf 'L%.0s' $(seq 60))
  mkfifo "$T/probe.in"
  exec 7<>"$T/probe.in"
  "$BUILD/disc-probe" --state-dir "$T/probe" --name probe --session-port 9 \
    --port "$PA" --interface lo --no-ipv6 --service "$LONG" \
    --service "cam/front:1" <&7 >"$T/probe.out" 2>&1 &
  PROBE_PID=$!
  PIDS+=("$PROBE_PID")
  wait_for 10 grep -q "^ready " "$T/probe.out" || die "disc-probe did not start"
  P=$(awk '/^ready /{print $2; exit}' "$T/probe.out")
  wait_for 20 has_service a "$P" "$LONG" || fail "A's listing drops the 60-byte service of $P"
  has_service a "$P" "cam/front:1" || fail "A's listing drops cam/front:1 of $P"
  dsb a peers | grep -q -- "$LONG" || fail "plain 'dsb peers' lacks the 60-byte service"
  out=$(echo x | dsb a cat "$P" "$LONG" 2>&1); rc=$?
  [ $rc != 0 ] && grep -q "is not a service name" <<<"$out" || fail "opening the 60-byte service: rc=$rc '$out'"
  kill -TERM "$PROBE_PID"
  wait "$PROBE_PID" 2>/dev/null
  exec 7>&-
fi
out=$(dsb a listen "$(printf 's%.0s' $(seq 49))" 2>&1); rc=$?
[ $rc != 0 ] && grep -q "is not a service name" <<<"$out" || fail "publishing 49 bytes: rc=$rc '$out'"
out=$(dsb a listen "cam/front" 2>&1); rc=$?
[ $rc != 0 ] && grep -q "is not a service name" <<<"$out" || fail "publishing cam/front: rc=$rc '$out'"

step "32 MiB A -> B and B -> A with sha256"
head -c $((32 * 1024 * 1024)) /dev/urandom >"$T/big"
want=$(sha256sum <"$T/big" | cut -d' ' -f1)
got=$(dsb a cat "$B" sha <"$T/big" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "A->B hash '$got' != '$want'"
got=$(dsb b cat "$A" sha <"$T/big" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "B->A hash '$got' != '$want'"
got=$(dsb a cat "$B" echo <"$T/big" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "A->B->A echo hash '$got' != '$want'"

step "8 concurrent streams"
cpids=()
for i in 1 2 3 4 5 6 7 8; do
  head -c $((1024 * 1024 + i)) /dev/urandom >"$T/in.$i"
  dsb a cat "$B" echo <"$T/in.$i" >"$T/out.$i" 2>"$T/err.$i" & cpids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
  wait "${cpids[$((i - 1))]}" || fail "concurrent stream $i exited non-zero: $(cat "$T/err.$i")"
  cmp -s "$T/in.$i" "$T/out.$i" || fail "concurrent stream $i data differs"
done

step "local clients sending garbage; others keep being served"
$IPC_TOOL garbage "$T/a.sock" || fail "garbage client run failed"
kill -0 "$PID_a" || die "daemon A died on garbage"
dsb a id >/dev/null || fail "A does not answer after garbage"
got=$(echo still-here | dsb a cat "$B" echo)
[ "$got" = still-here ] || fail "stream after garbage: '$got'"

step "1000 stream open/close cycles; descriptors back to baseline"
$IPC_TOOL sink "$T/b.sock" sink >"$T/sink.out" 2>&1 & PIDS+=($!)
wait_for 20 has_service a "$B" sink || die "sink service not announced"
$IPC_TOOL cycles "$T/a.sock" "$B" sink 5 || fail "warm-up cycles failed"
base_a=$(fdcount "$PID_a") base_b=$(fdcount "$PID_b")
$IPC_TOOL cycles "$T/a.sock" "$B" sink 1000 || fail "1000 cycles failed"
fd_back() { [ "$(fdcount "$PID_a")" -le "$base_a" ] && [ "$(fdcount "$PID_b")" -le "$base_b" ]; }
wait_for 30 fd_back || fail "fds not back: A $(fdcount "$PID_a") (was $base_a), B $(fdcount "$PID_b") (was $base_b)"

step "status"
dsb a --json status | python3 -c '
import json,sys
s=json.load(sys.stdin)
assert s["sessions"] >= 1 and s["streams_opened"] >= 1000, s
' || fail "status counters"

step "restart B: identity and trust kept"
stop b
start b "$PA"
[ "$(devid b)" = "$B" ] || fail "B's identity changed across restart"
dsb b trust list | grep -q "$A" || fail "B forgot its trust in A"
dsb b serve echo -- cat >"$T/serve-b-echo2.log" 2>&1 & PIDS+=($!)
wait_for 30 has_service a "$B" echo || die "A does not see restarted B's echo"
got=$(echo after-restart | dsb a cat "$B" echo)
[ "$got" = after-restart ] || fail "stream after restart: '$got'"

step "clean shutdown of A and B; no sanitizer reports"
stop a
stop b
if grep -l -E "AddressSanitizer|LeakSanitizer|runtime error" "$T"/*.log; then
  fail "sanitizer report in a daemon log"
fi

if [ $FAILS != 0 ]; then
  for n in a b c; do echo "--- $n.log"; tail -20 "$T/$n.log"; done
  echo "test_daemon: $FAILS failure(s)"
  exit 1
fi
echo "test_daemon ($BACKEND backend): all steps passed"
