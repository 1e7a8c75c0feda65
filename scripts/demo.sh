#!/usr/bin/env bash
# demo.sh BUILD_DIR - two dsoftbusd nodes on loopback, end to end.
#
# Node A and node B run with their own state directories and sockets in a
# temporary directory, discover each other by multicast on lo (plus the
# unicast peer list), trust each other, B serves two services, and A lists
# peers, opens several streams, sends messages and a file (sha256 checked)
# and shows its status. Both daemons are stopped cleanly at the end (and by
# the exit trap on any failure). Exit status 0 only if every step passed.
set -u
BUILD=${1:?usage: demo.sh BUILD_DIR}
DSOFTBUSD=$BUILD/dsoftbusd
DSB=$BUILD/dsb
for bin in "$DSOFTBUSD" "$DSB"; do
  [ -x "$bin" ] || { echo "demo: $bin is not built" >&2; exit 1; }
done

T=$(mktemp -d /tmp/dsoftbus-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

say() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
# Commands are shown with the node they run on: "A$ dsb peers".
runA() { printf 'A$ dsb %s\n' "$*"; A "$@"; }
runB() { printf 'B$ dsb %s\n' "$*"; B "$@"; }
die() {
  echo "demo: FAILED: $*" >&2
  for n in a b; do [ -f "$T/$n.log" ] && { echo "--- node $n log" >&2; tail -15 "$T/$n.log" >&2; }; done
  exit 1
}
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

DPORT=$((30000 + RANDOM % 20000))
start() {
  local n=$1; shift
  "$DSOFTBUSD" --state-dir "$T/$n" --socket "$T/$n.sock" --interface lo \
    --discovery-port "$DPORT" --name "node-$n" "$@" >"$T/$n.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$n=$!"
  wait_for 20 "$DSB" --socket "$T/$n.sock" id || die "node $n did not start"
}
A() { "$DSB" --socket "$T/a.sock" "$@"; }
B() { "$DSB" --socket "$T/b.sock" "$@"; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)["'"$1"'"])'; }
sees_service() { A --json peers | python3 -c 'import json,sys; sys.exit(0 if any(p["device_id"]=="'"$1"'" and "'"$2"'" in p["services"] for p in json.load(sys.stdin)) else 1)'; }
established() { A --json peers | python3 -c 'import json,sys; sys.exit(0 if any(p["device_id"]=="'"$1"'" and p["session"]=="established" for p in json.load(sys.stdin)) else 1)'; }

say "Start two daemons on loopback (state in $T)"
start a
start b
echo "node A and node B are up (discovery port $DPORT, multicast on lo)"
IDA=$(A --json id | json_field device_id) || die "dsb id on A"
IDB=$(B --json id | json_field device_id) || die "dsb id on B"
runA id || die "dsb id"

say "Node A discovers node B"
wait_for 20 bash -c "'$DSB' --socket '$T/a.sock' peers | grep -q $IDB" || die "A did not discover B"
runA peers || die "dsb peers"

say "Without trust, A may not open streams to B"
out=$(echo hi | A cat "$IDB" echo 2>&1) && die "untrusted stream was allowed"
echo "A$ echo hi | dsb cat $IDB echo"
echo "$out"

say "The owners make the devices trust each other"
runA trust add "$IDB" || die "trust add on A"
runB trust add "$IDA" || die "trust add on B"
runA trust list || die "trust list"

say "Node B serves 'echo' (cat) and 'sha256' (sha256sum), inetd style"
echo "B$ dsb serve echo -- cat &"
B serve echo -- cat >"$T/serve-echo.log" 2>&1 &
PIDS+=($!)
echo "B$ dsb serve sha256 -- sha256sum &"
B serve sha256 -- sha256sum >"$T/serve-sha.log" 2>&1 &
PIDS+=($!)
wait_for 20 sees_service "$IDB" echo || die "A does not see B's echo service"
wait_for 20 sees_service "$IDB" sha256 || die "A does not see B's sha256 service"
runA peers || die "dsb peers"

say "A sends messages over several streams at once"
pids=()
for i in 1 2 3 4; do
  (printf 'message %d from node A\n' "$i" | A cat "$IDB" echo >"$T/msg.$i") &
  pids+=($!)
done
for i in 1 2 3 4; do
  wait "${pids[$((i - 1))]}" || die "stream $i failed"
  printf 'A$ echo "message %d from node A" | dsb cat %s echo\n' "$i" "$IDB"
  cat "$T/msg.$i"
  [ "$(cat "$T/msg.$i")" = "message $i from node A" ] || die "stream $i echoed the wrong bytes"
done
wait_for 10 established "$IDB" || die "no established session"

say "A sends a 16 MiB file; B hashes it"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/file"
want=$(sha256sum <"$T/file" | cut -d' ' -f1)
echo "A$ dsb cat $IDB sha256 < file"
got=$(A cat "$IDB" sha256 <"$T/file" | cut -d' ' -f1) || die "file transfer failed"
echo "local  sha256 $want"
echo "remote sha256 $got"
[ "$got" = "$want" ] || die "hash mismatch"
echo "A$ dsb cat $IDB echo < file | sha256sum   # there and back"
back=$(A cat "$IDB" echo <"$T/file" | sha256sum | cut -d' ' -f1)
echo "round trip sha256 $back"
[ "$back" = "$want" ] || die "round-trip hash mismatch"

say "A service that B does not offer gives a clear error"
out=$(echo hi | A cat "$IDB" nosuch 2>&1) && die "unpublished service was opened"
echo "A$ echo hi | dsb cat $IDB nosuch"
echo "$out"

say "Remote calls: A asks B's service manager what B offers"
runA services "$IDB" || die "remote samgr list"
runA call "$IDB" samgr resolve echo || die "remote samgr resolve"
echo
runA call "$IDB" echo echo "hello over dsb.rpc" || die "remote echo"
echo

say "B's default policy denies everything else: a denied call and its reason"
echo "A$ dsb call $IDB bundles list"
out=$(A call "$IDB" bundles list 2>&1) && die "a call the policy denies was allowed"
echo "$out   (exit $?)"
runB policy check "$(A --json id | sed -n 's/.*"device_id": *"\([0-9a-f]*\)".*/\1/p')" bundles list
grep "proxy.reject.denied" "$T/b.log" | tail -1

say "Status of node A"
runA status || die "dsb status"

say "Stop both daemons cleanly (SIGTERM: goodbye, streams reset, state kept)"
for n in a b; do
  eval "pid=\$PID_$n"
  kill -TERM "$pid"
  wait "$pid" || die "node $n did not exit cleanly"
  echo "node $n: $(tail -1 "$T/$n.log")"
done
echo
echo "demo: every step passed"
