/*
 * dsb/policy.h - the remote-call policy: an ordered list of allow rules.
 * Deny by default: a call is allowed only when a rule matches its peer,
 * service and method; the first matching rule decides. File format and
 * semantics: docs/SECURITY.md, "Policy".
 *
 * A rule matches
 *   peer:    "any" (or "*": every authenticated peer), "trusted" (peers the
 *            trust store marks trusted), or one device id (32 hex characters)
 *   service: one service name, or "*"
 *   method:  one method name, or "*"
 *
 * Thread safety: a loaded dsb_policy is immutable; evaluating it from
 * several threads at once is safe. Loading is reentrant.
 *
 * Ownership: dsb_policy_load_json() and dsb_policy_new_default() allocate
 * the policy through |mem|; dsb_policy_del() frees it. The loader parses
 * with json-c (whose own allocations are transient) and keeps no pointer
 * into the text.
 */
#ifndef DSB_POLICY_H
#define DSB_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "dsb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dsb_policy dsb_policy;

#define DSB_POLICY_MAX_RULES 256
#define DSB_POLICY_MAX_FILE 65536  /* bytes of JSON text */
#define DSB_POLICY_COMMENT_MAX 256 /* bytes of an optional rule comment */
#define DSB_POLICY_SOURCE_MAX 255  /* bytes of the source name kept */

/* Peer flags for evaluation. */
#define DSB_POLICY_PEER_TRUSTED 0x1u /* the trust store marks it trusted */

/* What a rule says about the peer. */
typedef enum dsb_policy_peer_kind {
  DSB_POLICY_PEER_ANY = 0,
  DSB_POLICY_PEER_GROUP_TRUSTED = 1,
  DSB_POLICY_PEER_DEVICE = 2
} dsb_policy_peer_kind;

/* A rule, as plain values (NUL-terminated strings; "*" is the wildcard). */
typedef struct dsb_policy_rule {
  dsb_policy_peer_kind peer_kind;
  char device[33];  /* lowercase hex device id when peer_kind is DEVICE */
  char service[65]; /* a service name or "*" */
  char method[65];  /* a method name or "*" */
} dsb_policy_rule;

/*
 * The default policy: samgr "list" and "resolve", and echo (any method),
 * from trusted peers; nothing else.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_NOMEM.
 */
int dsb_policy_new_default(dsb_policy **ppolicy, const dsb_mem *mem);

/*
 * Parse a policy from the JSON |text| (|textlen| bytes, no NUL needed).
 * |source| names the file in error messages and in explanations ("policy
 * file" when NULL). On failure |errbuf| (if not NULL) receives one line
 * naming the source, the field and what was expected, e.g.
 *   "policy.json: rules[2].service: expected \"*\" or a name of 1..64
 *    characters [A-Za-z0-9._-]"
 * and |*ppolicy| is left untouched, so a reload can keep the old policy.
 * Errors: DSB_ERR_INVALID_ARGUMENT, DSB_ERR_PROXY_POLICY_INVALID,
 * DSB_ERR_NOMEM.
 */
int dsb_policy_load_json(dsb_policy **ppolicy, const dsb_mem *mem,
                         const char *source, const char *text, size_t textlen,
                         char *errbuf, size_t errlen);

/* NULL is a no-op. */
void dsb_policy_del(dsb_policy *policy);

size_t dsb_policy_rule_count(const dsb_policy *policy);

/* Copy rule |index|. Errors: DSB_ERR_NOT_FOUND, DSB_ERR_INVALID_ARGUMENT. */
int dsb_policy_get_rule(const dsb_policy *policy, size_t index,
                        dsb_policy_rule *rule);

/* The source name given at load time ("default" for the default policy). */
const char *dsb_policy_source(const dsb_policy *policy);

/*
 * Decide a call from |peer_id| (its device id text; either case) with
 * |peer_flags| (DSB_POLICY_PEER_*) to |service|/|method| (not
 * NUL-terminated). Returns the index of the first matching rule (>= 0).
 * Errors: DSB_ERR_PROXY_DENIED (no rule matches, or a NULL argument).
 */
long dsb_policy_eval(const dsb_policy *policy, const char *peer_id,
                     unsigned peer_flags, const char *service,
                     size_t servicelen, const char *method, size_t methodlen);

/*
 * Like dsb_policy_eval(), and write one line saying why into |out| (always
 * NUL-terminated when outlen > 0, truncated if needed):
 *   "allowed by rules[1] of policy.json: peer trusted, service samgr,
 *    method list"
 *   "denied: no rule matches (peer ..., service ..., method ...)"
 * Returns what dsb_policy_eval() returns.
 */
long dsb_policy_explain(const dsb_policy *policy, char *out, size_t outlen,
                        const char *peer_id, unsigned peer_flags,
                        const char *service, size_t servicelen,
                        const char *method, size_t methodlen);

#ifdef __cplusplus
}
#endif

#endif /* DSB_POLICY_H */
