# tests/netns/lib.sh - building blocks of the multi-node harness.
#
# A "device" is a Linux network namespace with one veth into a bridge that
# lives in a namespace of its own, so nothing touches the host's interfaces or
# routes. Addresses come from 198.18.0.0/15 (the benchmarking range) and exist
# only inside the namespaces. Every object created is named with the run's
# prefix so teardown and the leftover check find exactly what this run made.
#
# Sourced by tests/netns/run; expects: NETNS_PREFIX, NETNS_WORK, DSB_BIN
# (folder holding dsoftbusd and dsb), NETNS_NODES.

NETNS_SUBNET=198.18.0
NETNS_DISC_PORT=${NETNS_DISC_PORT:-47083}
NETNS_SESSION_PORT=${NETNS_SESSION_PORT:-7440}

log() { printf '[netns %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

br_ns() { echo "${NETNS_PREFIX}br"; }
node_ns() { echo "${NETNS_PREFIX}n$1"; }
node_ip() { echo "${NETNS_SUBNET}.$(($1 + 10))"; }
node_dir() { echo "$NETNS_WORK/n$1"; }
node_sock() { echo "$NETNS_WORK/n$1/api.sock"; }

# dsb as node i: dsb_on i ARGS...
dsb_on() {
  local i=$1
  shift
  DSB_SOCKET=$(node_sock "$i") "$DSB_BIN/dsb" "$@"
}

# wait_until DEADLINE_SECONDS DESCRIPTION COMMAND...: poll COMMAND every
# 100 ms until it succeeds or the deadline passes (returns 1).
wait_until() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  log "timed out after ${secs}s waiting for: $what"
  return 1
}

net_create() {
  local n=$1 i br
  br=$(br_ns)
  ip netns add "$br"
  ip -n "$br" link set lo up
  ip -n "$br" link add br0 type bridge mcast_snooping 0
  ip -n "$br" link set br0 up
  for ((i = 1; i <= n; i++)); do
    local ns
    ns=$(node_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Both ends are created inside namespaces: the host never sees them.
    ip -n "$br" link add "vb$i" type veth peer name eth0 netns "$ns"
    ip -n "$br" link set "vb$i" master br0 up
    ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add 224.0.0.0/4 dev eth0
    mkdir -p "$(node_dir "$i")/state"
    chmod 700 "$(node_dir "$i")/state"
  done
}

# Kill every process inside the run's namespaces, then delete them.
net_destroy() {
  local ns pids
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NETNS_PREFIX}"); do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null
    fi
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NETNS_PREFIX}"); do
    ip netns del "$ns" 2>/dev/null
  done
}

# Print what this run left behind: namespaces, processes, nft tables.
net_leftovers() {
  local left=""
  if ip netns list 2>/dev/null | grep -q "^${NETNS_PREFIX}"; then
    left="$left namespaces:$(ip netns list | awk '{print $1}' | grep "^${NETNS_PREFIX}" | tr '\n' ',')"
  fi
  if pgrep -f "$NETNS_WORK/" >/dev/null 2>&1; then
    left="$left processes:$(pgrep -f "$NETNS_WORK/" | tr '\n' ',')"
  fi
  if nft list tables 2>/dev/null | grep -q "${NETNS_PREFIX}"; then
    left="$left nft-tables"
  fi
  echo "$left"
}

# node_start i [extra dsoftbusd options...]
node_start() {
  local i=$1
  shift
  local ns peers="" j
  ns=$(node_ns "$i")
  for ((j = 1; j <= NETNS_NODES; j++)); do
    [ "$j" = "$i" ] && continue
    peers="$peers --peer $(node_ip "$j"):$NETNS_DISC_PORT"
  done
  rm -f "$(node_sock "$i")"
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$DSB_BIN/dsoftbusd" \
    --state-dir "$(node_dir "$i")/state" --socket "$(node_sock "$i")" \
    --port "$NETNS_SESSION_PORT" --interface eth0 --name "node$i" \
    --discovery-port "$NETNS_DISC_PORT" ${NETNS_USE_PEERS:+$peers} "$@" \
    >>"$(node_dir "$i")/daemon.log" 2>&1 &
  echo $! >"$(node_dir "$i")/daemon.pid"
  wait_until 15 "node$i api socket" dsb_on "$i" id
}

node_pid() { cat "$(node_dir "$1")/daemon.pid" 2>/dev/null; }

node_stop() {
  local i=$1 pid
  pid=$(node_pid "$i")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  local end=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$(node_dir "$i")/daemon.pid"
}

node_kill() {
  local i=$1 pid
  pid=$(node_pid "$i")
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$(node_dir "$i")/daemon.pid"
}

node_id() { dsb_on "$1" id --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_id"])'; }

# node_sees i j: node i lists node j as a peer.
node_sees() {
  local want
  want=$(cat "$(node_dir "$2")/id")
  dsb_on "$1" peers --json | python3 -c '
import json, sys
want = sys.argv[1]
sys.exit(0 if any(p.get("device_id") == want for p in json.load(sys.stdin)) else 1)' "$want"
}

node_sees_all() {
  local i=$1 j
  for ((j = 1; j <= NETNS_NODES; j++)); do
    [ "$j" = "$i" ] && continue
    node_sees "$i" "$j" || return 1
  done
}

all_see_all() {
  local i
  for ((i = 1; i <= NETNS_NODES; i++)); do
    node_sees_all "$i" || return 1
  done
}

trust_all() {
  local i j
  for ((i = 1; i <= NETNS_NODES; i++)); do
    for ((j = 1; j <= NETNS_NODES; j++)); do
      [ "$j" = "$i" ] && continue
      dsb_on "$i" trust add "$(cat "$(node_dir "$j")/id")" >/dev/null || return 1
    done
  done
}

# nft_in i RULESET: load an nftables ruleset inside node i's namespace.
nft_in() {
  ip netns exec "$(node_ns "$1")" nft -f - <<<"$2"
}
