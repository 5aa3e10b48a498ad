/*
 * iterator.c - iterative resolution from the root (RFC 1034 section 5.3.3),
 * as a state machine that does no I/O.
 *
 * One iter_query holds a small stack of goals.  Goal 0 is the client's
 * question; a goal above it is a sub-resolution for the address of a
 * glueless NS name (RFC 1034 5.3.3 step 2, "start a query for the
 * address").  Only the top goal runs; the one below waits in GS_SUBGOAL.
 * Each goal walks the states of enum goal_state; iter_step() runs states
 * until a query must be sent or goal 0 is done, iter_answer()/iter_fail()
 * move the top goal out of GS_WAIT.
 *
 * What comes back from servers is checked (QR, opcode, question), scrubbed
 * (bailiwick: only records at or below the zone cut of the server that sent
 * them, Unbound's rule, also for additional-section addresses), classified
 * (answer, referral, NXDOMAIN, NODATA, lame, error) and only then cached,
 * with the RFC 2181 section 5.4.1 trust of where it came from.
 *
 * Bounds: ITER_MAX_DEPTH goals, ITER_MAX_ADDRS servers per cut, the
 * configured max-referrals / max-cname-chain / max-upstream-queries (which end
 * the query with SERVFAIL and an EDE naming the limit), ITER_MAX_TIMEOUTS
 * timeouts, ITER_MAX_TRANSITIONS state changes per iter_step.
 *
 * DNSSEC (dnssec.enabled): upstream queries carry DO; RRSIGs, NSEC/NSEC3
 * and DS are kept through the scrub; goal 0 collects the RRSIGs of every
 * RRset it takes and the denial records of the responses, and once done
 * enters GS_VALIDATE: for each RRset (and the denial), the keys of its
 * signer are established by walking from the closest trust anchor down one
 * label at a time (DS at each name, proven absent or present, then DNSKEY;
 * RFC 4035 section 5), using sub-goals marked vfetch whose outcome lands in
 * q->fetch.  Verdicts of the walk are kept per query (the keyring) and in
 * the RRset cache (DNSKEY and DS sets with CACHE_SEC_SECURE); validated
 * answer RRsets are re-cached with their status and RRSIGs.  The checks
 * themselves are validator.c's.  The result comes in two forms: without
 * DNSSEC records, and for DO clients with the RRSIGs and NSEC/NSEC3 proofs
 * (RFC 4035 section 3.2.1; iter_result.wire_do).
 *
 * Not here: sockets, timers, the overall deadline (worker.c does those).
 * The message cache is read only for CNAME targets and sub-goals
 * in practice: the worker looks up the client's question before it calls
 * iter_new.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iterator.h"
#include "nsec_cache.h"
#include "trust.h"
#include "validator.h"

#define ITER_MAX_DEPTH 6          /* goal 0 + 5 nested glueless look-ups */
#define ITER_MAX_ADDRS 32         /* server addresses per zone cut */
#define ITER_MAX_NS 16            /* NS names per zone cut we consider */
#define ITER_MAX_QMIN_STEPS 10    /* RFC 9156 section 2.3 MAX_MINIMISE_COUNT */
#define ITER_MAX_TIMEOUTS 12      /* retry budget: timeouts per iter_query */
#define ITER_MAX_TRANSITIONS 1024 /* per iter_step: a bug must not spin */
#define ITER_MAX_ANSWER_RRS 256   /* answer chain bound */
#define ITER_EDNS_SIZE 1232       /* DNS flag day 2020 */
#define ITER_MSGBUF 65535
#define ITER_EDE_NONE 0xffff
#define ITER_EDE_OTHER 0              /* RFC 8914 section 4.1 */
#define ITER_EDE_NO_REACHABLE_AUTH 22 /* RFC 8914 section 4.23 */
#define ITER_MAX_VRECS 24             /* RRsets validated per answer */
#define ITER_MAX_KEYRING 32           /* zone verdicts per query */
#define ITER_MAX_VFETCH 32            /* DS/DNSKEY look-ups per query */
#define ITER_MAX_AUTH 64              /* denial records kept per goal */

enum goal_state {
    /* RFC 1034 5.3.3 step 1: "See if the answer is in local information"
     * (RRset cache, then message cache for negatives), following cached
     * CNAMEs; then step 2: find where to ask (a forward zone, the deepest
     * cached NS set with usable servers, or priming). */
    GS_INIT,
    /* RFC 8109 section 3: no root NS set cached; ask a root hint for
     * ". NS" before anything else. */
    GS_PRIME,
    /* RFC 1034 5.3.3 step 3: send to the best server of SLIST (lowest
     * smoothed RTT, skipping down and lame ones), with the QNAME minimised
     * per RFC 9156 section 3.  No server left: resolve a glueless NS name
     * (step 2 again) or fail. */
    GS_QUERY,
    /* A query is outstanding; iter_answer runs step 4 (analyse the
     * response), iter_fail handles a timeout (RFC 1035 section 7.2). */
    GS_WAIT,
    /* Waiting for the sub-goal above on the stack (the address of an NS
     * name).  Never the top goal. */
    GS_SUBGOAL,
    /* Step 4 reached an end: an answer, NXDOMAIN/NODATA, or failure. */
    GS_DONE,
    /* Goal 0 only, with validation on: RFC 4035 section 5, the chain of
     * trust for each RRset and the denial, fetching DS/DNSKEY with
     * sub-goals (back here when each is popped). */
    GS_VALIDATE,
};

/* An RRset goal 0 took, to validate: which zone's server gave it (the key
 * to an unsigned answer's zone), and a status already known (cache). */
struct vrec {
    ldns_rdf *owner;
    uint16_t type;
    ldns_rdf *zone;
    uint8_t sec;   /* enum val_status */
    ldns_rdf *key; /* the zone whose keys judged it (iter_vtrace), or NULL */
};

/* A zone verdict of the chain-of-trust walk: at name, the status, and when
 * secure the trusted DNSKEY set of kzone (the zone name is on and below). */
struct keyring {
    ldns_rdf *name, *kzone;
    ldns_rdf *end; /* insecure or bogus: where the walk stopped, if above name */
    ldns_rr_list *keys;
    uint8_t st; /* enum val_status */
    uint16_t ede;
    char why[80];
};

/* The outcome of the last vfetch sub-goal. */
struct vfetched {
    bool valid;
    ldns_rdf *name;
    uint16_t type;
    uint8_t rcode;
    ldns_rr_list *rrs, *sigs, *auth;
    ldns_rdf *zone;
};

struct iter_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool failed; /* timed out, errored or lame for this goal: not asked again */
};

struct iter_goal {
    enum goal_state st;
    ldns_rdf *qname0; /* the question this goal answers */
    ldns_rdf *sname;  /* SNAME: moves along CNAME/DNAME */
    uint16_t qtype, qclass;

    /* The zone cut and SLIST (RFC 1034 5.3.3 step 2). */
    ldns_rdf *zone;      /* NULL until GS_INIT found one */
    ldns_rr_list *nsset; /* NS RRset of zone (owned); NULL for forwards */
    struct iter_addr addrs[ITER_MAX_ADDRS];
    size_t naddrs;
    bool ns_asked_a[ITER_MAX_NS], ns_asked_aaaa[ITER_MAX_NS];
    bool forward;  /* zone is a forward zone: RD=1, no bailiwick walk */
    bool priming;  /* the outstanding query is ". NS" */
    uint16_t port; /* 53, or the forwarder's */

    /* RFC 9156 state. */
    bool qmin_off;        /* full QNAME from now on (fallbacks, RFC 9156 2.3) */
    unsigned qmin_labels; /* labels of the next minimised name */
    unsigned qmin_steps;

    /* The outstanding query. */
    ldns_rdf *asked;
    uint16_t asked_type;
    int cur;         /* index in addrs */
    int force;       /* -1, or the address to ask next (TC or fallback retry) */
    bool tcp;        /* next/outstanding query over TCP */
    unsigned cnames; /* CNAME/DNAME steps of this goal */

    /* The outcome (GS_DONE). */
    uint8_t rcode;
    bool all_failed;
    bool final_found;    /* the chain ends in the RRset asked for */
    ldns_rr_list *chain; /* CNAME/DNAME chain + final RRset (owned) */
    ldns_rr_list *soa;   /* SOA for NXDOMAIN/NODATA (owned) */

    /* DNSSEC (owned; empty unless q->dnssec). */
    bool vfetch;        /* a DS/DNSKEY look-up for the validator */
    ldns_rr_list *sigs; /* RRSIGs of the RRsets taken */
    ldns_rr_list *auth; /* NSEC, NSEC3 and RRSIGs from the authority sections */
    struct vrec vrecs[ITER_MAX_VRECS];
    size_t nvrecs;
    bool vrec_overflow;
    ldns_rdf *neg_zone, *neg_name; /* where the negative answer came from, about what */
    uint8_t neg_sec;               /* the denial's enum val_status */
    ldns_rdf *neg_key;             /* the zone whose keys judged the denial */
    bool aggressive;               /* the denial came from the NSEC cache (RFC 8198) */
};

struct iter_query {
    const struct iter_env *env;
    uint8_t qname[255];
    size_t qname_len;
    uint16_t qtype, qclass;

    struct iter_goal *goals[ITER_MAX_DEPTH];
    size_t ngoals;

    ldns_rr_list *root_ns, *root_addrs; /* from priming, should the cache drop them */
    uint8_t *msgbuf;                    /* for cache_msg_get; ITER_MSGBUF bytes */
    struct iter_send last;              /* the outstanding query, for a repeated step */
    struct iter_stats stats;
    unsigned timeouts;
    unsigned scrubbed; /* records dropped for bailiwick or section */

    bool finished;
    struct iter_result res;
    uint8_t *wire;
    uint8_t *wire_do; /* the DNSSEC form of wire (res.wire_do), or NULL */
    char ede_buf[96];

    /* DNSSEC: dnssec = validation configured (DO upstream); validate =
     * and the client did not set CD. */
    bool dnssec, validate;
    struct keyring kr[ITER_MAX_KEYRING];
    size_t nkr;
    struct vfetched fetch;
    unsigned nfetch;
    size_t vi;       /* next vrec to validate */
    uint8_t vstatus; /* enum val_status so far */
};

/* What one response contained after scrubbing: borrowed RRs of the packet. */
struct scrubbed {
    ldns_rr_list *an, *ns, *ar;
};

static void goal_note_rrset(struct iter_query *q, struct iter_goal *g, const ldns_rr *first,
                            const ldns_rr_list *section, uint8_t sec);

enum chain_result {
    CHAIN_NONE,    /* nothing about SNAME in the answer */
    CHAIN_FINAL,   /* the chain ends in the RRset asked for */
    CHAIN_PARTIAL, /* CNAME/DNAME steps, target data missing */
    CHAIN_LIMIT,   /* max-cname-chain exceeded (query aborted) */
};

/* --- Names -------------------------------------------------------------- */

static bool bytes_caseeq(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (uint8_t)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

/* Label lengths are < 64, so they never meet the letters in the case fold. */
static bool name_eq(const ldns_rdf *a, const ldns_rdf *b)
{
    return a && b && ldns_rdf_size(a) == ldns_rdf_size(b) &&
           bytes_caseeq(ldns_rdf_data(a), ldns_rdf_data(b), ldns_rdf_size(a));
}

/* name is zone or below it: walk name's labels until the rest is as long as
 * zone, then compare. */
static bool wire_at_or_below(const uint8_t *n, size_t nl, const uint8_t *z, size_t zl)
{
    size_t off = 0;
    while (off < nl && nl - off >= zl) {
        if (nl - off == zl)
            return bytes_caseeq(n + off, z, zl);
        uint8_t l = n[off];
        if (l == 0 || l > 63)
            return false;
        off += 1u + l;
    }
    return false;
}

static bool name_at_or_below(const ldns_rdf *name, const ldns_rdf *zone)
{
    return name && zone && ldns_rdf_get_type(name) == LDNS_RDF_TYPE_DNAME &&
           wire_at_or_below(ldns_rdf_data(name), ldns_rdf_size(name), ldns_rdf_data(zone),
                            ldns_rdf_size(zone));
}

static bool name_below(const ldns_rdf *name, const ldns_rdf *zone)
{
    return name_at_or_below(name, zone) && !name_eq(name, zone);
}

/* The last `labels` labels of name (a new rdf), or NULL. */
static ldns_rdf *name_suffix(const ldns_rdf *name, unsigned labels)
{
    unsigned count = ldns_dname_label_count(name);
    const uint8_t *d = ldns_rdf_data(name);
    size_t off = 0, size = ldns_rdf_size(name);
    if (labels > count)
        return NULL;
    for (unsigned i = 0; i < count - labels && off < size; i++)
        off += 1u + d[off];
    if (off >= size)
        return NULL;
    ldns_rdf *out = ldns_dname_new_frm_data((uint16_t)(size - off), d + off);
    if (out)
        ldns_dname2canonical(out);
    return out;
}

/* name's first label is "*" (a wildcard owner, RFC 4592). */
static bool name_is_wildcard(const ldns_rdf *name)
{
    const uint8_t *d = ldns_rdf_data(name);
    return ldns_rdf_size(name) >= 2 && d[0] == 1 && d[1] == '*';
}

/* A copy of name in lower case, or NULL. */
static ldns_rdf *name_copy(const ldns_rdf *name)
{
    ldns_rdf *out = name ? ldns_rdf_clone(name) : NULL;
    if (out)
        ldns_dname2canonical(out);
    return out;
}

/* RFC 6672 section 2.2: replace the DNAME owner suffix of name with the
 * target.  NULL when the result would exceed 255 octets. */
static ldns_rdf *name_dname_subst(const ldns_rdf *name, const ldns_rdf *owner,
                                  const ldns_rdf *target)
{
    size_t prefix = ldns_rdf_size(name) - ldns_rdf_size(owner);
    size_t total = prefix + ldns_rdf_size(target);
    uint8_t buf[255];
    if (total > sizeof(buf))
        return NULL;
    memcpy(buf, ldns_rdf_data(name), prefix);
    memcpy(buf + prefix, ldns_rdf_data(target), ldns_rdf_size(target));
    ldns_rdf *out = ldns_dname_new_frm_data((uint16_t)total, buf);
    if (out)
        ldns_dname2canonical(out);
    return out;
}

static const ldns_rdf *rr_target(const ldns_rr *rr)
{
    const ldns_rdf *t = ldns_rr_rd_count(rr) > 0 ? ldns_rr_rdf(rr, 0) : NULL;
    return t && ldns_rdf_get_type(t) == LDNS_RDF_TYPE_DNAME ? t : NULL;
}

/* --- Addresses ------------------------------------------------------------ */

/* Fills ss from an A or AAAA record.  False for anything else. */
static bool addr_from_rr(const ldns_rr *rr, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len)
{
    const ldns_rdf *rd = ldns_rr_rd_count(rr) > 0 ? ldns_rr_rdf(rr, 0) : NULL;
    memset(ss, 0, sizeof(*ss));
    if (!rd)
        return false;
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rdf_size(rd) == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        memcpy(&s4->sin_addr, ldns_rdf_data(rd), 4);
        *len = sizeof(*s4);
        return true;
    }
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rd) == 16) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        memcpy(&s6->sin6_addr, ldns_rdf_data(rd), 16);
        *len = sizeof(*s6);
        return true;
    }
    return false;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
        return a[0] == 127;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
}

static bool addr_is_unusable(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
        return a[0] == 0 || a[0] >= 224; /* "this network", multicast, reserved */
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_MULTICAST(a6);
}

/* cfg->ipv4/ipv6, and never loopback unless query_loopback (a referral
 * must not make us query ourselves).  check_loopback is false for forwarders
 * the operator named. */
static bool addr_allowed(const struct config *cfg, const struct sockaddr_storage *ss,
                         bool check_loopback)
{
    if (ss->ss_family == AF_INET && !cfg->ipv4)
        return false;
    if (ss->ss_family == AF_INET6 && !cfg->ipv6)
        return false;
    if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
        return false;
    if (check_loopback && !cfg->query_loopback && addr_is_loopback(ss))
        return false;
    return check_loopback ? !addr_is_unusable(ss) : true;
}

/* Adds ss to the goal's SLIST unless present or full.  True if added. */
static bool goal_add_sockaddr(struct iter_goal *g, const struct sockaddr_storage *ss, socklen_t len)
{
    for (size_t i = 0; i < g->naddrs; i++)
        if (g->addrs[i].len == len && memcmp(&g->addrs[i].ss, ss, len) == 0)
            return false;
    if (g->naddrs >= ITER_MAX_ADDRS)
        return false;
    struct iter_addr *a = &g->addrs[g->naddrs++];
    memset(a, 0, sizeof(*a));
    memcpy(&a->ss, ss, len);
    a->len = len;
    return true;
}

static bool goal_add_addr_rr(const struct iter_query *q, struct iter_goal *g, const ldns_rr *rr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!addr_from_rr(rr, g->port, &ss, &len) || !addr_allowed(q->env->cfg, &ss, true))
        return false;
    return goal_add_sockaddr(g, &ss, len);
}

/* Adds the cached A/AAAA of name.  True if anything new was added. */
static bool goal_add_cached_addrs(const struct iter_query *q, struct iter_goal *g,
                                  const ldns_rdf *name, time_t now)
{
    static const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
    bool added = false;
    for (size_t t = 0; t < 2; t++) {
        ldns_rr_list *l = cache_rrset_get(q->env->cache, name, types[t], now, NULL);
        for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++)
            added |= goal_add_addr_rr(q, g, ldns_rr_list_rr(l, i));
        ldns_rr_list_deep_free(l);
    }
    return added;
}

/* --- Goals ---------------------------------------------------------------- */

static void goal_clear_cut(struct iter_goal *g)
{
    ldns_rdf_deep_free(g->zone);
    ldns_rr_list_deep_free(g->nsset);
    g->zone = NULL;
    g->nsset = NULL;
    g->naddrs = 0;
    memset(g->ns_asked_a, 0, sizeof(g->ns_asked_a));
    memset(g->ns_asked_aaaa, 0, sizeof(g->ns_asked_aaaa));
    g->forward = g->priming = false;
    g->port = 53;
    g->force = -1;
    g->tcp = false;
    g->qmin_labels = 0;
}

static void goal_free(struct iter_goal *g)
{
    if (!g)
        return;
    goal_clear_cut(g);
    ldns_rdf_deep_free(g->qname0);
    ldns_rdf_deep_free(g->sname);
    ldns_rdf_deep_free(g->asked);
    ldns_rr_list_deep_free(g->chain);
    ldns_rr_list_deep_free(g->soa);
    ldns_rr_list_deep_free(g->sigs);
    ldns_rr_list_deep_free(g->auth);
    for (size_t i = 0; i < g->nvrecs; i++) {
        ldns_rdf_deep_free(g->vrecs[i].owner);
        ldns_rdf_deep_free(g->vrecs[i].zone);
        ldns_rdf_deep_free(g->vrecs[i].key);
    }
    ldns_rdf_deep_free(g->neg_zone);
    ldns_rdf_deep_free(g->neg_name);
    ldns_rdf_deep_free(g->neg_key);
    free(g);
}

static struct iter_goal *goal_new(const ldns_rdf *name, uint16_t qtype, uint16_t qclass)
{
    struct iter_goal *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->qname0 = name_copy(name);
    g->sname = name_copy(name);
    g->chain = ldns_rr_list_new();
    g->soa = ldns_rr_list_new();
    g->sigs = ldns_rr_list_new();
    g->auth = ldns_rr_list_new();
    g->qtype = qtype;
    g->qclass = qclass;
    g->st = GS_INIT;
    g->force = -1;
    g->port = 53;
    if (!g->qname0 || !g->sname || !g->chain || !g->soa || !g->sigs || !g->auth) {
        goal_free(g);
        return NULL;
    }
    return g;
}

/* Sets the zone cut: zone and its NS set (both copied). */
static int goal_set_cut(struct iter_goal *g, const ldns_rdf *zone, const ldns_rr_list *nsset)
{
    /* Copy first: zone or nsset may be the goal's own. */
    ldns_rdf *z = name_copy(zone);
    ldns_rr_list *ns = nsset ? ldns_rr_list_clone(nsset) : NULL;
    goal_clear_cut(g);
    g->zone = z;
    g->nsset = ns;
    if (!g->zone || (nsset && !g->nsset))
        return -ENOMEM;
    g->qmin_labels = ldns_dname_label_count(g->zone) + 1u;
    return 0;
}

static void goal_done(struct iter_goal *g, uint8_t rcode)
{
    g->rcode = rcode;
    g->st = GS_DONE;
}

static struct iter_goal *top(struct iter_query *q)
{
    return q->goals[q->ngoals - 1];
}

/* Copies rr onto list.  -ENOMEM. */
static int list_push_copy(ldns_rr_list *list, const ldns_rr *rr)
{
    if (ldns_rr_list_rr_count(list) >= ITER_MAX_ANSWER_RRS)
        return 0; /* bounded; the rest is dropped */
    ldns_rr *c = ldns_rr_clone(rr);
    if (!c || !ldns_rr_list_push_rr(list, c)) {
        ldns_rr_free(c);
        return -ENOMEM;
    }
    return 0;
}

/* --- Finishing -------------------------------------------------------------*/

/* Builds a response in the message-cache form (iterator.h): ID 0, QR|RA,
 * the lower-case question, answer = chain, authority = soa.  The caller
 * frees *wire with free(). */
static int build_wire(const ldns_rdf *qname, uint16_t qtype, uint16_t qclass, uint8_t rcode,
                      const ldns_rr_list *chain, const ldns_rr_list *soa, bool ad, uint8_t **wire,
                      size_t *len)
{
    int rc = -ENOMEM;
    ldns_pkt *p = ldns_pkt_new();
    ldns_rr *question = ldns_rr_new();
    if (!p || !question)
        goto out;
    ldns_pkt_set_id(p, 0);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_ra(p, true);
    ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
    ldns_pkt_set_rcode(p, rcode);
    ldns_pkt_set_ad(p, ad); /* RFC 4035 3.2.3; the worker keeps it only for DO/AD clients */
    ldns_rr_set_owner(question, name_copy(qname));
    ldns_rr_set_type(question, qtype);
    ldns_rr_set_class(question, qclass);
    ldns_rr_set_question(question, true);
    if (!ldns_rr_owner(question) || !ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, question))
        goto out;
    question = NULL; /* owned by p */
    for (size_t i = 0; chain && i < ldns_rr_list_rr_count(chain); i++) {
        ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(chain, i));
        if (!c || !ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, c)) {
            ldns_rr_free(c);
            goto out;
        }
    }
    for (size_t i = 0; soa && i < ldns_rr_list_rr_count(soa); i++) {
        ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(soa, i));
        if (!c || !ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, c)) {
            ldns_rr_free(c);
            goto out;
        }
    }
    if (ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK)
        rc = 0;
out:
    ldns_rr_free(question);
    ldns_pkt_free(p);
    return rc;
}

static void iter_set_servfail(struct iter_query *q, bool upstream_failed, uint16_t ede,
                              const char *text)
{
    ldns_rdf *qn = ldns_dname_new_frm_data((uint16_t)q->qname_len, q->qname);
    free(q->wire);
    free(q->wire_do);
    q->wire = q->wire_do = NULL;
    memset(&q->res, 0, sizeof(q->res));
    if (qn && build_wire(qn, q->qtype, q->qclass, LDNS_RCODE_SERVFAIL, NULL, NULL, false, &q->wire,
                         &q->res.len) < 0)
        q->wire = NULL;
    ldns_rdf_deep_free(qn);
    q->res.wire = q->wire;
    q->res.len = q->wire ? q->res.len : 0;
    q->res.rcode = LDNS_RCODE_SERVFAIL;
    q->res.cacheable = false;
    q->res.upstream_failed = upstream_failed;
    q->res.ede_code = ede;
    if (text) {
        snprintf(q->ede_buf, sizeof(q->ede_buf), "%s", text);
        q->res.ede_text = q->ede_buf;
    }
    q->finished = true;
}

/* Ends the whole query on a limit: SERVFAIL, EDE 0 naming the limit. */
static void iter_abort(struct iter_query *q, const char *limit)
{
    char text[80];
    snprintf(text, sizeof(text), "%s exceeded", limit);
    iter_set_servfail(q, false, ITER_EDE_OTHER, text);
}

/* Pushes onto out (shallow) the RRSIGs of sigs that cover (owner, type)
 * and are not in out yet. */
static void push_covering(ldns_rr_list *out, const ldns_rr_list *sigs, const ldns_rdf *owner,
                          ldns_rr_type type)
{
    for (size_t i = 0; sigs && i < ldns_rr_list_rr_count(sigs); i++) {
        ldns_rr *sig = ldns_rr_list_rr(sigs, i);
        const ldns_rdf *tc = ldns_rr_rrsig_typecovered(sig);
        if (ldns_rr_get_type(sig) == LDNS_RR_TYPE_RRSIG && tc && ldns_rdf_size(tc) == 2 &&
            ldns_rdf2rr_type(tc) == type && name_eq(ldns_rr_owner(sig), owner) &&
            !ldns_rr_list_contains_rr(out, sig))
            ldns_rr_list_push_rr(out, sig);
    }
}

static bool same_rrset(const ldns_rr *a, const ldns_rr *b)
{
    return ldns_rr_get_type(a) == ldns_rr_get_type(b) &&
           name_eq(ldns_rr_owner(a), ldns_rr_owner(b));
}

/* RFC 4035 section 3.1.1: the answer chain with the RRSIGs of each RRset
 * right after it (a synthesised CNAME has none, RFC 6672 5.3.1). */
static ldns_rr_list *dnssec_answer(const struct iter_goal *g)
{
    ldns_rr_list *out = ldns_rr_list_new();
    size_t n = ldns_rr_list_rr_count(g->chain);
    for (size_t i = 0; out && i < n; i++) {
        ldns_rr *rr = ldns_rr_list_rr(g->chain, i);
        ldns_rr_list_push_rr(out, rr);
        if (i + 1 == n || !same_rrset(rr, ldns_rr_list_rr(g->chain, i + 1)))
            push_covering(out, g->sigs, ldns_rr_owner(rr), ldns_rr_get_type(rr));
    }
    return out;
}

/* RFC 4035 section 3.1.3: for NXDOMAIN and NODATA the SOA with its RRSIGs,
 * and for every answer the NSEC/NSEC3 records the responses carried (the
 * denial, or the proof that a wildcard expansion was the closest match,
 * section 3.1.3.3), each with its RRSIGs. */
static ldns_rr_list *dnssec_authority(const struct iter_goal *g, bool negative)
{
    ldns_rr_list *out = ldns_rr_list_new();
    for (size_t i = 0; out && negative && i < ldns_rr_list_rr_count(g->soa); i++) {
        ldns_rr *soa = ldns_rr_list_rr(g->soa, i);
        ldns_rr_list_push_rr(out, soa);
        push_covering(out, g->auth, ldns_rr_owner(soa), LDNS_RR_TYPE_SOA);
    }
    for (size_t i = 0; out && i < ldns_rr_list_rr_count(g->auth); i++) {
        ldns_rr *rr = ldns_rr_list_rr(g->auth, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if ((t != LDNS_RR_TYPE_NSEC && t != LDNS_RR_TYPE_NSEC3) ||
            ldns_rr_list_contains_rr(out, rr))
            continue;
        ldns_rr_list_push_rr(out, rr);
        push_covering(out, g->auth, ldns_rr_owner(rr), t);
    }
    return out;
}

/* The DNSSEC form of goal 0's answer (RFC 4035 section 3.2.1, for clients
 * that set DO), in the message-cache form.  -ENOMEM. */
static int build_wire_dnssec(const ldns_rdf *qname, const struct iter_goal *g, bool negative,
                             bool ad, uint8_t **wire, size_t *len)
{
    ldns_rr_list *an = dnssec_answer(g);
    ldns_rr_list *ns = dnssec_authority(g, negative);
    int rc = an && ns ? build_wire(qname, g->qtype, g->qclass, g->rcode, an, ns, ad, wire, len)
                      : -ENOMEM;
    ldns_rr_list_free(an); /* shallow: the RRs are g's */
    ldns_rr_list_free(ns);
    return rc;
}

/* Goal 0 is done: its outcome becomes the result. */
static void iter_finish(struct iter_query *q)
{
    struct iter_goal *g = q->goals[0];
    if (g->rcode == LDNS_RCODE_SERVFAIL) {
        iter_set_servfail(q, g->all_failed,
                          g->all_failed ? ITER_EDE_NO_REACHABLE_AUTH : ITER_EDE_NONE,
                          g->all_failed ? "No Reachable Authority" : NULL);
        return;
    }
    ldns_rdf *qn = ldns_dname_new_frm_data((uint16_t)q->qname_len, q->qname);
    size_t len = 0;
    bool negative = !g->final_found;
    bool secure = q->validate && q->vstatus == VAL_SECURE;
    int rc = qn ? build_wire(qn, q->qtype, q->qclass, g->rcode, g->chain, negative ? g->soa : NULL,
                             secure, &q->wire, &len)
                : -ENOMEM;
    size_t len_do = 0;
    if (rc == 0 && q->dnssec)
        rc = build_wire_dnssec(qn, g, negative, secure, &q->wire_do, &len_do);
    ldns_rdf_deep_free(qn);
    if (rc < 0) {
        iter_set_servfail(q, false, ITER_EDE_OTHER, "out of memory");
        return;
    }
    memset(&q->res, 0, sizeof(q->res));
    q->res.wire = q->wire;
    q->res.len = len;
    q->res.wire_do = q->wire_do;
    q->res.len_do = q->wire_do ? len_do : 0;
    q->res.rcode = g->rcode;
    q->res.ede_code = ITER_EDE_NONE;
    /* Negative answers need their SOA for the negative TTL (RFC 2308 5). */
    q->res.cacheable = (g->rcode == LDNS_RCODE_NOERROR || g->rcode == LDNS_RCODE_NXDOMAIN) &&
                       (!negative || ldns_rr_list_rr_count(g->soa) > 0);
    /* CD answers are unchecked: the message cache holds checked ones only. */
    if (q->dnssec && !q->validate)
        q->res.cacheable = false;
    q->res.secure = secure;
    q->finished = true;
}

/* --- Caching what we keep ------------------------------------------------- */

/* Stores each RRset of list (RRs grouped by owner, type, class) with trust.
 * Only types in `types` (0-terminated; NULL for all). */
static void cache_rrsets(struct iter_query *q, const ldns_rr_list *list, enum cache_trust trust,
                         const ldns_rr_type *types, time_t now)
{
    size_t n = ldns_rr_list_rr_count(list);
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = ldns_rr_list_rr(list, i);
        bool wanted = !types, first = true;
        for (size_t t = 0; types && types[t] && !wanted; t++)
            wanted = ldns_rr_get_type(rr) == types[t];
        /* Skip RRs whose RRset an earlier RR already stored. */
        for (size_t j = 0; j < i && first; j++) {
            ldns_rr *o = ldns_rr_list_rr(list, j);
            first = !(ldns_rr_get_type(o) == ldns_rr_get_type(rr) &&
                      name_eq(ldns_rr_owner(o), ldns_rr_owner(rr)));
        }
        if (!wanted || !first)
            continue;
        ldns_rr_list *set = ldns_rr_list_new();
        for (size_t j = i; set && j < n; j++) {
            ldns_rr *o = ldns_rr_list_rr(list, j);
            if (ldns_rr_get_type(o) == ldns_rr_get_type(rr) &&
                ldns_rr_get_class(o) == ldns_rr_get_class(rr) &&
                name_eq(ldns_rr_owner(o), ldns_rr_owner(rr)))
                ldns_rr_list_push_rr(set, o);
        }
        if (set)
            cache_rrset_put(q->env->cache, set, trust, now);
        ldns_rr_list_free(set); /* shallow: the RRs belong to list */
    }
}

/* --- Where to ask (GS_INIT, GS_PRIME) ------------------------------------- */

/* The longest forward zone that sname is at or below, or NULL. */
static const struct config_forward *find_forward(const struct config *cfg, const ldns_rdf *sname)
{
    const struct config_forward *best = NULL;
    for (size_t i = 0; i < cfg->nforwards; i++) {
        const struct config_forward *f = &cfg->forwards[i];
        if (f->zone_wire_len == 0 || f->zone_wire_len > sizeof(f->zone_wire))
            continue;
        if (!wire_at_or_below(ldns_rdf_data(sname), ldns_rdf_size(sname), f->zone_wire,
                              f->zone_wire_len))
            continue;
        if (!best || f->zone_wire_len > best->zone_wire_len)
            best = f;
    }
    return best;
}

static int goal_use_forward(struct iter_query *q, struct iter_goal *g,
                            const struct config_forward *f)
{
    ldns_rdf *zone = ldns_dname_new_frm_data((uint16_t)f->zone_wire_len, f->zone_wire);
    int rc = zone ? goal_set_cut(g, zone, NULL) : -ENOMEM;
    ldns_rdf_deep_free(zone);
    if (rc < 0)
        return rc;
    g->forward = true;
    for (size_t i = 0; i < f->nservers; i++) {
        const struct config_sockaddr *s = &f->servers[i];
        if (s->len <= sizeof(s->ss) && addr_allowed(q->env->cfg, &s->ss, false))
            goal_add_sockaddr(g, &s->ss, s->len);
    }
    return 0;
}

/* Whether the cut can lead anywhere: an address, or an NS name outside the
 * zone that a sub-goal could resolve.  An NS name at or below the zone with
 * no address is a dead end (its glue is needed). */
static bool goal_cut_usable(const struct iter_goal *g)
{
    if (g->naddrs > 0)
        return true;
    for (size_t i = 0; g->nsset && i < ldns_rr_list_rr_count(g->nsset); i++) {
        const ldns_rdf *t = rr_target(ldns_rr_list_rr(g->nsset, i));
        if (t && !name_at_or_below(t, g->zone))
            return true;
    }
    return false;
}

static void goal_add_ns_addrs(const struct iter_query *q, struct iter_goal *g, time_t now)
{
    for (size_t i = 0; g->nsset && i < ldns_rr_list_rr_count(g->nsset) && i < ITER_MAX_NS; i++) {
        const ldns_rdf *t = rr_target(ldns_rr_list_rr(g->nsset, i));
        if (t)
            goal_add_cached_addrs(q, g, t, now);
    }
}

/* RFC 1034 5.3.3 step 2: the deepest cached NS set at or above SNAME that
 * can be used.  1 found, 0 none (prime), negative errno. */
static int goal_find_cut(struct iter_query *q, struct iter_goal *g, time_t now)
{
    ldns_rdf *name = name_copy(g->sname);
    /* DS lives on the parent side of a cut (RFC 4035 section 3.1.4.1). */
    if (name && g->qtype == LDNS_RR_TYPE_DS && ldns_dname_label_count(name) > 0) {
        ldns_rdf *up = ldns_dname_left_chop(name);
        ldns_rdf_deep_free(name);
        name = up;
    }
    while (name) {
        ldns_rr_list *ns = cache_rrset_get(q->env->cache, name, LDNS_RR_TYPE_NS, now, NULL);
        if (!ns && ldns_dname_label_count(name) == 0 && q->root_ns)
            ns = ldns_rr_list_clone(q->root_ns);
        if (ns) {
            int rc = goal_set_cut(g, name, ns);
            ldns_rr_list_deep_free(ns);
            if (rc < 0) {
                ldns_rdf_deep_free(name);
                return rc;
            }
            goal_add_ns_addrs(q, g, now);
            if (ldns_dname_label_count(name) == 0 && q->root_addrs)
                for (size_t i = 0; i < ldns_rr_list_rr_count(q->root_addrs); i++)
                    goal_add_addr_rr(q, g, ldns_rr_list_rr(q->root_addrs, i));
            if (goal_cut_usable(g)) {
                ldns_rdf_deep_free(name);
                return 1;
            }
            goal_clear_cut(g);
        }
        ldns_rdf *up = ldns_dname_label_count(name) > 0 ? ldns_dname_left_chop(name) : NULL;
        ldns_rdf_deep_free(name);
        name = up;
    }
    return 0;
}

/* Takes a cached message for (sname, qtype) into the goal: its answer
 * records join the chain, its SOA the authority.  With DNSSEC, goal 0 (a
 * CD query: a validating goal never gets here) takes the DNSSEC form, its
 * RRSIGs and NSEC/NSEC3 records going where the responses' would: its
 * client may have set DO.  1 taken, 0 none. */
static int goal_from_msg_cache(struct iter_query *q, struct iter_goal *g, time_t now)
{
    struct cache_msg_hit hit;
    bool dnssec = q->dnssec && g == q->goals[0];
    if (!q->msgbuf && !(q->msgbuf = malloc(ITER_MSGBUF)))
        return 0;
    int n = cache_msg_get_form(q->env->cache, ldns_rdf_data(g->sname), ldns_rdf_size(g->sname),
                               g->qtype, g->qclass, dnssec ? CACHE_MSG_DNSSEC : CACHE_MSG_PLAIN,
                               now, false, q->msgbuf, ITER_MSGBUF, &hit);
    ldns_pkt *p = NULL;
    if (n <= 0 || ldns_wire2pkt(&p, q->msgbuf, (size_t)n) != LDNS_STATUS_OK)
        return 0;
    uint8_t rcode = ldns_pkt_get_rcode(p);
    if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
        ldns_pkt_free(p);
        return 0;
    }
    ldns_rr_list *an = ldns_pkt_answer(p), *ns = ldns_pkt_authority(p);
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        bool sig =
            dnssec && ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && g->qtype != LDNS_RR_TYPE_RRSIG;
        list_push_copy(sig ? g->sigs : g->chain, rr);
    }
    for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ns, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if (t == LDNS_RR_TYPE_SOA)
            list_push_copy(g->soa, rr);
        else if (dnssec &&
                 (t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3 || t == LDNS_RR_TYPE_RRSIG) &&
                 ldns_rr_list_rr_count(g->auth) < ITER_MAX_AUTH)
            list_push_copy(g->auth, rr);
    }
    ldns_pkt_free(p);
    g->final_found = rcode == LDNS_RCODE_NOERROR && ldns_rr_list_rr_count(g->soa) == 0 &&
                     ldns_rr_list_rr_count(g->chain) > 0;
    goal_done(g, rcode);
    return 1;
}

/* Whether a cached RRset may answer a client (RFC 2181 5.4.1: never glue or
 * referral data). */
static ldns_rr_list *cache_get_answer(struct iter_query *q, const ldns_rdf *name, ldns_rr_type type,
                                      time_t now)
{
    enum cache_trust trust = CACHE_TRUST_GLUE;
    ldns_rr_list *l = cache_rrset_get(q->env->cache, name, type, now, &trust);
    if (l && trust < CACHE_TRUST_ANSWER) {
        ldns_rr_list_deep_free(l);
        return NULL;
    }
    return l;
}

static void goal_append_list(struct iter_goal *g, const ldns_rr_list *l)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
        list_push_copy(g->chain, ldns_rr_list_rr(l, i));
}

/* Moves SNAME to target (a CNAME/DNAME step).  False on the chain limit,
 * which aborts the query. */
static bool goal_step_alias(struct iter_query *q, struct iter_goal *g, const ldns_rdf *target)
{
    g->cnames++;
    q->stats.cname_followed++;
    if (g->cnames > q->env->cfg->max_cname) {
        iter_abort(q, "max-cname-chain");
        return false;
    }
    ldns_rdf *t = name_copy(target);
    if (!t) {
        iter_abort(q, "memory");
        return false;
    }
    ldns_rdf_deep_free(g->sname);
    g->sname = t;
    g->qmin_off = false;
    g->qmin_steps = 0;
    return true;
}

/* Whether this goal's answer is validated: goal 0, unless CD. */
static bool goal_validates(const struct iter_query *q, const struct iter_goal *g)
{
    return q->validate && g == q->goals[0];
}

/* A secure RRset from the cache that is a wildcard expansion (its RRSIG
 * has fewer labels than its owner, RFC 4035 5.3.4) answers a DO client
 * only with the proof that no closer name exists (section 3.1.3.3): taken
 * from the NSEC cache, where validating it put the records.  False when
 * the proof is no longer there: then the name is asked again. */
static bool wildcard_proof_from_cache(struct iter_query *q, struct iter_goal *g,
                                      const ldns_rdf *name, ldns_rr_type type,
                                      const ldns_rr_list *sigs, time_t now)
{
    const ldns_rr *sig = NULL;
    for (size_t i = 0; !sig && i < ldns_rr_list_rr_count(sigs); i++) {
        const ldns_rr *s = ldns_rr_list_rr(sigs, i);
        if (ldns_rr_rd_count(s) >= 8 && ldns_rdf2rr_type(ldns_rr_rdf(s, 0)) == type)
            sig = s;
    }
    if (!sig)
        return true;
    unsigned labels = ldns_rdf2native_int8(ldns_rr_rdf(sig, 2));
    if (labels >= ldns_dname_label_count(name) || name_is_wildcard(name))
        return true;
    const ldns_rdf *zone = ldns_rr_rdf(sig, 7);
    ldns_rr_list *c = ldns_rr_list_new();
    struct val_denial d = {0};
    if (c && nsec_cache_candidates(cache_nsec(q->env->cache), zone, name, now, c, NULL) > 0)
        val_check_denial(VAL_DENY_WILDCARD, name, type, zone, c, labels, &d);
    for (size_t i = 0; d.proven && i < ldns_rr_list_rr_count(c); i++)
        if (ldns_rr_list_rr_count(g->auth) < ITER_MAX_AUTH)
            list_push_copy(g->auth, ldns_rr_list_rr(c, i));
    ldns_rr_list_deep_free(c);
    return d.proven;
}

/* For a validating goal: only RRsets the validator has judged (secure or
 * insecure) may answer from the cache; their RRSIGs come along, and for a
 * wildcard expansion the proof that it was the closest match. */
static ldns_rr_list *cache_get_validated(struct iter_query *q, struct iter_goal *g,
                                         const ldns_rdf *name, ldns_rr_type type, time_t now)
{
    enum cache_trust trust = CACHE_TRUST_GLUE;
    enum cache_sec sec = CACHE_SEC_UNCHECKED;
    ldns_rr_list *sigs = NULL;
    ldns_rr_list *l = cache_rrset_get_sec(q->env->cache, name, type, now, &trust, &sec, &sigs);
    if (l &&
        (trust < CACHE_TRUST_ANSWER || sec == CACHE_SEC_UNCHECKED ||
         (sec == CACHE_SEC_SECURE && !wildcard_proof_from_cache(q, g, name, type, sigs, now)))) {
        ldns_rr_list_deep_free(l);
        l = NULL;
    }
    if (l)
        goal_note_rrset(q, g, ldns_rr_list_rr(l, 0), sigs, (uint8_t)sec);
    ldns_rr_list_deep_free(sigs);
    return l;
}

/* For goal 0 of a CD query (RFC 4035 section 3.2.2): any answer-grade
 * RRset, checked or not, with its RRSIGs for a client that set DO. */
static ldns_rr_list *cache_get_unchecked(struct iter_query *q, struct iter_goal *g,
                                         const ldns_rdf *name, ldns_rr_type type, time_t now)
{
    enum cache_trust trust = CACHE_TRUST_GLUE;
    enum cache_sec sec = CACHE_SEC_UNCHECKED;
    ldns_rr_list *sigs = NULL;
    ldns_rr_list *l = cache_rrset_get_sec(q->env->cache, name, type, now, &trust, &sec, &sigs);
    if (l && trust < CACHE_TRUST_ANSWER) {
        ldns_rr_list_deep_free(l);
        l = NULL;
    }
    if (l)
        goal_note_rrset(q, g, ldns_rr_list_rr(l, 0), sigs, (uint8_t)sec);
    ldns_rr_list_deep_free(sigs);
    return l;
}

static ldns_rr_list *goal_cache_get(struct iter_query *q, struct iter_goal *g, const ldns_rdf *name,
                                    ldns_rr_type type, time_t now)
{
    if (goal_validates(q, g))
        return cache_get_validated(q, g, name, type, now);
    if (q->dnssec && g == q->goals[0])
        return cache_get_unchecked(q, g, name, type, now);
    return cache_get_answer(q, name, type, now);
}

/* RFC 8198: a negative answer for a validating goal from the NSEC cache,
 * when the validated records kept there prove SNAME absent (NXDOMAIN) or
 * without the type (NODATA), and the zone is still one we validate (no
 * negative trust anchor, no forward zone, an anchor above it: a reload may
 * have changed those).  Only proofs that are secure: opt-out spans and
 * unusable NSEC3 prove nothing here.  The records, the zone's SOA and their
 * RRSIGs become the goal's authority as if a server had sent them, and
 * GS_VALIDATE checks the proof again with the zone's keys (the records,
 * held by the NSEC cache, are not verified again).  1 taken, 0 not. */
static int goal_from_nsec_cache(struct iter_query *q, struct iter_goal *g, time_t now)
{
    const struct config *cfg = q->env->cfg;
    struct nsec_cache *nc = cache_nsec(q->env->cache);
    if (g->qtype == LDNS_RR_TYPE_DS || g->qtype == LDNS_RR_TYPE_ANY)
        return 0; /* DS lives in the parent; ANY is answered by RFC 8482 */
    ldns_rdf *zone = nsec_cache_zone(nc, g->sname, now);
    if (!zone)
        return 0;
    const struct config_forward *fw = find_forward(cfg, g->sname);
    ldns_rr_list *auth = NULL, *soa = NULL;
    uint32_t ttl = 0;
    uint8_t rcode = LDNS_RCODE_SERVFAIL;
    if (trust_find(cfg->dnssec_anchors, zone) && !trust_nta(cfg->dnssec_anchors, g->sname) &&
        !(fw && fw->zone_wire_len > 1) && (auth = ldns_rr_list_new()) &&
        (soa = ldns_rr_list_new()) &&
        nsec_cache_candidates(nc, zone, g->sname, now, auth, &ttl) > 0 &&
        nsec_cache_soa(nc, zone, now, soa, auth) == 0) {
        struct val_denial d;
        val_check_denial(VAL_DENY_NODATA, g->sname, g->qtype, zone, auth, 0, &d);
        if (d.proven && !d.insecure) {
            rcode = LDNS_RCODE_NOERROR;
        } else {
            val_check_denial(VAL_DENY_NXDOMAIN, g->sname, g->qtype, zone, auth, 0, &d);
            if (d.proven && !d.insecure)
                rcode = LDNS_RCODE_NXDOMAIN;
        }
    }
    int taken = 0;
    if (rcode != LDNS_RCODE_SERVFAIL) {
        /* RFC 8198 section 5.4: no longer than the records proving it. */
        for (size_t i = 0; i < ldns_rr_list_rr_count(soa); i++) {
            ldns_rr *rr = ldns_rr_list_rr(soa, i);
            if (ldns_rr_ttl(rr) > ttl)
                ldns_rr_set_ttl(rr, ttl);
            list_push_copy(g->soa, rr);
        }
        for (size_t i = 0; i < ldns_rr_list_rr_count(auth); i++)
            list_push_copy(g->auth, ldns_rr_list_rr(auth, i));
        ldns_rdf_deep_free(g->neg_zone);
        ldns_rdf_deep_free(g->neg_name);
        g->neg_zone = zone;
        g->neg_name = name_copy(g->sname);
        zone = NULL;
        g->aggressive = true;
        g->final_found = false;
        q->stats.nsec_cache_answers++;
        nsec_cache_count_answer(nc);
        goal_done(g, rcode);
        taken = 1;
    }
    ldns_rr_list_deep_free(auth);
    ldns_rr_list_deep_free(soa);
    ldns_rdf_deep_free(zone);
    return taken;
}

/* RFC 1034 5.3.3 step 1, bounded by max-cname-chain.  1 goal done, 0 not in
 * cache, -1 aborted.  A validator's DS/DNSKEY look-up never starts here
 * (the validator reads the cache itself), and a validating goal never
 * takes a cached message (it carries no RRSIGs or status). */
static int goal_from_cache(struct iter_query *q, struct iter_goal *g, time_t now)
{
    if (g->vfetch)
        return 0;
    for (;;) {
        ldns_rr_list *l = goal_cache_get(q, g, g->sname, g->qtype, now);
        if (l) {
            goal_append_list(g, l);
            ldns_rr_list_deep_free(l);
            g->final_found = true;
            goal_done(g, LDNS_RCODE_NOERROR);
            return 1;
        }
        if (g->qtype != LDNS_RR_TYPE_CNAME &&
            (l = goal_cache_get(q, g, g->sname, LDNS_RR_TYPE_CNAME, now))) {
            const ldns_rdf *t = rr_target(ldns_rr_list_rr(l, 0));
            bool ok = t != NULL;
            if (ok) {
                goal_append_list(g, l);
                ok = goal_step_alias(q, g, t);
            }
            ldns_rr_list_deep_free(l);
            if (!ok)
                return q->finished ? -1 : 0;
            continue;
        }
        return goal_validates(q, g) ? goal_from_nsec_cache(q, g, now)
                                    : goal_from_msg_cache(q, g, now);
    }
}

/* GS_INIT. */
static void goal_init(struct iter_query *q, struct iter_goal *g, time_t now)
{
    int rc = goal_from_cache(q, g, now);
    if (rc != 0)
        return;
    const struct config_forward *f = find_forward(q->env->cfg, g->sname);
    if (f) {
        if (goal_use_forward(q, g, f) < 0)
            iter_abort(q, "memory");
        else
            g->st = GS_QUERY;
        return;
    }
    rc = goal_find_cut(q, g, now);
    if (rc < 0)
        iter_abort(q, "memory");
    else
        g->st = rc > 0 ? GS_QUERY : GS_PRIME;
}

/* GS_PRIME: the hints become the SLIST of the root; the query is ". NS". */
static void goal_prime(struct iter_query *q, struct iter_goal *g)
{
    ldns_rdf *root = ldns_dname_new_frm_str(".");
    const struct hints *h = q->env->hints;
    int rc = root ? goal_set_cut(g, root, h ? h->ns : NULL) : -ENOMEM;
    ldns_rdf_deep_free(root);
    if (rc < 0) {
        iter_abort(q, "memory");
        return;
    }
    for (size_t i = 0; h && h->addrs && i < ldns_rr_list_rr_count(h->addrs); i++)
        goal_add_addr_rr(q, g, ldns_rr_list_rr(h->addrs, i));
    g->priming = true;
    g->st = GS_QUERY;
}

/* --- Sending (GS_QUERY) --------------------------------------------------- */

/* The best address: not failed, not down, not lame for the zone; lowest
 * smoothed RTT (unknown ones rank low so each gets tried), random among
 * equals.  -1 when none is left. */
static int goal_pick_server(struct iter_query *q, struct iter_goal *g, time_t now)
{
    int best = -1;
    unsigned best_rtt = 0, ties = 0;
    const uint8_t *zone = g->zone ? ldns_rdf_data(g->zone) : NULL;
    size_t zone_len = g->zone ? ldns_rdf_size(g->zone) : 0;
    for (size_t i = 0; i < g->naddrs; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&g->addrs[i].ss;
        if (g->addrs[i].failed || infra_is_down(q->env->infra, sa, now))
            continue;
        if (!g->forward && infra_is_lame(q->env->infra, sa, zone, zone_len, now))
            continue;
        unsigned rtt = infra_rtt_ms(q->env->infra, sa);
        if (best < 0 || rtt < best_rtt) {
            best = (int)i;
            best_rtt = rtt;
            ties = 1;
        } else if (rtt == best_rtt && arc4random_uniform(++ties) == 0) {
            best = (int)i;
        }
    }
    return best;
}

static bool goal_in_stack(const struct iter_query *q, const ldns_rdf *name, uint16_t qtype)
{
    for (size_t i = 0; i < q->ngoals; i++)
        if (q->goals[i]->qtype == qtype &&
            (name_eq(q->goals[i]->qname0, name) || name_eq(q->goals[i]->sname, name)))
            return true;
    return false;
}

/* Starts a sub-goal for (name, qtype) unless it would loop or go too deep.
 * True if started. */
static bool goal_push(struct iter_query *q, const ldns_rdf *name, uint16_t qtype)
{
    if (q->ngoals >= ITER_MAX_DEPTH || goal_in_stack(q, name, qtype))
        return false;
    struct iter_goal *sub = goal_new(name, qtype, LDNS_RR_CLASS_IN);
    if (!sub)
        return false;
    top(q)->st = GS_SUBGOAL;
    q->goals[q->ngoals++] = sub;
    return true;
}

/* No server left to ask: find more addresses (RFC 1034 5.3.3 step 2) from
 * the cache, else by a sub-goal for a glueless NS name.  True if there is
 * something new to try (addresses, or a sub-goal now runs). */
static bool goal_more_servers(struct iter_query *q, struct iter_goal *g, time_t now)
{
    const struct config *cfg = q->env->cfg;
    size_t n = g->nsset ? ldns_rr_list_rr_count(g->nsset) : 0;
    for (size_t i = 0; i < n && i < ITER_MAX_NS; i++) {
        const ldns_rdf *t = rr_target(ldns_rr_list_rr(g->nsset, i));
        if (!t)
            continue;
        if (goal_add_cached_addrs(q, g, t, now))
            return true;
        /* In-zone name without glue: only this zone could tell us. */
        if (name_at_or_below(t, g->zone))
            continue;
        if (cfg->ipv4 && !g->ns_asked_a[i]) {
            g->ns_asked_a[i] = true;
            if (goal_push(q, t, LDNS_RR_TYPE_A))
                return true;
        }
        if (cfg->ipv6 && !g->ns_asked_aaaa[i]) {
            g->ns_asked_aaaa[i] = true;
            if (goal_push(q, t, LDNS_RR_TYPE_AAAA))
                return true;
        }
    }
    return false;
}

/* RFC 9156 section 3: the name and type to ask.  One more label below the
 * zone cut with QTYPE A (as Unbound), the full question once SNAME is
 * reached, after ITER_MAX_QMIN_STEPS, or when minimisation is off. */
static int goal_choose_qname(struct iter_query *q, struct iter_goal *g)
{
    ldns_rdf *asked;
    uint16_t type = g->qtype;
    unsigned slabels = ldns_dname_label_count(g->sname);
    ldns_rdf_deep_free(g->asked);
    g->asked = NULL;
    if (g->priming) {
        asked = ldns_dname_new_frm_str(".");
        type = LDNS_RR_TYPE_NS;
    } else if (g->forward || !q->env->cfg->qname_minimisation || g->qmin_off ||
               g->qmin_labels >= slabels || g->qmin_steps >= ITER_MAX_QMIN_STEPS ||
               g->qtype == LDNS_RR_TYPE_DS) {
        asked = name_copy(g->sname);
    } else {
        asked = name_suffix(g->sname, g->qmin_labels);
        type = LDNS_RR_TYPE_A;
    }
    if (!asked)
        return -ENOMEM;
    g->asked = asked;
    g->asked_type = type;
    return 0;
}

/* Serialises the query for addrs[idx] into send. */
static int goal_build_query(struct iter_query *q, struct iter_goal *g, int idx,
                            struct iter_send *send)
{
    uint8_t *wire = NULL;
    size_t len = 0;
    ldns_rdf *qn = ldns_rdf_clone(g->asked);
    ldns_pkt *p = qn ? ldns_pkt_query_new(qn, g->asked_type, g->qclass, 0) : NULL;
    if (!p) {
        ldns_rdf_deep_free(qn);
        return -ENOMEM;
    }
    memset(send, 0, sizeof(*send));
    send->id = (uint16_t)(arc4random() & 0xffff);
    ldns_pkt_set_id(p, send->id);
    ldns_pkt_set_rd(p, g->forward);                /* RD=0 when iterating; forwarders recurse */
    ldns_pkt_set_edns_udp_size(p, ITER_EDNS_SIZE); /* RFC 6891 */
    if (q->dnssec) {
        /* RFC 4035 3.2.1 asks for the DNSSEC records; a forwarder is told
         * CD (RFC 4035 3.2.2) so that it hands over what it would reject
         * and we judge for ourselves. */
        ldns_pkt_set_edns_do(p, true);
        ldns_pkt_set_cd(p, g->forward);
    }
    ldns_status s = ldns_pkt2wire(&wire, p, &len);
    ldns_pkt_free(p);
    if (s != LDNS_STATUS_OK || len > sizeof(send->pkt)) {
        free(wire);
        return -EMSGSIZE;
    }
    memcpy(send->pkt, wire, len);
    free(wire);
    send->len = len;
    memcpy(&send->server, &g->addrs[idx].ss, g->addrs[idx].len);
    send->server_len = g->addrs[idx].len;
    send->tcp = g->tcp;
    send->timeout_ms = infra_timeout_ms(q->env->infra, (const struct sockaddr *)&send->server,
                                        q->env->cfg->upstream_timeout_ms);
    return 0;
}

/* Every server of the zone failed. */
static void goal_fail_all(struct iter_goal *g)
{
    g->all_failed = true;
    goal_done(g, LDNS_RCODE_SERVFAIL);
}

/* GS_QUERY.  True when send is filled. */
static bool goal_query(struct iter_query *q, struct iter_goal *g, time_t now,
                       struct iter_send *send)
{
    int idx = g->force;
    if (idx < 0 || (size_t)idx >= g->naddrs)
        idx = goal_pick_server(q, g, now);
    g->force = -1;
    if (idx < 0) {
        g->tcp = false;
        if (!goal_more_servers(q, g, now))
            goal_fail_all(g);
        return false; /* a sub-goal runs, or pick again, or done */
    }
    if (q->stats.upstream_queries >= q->env->cfg->max_work) {
        iter_abort(q, "max-upstream-queries");
        return false;
    }
    if (goal_choose_qname(q, g) < 0 || goal_build_query(q, g, idx, send) < 0) {
        iter_abort(q, "memory");
        return false;
    }
    g->cur = idx;
    g->st = GS_WAIT;
    q->stats.upstream_queries++;
    q->last = *send;
    return true;
}

/* --- Responses (GS_WAIT -> step 4) ---------------------------------------- */

static struct iter_addr *goal_cur_addr(struct iter_goal *g)
{
    return &g->addrs[g->cur];
}

/* This server is no use for this goal: try the next. */
static void goal_server_failed(struct iter_goal *g)
{
    goal_cur_addr(g)->failed = true;
    g->tcp = false;
    g->force = -1;
    g->st = GS_QUERY;
}

static void goal_server_lame(struct iter_query *q, struct iter_goal *g, time_t now)
{
    infra_set_lame(q->env->infra, (const struct sockaddr *)&goal_cur_addr(g)->ss,
                   ldns_rdf_data(g->zone), ldns_rdf_size(g->zone), now);
    goal_server_failed(g);
}

/* RFC 1035 section 7.3: a response is only considered if it answers the
 * question asked. */
static bool resp_acceptable(const struct iter_goal *g, const ldns_pkt *p)
{
    if (!ldns_pkt_qr(p) || ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY)
        return false;
    const ldns_rr_list *qs = ldns_pkt_question(p);
    if (ldns_rr_list_rr_count(qs) != 1)
        return false;
    const ldns_rr *qr = ldns_rr_list_rr(qs, 0);
    return ldns_rr_get_type(qr) == g->asked_type && ldns_rr_get_class(qr) == g->qclass &&
           name_eq(ldns_rr_owner(qr), g->asked);
}

static void scrub_free(struct scrubbed *s)
{
    ldns_rr_list_free(s->an);
    ldns_rr_list_free(s->ns);
    ldns_rr_list_free(s->ar);
}

static bool scrub_keep(const struct iter_query *q, const struct iter_goal *g, const ldns_rr *rr,
                       ldns_pkt_section sec)
{
    ldns_rr_type t = ldns_rr_get_type(rr);
    if (ldns_rr_get_class(rr) != g->qclass || !name_at_or_below(ldns_rr_owner(rr), g->zone))
        return false;
    if (sec == LDNS_SECTION_AUTHORITY)
        return t == LDNS_RR_TYPE_NS || t == LDNS_RR_TYPE_SOA ||
               (q->dnssec && (t == LDNS_RR_TYPE_DS || t == LDNS_RR_TYPE_NSEC ||
                              t == LDNS_RR_TYPE_NSEC3 || t == LDNS_RR_TYPE_RRSIG));
    if (sec == LDNS_SECTION_ADDITIONAL)
        return t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA;
    return true;
}

/* Bailiwick (Unbound's scrubber): keep records at or below the zone cut of
 * the server that sent them; authority only NS/SOA; additional only
 * addresses.  The rest is dropped and counted.  -ENOMEM. */
static int resp_scrub(struct iter_query *q, const struct iter_goal *g, const ldns_pkt *p,
                      struct scrubbed *s)
{
    static const ldns_pkt_section secs[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY,
                                            LDNS_SECTION_ADDITIONAL};
    const ldns_rr_list *in[] = {ldns_pkt_answer(p), ldns_pkt_authority(p), ldns_pkt_additional(p)};
    s->an = ldns_rr_list_new();
    s->ns = ldns_rr_list_new();
    s->ar = ldns_rr_list_new();
    ldns_rr_list *out[] = {s->an, s->ns, s->ar};
    if (!s->an || !s->ns || !s->ar)
        return -ENOMEM;
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < ldns_rr_list_rr_count(in[k]); i++) {
            ldns_rr *rr = ldns_rr_list_rr(in[k], i);
            if (!scrub_keep(q, g, rr, secs[k]))
                q->scrubbed++;
            else if (!ldns_rr_list_push_rr(out[k], rr))
                return -ENOMEM;
        }
    }
    return 0;
}

/* The RRs of list with this owner and type (borrowed), or NULL. */
static ldns_rr_list *rrset_find(const ldns_rr_list *list, const ldns_rdf *owner, uint16_t type)
{
    ldns_rr_list *set = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
        ldns_rr *rr = ldns_rr_list_rr(list, i);
        if ((type != LDNS_RR_TYPE_ANY && ldns_rr_get_type(rr) != type) ||
            !name_eq(ldns_rr_owner(rr), owner))
            continue;
        if (!set && !(set = ldns_rr_list_new()))
            return NULL;
        ldns_rr_list_push_rr(set, rr);
    }
    return set;
}

/* A DNAME in list owned by a proper ancestor of name (RFC 6672 2.2). */
static ldns_rr *dname_find(const ldns_rr_list *list, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
        ldns_rr *rr = ldns_rr_list_rr(list, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNAME && rr_target(rr) &&
            name_below(name, ldns_rr_owner(rr)))
            return rr;
    }
    return NULL;
}

/* With DNSSEC: remembers an RRset taken into the chain for validation
 * (sec: a status already known), and keeps the RRSIGs of section that
 * cover it.  A chain too long to track fails validation, never passes. */
static void goal_note_rrset(struct iter_query *q, struct iter_goal *g, const ldns_rr *first,
                            const ldns_rr_list *section, uint8_t sec)
{
    if (!q->dnssec)
        return;
    const ldns_rdf *owner = ldns_rr_owner(first);
    uint16_t type = (uint16_t)ldns_rr_get_type(first);
    ldns_rr_list *sigs = val_sigs_for(section, owner, type);
    for (size_t i = 0; sigs && i < ldns_rr_list_rr_count(sigs); i++)
        list_push_copy(g->sigs, ldns_rr_list_rr(sigs, i));
    ldns_rr_list_free(sigs);
    if (g->nvrecs >= ITER_MAX_VRECS) {
        g->vrec_overflow = true;
        return;
    }
    struct vrec *v = &g->vrecs[g->nvrecs];
    v->owner = name_copy(owner);
    v->zone = g->zone ? name_copy(g->zone) : NULL;
    v->type = type;
    v->sec = sec;
    if (!v->owner) {
        ldns_rdf_deep_free(v->zone);
        g->vrec_overflow = true;
        return;
    }
    g->nvrecs++;
}

/* Appends the RRset to the chain and caches it (with its RRSIGs from an,
 * unchecked: the validator upgrades it). */
static void chain_take(struct iter_query *q, struct iter_goal *g, ldns_rr_list *set,
                       const ldns_rr_list *an, enum cache_trust trust, time_t now)
{
    goal_append_list(g, set);
    if (q->dnssec) {
        const ldns_rr *first = ldns_rr_list_rr(set, 0);
        ldns_rr_list *sigs = val_sigs_for(an, ldns_rr_owner(first), ldns_rr_get_type(first));
        cache_rrset_put_sec(q->env->cache, set, sigs, trust, CACHE_SEC_UNCHECKED, now);
        ldns_rr_list_free(sigs);
        goal_note_rrset(q, g, first, an, VAL_UNCHECKED);
    } else {
        cache_rrsets(q, set, trust, NULL, now);
    }
    ldns_rr_list_free(set);
}

/* RFC 6672 section 3.1: a DNAME step.  The DNAME and the synthesised CNAME
 * (TTL of the DNAME) join the chain; only the DNAME is cached. */
static bool chain_dname(struct iter_query *q, struct iter_goal *g, ldns_rr *dname,
                        const ldns_rr_list *an, enum cache_trust trust, time_t now)
{
    ldns_rdf *target = name_dname_subst(g->sname, ldns_rr_owner(dname), rr_target(dname));
    ldns_rr *cname = ldns_rr_new();
    ldns_rr_list *set = ldns_rr_list_new();
    bool ok = target && cname && set && ldns_rr_list_push_rr(set, dname);
    if (ok) {
        ldns_rr_set_owner(cname, name_copy(g->sname));
        ldns_rr_set_type(cname, LDNS_RR_TYPE_CNAME);
        ldns_rr_set_class(cname, ldns_rr_get_class(dname));
        ldns_rr_set_ttl(cname, ldns_rr_ttl(dname));
        ldns_rr_push_rdf(cname, ldns_rdf_clone(target));
        ok = ldns_rr_owner(cname) && ldns_rr_rdf(cname, 0);
    }
    if (ok) {
        cache_rrsets(q, set, trust, NULL, now);
        /* Only the DNAME is signed; the CNAME is ours (RFC 6672 5.3.1). */
        goal_note_rrset(q, g, dname, an, VAL_UNCHECKED);
        list_push_copy(g->chain, dname);
        list_push_copy(g->chain, cname);
        ok = goal_step_alias(q, g, target);
    } else {
        /* No target: the substitution overflowed (YXDOMAIN, RFC 6672 2.2). */
        iter_abort(q, target ? "memory" : "DNAME substitution length");
    }
    ldns_rr_free(cname);
    ldns_rr_list_free(set);
    ldns_rdf_deep_free(target);
    return ok;
}

/* Follows SNAME through the answer section (RFC 1034 5.3.3 step 4,
 * "if the answer ... contains a CNAME"), moving SNAME along each alias. */
static enum chain_result chain_follow(struct iter_query *q, struct iter_goal *g,
                                      const ldns_rr_list *an, enum cache_trust trust, time_t now)
{
    bool moved = false;
    for (unsigned steps = 0; steps <= q->env->cfg->max_cname + 1; steps++) {
        ldns_rr_list *set = rrset_find(an, g->sname, g->qtype);
        if (set) {
            chain_take(q, g, set, an, trust, now);
            return CHAIN_FINAL;
        }
        ldns_rr *dname = g->qtype != LDNS_RR_TYPE_DNAME ? dname_find(an, g->sname) : NULL;
        if (dname) {
            if (!chain_dname(q, g, dname, an, trust, now))
                return CHAIN_LIMIT;
            moved = true;
            continue;
        }
        set = rrset_find(an, g->sname, LDNS_RR_TYPE_CNAME);
        const ldns_rdf *t = set ? rr_target(ldns_rr_list_rr(set, 0)) : NULL;
        if (!t) {
            ldns_rr_list_free(set);
            break;
        }
        ldns_rr_list *cname = ldns_rr_list_new();
        if (cname)
            ldns_rr_list_push_rr(cname, ldns_rr_list_rr(set, 0)); /* one CNAME per owner */
        ldns_rr_list_free(set);
        if (!cname) {
            iter_abort(q, "memory");
            return CHAIN_LIMIT;
        }
        chain_take(q, g, cname, an, trust, now);
        if (!goal_step_alias(q, g, t))
            return CHAIN_LIMIT;
        moved = true;
    }
    return moved ? CHAIN_PARTIAL : CHAIN_NONE;
}

static void goal_take_soa(struct iter_goal *g, const struct scrubbed *s)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->ns); i++) {
        ldns_rr *rr = ldns_rr_list_rr(s->ns, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
            list_push_copy(g->soa, rr);
            return; /* one SOA */
        }
    }
}

static bool has_soa(const struct scrubbed *s)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->ns); i++)
        if (ldns_rr_get_type(ldns_rr_list_rr(s->ns, i)) == LDNS_RR_TYPE_SOA)
            return true;
    return false;
}

/* Restart at step 1 for the alias target (the server did not give its
 * data, or was not authoritative for it). */
static void goal_restart(struct iter_goal *g)
{
    goal_clear_cut(g);
    g->st = GS_INIT;
}

/* An authoritative (or forwarded) answer: chain, then the negative cases
 * of RFC 2308 (NXDOMAIN; NODATA = NOERROR, no data, SOA). */
/* With DNSSEC: the NSEC/NSEC3 records of the authority section and the
 * RRSIGs there (over them and the SOA), for denial and wildcard proofs. */
static void goal_take_auth(struct iter_query *q, struct iter_goal *g, const struct scrubbed *s)
{
    for (size_t i = 0; q->dnssec && i < ldns_rr_list_rr_count(s->ns); i++) {
        ldns_rr *rr = ldns_rr_list_rr(s->ns, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if ((t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3 || t == LDNS_RR_TYPE_RRSIG) &&
            ldns_rr_list_rr_count(g->auth) < ITER_MAX_AUTH)
            list_push_copy(g->auth, rr);
    }
}

static void goal_note_negative(struct iter_query *q, struct iter_goal *g)
{
    if (!q->dnssec)
        return;
    ldns_rdf_deep_free(g->neg_zone);
    ldns_rdf_deep_free(g->neg_name);
    g->neg_zone = g->zone ? name_copy(g->zone) : NULL;
    g->neg_name = name_copy(g->sname);
}

static void handle_answer(struct iter_query *q, struct iter_goal *g, const ldns_pkt *p,
                          const struct scrubbed *s, time_t now)
{
    uint8_t rcode = ldns_pkt_get_rcode(p);
    goal_take_auth(q, g, s);
    enum chain_result r = chain_follow(q, g, s->an, CACHE_TRUST_AUTH_ANSWER, now);
    if (r == CHAIN_LIMIT)
        return;
    if (r == CHAIN_FINAL) {
        g->final_found = true;
        goal_done(g, LDNS_RCODE_NOERROR);
        return;
    }
    if (r == CHAIN_PARTIAL) {
        /* The negative answer is about the target only if this server is
         * authoritative for it (the target is inside its zone). */
        bool about_target =
            name_at_or_below(g->sname, g->zone) && (rcode == LDNS_RCODE_NXDOMAIN || has_soa(s));
        if (!about_target) {
            goal_restart(g);
            return;
        }
    }
    goal_take_soa(g, s);
    goal_note_negative(q, g);
    goal_done(g, rcode == LDNS_RCODE_NXDOMAIN ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_NOERROR);
}

/* The NS RRset of a referral: owner strictly below the zone cut and at or
 * above the name asked (RFC 1034 5.3.3 step 4, "better delegation").
 * Borrowed RRs, or NULL. */
static ldns_rr_list *referral_ns(const struct iter_goal *g, const struct scrubbed *s)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->ns); i++) {
        ldns_rr *rr = ldns_rr_list_rr(s->ns, i);
        const ldns_rdf *owner = ldns_rr_owner(rr);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || !name_below(owner, g->zone) ||
            !name_at_or_below(g->asked, owner))
            continue;
        return rrset_find(s->ns, owner, LDNS_RR_TYPE_NS);
    }
    return NULL;
}

static bool ns_set_has_target(const ldns_rr_list *ns, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++)
        if (name_eq(rr_target(ldns_rr_list_rr(ns, i)), name))
            return true;
    return false;
}

static bool keys_trusted(struct iter_query *q, const ldns_rdf *zone, time_t now,
                         ldns_rr_list **keys);
static void deny_check(struct iter_query *q, const ldns_rr_list *auth, enum val_denial_kind kind,
                       const ldns_rdf *qname, uint16_t qtype, const ldns_rdf *kzone,
                       const ldns_rr_list *keys, unsigned ce_labels, uint32_t soa_min, bool keep,
                       time_t now, struct val_denial *d);

/* With DNSSEC, a referral from a signed zone carries what the chain of
 * trust needs at the cut (RFC 4035 3.1.4): the DS RRset and its RRSIGs, or
 * the NSEC/NSEC3 records proving there is none.  The DS set is cached
 * unchecked (the validator verifies it with the parent's keys when it gets
 * there, instead of asking for it again).  The proof can only be kept
 * verified: when the parent's keys are already trusted (cached secure), it
 * is checked now and goes into the NSEC cache, where kr_ds finds it. */
static void referral_dnssec(struct iter_query *q, const struct iter_goal *g, const ldns_rdf *cut,
                            const struct scrubbed *s, time_t now)
{
    ldns_rr_list *ds = val_rrset_of(s->ns, cut, LDNS_RR_TYPE_DS);
    if (ds) {
        ldns_rr_list *sigs = val_sigs_for(s->ns, cut, LDNS_RR_TYPE_DS);
        if (sigs)
            cache_rrset_put_sec(q->env->cache, ds, sigs, CACHE_TRUST_AUTHORITY, CACHE_SEC_UNCHECKED,
                                now);
        ldns_rr_list_free(sigs);
        ldns_rr_list_free(ds);
        return;
    }
    bool proof = false;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->ns) && !proof; i++) {
        ldns_rr_type t = ldns_rr_get_type(ldns_rr_list_rr(s->ns, i));
        proof = t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3;
    }
    ldns_rr_list *keys = NULL;
    if (proof && q->validate && keys_trusted(q, g->zone, now, &keys)) {
        struct val_denial d;
        deny_check(q, s->ns, VAL_DENY_NODATA, cut, LDNS_RR_TYPE_DS, g->zone, keys, 0, UINT32_MAX,
                   true, now, &d);
    }
    ldns_rr_list_deep_free(keys);
}

/* Descend: cache the NS set (authority trust) and its glue (glue trust, only
 * addresses of its NS names that passed the bailiwick scrub), and make the
 * delegated zone the new cut. */
static void handle_referral(struct iter_query *q, struct iter_goal *g, ldns_rr_list *ns,
                            const struct scrubbed *s, time_t now)
{
    static const ldns_rr_type ns_types[] = {LDNS_RR_TYPE_NS, 0};
    static const ldns_rr_type glue_types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, 0};
    ldns_rr_list *glue = ldns_rr_list_new();
    if (++q->stats.referrals > q->env->cfg->max_referrals) {
        iter_abort(q, "max-referrals");
        goto out;
    }
    for (size_t i = 0; glue && i < ldns_rr_list_rr_count(s->ar); i++) {
        ldns_rr *rr = ldns_rr_list_rr(s->ar, i);
        if (ns_set_has_target(ns, ldns_rr_owner(rr)))
            ldns_rr_list_push_rr(glue, rr);
        else
            q->scrubbed++;
    }
    cache_rrsets(q, ns, CACHE_TRUST_AUTHORITY, ns_types, now);
    if (glue)
        cache_rrsets(q, glue, CACHE_TRUST_GLUE, glue_types, now);
    if (q->dnssec)
        referral_dnssec(q, g, ldns_rr_owner(ldns_rr_list_rr(ns, 0)), s, now);
    ldns_rr_list *nscopy = ldns_rr_list_clone(ns);
    int rc = nscopy ? goal_set_cut(g, ldns_rr_owner(ldns_rr_list_rr(ns, 0)), nscopy) : -ENOMEM;
    ldns_rr_list_deep_free(nscopy);
    if (rc < 0) {
        iter_abort(q, "memory");
        goto out;
    }
    for (size_t i = 0; glue && i < ldns_rr_list_rr_count(glue); i++)
        goal_add_addr_rr(q, g, ldns_rr_list_rr(glue, i));
    goal_add_ns_addrs(q, g, now);
    g->st = GS_QUERY;
out:
    ldns_rr_list_free(glue);
}

/* RFC 9156 section 3 on the answer to a minimised query. */
static void handle_minimised(struct iter_query *q, struct iter_goal *g, const ldns_pkt *p,
                             const struct scrubbed *s, time_t now)
{
    uint8_t rcode = ldns_pkt_get_rcode(p);
    ldns_rr_list *ns = ldns_pkt_aa(p) ? NULL : referral_ns(g, s);
    if (ns) {
        handle_referral(q, g, ns, s, now);
        ldns_rr_list_free(ns);
        return;
    }
    if (rcode == LDNS_RCODE_NXDOMAIN) {
        /* RFC 8020 would stop here; like Unbound's default, ask the full
         * name once, of the same server, before believing it. */
        g->qmin_off = true;
        g->force = g->cur;
        g->st = GS_QUERY;
        return;
    }
    if (ldns_pkt_aa(p) || ldns_rr_list_rr_count(s->an) > 0) {
        /* NOERROR or NODATA at an empty non-terminal or a name with data:
         * the cut is below; one more label. */
        g->qmin_labels++;
        g->qmin_steps++;
        g->st = GS_QUERY;
        return;
    }
    goal_server_lame(q, g, now);
}

/* Step 4 for an iterative (RD=0) query. */
static void handle_iterative(struct iter_query *q, struct iter_goal *g, const ldns_pkt *p,
                             const struct scrubbed *s, time_t now)
{
    bool minimised = g->asked_type != g->qtype || !name_eq(g->asked, g->sname);
    if (minimised) {
        handle_minimised(q, g, p, s, now);
        return;
    }
    if (ldns_pkt_aa(p)) {
        handle_answer(q, g, p, s, now);
        return;
    }
    ldns_rr_list *ns = referral_ns(g, s);
    if (ns) {
        handle_referral(q, g, ns, s, now);
        ldns_rr_list_free(ns);
        return;
    }
    /* Unbound accepts a non-AA NXDOMAIN unless it came from a recursive
     * server (RA set) that should not have been asked. */
    if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN && !ldns_pkt_ra(p)) {
        handle_answer(q, g, p, s, now);
        return;
    }
    /* No authority, no referral, or an upward/sideways one: lame. */
    goal_server_lame(q, g, now);
}

/* RFC 8109 section 3.3: the priming answer.  The root NS set (and the
 * addresses of its names) is cached; the root becomes the cut. */
static void handle_priming(struct iter_query *q, struct iter_goal *g, const ldns_pkt *p,
                           const struct scrubbed *s, time_t now)
{
    static const ldns_rr_type addr_types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, 0};
    ldns_rr_list *ns = rrset_find(s->an, g->zone, LDNS_RR_TYPE_NS);
    if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR || !ns || !ldns_pkt_aa(p)) {
        ldns_rr_list_free(ns);
        goal_server_failed(g);
        return;
    }
    ldns_rr_list *addrs = ldns_rr_list_new();
    for (size_t i = 0; addrs && i < ldns_rr_list_rr_count(s->ar); i++)
        if (ns_set_has_target(ns, ldns_rr_owner(ldns_rr_list_rr(s->ar, i))))
            ldns_rr_list_push_rr(addrs, ldns_rr_list_rr(s->ar, i));
    cache_rrsets(q, ns, CACHE_TRUST_AUTH_ANSWER, NULL, now);
    if (addrs)
        cache_rrsets(q, addrs, CACHE_TRUST_GLUE, addr_types, now);
    ldns_rr_list_deep_free(q->root_ns);
    ldns_rr_list_deep_free(q->root_addrs);
    q->root_ns = ldns_rr_list_clone(ns);
    q->root_addrs = addrs ? ldns_rr_list_clone(addrs) : NULL;
    /* Keep the hint addresses too: the answer may lack glue. */
    struct iter_addr hints[ITER_MAX_ADDRS];
    size_t nhints = g->naddrs;
    memcpy(hints, g->addrs, sizeof(hints));
    if (goal_set_cut(g, g->zone, ns) < 0) {
        iter_abort(q, "memory");
    } else {
        for (size_t i = 0; addrs && i < ldns_rr_list_rr_count(addrs); i++)
            goal_add_addr_rr(q, g, ldns_rr_list_rr(addrs, i));
        for (size_t i = 0; i < nhints; i++)
            goal_add_sockaddr(g, &hints[i].ss, hints[i].len);
        g->st = GS_QUERY;
    }
    ldns_rr_list_free(addrs);
    ldns_rr_list_free(ns);
}

static bool rcode_is_server_error(uint8_t rcode)
{
    return rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN;
}

/* A response that passed the driver's checks: ours to judge. */
static void goal_response(struct iter_query *q, struct iter_goal *g, const ldns_pkt *p, time_t now)
{
    uint8_t rcode = ldns_pkt_get_rcode(p);
    bool minimised =
        !g->priming && !g->forward && (g->asked_type != g->qtype || !name_eq(g->asked, g->sname));
    if (ldns_pkt_tc(p)) {
        /* RFC 7766 section 5: truncated over UDP, ask the same server over TCP. */
        if (g->tcp) {
            goal_server_failed(g);
        } else {
            g->tcp = true;
            g->force = g->cur;
            g->st = GS_QUERY;
        }
        return;
    }
    if (rcode_is_server_error(rcode)) {
        /* SERVFAIL, REFUSED, FORMERR, NOTIMP...  A server that fails a
         * minimised query may choke on the empty non-terminal: ask the
         * full name (RFC 9156 section 2.3) before giving up on it. */
        if (minimised) {
            g->qmin_off = true;
            g->force = g->cur;
            g->tcp = false;
            g->st = GS_QUERY;
        } else {
            goal_server_failed(g);
        }
        return;
    }
    struct scrubbed s = {0};
    if (resp_scrub(q, g, p, &s) < 0)
        iter_abort(q, "memory");
    else if (g->priming)
        handle_priming(q, g, p, &s, now);
    else if (g->forward)
        handle_answer(q, g, p, &s, now); /* a forwarder's word is the answer */
    else
        handle_iterative(q, g, p, &s, now);
    scrub_free(&s);
}

void iter_answer(struct iter_query *q, const uint8_t *pkt, size_t len, unsigned rtt_ms, time_t now)
{
    if (!q || q->finished || q->ngoals == 0 || top(q)->st != GS_WAIT)
        return;
    struct iter_goal *g = top(q);
    ldns_pkt *p = NULL;
    if (!pkt || len < LDNS_HEADER_SIZE || ldns_wire2pkt(&p, pkt, len) != LDNS_STATUS_OK) {
        goal_server_failed(g);
        return;
    }
    if (!resp_acceptable(g, p)) {
        ldns_pkt_free(p);
        goal_server_failed(g);
        return;
    }
    infra_rtt_update(q->env->infra, (const struct sockaddr *)&goal_cur_addr(g)->ss, rtt_ms, now);
    goal_response(q, g, p, now);
    ldns_pkt_free(p);
}

void iter_fail(struct iter_query *q, enum iter_failure why, time_t now)
{
    (void)why; /* both count against the server (RFC 1035 7.2) */
    if (!q || q->finished || q->ngoals == 0 || top(q)->st != GS_WAIT)
        return;
    struct iter_goal *g = top(q);
    infra_timeout(q->env->infra, (const struct sockaddr *)&goal_cur_addr(g)->ss, now);
    goal_server_failed(g);
    if (++q->timeouts > ITER_MAX_TIMEOUTS)
        iter_set_servfail(q, true, ITER_EDE_NO_REACHABLE_AUTH, "No Reachable Authority");
}

/* --- The stack and the step loop ------------------------------------------ */

/* A sub-goal is done: its addresses go to the waiting goal's SLIST, its
 * outcome to the message cache (iterator.h: "whole messages for its own
 * sub-queries"). */
static void vfetch_clear(struct vfetched *f)
{
    ldns_rdf_deep_free(f->name);
    ldns_rdf_deep_free(f->zone);
    ldns_rr_list_deep_free(f->rrs);
    ldns_rr_list_deep_free(f->sigs);
    ldns_rr_list_deep_free(f->auth);
    memset(f, 0, sizeof(*f));
}

/* A validator look-up is done: its outcome goes to q->fetch for the
 * validation step that asked (GS_VALIDATE runs again). */
static void vfetch_pop(struct iter_query *q, struct iter_goal *sub)
{
    struct vfetched *f = &q->fetch;
    vfetch_clear(f);
    f->valid = true;
    f->name = sub->qname0;
    f->type = sub->qtype;
    f->rcode = sub->rcode;
    f->sigs = sub->sigs;
    f->auth = sub->auth;
    sub->qname0 = NULL;
    sub->sigs = sub->auth = NULL;
    if (sub->rcode == LDNS_RCODE_NOERROR && sub->final_found) {
        /* Only the RRset asked for, at the name asked: an alias there is
         * not an answer to a DS or DNSKEY question. */
        f->rrs = ldns_rr_list_new();
        for (size_t i = 0; f->rrs && i < ldns_rr_list_rr_count(sub->chain); i++) {
            ldns_rr *rr = ldns_rr_list_rr(sub->chain, i);
            if (ldns_rr_get_type(rr) == sub->qtype && name_eq(ldns_rr_owner(rr), f->name))
                list_push_copy(f->rrs, rr);
        }
        if (f->rrs && ldns_rr_list_rr_count(f->rrs) == 0) {
            ldns_rr_list_free(f->rrs);
            f->rrs = NULL;
        }
    }
    if (sub->nvrecs > 0 && sub->vrecs[0].zone)
        f->zone = name_copy(sub->vrecs[0].zone);
    else if (sub->neg_zone)
        f->zone = name_copy(sub->neg_zone);
}

static void goal_pop(struct iter_query *q, time_t now)
{
    struct iter_goal *sub = q->goals[--q->ngoals];
    struct iter_goal *parent = top(q);
    if (sub->vfetch) {
        vfetch_pop(q, sub);
        goal_free(sub);
        parent->st = GS_VALIDATE;
        return;
    }
    if (sub->rcode == LDNS_RCODE_NOERROR) {
        for (size_t i = 0; i < ldns_rr_list_rr_count(sub->chain); i++)
            goal_add_addr_rr(q, parent, ldns_rr_list_rr(sub->chain, i));
    }
    /* With DNSSEC on, sub-goal answers are not validated: they must not
     * reach clients through the message cache. */
    if (!q->dnssec && (sub->rcode == LDNS_RCODE_NOERROR || sub->rcode == LDNS_RCODE_NXDOMAIN)) {
        uint8_t *wire = NULL;
        size_t len = 0;
        bool negative = !sub->final_found;
        if ((!negative || ldns_rr_list_rr_count(sub->soa) > 0) &&
            build_wire(sub->qname0, sub->qtype, sub->qclass, sub->rcode, sub->chain,
                       negative ? sub->soa : NULL, false, &wire, &len) == 0)
            cache_msg_put(q->env->cache, ldns_rdf_data(sub->qname0), ldns_rdf_size(sub->qname0),
                          sub->qtype, sub->qclass, wire, len, now);
        free(wire);
    }
    goal_free(sub);
    parent->st = GS_QUERY;
}

/* --- Validation (GS_VALIDATE; RFC 4035 section 5) ------------------------- */

enum { VF_HAVE = 0, VF_PUSHED = 1, VF_FAIL = -1 };

static struct keyring *kr_find(struct iter_query *q, const ldns_rdf *name)
{
    for (size_t i = 0; i < q->nkr; i++)
        if (name_eq(q->kr[i].name, name))
            return &q->kr[i];
    return NULL;
}

/* Records a verdict; keys (may be NULL) are taken.  NULL when the keyring
 * is full or memory ran out. */
static struct keyring *kr_add(struct iter_query *q, const ldns_rdf *name, uint8_t st,
                              const ldns_rdf *kzone, ldns_rr_list *keys, uint16_t ede,
                              const char *why)
{
    if (q->nkr >= ITER_MAX_KEYRING) {
        ldns_rr_list_deep_free(keys);
        return NULL;
    }
    struct keyring *k = &q->kr[q->nkr];
    memset(k, 0, sizeof(*k));
    k->name = name_copy(name);
    k->kzone = kzone ? name_copy(kzone) : NULL;
    k->keys = keys;
    k->st = st;
    k->ede = ede;
    if (why) {
        char zone[LDNS_MAX_DOMAINLEN + 16];
        char *z = ldns_rdf2str(name);
        snprintf(zone, sizeof(zone), "%s", z ? z : "?");
        free(z);
        snprintf(k->why, sizeof(k->why), "%.48s (%.26s)", why, zone);
    }
    if (!k->name || (kzone && !k->kzone)) {
        ldns_rdf_deep_free(k->name);
        ldns_rdf_deep_free(k->kzone);
        ldns_rr_list_deep_free(k->keys);
        return NULL;
    }
    q->nkr++;
    return k;
}

/* The zone a verdict names (iter_vtrace): whose keys judged, or where the
 * chain of trust ended. */
static const ldns_rdf *kr_judge(const struct keyring *k)
{
    return k->kzone ? k->kzone : k->end ? k->end : k->name;
}

static int kr_add_out(struct iter_query *q, const ldns_rdf *name, uint8_t st, const ldns_rdf *kzone,
                      ldns_rr_list *keys, uint16_t ede, const char *why, struct keyring **out)
{
    *out = kr_add(q, name, st, kzone, keys, ede, why);
    return *out ? VF_HAVE : VF_FAIL;
}

/* (name, type) for the validator: the outcome of the last look-up if it
 * was this one, else a vfetch sub-goal is pushed (VF_PUSHED). */
static int vfetch_get(struct iter_query *q, const ldns_rdf *name, uint16_t type,
                      struct vfetched **out)
{
    if (q->fetch.valid && q->fetch.type == type && name_eq(q->fetch.name, name)) {
        *out = &q->fetch;
        return VF_HAVE;
    }
    if (q->nfetch >= ITER_MAX_VFETCH || q->ngoals >= ITER_MAX_DEPTH)
        return VF_FAIL;
    struct iter_goal *sub = goal_new(name, type, LDNS_RR_CLASS_IN);
    if (!sub)
        return VF_FAIL;
    sub->vfetch = true;
    q->nfetch++;
    top(q)->st = GS_SUBGOAL;
    q->goals[q->ngoals++] = sub;
    return VF_PUSHED;
}

static ldns_rr_list *list_clone(const ldns_rr_list *l)
{
    return l ? ldns_rr_list_clone(l) : NULL;
}

/* Caches a judged RRset with its status, its TTL cut to what the
 * signatures allow (RFC 4035 section 5.3.3). */
static void cache_judged(struct iter_query *q, const ldns_rr_list *set, const ldns_rr_list *sigs,
                         enum cache_sec sec, uint32_t max_ttl, time_t now)
{
    ldns_rr_list *copy = list_clone(set);
    for (size_t i = 0; copy && i < ldns_rr_list_rr_count(copy); i++)
        if (ldns_rr_ttl(ldns_rr_list_rr(copy, i)) > max_ttl)
            ldns_rr_set_ttl(ldns_rr_list_rr(copy, i), max_ttl);
    if (copy)
        cache_rrset_put_sec(q->env->cache, copy, sigs, CACHE_TRUST_AUTH_ANSWER, sec, now);
    ldns_rr_list_deep_free(copy);
}

/* How long verified NSEC/NSEC3 records may prove things (RFC 8198 section
 * 5.4, RFC 9077): no longer than their own TTL and signatures allow, the
 * SOA minimum of the response when there is one, and max-negative-ttl. */
static uint32_t nsec_keep_ttl(const struct iter_query *q, const ldns_rr_list *set, uint32_t sig_ttl,
                              uint32_t soa_min)
{
    uint32_t ttl = sig_ttl < soa_min ? sig_ttl : soa_min;
    if (ttl > q->env->cfg->cache_max_negative_ttl)
        ttl = q->env->cfg->cache_max_negative_ttl;
    for (size_t i = 0; i < ldns_rr_list_rr_count(set); i++)
        if (ldns_rr_ttl(ldns_rr_list_rr(set, i)) < ttl)
            ttl = ldns_rr_ttl(ldns_rr_list_rr(set, i));
    return ttl;
}

/* The negative TTL a SOA gives (RFC 2308 section 5): min(TTL, MINIMUM). */
static uint32_t soa_negative_ttl(const ldns_rr_list *soa)
{
    const ldns_rr *rr = soa ? ldns_rr_list_rr(soa, 0) : NULL;
    if (!rr || ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7)
        return UINT32_MAX;
    uint32_t min = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
    return ldns_rr_ttl(rr) < min ? ldns_rr_ttl(rr) : min;
}

/* The NSEC/NSEC3 RRsets of auth that verify with (kzone, keys), then the
 * denial check on them.  Those that verify go into the NSEC cache (unless
 * they came from it), to prove things later without asking (RFC 8198,
 * RFC 4035 4.7). */
static void deny_check(struct iter_query *q, const ldns_rr_list *auth, enum val_denial_kind kind,
                       const ldns_rdf *qname, uint16_t qtype, const ldns_rdf *kzone,
                       const ldns_rr_list *keys, unsigned ce_labels, uint32_t soa_min, bool keep,
                       time_t now, struct val_denial *d)
{
    ldns_rr_list *ok = ldns_rr_list_new();
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; ok && auth && i < ldns_rr_list_rr_count(auth) && i < ITER_MAX_AUTH; i++) {
        ldns_rr *rr = ldns_rr_list_rr(auth, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if ((t != LDNS_RR_TYPE_NSEC && t != LDNS_RR_TYPE_NSEC3) ||
            !name_at_or_below(ldns_rr_owner(rr), kzone))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            ldns_rr *o = ldns_rr_list_rr(auth, j);
            seen = ldns_rr_get_type(o) == t && name_eq(ldns_rr_owner(o), ldns_rr_owner(rr));
        }
        if (seen)
            continue;
        ldns_rr_list *set = val_rrset_of(auth, ldns_rr_owner(rr), t);
        ldns_rr_list *sigs = val_sigs_for(auth, ldns_rr_owner(rr), t);
        struct val_result r = {.status = VAL_SECURE};
        bool held = nsec_cache_holds(cache_nsec(q->env->cache), kzone, set, sigs, now);
        if (!held)
            val_verify_rrset(set, sigs, kzone, keys, now, &r);
        if (r.status == VAL_SECURE) {
            for (size_t j = 0; j < ldns_rr_list_rr_count(set); j++)
                ldns_rr_list_push_rr(ok, ldns_rr_list_rr(set, j));
            uint32_t ttl = held ? 0 : nsec_keep_ttl(q, set, r.ttl, soa_min);
            if (keep && ttl > 0)
                nsec_cache_put(cache_nsec(q->env->cache), kzone, set, sigs, ttl, now);
        }
        ldns_rr_list_free(set);
        ldns_rr_list_free(sigs);
    }
    if (ok)
        val_check_denial(kind, qname, qtype, kzone, ok, ce_labels, d);
    ldns_rr_list_free(ok);
}

/* zone's DNSKEY set, when the cache holds it as validated (*keys: the
 * caller frees it). */
static bool keys_trusted(struct iter_query *q, const ldns_rdf *zone, time_t now,
                         ldns_rr_list **keys)
{
    enum cache_sec sec = CACHE_SEC_UNCHECKED;
    *keys = cache_rrset_get_sec(q->env->cache, zone, LDNS_RR_TYPE_DNSKEY, now, NULL, &sec, NULL);
    if (*keys && sec == CACHE_SEC_SECURE)
        return true;
    ldns_rr_list_deep_free(*keys);
    *keys = NULL;
    return false;
}

/* RFC 4035 5.2: the DNSKEY set of zone, authenticated by anchors (the
 * zone's DS set, or its trust anchor). */
static int kr_dnskey(struct iter_query *q, const ldns_rdf *zone, const ldns_rr_list *anchors,
                     time_t now, struct keyring **out)
{
    enum cache_sec sec = CACHE_SEC_UNCHECKED;
    ldns_rr_list *sigs = NULL;
    ldns_rr_list *keys =
        cache_rrset_get_sec(q->env->cache, zone, LDNS_RR_TYPE_DNSKEY, now, NULL, &sec, &sigs);
    if (keys && sec == CACHE_SEC_SECURE) {
        ldns_rr_list_deep_free(sigs);
        return kr_add_out(q, zone, VAL_SECURE, zone, keys, VAL_EDE_NONE, NULL, out);
    }
    if (!keys || !sigs) {
        ldns_rr_list_deep_free(keys);
        ldns_rr_list_deep_free(sigs);
        struct vfetched *f;
        int rc = vfetch_get(q, zone, LDNS_RR_TYPE_DNSKEY, &f);
        if (rc != VF_HAVE)
            return rc;
        keys = list_clone(f->rrs);
        sigs = list_clone(f->sigs);
    }
    if (!keys) {
        ldns_rr_list_deep_free(sigs);
        return kr_add_out(q, zone, VAL_BOGUS, NULL, NULL, VAL_EDE_DNSKEY_MISSING, "no DNSKEY set",
                          out);
    }
    struct val_result r;
    val_verify_dnskeys(keys, sigs, anchors, zone, now, &r);
    if (r.status == VAL_SECURE)
        cache_judged(q, keys, sigs, CACHE_SEC_SECURE, r.ttl, now);
    ldns_rr_list_deep_free(sigs);
    if (r.status != VAL_SECURE) {
        ldns_rr_list_deep_free(keys);
        keys = NULL;
    }
    return kr_add_out(q, zone, (uint8_t)r.status, r.status == VAL_SECURE ? zone : NULL, keys, r.ede,
                      r.why, out);
}

/* The verdict at n from a proof that n has no DS. */
static int kr_ds_verdict(struct iter_query *q, const ldns_rdf *n, const struct keyring *cur,
                         const struct val_denial *d, struct keyring **out)
{
    if (d->insecure || (d->proven && d->delegation))
        return kr_add_out(q, n, VAL_INSECURE, NULL, NULL, VAL_EDE_NONE, NULL, out);
    if (d->proven) /* no cut at n (or no n at all): the same zone and keys */
        return kr_add_out(q, n, VAL_SECURE, cur->kzone, list_clone(cur->keys), VAL_EDE_NONE, NULL,
                          out);
    return kr_add_out(q, n, VAL_BOGUS, NULL, NULL, VAL_EDE_NSEC_MISSING,
                      "no proof that the DS is absent", out);
}

/* RFC 4035 section 4.7: a proof that n has no DS, from the NSEC cache
 * (records cur's keys verified when they came).  True with *d filled when
 * the cached records prove it (or prove n absent). */
static bool kr_ds_cached_denial(struct iter_query *q, const ldns_rdf *n, const struct keyring *cur,
                                time_t now, struct val_denial *d)
{
    ldns_rr_list *c = ldns_rr_list_new();
    if (!c)
        return false;
    bool found = nsec_cache_candidates(cache_nsec(q->env->cache), cur->kzone, n, now, c, NULL) > 0;
    if (found) {
        val_check_denial(VAL_DENY_NODATA, n, LDNS_RR_TYPE_DS, cur->kzone, c, 0, d);
        if (!d->proven && !d->insecure) {
            val_check_denial(VAL_DENY_NXDOMAIN, n, LDNS_RR_TYPE_DS, cur->kzone, c, 0, d);
            d->insecure = false; /* an opt-out span says nothing of n's DS here */
        }
        found = d->proven || d->insecure;
    }
    ldns_rr_list_deep_free(c);
    return found;
}

/* One label below the secure zone cur: is n a zone cut with a DS (then its
 * keys), a proven unsigned delegation (insecure), or no cut at all (cur's
 * keys go on)?  RFC 4035 section 5.2, RFC 5155 section 8.6. */
static int kr_ds(struct iter_query *q, const ldns_rdf *n, const struct keyring *cur, time_t now,
                 struct keyring **out)
{
    enum cache_sec sec = CACHE_SEC_UNCHECKED;
    ldns_rr_list *sigs = NULL;
    ldns_rr_list *ds =
        cache_rrset_get_sec(q->env->cache, n, LDNS_RR_TYPE_DS, now, NULL, &sec, &sigs);
    struct vfetched *f = NULL;
    struct val_result r;
    if (!ds) {
        struct val_denial d;
        if (kr_ds_cached_denial(q, n, cur, now, &d)) {
            ldns_rr_list_deep_free(sigs);
            return kr_ds_verdict(q, n, cur, &d, out);
        }
    }
    if (!ds || sec != CACHE_SEC_SECURE) {
        if (!ds || !sigs) {
            ldns_rr_list_deep_free(ds);
            ldns_rr_list_deep_free(sigs);
            ds = sigs = NULL;
            int rc = vfetch_get(q, n, LDNS_RR_TYPE_DS, &f);
            if (rc != VF_HAVE)
                return rc;
            ds = list_clone(f->rrs);
            sigs = list_clone(f->sigs);
        }
        if (ds) {
            val_verify_rrset(ds, sigs, cur->kzone, cur->keys, now, &r);
            if (r.status != VAL_SECURE) {
                ldns_rr_list_deep_free(ds);
                ldns_rr_list_deep_free(sigs);
                return kr_add_out(q, n, VAL_BOGUS, NULL, NULL, r.ede, r.why, out);
            }
            /* Cached secure, so that the DNSKEY look-up that follows finds
             * it when this step runs again. */
            cache_judged(q, ds, sigs, CACHE_SEC_SECURE, r.ttl, now);
        }
    }
    ldns_rr_list_deep_free(sigs);
    if (ds) {
        int rc = kr_dnskey(q, n, ds, now, out);
        ldns_rr_list_deep_free(ds);
        return rc;
    }
    if (!f || (f->rcode != LDNS_RCODE_NOERROR && f->rcode != LDNS_RCODE_NXDOMAIN))
        return kr_add_out(q, n, VAL_BOGUS, NULL, NULL, VAL_EDE_OTHER, "DS look-up failed", out);
    struct val_denial d;
    deny_check(q, f->auth, f->rcode == LDNS_RCODE_NXDOMAIN ? VAL_DENY_NXDOMAIN : VAL_DENY_NODATA, n,
               LDNS_RR_TYPE_DS, cur->kzone, cur->keys, 0, UINT32_MAX, true, now, &d);
    return kr_ds_verdict(q, n, cur, &d, out);
}

/* The verdict for zone z: walk from the closest trust anchor down, one
 * label at a time (RFC 4035 section 5).  Under a negative trust anchor, a
 * forward zone (other than "."), or no anchor at all: insecure. */
static int kr_get(struct iter_query *q, const ldns_rdf *z, time_t now, struct keyring **out)
{
    struct keyring *cur = kr_find(q, z);
    if (cur) {
        *out = cur;
        return VF_HAVE;
    }
    const struct config *cfg = q->env->cfg;
    const struct config_forward *fw = find_forward(cfg, z);
    const struct trust_anchor *ta = trust_find(cfg->dnssec_anchors, z);
    if (!ta || trust_nta(cfg->dnssec_anchors, z) || (fw && fw->zone_wire_len > 1))
        return kr_add_out(q, z, VAL_INSECURE, NULL, NULL, VAL_EDE_NONE, NULL, out);
    if (!(cur = kr_find(q, ta->zone))) {
        int rc = kr_dnskey(q, ta->zone, ta->rrs, now, &cur);
        if (rc != VF_HAVE)
            return rc;
    }
    unsigned zl = ldns_dname_label_count(z);
    for (unsigned l = ldns_dname_label_count(cur->name) + 1; cur->st == VAL_SECURE && l <= zl;
         l++) {
        ldns_rdf *n = name_suffix(z, l);
        if (!n)
            return VF_FAIL;
        struct keyring *e = kr_find(q, n);
        int rc = e ? VF_HAVE : kr_ds(q, n, cur, now, &e);
        ldns_rdf_deep_free(n);
        if (rc != VF_HAVE)
            return rc;
        cur = e;
    }
    if (!name_eq(cur->name, z)) { /* stopped above z: z shares the verdict */
        const ldns_rdf *end = cur->end ? cur->end : cur->name;
        int rc = kr_add_out(q, z, cur->st, cur->kzone, list_clone(cur->keys), cur->ede,
                            cur->st == VAL_BOGUS ? cur->why : NULL, out);
        if (rc == VF_HAVE && cur->st != VAL_SECURE)
            (*out)->end = name_copy(end);
        return rc;
    }
    *out = cur;
    return VF_HAVE;
}

static void validate_bogus(struct iter_query *q, uint16_t ede, const char *why)
{
    char text[96];
    snprintf(text, sizeof(text), "DNSSEC: %.80s", why && *why ? why : "bogus");
    iter_set_servfail(q, false, ede == VAL_EDE_NONE ? VAL_EDE_BOGUS : ede, text);
    q->res.bogus = true;
}

static void validate_limits(struct iter_query *q)
{
    iter_set_servfail(q, false, ITER_EDE_OTHER, "DNSSEC validation limits exceeded");
}

/* One RRset of the answer.  VF_HAVE when judged (or q finished bogus). */
static int validate_rrset(struct iter_query *q, struct iter_goal *g, struct vrec *v, time_t now)
{
    ldns_rr_list *set = val_rrset_of(g->chain, v->owner, v->type);
    ldns_rr_list *sigs = val_sigs_for(g->sigs, v->owner, v->type);
    const ldns_rdf *signer = val_signer(sigs, v->owner, v->type);
    const ldns_rdf *zone = signer && name_at_or_below(v->owner, signer) ? signer : v->zone;
    struct keyring *k = NULL;
    int rc = set && zone ? kr_get(q, zone, now, &k) : VF_FAIL;
    if (rc == VF_HAVE && !v->key)
        v->key = name_copy(kr_judge(k));
    if (rc == VF_FAIL)
        validate_limits(q);
    else if (rc == VF_HAVE && k->st == VAL_BOGUS)
        validate_bogus(q, k->ede, k->why);
    else if (rc == VF_HAVE && k->st == VAL_INSECURE) {
        v->sec = VAL_INSECURE;
        cache_judged(q, set, sigs, CACHE_SEC_INSECURE, UINT32_MAX, now);
    } else if (rc == VF_HAVE) {
        struct val_result r;
        val_verify_rrset(set, sigs, k->kzone, k->keys, now, &r);
        if (r.status != VAL_SECURE) {
            validate_bogus(q, r.ede, r.why);
        } else if (r.labels < ldns_dname_label_count(v->owner) && !name_is_wildcard(v->owner)) {
            /* RFC 4035 5.3.4: a wildcard expansion needs proof that no
             * closer name exists (RFC 5155 8.8 with NSEC3). */
            struct val_denial d;
            deny_check(q, g->auth, VAL_DENY_WILDCARD, v->owner, v->type, k->kzone, k->keys,
                       r.labels, UINT32_MAX, true, now, &d);
            if (!d.proven && !d.insecure)
                validate_bogus(q, VAL_EDE_NSEC_MISSING, "wildcard answer without denial proof");
            else
                v->sec = d.insecure ? VAL_INSECURE : VAL_SECURE;
        } else {
            v->sec = VAL_SECURE;
        }
        if (v->sec != VAL_UNCHECKED)
            cache_judged(q, set, sigs, (enum cache_sec)v->sec, r.ttl, now);
    }
    ldns_rr_list_free(set);
    ldns_rr_list_free(sigs);
    return rc == VF_PUSHED ? VF_PUSHED : VF_HAVE;
}

/* The SOA of a negative answer from a secure zone is authentic too (RFC
 * 4035 3.2.3: every RRset of the authority section); verified, it goes into
 * the NSEC cache with the zone's chain, for answers built from it.  False
 * when q was finished bogus. */
static bool validate_soa(struct iter_query *q, struct iter_goal *g, const struct keyring *k,
                         time_t now)
{
    if (ldns_rr_list_rr_count(g->soa) == 0)
        return true; /* a NODATA without SOA: the denial alone decides */
    const ldns_rr *first = ldns_rr_list_rr(g->soa, 0);
    ldns_rr_list *set = val_rrset_of(g->soa, ldns_rr_owner(first), LDNS_RR_TYPE_SOA);
    ldns_rr_list *sigs = val_sigs_for(g->auth, ldns_rr_owner(first), LDNS_RR_TYPE_SOA);
    struct val_result r = {.status = VAL_SECURE};
    bool held = nsec_cache_holds(cache_nsec(q->env->cache), k->kzone, set, sigs, now);
    if (!held)
        val_verify_rrset(set, sigs, k->kzone, k->keys, now, &r);
    if (r.status != VAL_SECURE) {
        char why[96];
        snprintf(why, sizeof(why), "SOA of the negative answer: %.60s", r.why);
        validate_bogus(q, r.ede, why);
    } else if (!held && !g->aggressive && name_eq(ldns_rr_owner(first), k->kzone)) {
        uint32_t ttl = nsec_keep_ttl(q, set, r.ttl, soa_negative_ttl(g->soa));
        if (ttl > 0)
            nsec_cache_put_soa(cache_nsec(q->env->cache), k->kzone, set, sigs, ttl, now);
    }
    ldns_rr_list_free(set);
    ldns_rr_list_free(sigs);
    return r.status == VAL_SECURE;
}

/* NXDOMAIN or NODATA (RFC 4035 5.4, RFC 5155 8.4-8.7). */
static int validate_negative(struct iter_query *q, struct iter_goal *g, time_t now)
{
    const ldns_rdf *zone = g->neg_zone;
    if (ldns_rr_list_rr_count(g->soa) > 0 && g->neg_name &&
        name_at_or_below(g->neg_name, ldns_rr_owner(ldns_rr_list_rr(g->soa, 0))))
        zone = ldns_rr_owner(ldns_rr_list_rr(g->soa, 0));
    if (!zone || !g->neg_name) {
        validate_bogus(q, VAL_EDE_NSEC_MISSING, "negative answer of unknown origin");
        return VF_HAVE;
    }
    struct keyring *k;
    int rc = kr_get(q, zone, now, &k);
    if (rc == VF_PUSHED)
        return rc;
    if (rc == VF_HAVE && !g->neg_key)
        g->neg_key = name_copy(kr_judge(k));
    uint8_t mine = VAL_SECURE; /* this denial's own status, for iter_vtrace */
    if (rc == VF_FAIL) {
        validate_limits(q);
    } else if (k->st == VAL_BOGUS) {
        validate_bogus(q, k->ede, k->why);
    } else if (k->st == VAL_INSECURE) {
        q->vstatus = mine = VAL_INSECURE;
    } else if (validate_soa(q, g, k, now)) {
        struct val_denial d;
        deny_check(q, g->auth,
                   g->rcode == LDNS_RCODE_NXDOMAIN ? VAL_DENY_NXDOMAIN : VAL_DENY_NODATA,
                   g->neg_name, g->qtype, k->kzone, k->keys, 0, soa_negative_ttl(g->soa),
                   !g->aggressive, now, &d);
        if (d.insecure)
            q->vstatus = mine = VAL_INSECURE;
        else if (!d.proven)
            validate_bogus(q, VAL_EDE_NSEC_MISSING,
                           g->rcode == LDNS_RCODE_NXDOMAIN ? "no proof of non-existence"
                                                           : "no proof that the type is absent");
    }
    g->neg_sec = q->res.bogus ? VAL_BOGUS : rc == VF_FAIL ? VAL_UNCHECKED : mine;
    return VF_HAVE;
}

/* GS_VALIDATE: judge goal 0's RRsets in order, then its denial; each step
 * may push a DS/DNSKEY look-up and return here when it is popped. */
static void validate_step(struct iter_query *q, struct iter_goal *g, time_t now)
{
    if (g->vrec_overflow) {
        validate_limits(q);
        return;
    }
    for (; q->vi < g->nvrecs; q->vi++) {
        struct vrec *v = &g->vrecs[q->vi];
        if (v->sec == VAL_UNCHECKED && validate_rrset(q, g, v, now) == VF_PUSHED)
            return;
        if (q->finished) {
            if (q->res.bogus)
                v->sec = VAL_BOGUS;
            return;
        }
        if (v->sec == VAL_INSECURE)
            q->vstatus = VAL_INSECURE;
    }
    if (!g->final_found && (validate_negative(q, g, now) == VF_PUSHED || q->finished))
        return;
    iter_finish(q);
}

int iter_step(struct iter_query *q, time_t now, struct iter_send *send)
{
    if (!q || q->finished)
        return ITER_DONE;
    for (unsigned n = 0; n < ITER_MAX_TRANSITIONS && !q->finished; n++) {
        struct iter_goal *g = top(q);
        switch (g->st) {
        case GS_INIT:
            goal_init(q, g, now);
            break;
        case GS_PRIME:
            goal_prime(q, g);
            break;
        case GS_QUERY:
            if (goal_query(q, g, now, send))
                return ITER_SEND;
            break;
        case GS_WAIT:
            *send = q->last; /* stepped again without an answer: same query */
            return ITER_SEND;
        case GS_SUBGOAL:
            iter_abort(q, "internal state");
            break;
        case GS_DONE:
            if (q->ngoals > 1)
                goal_pop(q, now);
            else if (q->validate &&
                     (g->rcode == LDNS_RCODE_NOERROR || g->rcode == LDNS_RCODE_NXDOMAIN))
                g->st = GS_VALIDATE;
            else
                iter_finish(q);
            break;
        case GS_VALIDATE:
            validate_step(q, g, now);
            break;
        }
    }
    if (!q->finished)
        iter_abort(q, "iterator transitions");
    return ITER_DONE;
}

/* --- Life cycle ----------------------------------------------------------- */

static bool wire_name_valid(const uint8_t *name, size_t len)
{
    size_t off = 0;
    if (len == 0 || len > 255)
        return false;
    while (off < len) {
        uint8_t l = name[off];
        if (l == 0)
            return off + 1 == len;
        if (l > 63)
            return false;
        off += 1u + l;
    }
    return false;
}

struct iter_query *iter_new(const struct iter_env *env, const uint8_t *qname, size_t qname_len,
                            uint16_t qtype, uint16_t qclass, time_t now)
{
    (void)now;
    if (!env || !env->cfg || !env->cache || !env->infra || !qname ||
        !wire_name_valid(qname, qname_len))
        return NULL;
    struct iter_query *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->env = env;
    for (size_t i = 0; i < qname_len; i++) {
        uint8_t c = qname[i];
        q->qname[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    }
    q->qname_len = qname_len;
    q->qtype = qtype;
    q->qclass = qclass;
    q->res.ede_code = ITER_EDE_NONE;
    q->dnssec = env->cfg->dnssec_enabled && env->cfg->dnssec_anchors;
    q->validate = q->dnssec;
    q->vstatus = VAL_SECURE;
    ldns_rdf *name = ldns_dname_new_frm_data((uint16_t)qname_len, q->qname);
    q->goals[0] = name ? goal_new(name, qtype, qclass) : NULL;
    ldns_rdf_deep_free(name);
    if (!q->goals[0]) {
        free(q);
        return NULL;
    }
    q->ngoals = 1;
    return q;
}

void iter_free(struct iter_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->ngoals; i++)
        goal_free(q->goals[i]);
    ldns_rr_list_deep_free(q->root_ns);
    ldns_rr_list_deep_free(q->root_addrs);
    for (size_t i = 0; i < q->nkr; i++) {
        ldns_rdf_deep_free(q->kr[i].name);
        ldns_rdf_deep_free(q->kr[i].kzone);
        ldns_rdf_deep_free(q->kr[i].end);
        ldns_rr_list_deep_free(q->kr[i].keys);
    }
    vfetch_clear(&q->fetch);
    free(q->msgbuf);
    free(q->wire);
    free(q->wire_do);
    free(q);
}

void iter_set_cd(struct iter_query *q, bool cd)
{
    if (q && q->dnssec)
        q->validate = !cd;
}

size_t iter_vtrace(const struct iter_query *q, struct iter_vstep *out, size_t max)
{
    if (!q || !q->finished || q->ngoals == 0)
        return 0;
    const struct iter_goal *g = q->goals[0];
    size_t n = 0;
    for (size_t i = 0; i < g->nvrecs; i++, n++)
        if (n < max)
            out[n] = (struct iter_vstep){.owner = g->vrecs[i].owner,
                                         .zone = g->vrecs[i].key,
                                         .type = g->vrecs[i].type,
                                         .status = g->vrecs[i].sec};
    if (g->st != GS_DONE && g->st != GS_VALIDATE)
        return n;
    if (!g->final_found && (g->rcode == LDNS_RCODE_NOERROR || g->rcode == LDNS_RCODE_NXDOMAIN)) {
        if (n < max)
            out[n] = (struct iter_vstep){.owner = g->neg_name ? g->neg_name : g->sname,
                                         .zone = g->neg_key,
                                         .status = g->neg_sec,
                                         .aggressive = g->aggressive};
        n++;
    }
    return n;
}

void iter_result(const struct iter_query *q, struct iter_result *out)
{
    memset(out, 0, sizeof(*out));
    out->ede_code = ITER_EDE_NONE;
    out->rcode = LDNS_RCODE_SERVFAIL;
    if (q && q->finished)
        *out = q->res;
}

void iter_get_stats(const struct iter_query *q, struct iter_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (q)
        *out = q->stats;
}
