#!/usr/bin/env bash
# `cmake --install` puts the library, the public headers under include/dsb/
# and dsb.pc in place, and a program built only from what was installed
# (through pkg-config) links and runs against it.
set -eu
build=${DSB_BUILD_DIR:?}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name dsb.pc -printf '%h\n' | head -n 1)
[ -n "$libdir" ] || { echo "FAIL: dsb.pc not installed"; exit 1; }
for h in common.h err.h crypto.h identity.h noise.h session.h mux.h disc.h client.h; do
  [ -f "$prefix/include/dsb/$h" ] || { echo "FAIL: include/dsb/$h not installed"; exit 1; }
done
cat >"$prefix/probe.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <dsb/err.h>
#include <dsb/crypto.h>
#include <dsb/identity.h>

int main(void) {
  dsb_identity ident;
  char text[DSB_DEVICE_ID_TEXT_LEN + 1];
  if (dsb_identity_generate(&ident, NULL) != 0) {
    return 1;
  }
  dsb_device_id_format(text, &ident.id);
  dsb_identity_wipe(&ident);
  if (strlen(text) != DSB_DEVICE_ID_TEXT_LEN) {
    return 1;
  }
  printf("%s %s\n", text, dsb_strerror(DSB_ERR_MUX_FRAME_OVERSIZE));
  return 0;
}
C
export PKG_CONFIG_PATH=$libdir
# The sanitizer build installs an instrumented library: link the probe the
# same way.
san=()
[ "${DSB_TEST_SUFFIX:-}" = .asan ] && san=(-fsanitize=address,undefined)
# shellcheck disable=SC2046
cc -std=c17 -Wall -Werror "${san[@]}" "$prefix/probe.c" -o "$prefix/probe" \
  $(pkg-config --cflags dsb) $(pkg-config --libs --static dsb)
out=$("$prefix/probe")
echo "installed library works: $out"
[[ "$out" =~ ^[0-9a-f]{32}\ mux\.reject\.frame_oversize$ ]] || { echo "FAIL: unexpected output"; exit 1; }
