/*
 * policy.h - which segment a query comes from, and what that segment's policy
 * says about the name.  Pure: no I/O, no clock of its own, no allocation when
 * deciding.  The worker asks; tests ask with an injected clock.
 *
 * The decision for one name, in this fixed order (the first that speaks wins):
 *   1. statutory   the "statutory" category (IWF, police terrorist content
 *                  lists): always blocked; nothing below can unblock it.
 *   2. dispensation a written, time-limited exemption (the grants issue;
 *                  passed in by the caller).
 *   3. allow list  passes.
 *   4. deny list   blocked; then, when the policy has bypass protection (the
 *                  default), the built-in bypass names (Firefox DoH canary,
 *                  iCloud Private Relay, RFC 9462 discovery) and the doh and
 *                  vpn_proxy categories.
 *   5. schedules   rules that block categories, or allow only the allow list,
 *                  during or outside a schedule.
 *   6. categories  the policy's blocked categories.
 *   7. default     pass, or block for "default: block".
 * A name that passes and has a safe-search rewrite (Google, YouTube, Bing,
 * DuckDuckGo) is rewritten to the provider's enforcement name.
 *
 * Categories are bits (0..63) as numbered by the compiled blocklist index;
 * policy_set_build maps the names in the config to those bits.
 */
#ifndef GATEHOUSE_POLICY_H
#define GATEHOUSE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"

#define POLICY_MAX_CATEGORIES 64
#define POLICY_STATUTORY "statutory"
#define POLICY_DOH "doh"             /* DNS-over-HTTPS resolvers: bypass protection */
#define POLICY_VPN_PROXY "vpn_proxy" /* VPN, proxy and hotspot services: bypass protection */

/* Local time, computed once per second by the caller (policy_clock_set). */
struct policy_clock {
    time_t now;
    int32_t day;     /* local days since 1970-01-01 */
    uint8_t wday;    /* 0 = Monday .. 6 = Sunday */
    uint16_t minute; /* minutes since local midnight */
};

/* Uses the process time zone (TZ, set from the config's timezone). */
void policy_clock_set(struct policy_clock *c, time_t now);

enum policy_outcome {
    POLICY_PASS = 0,
    POLICY_BLOCK,   /* answer with verdict.action */
    POLICY_REWRITE, /* answer with a CNAME to verdict.target, then its data */
};

enum policy_reason {
    POLICY_BY_NONE = 0,
    POLICY_BY_STATUTORY,
    POLICY_BY_DISPENSATION,
    POLICY_BY_ALLOW,
    POLICY_BY_DENY,
    POLICY_BY_BYPASS,
    POLICY_BY_SCHEDULE,
    POLICY_BY_CATEGORY,
    POLICY_BY_DEFAULT,
    POLICY_BY_SAFE_SEARCH,
    POLICY_BY_GUEST_ACCESS, /* a grant-required segment, no grant (the worker) */
    POLICY_BY_NETWORK,      /* the answer's address is in a blocked network (geo.h) */
};

struct policy_verdict {
    enum policy_outcome outcome;
    enum policy_reason reason;
    int category;                       /* deciding category bit, or -1 */
    const struct config_action *action; /* POLICY_BLOCK: how to answer */
    uint32_t ttl;                       /* TTL of a synthesized answer */
    const uint8_t *target;              /* POLICY_REWRITE: wire name, lower case */
    size_t target_len;
    const char *rule; /* what decided, for logs and explanations:
                       * the allow/deny entry as written, the
                       * schedule name, or a built-in's name */
    unsigned line;    /* config line of an allow/deny entry, or 0 */
};

/* A dispensation in force for this query (the grants issue): categories it
 * opens, or a name it opens (subtree). */
struct policy_dispensation {
    uint64_t categories;
    const uint8_t *name; /* wire, lower case, or NULL */
    size_t name_len;
    uint64_t grant_id;
};

struct policy_set;
struct policy;

/* Builds the runtime form of cfg's segments, policies and schedules.
 * category_id maps a category name to its bit in the blocklist index, or -1
 * when the index has no such category (then nothing can match it: a category
 * the config names but no list fills is simply empty).  Returns 0, or a
 * negative errno with a message in err. */
typedef int (*policy_category_fn)(void *arg, const char *name);
int policy_set_build(const struct config *cfg, policy_category_fn category_id, void *arg,
                     struct policy_set **out, char *err, size_t errlen);
void policy_set_free(struct policy_set *ps);

/* The segment of a query: the first in config order whose criteria match,
 * or -1 (then the query is refused).  local may have family 0 and ifindex 0
 * when unknown. */
int policy_segment_match(const struct policy_set *ps, const struct sockaddr *client,
                         const struct sockaddr *local, int ifindex);
size_t policy_segment_count(const struct policy_set *ps);
const char *policy_segment_name(const struct policy_set *ps, int segment);
/* The policy of a segment (never NULL for a valid index). */
const struct policy *policy_of_segment(const struct policy_set *ps, int segment);
const char *policy_name(const struct policy *p);
bool policy_segment_grant_required(const struct policy_set *ps, int segment);

/* Decides for qname (wire, lower case) whose blocklist categories (the name's
 * and its parents', from the index) are cats.  disp may be NULL.  Never
 * allocates. */
void policy_decide(const struct policy *p, const uint8_t *qname, size_t qname_len, uint64_t cats,
                   const struct policy_clock *clk, const struct policy_dispensation *disp,
                   struct policy_verdict *v);

/* The categories p might block at some time (always, or by a schedule):
 * a name with none of these needs no decision beyond the name lists. */
uint64_t policy_watched_categories(const struct policy *p);

const char *policy_reason_name(enum policy_reason r);

/* Whether qname (wire, lower case) is one of the names operating systems
 * and browsers probe to detect a captive network (Apple, Android, Windows,
 * Firefox, GNOME, Debian, Ubuntu).  An ungranted guest gets NXDOMAIN for
 * them, so the device shows it has no internet rather than a broken page. */
bool policy_captive_probe(const uint8_t *qname, size_t qname_len);

#endif
