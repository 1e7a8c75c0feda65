#!/usr/bin/env bash
# test_proxy_inject.sh - remote-call rejects from a real, authenticated peer
# against one real daemon on loopback (issue #8). tools/rpc-inject runs the
# session and mux of the library and hand-makes the remote-call frames:
#
#   test_reject_malformed_call_frame_from_peer: on its own dsb.rpc stream,
#     broken call frames each get the status docs/PROTOCOL.md specifies
#     (malformed / oversize) or, where no nonce can be recovered, no reply;
#     none reaches the service (the app counts only the one valid call);
#     a valid call on the same stream still works; the daemon counted them.
#   test_reject_stale_reply_from_peer: the daemon calls the injector, which
#     answers with an unknown nonce, then the right one, then the right one
#     again; `dsb call` prints the right payload exactly once and the daemon
#     counts two stale replies.
# Every wait is a polled condition with a deadline; no packet leaves lo.
set -u
BUILD=${DSB_BUILD_DIR:?DSB_BUILD_DIR not set}
DSOFTBUSD=$BUILD/dsoftbusd
DSB=$BUILD/dsb
RPCAPP=$BUILD/rpcapp
INJECT=$BUILD/rpc-inject
for bin in "$DSOFTBUSD" "$DSB" "$RPCAPP" "$INJECT"; do
  [ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

T=$(mktemp -d /tmp/dsb-test-proxy-inject.XXXXXX)
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
die() { echo "FAIL: $*"; [ -f "$T/a.log" ] && { echo "--- a.log"; tail -30 "$T/a.log"; }; exit 1; }
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

dsb() { "$DSB" --socket "$T/a.sock" "$@"; }
idfield() { dsb --json id | python3 -c 'import json,sys; print(json.load(sys.stdin)["'"$1"'"])'; }
counter() { dsb --json status | python3 -c 'import json,sys; print(json.load(sys.stdin).get("'"$1"'", 0))'; }
counter_ge() { [ "$(counter "$1")" -ge "$2" ]; }

cat >"$T/policy.json" <<EOF
{"rules": [
  {"peer": "trusted", "service": "echo", "method": "*"},
  {"peer": "trusted", "service": "demo.count", "method": "*"}
]}
EOF
PORT=$((20000 + RANDOM % 20000))
"$DSOFTBUSD" --state-dir "$T/a" --socket "$T/a.sock" --interface lo \
  --discovery-port "$PORT" --name node-a --log-level info \
  --policy "$T/policy.json" >>"$T/a.log" 2>&1 &
PID_a=$!
PIDS+=("$PID_a")
wait_for 20 dsb id || die "daemon did not start"
A=$(idfield device_id)
AKEY=$(idfield noise_static_key)
APORT=$(idfield session_port)
[ -n "$A" ] && [ -n "$AKEY" ] && [ "${APORT:-0}" -gt 0 ] || die "dsb id: '$A' '$AKEY' '$APORT'"

# The injector's identity first, so the daemon trusts it before it connects.
INJ=$("$INJECT" id --state-dir "$T/inj" | awk '$1 == "id" {print $2}')
[ -n "$INJ" ] || die "rpc-inject id"
dsb trust add "$INJ" || die "trust add"
PEER=(--connect "127.0.0.1:$APORT" --peer-id "$A" --peer-key "$AKEY" --state-dir "$T/inj")

"$RPCAPP" serve "$T/a.sock" demo.count --echo --count-file "$T/count" >"$T/app.out" 2>&1 &
PIDS+=($!)
wait_for 10 grep -q ready "$T/app.out" || die "rpcapp did not start"

step "test_reject_malformed_call_frame_from_peer"
mal0=$(counter proxy.reject.malformed)
over0=$(counter proxy.reject.oversize)
ver0=$(counter proxy.reject.unknown_version)
timeout 60 "$INJECT" malformed "${PEER[@]}" --target demo.count >"$T/malformed.out" 2>&1
rc=$?
cat "$T/malformed.out"
[ "$rc" = 0 ] || fail "test_reject_malformed_call_frame_from_peer: rpc-inject exit $rc"
# Eleven cases, each with its verdict; the valid calls after them worked.
[ "$(grep -c '^case .* ok$' "$T/malformed.out")" = 11 ] || fail "not every broken frame got its specified answer"
grep -q '^valid echo reply=ok ok$' "$T/malformed.out" || fail "valid echo after the broken frames"
grep -q '^valid target reply=ok ok$' "$T/malformed.out" || fail "valid target call after the broken frames"
# Nothing but the one valid call reached the service.
[ "$(cat "$T/count" 2>/dev/null)" = 1 ] || fail "demo.count saw $(cat "$T/count" 2>/dev/null) calls, want 1"
# Answered and dropped frames are counted under their labels: 6 malformed
# answered + short, unknown op and a reply on a calls stream dropped = 9.
[ $(($(counter proxy.reject.malformed) - mal0)) = 9 ] || fail "proxy.reject.malformed went $mal0 -> $(counter proxy.reject.malformed), want +9"
[ $(($(counter proxy.reject.oversize) - over0)) = 1 ] || fail "proxy.reject.oversize went $over0 -> $(counter proxy.reject.oversize), want +1"
[ $(($(counter proxy.reject.unknown_version) - ver0)) = 1 ] || fail "proxy.reject.unknown_version went $ver0 -> $(counter proxy.reject.unknown_version), want +1"

step "test_reject_stale_reply_from_peer"
stale0=$(counter rpc.replies_stale)
label0=$(counter proxy.reject.stale_reply)
timeout 60 "$INJECT" stale-reply "${PEER[@]}" >"$T/stale.out" 2>&1 &
INJ_PID=$!
PIDS+=("$INJ_PID")
wait_for 20 grep -q '^session established' "$T/stale.out" || fail "injector session: $(cat "$T/stale.out")"
out=$(dsb call "$INJ" echo echo x 2>"$T/err"); rc=$?
[ "$rc" = 0 ] || fail "dsb call to the injector: exit $rc ($(cat "$T/err"))"
[ "$out" = "x" ] || fail "dsb call printed '$out', want exactly 'x' once"
wait "$INJ_PID"; rc=$?
cat "$T/stale.out"
[ "$rc" = 0 ] || fail "test_reject_stale_reply_from_peer: rpc-inject exit $rc"
grep -q '^call echo echo$' "$T/stale.out" || fail "the injector did not see the call"
wait_for 5 counter_ge rpc.replies_stale $((stale0 + 2)) || fail "rpc.replies_stale $stale0 -> $(counter rpc.replies_stale), want +2"
[ $(($(counter proxy.reject.stale_reply) - label0)) = 2 ] || fail "proxy.reject.stale_reply $label0 -> $(counter proxy.reject.stale_reply), want +2"

step "the daemon is still serving; clean shutdown"
dsb id >/dev/null || fail "daemon gone"
kill -TERM "$PID_a"; wait "$PID_a"; rc=$?
[ "$rc" = 0 ] || fail "daemon exit $rc"
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$T"/*.log "$T"/*.out >/dev/null 2>&1; then
  fail "sanitizer report"
  grep -E -A5 "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$T"/*.log "$T"/*.out | head -40
fi
if [ "$FAILS" -gt 0 ]; then
  echo "--- a.log"; tail -30 "$T/a.log"
  echo "$FAILS failure(s)"
  exit 1
fi
echo "PASS test_reject_malformed_call_frame_from_peer"
echo "PASS test_reject_stale_reply_from_peer"
echo "PASS"
