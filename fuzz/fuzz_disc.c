/* fuzz_disc.c - the discovery decoders (announcement, query) and the peer
 * table's input path on arbitrary datagrams. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsb/disc.h"
#include "dsb/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dsb_disc_announce ann;
  dsb_disc_query q;
  uint8_t out[DSB_DISC_MAX_DATAGRAM];

  int type = dsb_disc_peek_type(data, size);
  int rv = dsb_disc_announce_parse(&ann, data, size);
  if (rv == 0) {
    /* Structural invariants the rest of the code relies on. */
    if (type != DSB_DISC_TYPE_ANNOUNCE || ann.name_len > DSB_DISC_NAME_MAX ||
        ann.nservices > DSB_DISC_MAX_SERVICES || ann.name[ann.name_len] ||
        strlen(ann.name) != ann.name_len) {
      abort();
    }
    for (size_t i = 0; i < ann.nservices; ++i) {
      if (ann.service_len[i] == 0 ||
          ann.service_len[i] > DSB_DISC_SERVICE_NAME_MAX ||
          strlen(ann.services[i]) != ann.service_len[i]) {
        abort();
      }
    }
    if (dsb_disc_announce_verify(&ann, data, size) > 0) {
      abort();
    }
  }
  rv = dsb_disc_query_decode(&q, data, size);
  if (rv == 0) {
    /* The query encoding is canonical: decode then encode is identity. */
    long n = dsb_disc_query_encode(out, sizeof(out), &q);
    if (type != DSB_DISC_TYPE_QUERY || n != (long)size ||
        memcmp(out, data, size) != 0) {
      abort();
    }
  }

  /* The table path: rate limit, parse, replay check, verify, commit. */
  dsb_disc_peers_settings s;
  dsb_disc_peers *tab = NULL;
  dsb_disc_peers_settings_default(&s);
  s.capacity = 2;
  s.max_sources = 2;
  if (dsb_disc_peers_new(&tab, &s, NULL, NULL, NULL) == 0) {
    static const uint8_t src[] = {127, 0, 0, 1};
    int r1 = dsb_disc_peers_input(tab, data, size, src, sizeof(src), 1);
    int r2 = dsb_disc_peers_input(tab, data, size, src, sizeof(src), 2);
    /* Whatever was accepted once is a replay the second time. */
    if (r1 > 0 || (r1 == 0 && r2 != DSB_ERR_DISC_REPLAY)) {
      abort();
    }
    if (dsb_disc_peers_expire(tab, UINT64_MAX) > 1 ||
        dsb_disc_peers_count(tab) != 0) {
      abort();
    }
    dsb_disc_peers_del(tab);
  }
  return 0;
}
