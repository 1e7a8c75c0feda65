/*
 * session_limits.c - admission limits for a session listener (sans-IO):
 * a cap on half-open handshakes and a per-source rate limit.
 *
 * The rate limit is GCRA (the generic cell rate algorithm, a token bucket
 * stored as one timestamp): each source has a theoretical arrival time
 * |tat|; a handshake at |now| is allowed when now >= tat - burst * interval,
 * and then tat = max(tat, now) + interval. One u64 per source, no timers.
 * Sources live in a fixed table allocated at creation; when it is full, the
 * entry with the oldest |tat| is replaced, which is exact for every entry
 * whose tat <= now (it is indistinguishable from a fresh source) and
 * otherwise favours sources that were recently active. Spraying many
 * source addresses therefore can reset limits of idle sources but is still
 * bounded by the half-open cap.
 */
#include <string.h>

#include "dsb/err.h"
#include "dsb/session.h"

typedef struct limits_source {
  uint8_t addr[DSB_SESSION_LIMITS_SOURCE_MAX];
  uint8_t addrlen; /* 0: slot free */
  dsb_tstamp tat;
} limits_source;

struct dsb_session_limits {
  const dsb_mem *mem;
  uint32_t max_half_open;
  uint32_t half_open;
  uint32_t max_sources;
  uint32_t nsources;
  dsb_tstamp interval;  /* ns between handshakes at the sustained rate */
  dsb_tstamp tolerance; /* burst allowance, ns */
  limits_source *sources;
};

int dsb_session_limits_new(dsb_session_limits **plimits, const dsb_mem *mem,
                           const dsb_session_limits_settings *settings) {
  dsb_session_limits_settings s = {0};
  dsb_session_limits *l;

  if (!plimits) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (settings) {
    s = *settings;
  }
  if (!s.max_half_open) {
    s.max_half_open = DSB_SESSION_DEFAULT_MAX_HALF_OPEN;
  }
  if (!s.rate_per_s) {
    s.rate_per_s = DSB_SESSION_DEFAULT_RATE_PER_S;
  }
  if (!s.burst) {
    s.burst = DSB_SESSION_DEFAULT_BURST;
  }
  if (!s.max_sources) {
    s.max_sources = DSB_SESSION_DEFAULT_MAX_SOURCES;
  }
  /* A table over a million sources is a configuration error, not a limit. */
  if (s.max_sources > (1u << 20)) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  l = dsb_mem_calloc(mem, 1, sizeof(*l));
  if (!l) {
    return DSB_ERR_NOMEM;
  }
  l->sources = dsb_mem_calloc(mem, s.max_sources, sizeof(*l->sources));
  if (!l->sources) {
    dsb_mem_free(mem, l);
    return DSB_ERR_NOMEM;
  }
  l->mem = mem;
  l->max_half_open = s.max_half_open;
  l->max_sources = s.max_sources;
  l->interval = DSB_NS_PER_S / s.rate_per_s;
  /* burst admissions back to back: the first is free, the rest use the
   * tolerance. */
  l->tolerance = l->interval * (dsb_tstamp)(s.burst - 1);
  *plimits = l;
  return 0;
}

void dsb_session_limits_del(dsb_session_limits *limits) {
  if (!limits) {
    return;
  }
  dsb_mem_free(limits->mem, limits->sources);
  dsb_mem_free(limits->mem, limits);
}

static limits_source *limits_find(dsb_session_limits *l, const uint8_t *src,
                                  size_t srclen) {
  limits_source *oldest = NULL;
  limits_source *e;
  uint32_t i;

  for (i = 0; i < l->nsources; ++i) {
    e = &l->sources[i];
    if (e->addrlen == srclen && memcmp(e->addr, src, srclen) == 0) {
      return e;
    }
    if (!oldest || e->tat < oldest->tat) {
      oldest = e;
    }
  }
  if (l->nsources < l->max_sources) {
    e = &l->sources[l->nsources++];
  } else if (oldest) {
    e = oldest;
  } else {
    return NULL; /* no slot at all: max_sources is 0 */
  }
  memcpy(e->addr, src, srclen);
  e->addrlen = (uint8_t)srclen;
  e->tat = 0;
  return e;
}

int dsb_session_limits_admit(dsb_session_limits *limits, const uint8_t *src,
                             size_t srclen, dsb_tstamp now) {
  limits_source *e;
  dsb_tstamp tat;

  if (!limits || !src || srclen == 0 ||
      srclen > DSB_SESSION_LIMITS_SOURCE_MAX) {
    return DSB_ERR_INVALID_ARGUMENT;
  }
  if (limits->half_open >= limits->max_half_open) {
    return DSB_ERR_SESSION_HALF_OPEN_LIMIT;
  }
  e = limits_find(limits, src, srclen);
  if (!e) {
    return DSB_ERR_INTERNAL; /* max_sources >= 1 is set at creation */
  }
  tat = e->tat > now ? e->tat : now;
  if (tat - now > limits->tolerance) {
    return DSB_ERR_SESSION_RATE_LIMITED;
  }
  e->tat = tat + limits->interval;
  ++limits->half_open;
  return 0;
}

void dsb_session_limits_release(dsb_session_limits *limits) {
  if (limits && limits->half_open > 0) {
    --limits->half_open;
  }
}

uint32_t dsb_session_limits_half_open(const dsb_session_limits *limits) {
  return limits ? limits->half_open : 0;
}
