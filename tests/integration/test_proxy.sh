#!/usr/bin/env bash
# test_proxy.sh - remote service calls between two real daemons on loopback.
#
#   A  default policy (samgr lookups and echo from trusted devices)
#   B  --allow-unknown, a policy file and small proxy limits (4 KiB frames,
#      8 calls in flight per peer, 6 s call timeout, so apps get 4.8 s);
#      app services served
#      by tools/rpcapp.
# Allowed calls, every built-in both ways, app services, and each refusal:
# denied (the app counts zero invocations), unknown service, oversize
# request and reply, too many calls in flight, untrusted caller, app gone
# (unavailable), late answer (dropped, counted), invalid policy at start and
# on SIGHUP reload. Then 1000 calls in flight from 4 processes, and 2000
# from one process.
# Every wait is a polled condition with a deadline; no packet leaves lo.
set -u
BUILD=${DSB_BUILD_DIR:?DSB_BUILD_DIR not set}
DSOFTBUSD=$BUILD/dsoftbusd
DSB=$BUILD/dsb
RPCAPP=$BUILD/rpcapp
for bin in "$DSOFTBUSD" "$DSB" "$RPCAPP"; do
  [ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

T=$(mktemp -d /tmp/dsb-test-proxy.XXXXXX)
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
die() { echo "FAIL: $*"; for n in a b; do [ -f "$T/$n.log" ] && { echo "--- $n.log"; tail -30 "$T/$n.log"; }; done; exit 1; }
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

PORT=$((20000 + RANDOM % 20000))
start() {
  local n=$1; shift
  "$DSOFTBUSD" --state-dir "$T/$n" --socket "$T/$n.sock" --interface lo \
    --discovery-port "$PORT" --name "node-$n" --log-level info "$@" \
    >>"$T/$n.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_$n=$pid"
  wait_for 20 "$DSB" --socket "$T/$n.sock" id || die "daemon $n did not start"
}
dsb() { local n=$1; shift; "$DSB" --socket "$T/$n.sock" "$@"; }
devid() { dsb "$1" --json id | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])'; }
sees() { dsb "$1" peers | grep -q "$2"; }
counter() { dsb "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin).get("'"$2"'", 0))'; }
# file_is FILE VALUE / counter_ge NODE LABEL N: conditions for wait_for
file_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
counter_ge() { [ "$(counter "$1" "$2")" -ge "$3" ]; }
reloads_ge() { [ "$(grep -c 'policy reloaded' "$T/b.log")" -ge "$1" ]; }
withdrawn() { ! dsb a services "$B" | grep -q "$1"; }
# announced NAME: A's peer listing shows NAME among B's services
announced() { dsb a --json peers | python3 -c 'import json,sys; sys.exit(0 if any(p["device_id"]=="'"$B"'" and "'"$1"'" in p["services"] for p in json.load(sys.stdin)) else 1)'; }
# expect_call NODE WANT_EXIT WANT_STDOUT_SUBSTRING ARGS...: one dsb call
expect_call() {
  local n=$1 want=$2 sub=$3; shift 3
  local out rc
  out=$(dsb "$n" call "$@" 2>"$T/err"); rc=$?
  if [ "$rc" != "$want" ]; then
    fail "call $* from $n: exit $rc, want $want ($(cat "$T/err"))"
    return 1
  fi
  if [ -n "$sub" ] && ! printf '%s' "$out" | grep -q -- "$sub"; then
    fail "call $* from $n: reply '$out' lacks '$sub'"
    return 1
  fi
  return 0
}
# app NAME ARGS...: start rpcapp serve on B, wait for "ready"
app() {
  local name=$1; shift
  "$RPCAPP" serve "$T/b.sock" "$@" >"$T/app-$name.out" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  eval "APP_$name=$pid"
  wait_for 10 grep -q ready "$T/app-$name.out" || die "app $name did not start"
}

write_policy() {
  cat >"$T/policy.json" <<EOF
{"rules": [
  {"peer": "trusted", "service": "samgr", "method": "*"},
  {"peer": "trusted", "service": "bundles", "method": "list"},
  {"peer": "trusted", "service": "echo", "method": "*"},
  {"peer": "trusted", "service": "demo.kv", "method": "*"},
  {"peer": "trusted", "service": "demo.big", "method": "*"},
  {"peer": "trusted", "service": "demo.hold", "method": "*"},
  {"peer": "trusted", "service": "demo.slow", "method": "*"},
  {"peer": "trusted", "service": "nosuch", "method": "*"}$1
]}
EOF
}

step "invalid policy file: the daemon refuses to start and names file and field"
echo '{"rules": [{"peer": "trusted", "service": "bad name!", "method": "*"}]}' >"$T/bad.json"
"$DSOFTBUSD" --state-dir "$T/x" --socket "$T/x.sock" --interface lo \
  --discovery-port "$PORT" --policy "$T/bad.json" >"$T/x.log" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "daemon started with an invalid policy"
grep -q "bad.json: rules\[0\].service" "$T/x.log" || fail "error does not name file and field: $(cat "$T/x.log")"
[ -S "$T/x.sock" ] && fail "daemon with an invalid policy created its socket"

write_policy ""
cat >"$T/b.conf" <<EOF
{"policy": "$T/policy.json",
 "proxy": {"max_request": 4096, "max_reply": 4096, "max_calls_per_peer": 8,
           "call_timeout_ms": 6000}}
EOF
start a
start b --config "$T/b.conf" --allow-unknown
A=$(devid a); B=$(devid b)
dsb a trust add "$B" || die "trust"
wait_for 20 sees a "$B" || die "A does not discover B"
wait_for 20 sees b "$A" || die "B does not discover A"

step "local refusals answer at once: unknown device, bad names"
expect_call a 1 "" 0123456789abcdef0123456789abcdef echo echo x
grep -q "not trusted" "$T/err" || fail "no clear error for an untrusted device: $(cat "$T/err")"
expect_call a 1 "" "$B" "bad/name" echo x
step "untrusted caller: B's rules name 'trusted', A is unknown to B"
expect_call a 11 "" "$B" echo echo hi
grep -q "proxy.reject.denied peer=$A service=echo method=echo" "$T/b.log" || fail "no denial log line on B"
dsb b trust add "$A" || die "trust"

step "allowed call returns the right reply; built-ins across devices"
expect_call a 0 "hello world" "$B" echo echo "hello world"
expect_call a 0 "" "$B" echo ping
expect_call a 0 '"name":"echo"' "$B" samgr resolve echo
expect_call a 12 "" "$B" samgr resolve nosuch
dsb a services "$B" | grep -q "^samgr " || fail "dsb services"
dsb a --json services "$B" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert {"samgr","bundles","echo"} <= {x["name"] for x in s}' || fail "dsb services --json"
printf 'from stdin' | dsb a call "$B" echo echo - | grep -q "from stdin" || fail "payload from stdin"
step "B calls A under A's default policy: samgr and echo yes, bundles no"
dsb a trust list | grep -q "$B" || fail "trust list"
wait_for 10 dsb b call "$A" samgr list || fail "B -> A samgr list"
expect_call b 0 "ping-back" "$A" echo echo ping-back
expect_call b 11 "" "$A" bundles list
grep -q "proxy.reject.denied peer=$B service=bundles method=list" "$T/a.log" || fail "no denial log line on A"
dsb a policy check "$B" samgr list | grep -q "allowed by rules" || fail "policy check allowed"
out=$(dsb a policy check "$B" bundles list); rc=$?
[ "$rc" = 11 ] && printf '%s' "$out" | grep -q "denied: no rule matches" || fail "policy check denied: $rc $out"

step "app services across devices; bundles"
app kv demo.kv --bundle com.example.kv 1.2.3 --count-file "$T/kv.count"
expect_call a 0 "$A:payload-1" "$B" demo.kv get payload-1
dsb a --json bundles "$B" | python3 -c 'import json,sys; b=json.load(sys.stdin); assert any(x["name"]=="com.example.kv" and x["version"]=="1.2.3" and "demo.kv" in x["services"] for x in b)' || fail "dsb bundles --json"
[ "$(cat "$T/kv.count")" = 1 ] || fail "kv count $(cat "$T/kv.count")"
app cam demo.cam
wait_for 20 announced demo.kv || fail "B's bundle service demo.kv not announced in discovery"
wait_for 20 announced demo.cam || fail "B's remote-call service demo.cam not announced in discovery"
announced samgr && fail "built-in samgr announced (every daemon offers it)"
kill "$APP_cam"
wait_for 20 eval '! announced demo.cam' || fail "demo.cam still announced after its app left"

step "test_reject_service_name: over 48 bytes or outside [A-Za-z0-9._-], refused before the daemon"
for bad in "$(printf 's%.0s' $(seq 49))" "cam/front" "cam:front"; do
  out=$("$RPCAPP" serve "$T/b.sock" "$bad" 2>&1); rc=$?
  [ "$rc" != 0 ] && grep -q "invalid_argument" <<<"$out" || fail "rpcapp registered '$bad': rc=$rc '$out'"
  out=$("$RPCAPP" serve "$T/b.sock" "$bad" --bundle com.example.bad 1 2>&1); rc=$?
  [ "$rc" != 0 ] && grep -q "invalid_argument" <<<"$out" || fail "rpcapp bundled '$bad': rc=$rc '$out'"
done
dsb a --json bundles "$B" | grep -q com.example.bad && fail "a refused bundle was registered"

step "test_reject_no_matching_rule: denied, the app counts zero invocations"
app secret demo.secret --count-file "$T/secret.count"
expect_call a 11 "" "$B" demo.secret get x
[ "$(cat "$T/secret.count")" = 0 ] || fail "denied call reached the app ($(cat "$T/secret.count"))"

step "test_reject_unknown_service"
expect_call a 12 "" "$B" nosuch get x

step "test_reject_oversize_request and test_reject_oversize_reply"
big=$(head -c 5000 /dev/zero | tr '\0' 'q')
expect_call a 14 "" "$B" echo echo "$big"
app big demo.big --reply-size 5000
expect_call a 14 "" "$B" demo.big get x

step "test_reject_too_many_calls: 8 held calls in flight, the 9th refused"
app hold demo.hold --hold --count-file "$T/hold.count"
HELD=()
for i in 1 2 3 4 5 6 7 8; do
  dsb a call "$B" demo.hold get "$i" >/dev/null 2>&1 &
  HELD+=($!)
done
wait_for 10 file_is "$T/hold.count" 8 || fail "hold app got $(cat "$T/hold.count") calls"
expect_call a 15 "" "$B" demo.hold get 9

step "test_reject_app_gone: the app exits, its held calls answer unavailable"
kill "$APP_hold"
for p in "${HELD[@]}"; do
  wait "$p"; rc=$?
  [ "$rc" = 16 ] || fail "held call exit $rc, want 16 (unavailable)"
done
wait_for 5 withdrawn demo.hold || fail "demo.hold not withdrawn"
expect_call a 11 "" "$B" demo.kv2 get x

step "test_reject_late_reply: the app answers after B gave up"
app slow demo.slow --delay-ms 5500
expect_call a 17 "" "$B" demo.slow get x
wait_for 5 counter_ge b proxy.reject.late_reply 1 || fail "late answer not counted"

step "policy reload: an invalid file keeps the old policy; a valid one applies"
write_policy ', {"peer": "trusted", "service": "echo", "method": 7}'
kill -HUP "$PID_b"
wait_for 5 grep -q "policy reload refused" "$T/b.log" || fail "no reload refusal logged"
grep -q "policy.json: rules\[8\].method" "$T/b.log" || fail "reload error does not name the field"
expect_call a 0 "still" "$B" echo echo still
cat >"$T/policy.json" <<EOF
{"rules": [{"peer": "trusted", "service": "samgr", "method": "list"}]}
EOF
kill -HUP "$PID_b"
wait_for 5 grep -q "policy reloaded" "$T/b.log" || fail "valid policy not reloaded"
expect_call a 11 "" "$B" echo echo now-denied
write_policy ""
kill -HUP "$PID_b"
wait_for 5 reloads_ge 2 || fail "second reload"
expect_call a 0 "back" "$B" echo echo back

step "concurrency: 1000 calls in flight from 4 processes, payload echoes checked"
LOADS=()
for s in 1 2 3 4; do
  "$RPCAPP" load "$T/a.sock" "$B" echo echo 250 "$s" 1024 >"$T/load-$s.out" 2>&1 &
  LOADS+=($!)
done
for i in 0 1 2 3; do
  wait "${LOADS[$i]}" || fail "load $((i + 1)): $(cat "$T/load-$((i + 1)).out")"
done
grep -h "^ok 250$" "$T"/load-*.out | wc -l | grep -q '^4$' || fail "not every load process saw 250 good replies"

step "one process, 2000 calls in flight: the library reads replies while it sends (no deadlock)"
# The daemon stops reading a client whose replies pile up; a client blocked
# in send() then waited forever. Bounded by timeout(1), never a hang.
timeout 120 "$RPCAPP" load "$T/a.sock" "$B" echo echo 2000 5 1024 >"$T/load-one.out" 2>&1
rc=$?
[ "$rc" = 0 ] && grep -q "^ok 2000$" "$T/load-one.out" || fail "2000 calls from one process: exit $rc $(tail -3 "$T/load-one.out")"

step "clean shutdown"
for n in a b; do
  eval "pid=\$PID_$n"
  kill -TERM "$pid"; wait "$pid"; rc=$?
  [ "$rc" = 0 ] || fail "daemon $n exit $rc"
done
PIDS=()
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$T"/*.log "$T"/*.out >/dev/null 2>&1; then
  fail "sanitizer report"
  grep -E -A5 "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$T"/*.log "$T"/*.out | head -40
fi
if [ "$FAILS" -gt 0 ]; then
  for n in a b; do echo "--- $n.log"; tail -20 "$T/$n.log"; done
  echo "$FAILS failure(s)"
  exit 1
fi
echo "PASS"
