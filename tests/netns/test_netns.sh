#!/usr/bin/env bash
# CTest entry for the multi-node harness. Without root or iproute2 the
# harness reports every scenario as skipped (exit 77), never as passed.
# The sanitizer build runs a smaller set (discovery, streams of 2 MiB, crash)
# so memory errors under real multi-node traffic are caught without doubling
# the suite's time; the normal build runs every scenario.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${DSB_BUILD_DIR:?}
case "${DSB_TEST_SUFFIX:-}" in
.asan)
  NETNS_STREAM_MIB=2 exec "$here/run" --bin "$bin" --out "$bin/netns" \
    --only discovery_multicast,all_pairs_streams,crash ;;
*)
  exec "$here/run" --bin "$bin" --out "$(dirname "$bin")/netns" ;;
esac
