# tests/netns/scenarios.sh - one function per scenario, run by tests/netns/run
# inside a fresh set of namespaces (net_create has already run). A scenario
# exits 0 on success, 77 to report a skip (its last output line is the
# reason), anything else on failure. It may write $NETNS_WORK/bytes and
# $NETNS_WORK/counters.json for the summary. Adding one: docs/TESTING.md.

STREAM_MIB=${NETNS_STREAM_MIB:-16}

start_all() {
  local i
  for ((i = 1; i <= NETNS_NODES; i++)); do
    node_start "$i" "$@" || return 1
  done
  for ((i = 1; i <= NETNS_NODES; i++)); do
    node_id "$i" >"$(node_dir "$i")/id" || return 1
  done
}

fail() {
  log "FAIL: $*"
  exit 1
}

# Serve "sha" on every node: each incoming stream is hashed and the hash sent
# back, so a sender learns what the receiver got.
serve_sha_all() {
  local i
  for ((i = 1; i <= NETNS_NODES; i++)); do
    DSB_SOCKET=$(node_sock "$i") "$DSB_BIN/dsb" serve sha -- sha256sum \
      >>"$(node_dir "$i")/serve.log" 2>&1 &
  done
}

# send_file FROM TO FILE: stream FILE from node FROM to node TO's "sha"
# service; succeed only if the hash the receiver computed matches.
send_file() {
  local from=$1 to=$2 file=$3 want got
  want=$(sha256sum <"$file" | cut -d' ' -f1)
  got=$(dsb_on "$from" cat "$(cat "$(node_dir "$to")/id")" sha <"$file" | cut -d' ' -f1)
  [ "$got" = "$want" ]
}

make_random() { # FILE MIB
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

add_bytes() {
  local b=0
  [ -f "$NETNS_WORK/bytes" ] && b=$(cat "$NETNS_WORK/bytes")
  echo $((b + $1)) >"$NETNS_WORK/bytes"
}

scenario_discovery_multicast() {
  start_all || fail "daemons did not start"
  wait_until 30 "every node sees every other over multicast" all_see_all ||
    fail "discovery over multicast incomplete"
}

scenario_discovery_unicast() {
  local i
  for ((i = 1; i <= NETNS_NODES; i++)); do
    nft_in "$i" "table inet ${NETNS_PREFIX}mc {
  chain in { type filter hook input priority 0; ip daddr 224.0.0.0/4 counter drop; ip6 daddr ff00::/8 counter drop; }
  chain out { type filter hook output priority 0; ip daddr 224.0.0.0/4 counter drop; ip6 daddr ff00::/8 counter drop; }
}" || fail "nft rules"
  done
  NETNS_USE_PEERS=1 start_all || fail "daemons did not start"
  wait_until 30 "every node sees every other via the unicast list" all_see_all ||
    fail "discovery via unicast peers incomplete"
}

# IPv6 link-local multicast alone: IPv4 multicast is dropped in every
# namespace, so discovery must come over ff02::4653, and a session must form
# to the link-local address (with its scope) that discovery recorded.
scenario_discovery_ipv6() {
  local i f=$NETNS_WORK/payload
  for ((i = 1; i <= NETNS_NODES; i++)); do
    nft_in "$i" "table inet ${NETNS_PREFIX}v4mc {
  chain in { type filter hook input priority 0; ip daddr 224.0.0.0/4 counter drop; }
  chain out { type filter hook output priority 0; ip daddr 224.0.0.0/4 counter drop; }
}" || fail "nft rules"
  done
  start_all || fail "daemons did not start"
  wait_until 30 "every node sees every other over IPv6 multicast" all_see_all ||
    fail "discovery over IPv6 link-local multicast incomplete"
  dsb_on 1 peers --json | grep -q 'fe80::' || fail "no IPv6 link-local address recorded"
  trust_all || fail "trust"
  serve_sha_all
  make_random "$f" 1
  send_file 1 2 "$f" || fail "no session over IPv6 link-local"
  add_bytes $((1024 * 1024))
}

scenario_all_pairs_streams() {
  local f=$NETNS_WORK/payload i j pids=() rc=0
  start_all || fail "daemons did not start"
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  serve_sha_all
  make_random "$f" "$STREAM_MIB"
  for ((i = 1; i <= NETNS_NODES; i++)); do
    for ((j = 1; j <= NETNS_NODES; j++)); do
      [ "$i" = "$j" ] && continue
      (send_file "$i" "$j" "$f" || { log "stream $i -> $j: hash mismatch or error"; exit 1; }) &
      pids+=($!)
    done
  done
  for p in "${pids[@]}"; do
    wait "$p" || rc=1
  done
  add_bytes $((${#pids[@]} * STREAM_MIB * 1024 * 1024))
  [ $rc = 0 ] || fail "some streams failed"
}

scenario_loss() {
  local f=$NETNS_WORK/payload t0 t1
  start_all || fail "daemons did not start"
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  serve_sha_all
  make_random "$f" "$STREAM_MIB"
  # 10% random drop of everything node 1 sends or receives, in its namespace.
  nft_in 1 "table inet ${NETNS_PREFIX}loss {
  chain in { type filter hook input priority 0; numgen random mod 10 0 counter drop; }
  chain out { type filter hook output priority 0; numgen random mod 10 0 counter drop; }
}" || fail "nft loss rules"
  t0=$(date +%s.%N)
  send_file 1 2 "$f" || fail "transfer 1 -> 2 under loss"
  send_file 2 1 "$f" || fail "transfer 2 -> 1 under loss"
  t1=$(date +%s.%N)
  add_bytes $((2 * STREAM_MIB * 1024 * 1024))
  python3 -c "import json,sys; print(json.dumps({'throughput_mib_s': round(2*$STREAM_MIB/($t1-$t0), 2), 'drop_percent': 10}))" \
    >"$NETNS_WORK/counters.json"
}

scenario_link_cut() {
  local f=$NETNS_WORK/payload br rc
  br=$(br_ns)
  start_all || fail "daemons did not start"
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  serve_sha_all
  make_random "$f" 64
  # The transfer either completes with the right hash or fails cleanly;
  # send_file compares the hash the receiver computed, so corrupt or
  # duplicated data would show as a mismatch, which is a failure here.
  (send_file 1 2 "$f"; echo $? >"$NETNS_WORK/cut.rc") 2>"$NETNS_WORK/cut.err" &
  local sp=$!
  wait_until 20 "transfer under way" grep -q . "$(node_dir 2)/serve.log" || true
  ip -n "$br" link set vb2 down
  wait_until 120 "transfer ends after the cut" bash -c "! kill -0 $sp" ||
    fail "transfer neither completed nor failed after the link cut"
  wait "$sp"
  rc=$(cat "$NETNS_WORK/cut.rc")
  if [ "$rc" != 0 ]; then
    grep -q . "$NETNS_WORK/cut.err" || fail "failed transfer gave no error message"
    log "transfer failed cleanly: $(head -n1 "$NETNS_WORK/cut.err")"
  fi
  ip -n "$br" link set vb2 up
  make_random "$f" 1
  wait_until 60 "a new session after the link returns" send_file 1 2 "$f" ||
    fail "no new session after the link returned"
  add_bytes $((1024 * 1024))
}

scenario_crash() {
  local f=$NETNS_WORK/payload id_before id_after
  start_all || fail "daemons did not start"
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  serve_sha_all
  make_random "$f" 64
  id_before=$(cat "$(node_dir 2)/id")
  (send_file 1 2 "$f" >/dev/null 2>&1) &
  local sp=$!
  wait_until 20 "transfer under way" grep -q . "$(node_dir 2)/serve.log" || true
  node_kill 2
  wait "$sp" 2>/dev/null
  wait_until 90 "node 1 notices node 2 gone" bash -c "! node_sees 1 2" ||
    fail "peers did not notice the crash"
  node_start 2 || fail "restart"
  id_after=$(node_id 2)
  [ "$id_before" = "$id_after" ] || fail "identity changed across restart"
  dsb_on 2 trust list --json | grep -q "$(cat "$(node_dir 1)/id")" ||
    fail "trust did not survive the restart"
  wait_until 60 "node 1 sees node 2 back" node_sees 1 2 || fail "node 2 not seen back"
  DSB_SOCKET=$(node_sock 2) "$DSB_BIN/dsb" serve sha -- sha256sum \
    >>"$(node_dir 2)/serve.log" 2>&1 &
  make_random "$f" 1
  wait_until 60 "transfer to the restarted node" send_file 1 2 "$f" ||
    fail "no session with the restarted node"
  add_bytes $((1024 * 1024))
}

scenario_proxy_calls() {
  if ! "$DSB_BIN/dsb" help 2>&1 | grep -q 'call'; then
    echo "remote proxy (dsb call) not built"
    exit 77
  fi
  start_all || fail "daemons did not start"
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  local i j out n=0
  # Every node calls echo and a samgr lookup on every other node.
  for ((i = 1; i <= NETNS_NODES; i++)); do
    for ((j = 1; j <= NETNS_NODES; j++)); do
      [ "$i" = "$j" ] && continue
      out=$(dsb_on "$i" call "$(cat "$(node_dir "$j")/id")" echo echo "from $i to $j") ||
        fail "allowed echo call $i -> $j failed"
      [ "$out" = "from $i to $j" ] || fail "echo $i -> $j replied '$out'"
      dsb_on "$i" call "$(cat "$(node_dir "$j")/id")" samgr list >/dev/null ||
        fail "samgr list $i -> $j failed"
      n=$((n + 2))
    done
  done
  # The default policy has no rule for bundles: denied, with a message.
  if dsb_on 1 call "$(cat "$(node_dir 2)/id")" bundles list 2>"$NETNS_WORK/deny.err"; then
    fail "call with no matching rule was not denied"
  fi
  grep -qi denied "$NETNS_WORK/deny.err" || fail "denied call gave no 'denied' message"
  grep -q "proxy.reject.denied" "$(node_dir 2)/daemon.log" ||
    fail "the callee did not log proxy.reject.denied"
  echo "{\"calls\": $n, \"denied\": 1}" >"$NETNS_WORK/counters.json"
}

scenario_facade_backend() {
  if [ ! -x "$DSB_BIN/netstackd" ]; then
    echo "netstackd not built"
    exit 77
  fi
  if ! "$DSB_BIN/dsoftbusd" --help 2>&1 | grep -q -- '--backend'; then
    echo "dsoftbusd has no --backend option (facade backend not built)"
    exit 77
  fi
  local i half=$((NETNS_NODES / 2)) f=$NETNS_WORK/payload
  for ((i = 1; i <= NETNS_NODES; i++)); do
    if ((i <= half)); then
      ip netns exec "$(node_ns "$i")" "$DSB_BIN/netstackd" \
        --socket "$(node_dir "$i")/netstackd.sock" >>"$(node_dir "$i")/netstackd.log" 2>&1 &
      wait_until 10 "netstackd $i" test -S "$(node_dir "$i")/netstackd.sock" || fail "netstackd start"
      node_start "$i" --backend netstackd --netstackd-socket "$(node_dir "$i")/netstackd.sock" ||
        fail "facade daemon $i did not start"
    else
      node_start "$i" || fail "daemon $i did not start"
    fi
    node_id "$i" >"$(node_dir "$i")/id" || fail "id"
  done
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  serve_sha_all
  make_random "$f" 4
  send_file 1 "$NETNS_NODES" "$f" || fail "facade -> direct transfer"
  send_file "$NETNS_NODES" 1 "$f" || fail "direct -> facade transfer"
  add_bytes $((8 * 1024 * 1024))
}

# A node that replays another node's announcement from its own address must
# not receive that node's sessions: the victim (node 1) learns node 2's entry
# only from the attacker (node 3, no daemon), dials the attacker, and the
# handshake fails because the attacker cannot prove node 2's static key.
# When node 2's own, newer announcement arrives, the victim reaches it.
scenario_identity_replay() {
  local f=$NETNS_WORK/payload att=$NETNS_WORK/attacker.out err=$NETNS_WORK/cat.err
  ((NETNS_NODES >= 3)) || { echo "needs 3 nodes"; exit 77; }
  # Node 1 hears no multicast and sends none (no query answers either).
  nft_in 1 "table inet ${NETNS_PREFIX}blind {
  chain in { type filter hook input priority 0; ip daddr 224.0.0.0/4 counter drop; ip6 daddr ff00::/8 udp dport $NETNS_DISC_PORT counter drop; }
  chain out { type filter hook output priority 0; ip daddr 224.0.0.0/4 counter drop; ip6 daddr ff00::/8 udp dport $NETNS_DISC_PORT counter drop; }
}" || fail "nft rules"
  NETNS_NODES=2 start_all || fail "daemons did not start"
  ip netns exec "$(node_ns 3)" python3 "$(dirname "${BASH_SOURCE[0]}")/replay_attacker.py" \
    --my-ip "$(node_ip 3)" --target-ip "$(node_ip 2)" --victim-ip "$(node_ip 1)" \
    --disc-port "$NETNS_DISC_PORT" --session-port "$NETNS_SESSION_PORT" \
    --seconds 200 --out "$att" &
  dsb_on 1 trust add "$(cat "$(node_dir 2)/id")" >/dev/null || fail "trust 1 -> 2"
  dsb_on 2 trust add "$(cat "$(node_dir 1)/id")" >/dev/null || fail "trust 2 -> 1"
  DSB_SOCKET=$(node_sock 2) "$DSB_BIN/dsb" serve sha -- sha256sum \
    >>"$(node_dir 2)/serve.log" 2>&1 &
  wait_until 30 "victim learns node 2 from the replay" node_sees 1 2 ||
    fail "the replayed announcement never reached the victim"
  dsb_on 1 peers --json >"$NETNS_WORK/peers1.json"
  grep -q "$(node_ip 3)" "$NETNS_WORK/peers1.json" ||
    fail "victim's entry for node 2 does not point at the attacker"
  make_random "$f" 1
  if send_file 1 2 "$f" 2>"$err"; then
    fail "a session to node 2 via the attacker's address succeeded"
  fi
  grep -q "connection $(node_ip 1)" "$att" || fail "the victim never dialled the attacker"
  log "victim refused the impostor: $(head -n 1 "$err")"
  grep -q . "$err" || fail "no error message for the refused session"
  # Let node 2's own announcements through: its newer sequence number
  # replaces the replayed entry; the attacker's replays are now stale.
  ip netns exec "$(node_ns 1)" nft delete table inet "${NETNS_PREFIX}blind" ||
    fail "nft delete"
  wait_until 60 "victim's entry points at node 2 again" \
    bash -c "DSB_SOCKET='$(node_sock 1)' '$DSB_BIN/dsb' peers --json | grep -q '$(node_ip 2)'" ||
    fail "the real node never displaced the replayed entry"
  wait_until 60 "a session with the real node 2" send_file 1 2 "$f" ||
    fail "no session with the real node after the replay"
  add_bytes $((1024 * 1024))
}

# A relaying attacker with its own valid identity: node 3 (no daemon) runs
# disc-probe with its own key C, announcing C's device id with node 2's
# Noise static key and a certificate C signs itself over (B's key, C's id),
# and relays TCP on its announced session port to node 2's. The victim
# (node 1, fooled into trusting C) dials C; the relay carries the handshake
# to node 2, which completes Noise and proves it is device B, not C, so the
# victim must refuse: "identity mismatch for device C", no session with C,
# the mismatch counted, and node 2 never gets the stream.
scenario_identity_relay() {
  local rel=$NETNS_WORK/relay.out pout=$NETNS_WORK/probe.out err=$NETNS_WORK/cat.err
  local here cid bid bstatic
  here=$(dirname "${BASH_SOURCE[0]}")
  ((NETNS_NODES >= 3)) || { echo "needs 3 nodes"; exit 77; }
  if ! "$DSB_BIN/disc-probe" --help 2>&1 | grep -q -- --claim-static-key; then
    echo "disc-probe with --claim-static-key not built in $DSB_BIN"
    exit 77
  fi
  NETNS_NODES=2 start_all || fail "daemons did not start"
  bid=$(cat "$(node_dir 2)/id")
  # B's Noise static public key is in every announcement B sends; read here
  # through its API for brevity.
  bstatic=$(dsb_on 2 id --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["noise_static_key"])') ||
    fail "node 2's static key"
  ip netns exec "$(node_ns 3)" python3 "$here/tcp_relay.py" \
    --listen-ip "$(node_ip 3)" --port "$NETNS_SESSION_PORT" \
    --target-ip "$(node_ip 2)" --target-port "$NETNS_SESSION_PORT" \
    --seconds 200 --out "$rel" &
  wait_until 10 "the relay listens" grep -q '^listening' "$rel" || fail "relay did not start"
  # disc-probe runs until its stdin closes: a bounded sleep holds it open.
  # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
  ip netns exec "$(node_ns 3)" bash -c 'sleep 200 | exec "$0" "$@"' \
    "$DSB_BIN/disc-probe" --state-dir "$(node_dir 3)/state" --name node3 \
    --interface eth0 --port "$NETNS_DISC_PORT" --session-port "$NETNS_SESSION_PORT" \
    --service svc --claim-static-key "$bstatic" >"$pout" 2>"$NETNS_WORK/probe.err" &
  wait_until 10 "the attacker's probe is ready" grep -q '^ready ' "$pout" ||
    fail "disc-probe did not start: $(head -n 1 "$NETNS_WORK/probe.err")"
  cid=$(awk '/^ready /{print $2; exit}' "$pout")
  echo "$cid" >"$(node_dir 3)/id"
  wait_until 30 "victim learns C's announcement" node_sees 1 3 ||
    fail "the victim never accepted C's announcement"
  # The owner was fooled into trusting C; node 1 and node 2 trust each other,
  # so a stream that reached node 2 would be accepted there.
  dsb_on 1 trust add "$cid" >/dev/null || fail "trust 1 -> C"
  dsb_on 1 trust add "$bid" >/dev/null || fail "trust 1 -> 2"
  dsb_on 2 trust add "$(cat "$(node_dir 1)/id")" >/dev/null || fail "trust 2 -> 1"
  DSB_SOCKET=$(node_sock 2) "$DSB_BIN/dsb" serve svc -- sha256sum \
    >>"$(node_dir 2)/serve.log" 2>&1 &
  if echo "for C" | timeout 60 "$DSB_BIN/dsb" --socket "$(node_sock 1)" cat "$cid" svc \
    >"$NETNS_WORK/cat.out" 2>"$err"; then
    fail "a stream to C succeeded through the relay"
  fi
  log "victim refused: $(head -n 1 "$err")"
  grep -q "identity mismatch for device $cid" "$err" ||
    fail "dsb cat did not report the identity mismatch: $(head -n 1 "$err")"
  grep -q "^connection $(node_ip 1)" "$rel" || fail "the victim never dialled C"
  grep -q "^target-connected $(node_ip 1)" "$rel" || fail "the relay never reached node 2"
  # Node 2 answered the handshake through the relay (bytes came back).
  wait_until 10 "the relayed connection closes" \
    grep -Eq "^closed $(node_ip 1) up=[1-9][0-9]* down=[1-9]" "$rel" ||
    fail "node 2's handshake did not come back through the relay: $(cat "$rel")"
  dsb_on 1 peers --json >"$NETNS_WORK/peers1.json" || fail "peers"
  python3 - "$cid" "$NETNS_WORK/peers1.json" <<'PY' || fail "the victim holds a session with C"
import json, sys
peers = json.load(open(sys.argv[2]))
c = [p for p in peers if p.get("device_id") == sys.argv[1]]
sys.exit(0 if c and all(p.get("session") == "none" for p in c) else 1)
PY
  dsb_on 1 status --json >"$NETNS_WORK/status1.json" || fail "status"
  python3 - "$NETNS_WORK/status1.json" "$NETNS_WORK/counters.json" <<'PY' ||
import json, sys
n = json.load(open(sys.argv[1])).get("session.reject.identity_mismatch", 0)
json.dump({"identity_mismatch": n}, open(sys.argv[2], "w"))
sys.exit(0 if n >= 1 else 1)
PY
    fail "the victim did not count session.reject.identity_mismatch"
  ! grep -q . "$(node_dir 2)/serve.log" || fail "node 2 got a stream: $(head -n 1 "$(node_dir 2)/serve.log")"
}

# A session setup that runs out of time (here: node 2 drops every TCP SYN to
# its session port) is dialled again while an OPEN waits, so a transient
# outage during setup does not fail the stream: once node 1 reports the
# second dial, the drop is lifted and the transfer completes.
scenario_handshake_retry() {
  local f=$NETNS_WORK/payload
  start_all || fail "daemons did not start"
  wait_until 30 "discovery" all_see_all || fail "discovery incomplete"
  trust_all || fail "trust"
  serve_sha_all
  nft_in 2 "table inet ${NETNS_PREFIX}syn {
  chain in { type filter hook input priority 0; tcp dport $NETNS_SESSION_PORT tcp flags syn counter drop; }
}" || fail "nft rules"
  make_random "$f" 1
  (send_file 1 2 "$f"; echo $? >"$NETNS_WORK/retry.rc") 2>"$NETNS_WORK/retry.err" &
  local sp=$!
  wait_until 30 "node 1 dials again after the handshake timeout" \
    grep -q "dialling $(cat "$(node_dir 2)/id") again" "$(node_dir 1)/daemon.log" ||
    fail "no second dial after the handshake timeout"
  ip netns exec "$(node_ns 2)" nft delete table inet "${NETNS_PREFIX}syn" || fail "nft delete"
  wait_until 40 "the transfer ends" bash -c "! kill -0 $sp" || fail "transfer hung"
  wait "$sp"
  [ "$(cat "$NETNS_WORK/retry.rc")" = 0 ] ||
    fail "transfer failed after the retry: $(head -n 1 "$NETNS_WORK/retry.err")"
  add_bytes $((1024 * 1024))
}
