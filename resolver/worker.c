/*
 * worker.c - one worker thread: the query pipeline and the resolutions under
 * way.  See worker.h.
 *
 * A request is one resolution (qname, qtype, qclass) driven by the iterator,
 * with the clients waiting for it.  Requests live in a per-worker hash table
 * (the "mesh"), so a second client asking the same question joins the first
 * instead of causing a second upstream query.  Each request holds a
 * reference to the configuration generation it started with.
 *
 * Identical upstream queries are joined too: when a resolution is about to
 * send the very query another has in flight (same server, port, transport,
 * flags and question: all but the ID), it waits for that one's reply, which
 * is what the server would have said to it.  Without this, a burst of cold
 * names sends the root priming query, the root's DNSKEY and each TLD's
 * DNSKEY once per name (Unbound's mesh merges them the same way).
 *
 * Bounds: requests per worker (resolver.max-outstanding), requests per client
 * address (resolver.max-per-client), clients per request, iterator steps per
 * request, and a deadline per request (resolver.deadline).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

#include "geo.h"
#include "grants.h"
#include "log.h"
#include "outbound.h"
#include "policy.h"
#include "qlog.h"
#include "siphash.h"
#include "synth.h"
#include "wire.h"
#include "worker.h"

#define MESH_BUCKETS 4096     /* power of two */
#define UPSTREAM_BUCKETS 1024 /* power of two: upstream queries in flight, to join */
#define CLIENT_BUCKETS 1024
#define REQUEST_MAX_WAITERS 256
#define REQUEST_MAX_SEND_FAILURES 32
#define WORKER_MAX_LISTENERS 64
#define WORKER_DRAIN_MS 2000
#define WORKER_SCRATCH (65535 + 512)
#define MEMO_SIZE 65536 /* names whose categories a worker remembers; power of two */

/* What the query log needs to know about how a query was answered. */
struct note {
    uint64_t start_us;          /* when the query arrived */
    uint8_t verdict;            /* enum qlog_verdict */
    uint8_t flags;              /* QLOG_F_* */
    uint8_t segment;            /* segment index + 1; 0 = none */
    int category;               /* category bit that decided or flagged it, or -1 */
    uint64_t grant_id;          /* the guest grant or dispensation that let it through, or 0 */
    uint16_t rule;              /* enum policy_reason that decided, 0 = none */
    const struct geo_info *geo; /* the network a geo rule blocked, or NULL */
};

struct waiter {
    struct waiter *next;
    struct note note;
    struct client c;
    struct wire_query q;           /* q.pkt points at qpkt */
    const struct policy *policy;   /* the client's policy, or NULL */
    struct daemon_env *policy_env; /* a reference keeping policy alive */
    bool rewrite;                  /* the request resolves the safe-search target */
    uint32_t rewrite_ttl;
    uint8_t qpkt[WIRE_HEADER_LEN + WIRE_MAX_NAME + 4];
};

/* A name's blocklist categories, as of one index generation.  Entries are
 * told apart by a 64-bit keyed hash of the name alone: a false match needs a
 * collision of SipHash under a secret key. */
struct memo_entry {
    uint64_t hash;
    uint64_t generation;
    uint64_t categories;
};

struct request {
    struct request *hnext;       /* mesh bucket chain */
    struct request *prev, *next; /* all requests of the worker */
    struct worker *w;
    struct daemon_env *env; /* reference */
    struct iter_query *iq;
    struct iter_send send;
    struct outbound *out;
    uv_timer_t deadline;
    struct waiter *waiters;
    unsigned nwaiters;
    unsigned send_failures;
    uint64_t hash;
    /* Joined upstream queries: a leader has r->out and its followers; a
     * follower waits on leader's reply and has no outbound of its own. */
    struct request *unext;             /* UPSTREAM bucket chain (leaders) */
    struct request *leader;            /* for a follower */
    struct request *followers, *fnext; /* a leader's followers; their chain */
    uint64_t ukey;
    bool finished;
    bool cd; /* the client set CD: unchecked data (RFC 4035 3.2.2); never joins a checked one */
    uint16_t qtype, qclass;
    size_t qname_len;
    uint8_t qname[WIRE_MAX_NAME];
};

/* Requests in flight per client address (not port): a bound on what one
 * client can make us do. */
struct client_count {
    struct client_count *next;
    int family;
    uint8_t addr[16];
    unsigned n;
};

struct worker {
    struct daemon *d;
    unsigned id;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;
    uv_timer_t drain;
    uv_timer_t tick; /* once a second: heartbeat for the watchdog */
    atomic_uint_fast64_t heartbeat;
    atomic_bool reload_pending, stop_pending;
    bool stopping, closed, started;
    struct daemon_env *env; /* the generation new queries are served with */
    struct udp_listener *udp[WORKER_MAX_LISTENERS];
    struct tcp_listener *tcp[WORKER_MAX_LISTENERS];
    unsigned nlisteners;
    struct request *mesh[MESH_BUCKETS];
    struct request *upstream[UPSTREAM_BUCKETS];
    struct request *requests;
    unsigned nrequests;
    struct client_count *clients[CLIENT_BUCKETS];
    uint8_t hash_key[16];
    struct worker_stats stats;
    struct outbound_stats ostats;
    struct policy_clock clock;   /* local time for schedules, refreshed each second */
    struct qlog_ring *ring;      /* query log hand-off, or NULL when not logging */
    struct grant_set *grants;    /* this worker's snapshot of the grants in force, or NULL */
    struct geo_reader *geo;      /* this worker's view of the geo databases, or NULL */
    struct geo_info geo_blocked; /* the network check_geo last blocked (for the log) */
    uint64_t grants_gen;         /* the store generation it was taken at */
    uint64_t flag_mask;          /* safeguarding categories (log.safeguarding-categories) */
    struct memo_entry *memo;
    char ede_text[256];
    uint8_t stale[WORKER_SCRATCH];
    uint8_t stale_do[WORKER_SCRATCH]; /* the same, in the form for DO clients */
    uint8_t scratch[WORKER_SCRATCH];
};

static void request_run(struct request *r);
static size_t check_chain(struct worker *w, const struct wire_query *q, const struct policy *pol,
                          const struct client *c, const char *segname, uint8_t *msg, size_t len,
                          size_t cap, size_t limit, struct note *n);
static size_t check_geo(struct worker *w, const struct geo_ruleset *rs, const struct wire_query *q,
                        struct note *n, uint8_t *msg, size_t len, size_t cap, size_t limit);
static size_t resolve(struct worker *w, const struct wire_query *q, const struct client *c,
                      const uint8_t *name, size_t name_len, const struct policy *pol,
                      const struct policy_verdict *rewrite, const struct note *n, uint8_t *out,
                      size_t cap);
static void worker_close_all(struct worker *w);

static time_t worker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return ts.tv_sec;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Stats are written by their worker only and read by the main thread:
 * relaxed atomic operations on plain integers (the GCC/Clang builtins) are
 * all that needs. */
static inline void count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

void worker_count_drop(struct worker *w)
{
    count(&w->stats.dropped);
}

void worker_count_send_error(struct worker *w)
{
    count(&w->stats.send_errors);
}

/* --- the query log -------------------------------------------------------------------*/

/* One record per answered query, handed to the log writer without waiting:
 * a full ring is counted as a drop by qlog_submit, never a delay. */
static void log_answer(struct worker *w, const struct client *c, const struct wire_query *q,
                       const struct note *n, const uint8_t *msg, size_t len)
{
    struct qlog_record r = {0};
    uint8_t lens[2];

    if (!w->ring || q->qname_len == 0)
        return;
    uint64_t now = now_us();
    r.time_us = n->start_us;
    r.grant_id = n->grant_id;
    r.rule = n->rule;
    r.response_us = now > n->start_us ? (uint32_t)(now - n->start_us) : 0;
    r.qtype = q->qtype;
    r.category = n->category >= 0 ? (uint16_t)(n->category + 1) : 0;
    r.rcode = len >= WIRE_HEADER_LEN ? (uint8_t)WIRE_RCODE(wire_get16(msg + 2)) : 0;
    r.verdict = n->verdict;
    if (r.verdict == QLOG_ANSWERED && r.rcode == WIRE_SERVFAIL)
        r.verdict = QLOG_FAILED;
    r.flags = n->flags;
    r.segment = n->segment;
    if (c->addr.ss_family == AF_INET) {
        r.family = 4;
        r.client[10] = r.client[11] = 0xff; /* ::ffff:a.b.c.d */
        memcpy(r.client + 12, &((const struct sockaddr_in *)&c->addr)->sin_addr, 4);
    } else {
        r.family = 6;
        memcpy(r.client, &((const struct sockaddr_in6 *)&c->addr)->sin6_addr, 16);
    }
    r.naddrs = (uint8_t)synth_answer_addresses(msg, len, r.answer, lens, 2);
    for (unsigned i = 0; i < r.naddrs; i++) {
        r.answer_family[i] = lens[i] == 4 ? 4 : 6;
        if (lens[i] == 4) { /* the record keeps IPv4 as ::ffff:a.b.c.d too */
            uint8_t v4[4];
            memcpy(v4, r.answer[i], 4);
            memset(r.answer[i], 0, 16);
            r.answer[i][10] = r.answer[i][11] = 0xff;
            memcpy(r.answer[i] + 12, v4, 4);
        }
    }
    /* Where the first answer address leads; for an answer a network rule
     * replaced, the network it pointed into. */
    struct geo_info gi;
    const struct geo_info *g = n->geo;
    if (!g && w->geo && r.naddrs > 0) {
        int fam = r.answer_family[0];
        const uint8_t *a = fam == 4 ? r.answer[0] + 12 : r.answer[0];
        if (geo_lookup(w->geo, fam, a, &gi) == 0)
            g = &gi;
    }
    if (g) {
        r.asn = g->asn;
        memcpy(r.country, g->country, 2);
        snprintf(r.org, sizeof r.org, "%.*s", (int)sizeof r.org - 1, g->org);
    }
    r.name_len = (uint8_t)q->qname_len;
    memcpy(r.name, q->qname_lc, q->qname_len);
    qlog_submit(w->ring, &r);
}

/* The safeguarding categories as bits of the current index. */
static uint64_t safeguarding_mask(const struct daemon_env *e)
{
    uint64_t mask = 0;

    for (size_t i = 0; e->index && i < e->cfg->nsafeguarding; i++) {
        int bit = blocklist_category_id(e->index->bl, e->cfg->safeguarding[i]);
        if (bit >= 0 && bit < 64)
            mask |= 1ull << bit;
    }
    return mask;
}

/* --- per-client bound -------------------------------------------------------*/

static const uint8_t *client_ip(const struct client *c, int *family, size_t *len)
{
    *family = c->addr.ss_family;
    if (c->addr.ss_family == AF_INET) {
        *len = 4;
        return (const uint8_t *)&((const struct sockaddr_in *)&c->addr)->sin_addr;
    }
    *len = 16;
    return (const uint8_t *)&((const struct sockaddr_in6 *)&c->addr)->sin6_addr;
}

static struct client_count **client_slot(struct worker *w, const struct client *c)
{
    int family;
    size_t len;
    const uint8_t *ip = client_ip(c, &family, &len);
    uint64_t h = siphash13(w->hash_key, ip, len);
    struct client_count **p = &w->clients[h & (CLIENT_BUCKETS - 1)];

    while (*p && ((*p)->family != family || memcmp((*p)->addr, ip, len) != 0))
        p = &(*p)->next;
    return p;
}

static bool client_inc(struct worker *w, const struct client *c, unsigned limit)
{
    struct client_count **p = client_slot(w, c);

    if (!*p) {
        int family;
        size_t len;
        const uint8_t *ip = client_ip(c, &family, &len);
        struct client_count *n = calloc(1, sizeof *n);
        if (!n)
            return false;
        n->family = family;
        memcpy(n->addr, ip, len);
        *p = n;
    }
    if ((*p)->n >= limit)
        return false;
    (*p)->n++;
    return true;
}

static void client_dec(struct worker *w, const struct client *c)
{
    struct client_count **p = client_slot(w, c);

    if (*p && --(*p)->n == 0) {
        struct client_count *dead = *p;
        *p = dead->next;
        free(dead);
    }
}

/* --- the mesh -----------------------------------------------------------------*/

static uint64_t question_hash(const struct worker *w, const uint8_t *qname, size_t qlen,
                              uint16_t qtype, uint16_t qclass)
{
    uint8_t key[WIRE_MAX_NAME + 4];
    memcpy(key, qname, qlen);
    wire_put16(key + qlen, qtype);
    wire_put16(key + qlen + 2, qclass);
    return siphash13(w->hash_key, key, qlen + 4);
}

static struct request *mesh_find(struct worker *w, uint64_t h, const uint8_t *qname, size_t qlen,
                                 uint16_t qtype, uint16_t qclass, bool cd)
{
    for (struct request *r = w->mesh[h & (MESH_BUCKETS - 1)]; r; r = r->hnext)
        if (r->hash == h && !r->finished && r->cd == cd && r->qtype == qtype &&
            r->qclass == qclass && r->qname_len == qlen && memcmp(r->qname, qname, qlen) == 0)
            return r;
    return NULL;
}

static void mesh_remove(struct worker *w, struct request *r)
{
    for (struct request **p = &w->mesh[r->hash & (MESH_BUCKETS - 1)]; *p; p = &(*p)->hnext) {
        if (*p == r) {
            *p = r->hnext;
            break;
        }
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        w->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

/* --- requests -----------------------------------------------------------------*/

/* --- joined upstream queries ---------------------------------------------- */

static uint64_t upstream_key(const struct worker *w, const struct iter_send *s)
{
    uint8_t key[ITER_MAX_QUERY + sizeof(s->server) + 1];
    size_t n = s->len > 2 ? s->len - 2 : 0; /* all but the ID */
    memcpy(key, s->pkt + 2, n);
    memcpy(key + n, &s->server, s->server_len);
    key[n + s->server_len] = s->tcp;
    return siphash13(w->hash_key, key, n + s->server_len + 1);
}

static bool same_send(const struct iter_send *a, const struct iter_send *b)
{
    return a->len == b->len && a->tcp == b->tcp && a->server_len == b->server_len &&
           memcmp(&a->server, &b->server, a->server_len) == 0 &&
           memcmp(a->pkt + 2, b->pkt + 2, a->len - 2) == 0;
}

static struct request *upstream_find(struct worker *w, uint64_t k, const struct iter_send *s)
{
    for (struct request *l = w->upstream[k & (UPSTREAM_BUCKETS - 1)]; l; l = l->unext)
        if (l->ukey == k && l->out && same_send(&l->send, s))
            return l;
    return NULL;
}

static void upstream_remove(struct worker *w, struct request *l)
{
    for (struct request **p = &w->upstream[l->ukey & (UPSTREAM_BUCKETS - 1)]; *p; p = &(*p)->unext)
        if (*p == l) {
            *p = l->unext;
            break;
        }
    l->unext = NULL;
}

static void unfollow(struct request *f)
{
    for (struct request **p = &f->leader->followers; *p; p = &(*p)->fnext)
        if (*p == f) {
            *p = f->fnext;
            break;
        }
    f->leader = NULL;
    f->fnext = NULL;
}

/* The leader's query ended (reply, failure, or the leader gave up): hand
 * the outcome to each follower, then let each go on.  pkt is borrowed for
 * the call, so every follower takes it before any of them runs again. */
static void followers_take(struct request *l, int status, const uint8_t *pkt, size_t len,
                           unsigned rtt_ms)
{
    struct request *f = l->followers;
    time_t now = worker_now();
    l->followers = NULL;
    for (struct request *x = f; x; x = x->fnext) {
        x->leader = NULL;
        if (status == 0)
            iter_answer(x->iq, pkt, len, rtt_ms, now);
        else
            iter_fail(x->iq, status == -ETIMEDOUT ? ITER_FAIL_TIMEOUT : ITER_FAIL_NETWORK, now);
    }
    while (f) {
        struct request *next = f->fnext;
        f->fnext = NULL;
        request_run(f);
        f = next;
    }
}

static void request_closed_cb(uv_handle_t *h)
{
    struct request *r = h->data;
    struct worker *w = r->w;

    free(r);
    w->nrequests--;
    __atomic_store_n(&w->stats.requests_now, w->nrequests, __ATOMIC_RELAXED);
    if (w->stopping && w->nrequests == 0)
        worker_close_all(w);
}

static void request_free(struct request *r)
{
    mesh_remove(r->w, r);
    if (r->leader)
        unfollow(r);
    if (r->out)
        upstream_remove(r->w, r);
    outbound_cancel(r->out);
    r->out = NULL;
    if (r->followers) /* they asked nothing themselves: they try again */
        followers_take(r, -ECANCELED, NULL, 0, 0);
    iter_free(r->iq);
    daemon_env_unref(r->env);
    uv_timer_stop(&r->deadline);
    uv_close((uv_handle_t *)&r->deadline, request_closed_cb);
}

/* Looks for an expired answer to serve instead of SERVFAIL (RFC 8767), in
 * form (w->stale for CACHE_MSG_PLAIN, w->stale_do for CACHE_MSG_DNSSEC). */
static size_t find_stale(struct request *r, enum cache_msg_form form)
{
    struct worker *w = r->w;
    struct cache_msg_hit hit;
    uint8_t *buf = form == CACHE_MSG_DNSSEC ? w->stale_do : w->stale;
    int n = cache_msg_get_form(w->d->cache, r->qname, r->qname_len, r->qtype, r->qclass, form,
                               worker_now(), true, buf, WORKER_SCRATCH, &hit);
    return n > 0 && hit.stale ? (size_t)n : 0;
}

static bool any_waiter_do(const struct request *r)
{
    for (const struct waiter *wt = r->waiters; wt; wt = wt->next)
        if (wt->q.edns_do)
            return true;
    return false;
}

/* Sends the outcome to every waiting client and frees the request. */
static void request_deliver(struct request *r, const struct iter_result *res, bool timed_out)
{
    struct worker *w = r->w;
    const struct config *cfg = w->env->cfg;
    uint16_t edns = (uint16_t)cfg->edns_buffer_size;
    const uint8_t *wire = res->wire;
    size_t wire_len = res->len;
    uint16_t ede = res->ede_code;
    const char *ede_text = res->ede_text;
    size_t stale_do_len = 0;

    r->finished = true;
    if (res->rcode == WIRE_SERVFAIL && r->env->cfg->serve_stale &&
        (res->upstream_failed || timed_out) && r->waiters) {
        size_t n = find_stale(r, CACHE_MSG_PLAIN);
        if (n && cfg->dnssec_enabled && any_waiter_do(r))
            stale_do_len = find_stale(r, CACHE_MSG_DNSSEC);
        if (n) {
            wire = w->stale;
            wire_len = n;
            ede = WIRE_EDE_STALE_ANSWER;
            ede_text = NULL;
            count(&w->stats.stale);
        }
    }
    while (r->waiters) {
        struct waiter *wt = r->waiters;
        r->waiters = wt->next;
        size_t limit = wt->c.tcp ? 65535 : wire_udp_limit(&wt->q, edns);
        size_t cap = wt->c.tcp ? sizeof w->scratch : LISTENER_UDP_MAX;
        size_t out = 0, len = 0;
        if (wt->rewrite && wire)
            len = synth_rewrite(&wt->q, r->qname, r->qname_len, wt->rewrite_ttl, wire, wire_len,
                                w->scratch, cap);
        else if (wire == res->wire && res->wire_do && wt->q.edns_do && res->len_do <= cap)
            memcpy(w->scratch, res->wire_do, len = res->len_do); /* RFC 4035 3.2.1: DO */
        else if (wire == w->stale && stale_do_len && wt->q.edns_do && stale_do_len <= cap)
            memcpy(w->scratch, w->stale_do, len = stale_do_len);
        else if (wire && wire_len <= cap)
            memcpy(w->scratch, wire, len = wire_len);
        /* The chain is checked for each client: each has its own policy. */
        if (len && wt->policy && !wt->rewrite)
            out = check_chain(
                w, &wt->q, wt->policy, &wt->c,
                policy_segment_name(wt->policy_env->policies, (int)wt->note.segment - 1),
                w->scratch, len, cap, limit, &wt->note);
        if (len && !out && wt->policy && !wt->rewrite)
            out = check_geo(w, wt->policy_env->geo_rules, &wt->q, &wt->note, w->scratch, len, cap,
                            limit);
        if (len && !out)
            out = wire_finish_answer(&wt->q, w->scratch, len, cap, limit, edns, ede, ede_text);
        if (out == 0)
            out = wire_reply_error(&wt->q, WIRE_SERVFAIL, ede, ede_text, edns, w->scratch, cap);
        if (out) {
            if (WIRE_RCODE(wire_get16(w->scratch + 2)) == WIRE_SERVFAIL)
                count(&w->stats.servfail);
            count(&w->stats.answered);
            listener_send(&wt->c, w->scratch, out);
            log_answer(w, &wt->c, &wt->q, &wt->note, w->scratch, out);
        }
        client_dec(w, &wt->c);
        listener_client_release(&wt->c);
        daemon_env_unref(wt->policy_env);
        free(wt);
    }
    request_free(r);
}

static void request_finish(struct request *r)
{
    struct iter_result res;

    iter_result(r->iq, &res);
    if (res.cacheable && res.wire)
        cache_msg_put(r->w->d->cache, r->qname, r->qname_len, r->qtype, r->qclass, res.wire,
                      res.len, worker_now());
    if (res.cacheable && res.wire_do)
        cache_msg_put_form(r->w->d->cache, r->qname, r->qname_len, r->qtype, r->qclass,
                           CACHE_MSG_DNSSEC, res.wire_do, res.len_do, worker_now());
    request_deliver(r, &res, false);
}

static void request_fail(struct request *r, const char *why)
{
    struct iter_result res = {
        .rcode = WIRE_SERVFAIL,
        .ede_code = WIRE_EDE_NO_REACHABLE_AUTHORITY,
        .ede_text = why,
    };
    request_deliver(r, &res, true);
}

static void deadline_cb(uv_timer_t *t)
{
    struct request *r = t->data;
    log_debug("resolution deadline passed");
    request_fail(r, "resolution took too long");
}

static void upstream_cb(void *arg, int status, const uint8_t *pkt, size_t len, unsigned rtt_ms)
{
    struct request *r = arg;
    time_t now = worker_now();

    upstream_remove(r->w, r);
    r->out = NULL;
    if (status == 0)
        iter_answer(r->iq, pkt, len, rtt_ms, now);
    else
        iter_fail(r->iq, status == -ETIMEDOUT ? ITER_FAIL_TIMEOUT : ITER_FAIL_NETWORK, now);
    if (r->followers) {
        count(&r->w->stats.upstream_joined);
        followers_take(r, status, pkt, len, rtt_ms);
    }
    request_run(r);
}

/* Steps the iterator until it has a query in flight or is done. */
static void request_run(struct request *r)
{
    struct worker *w = r->w;
    time_t now = worker_now();

    for (;;) {
        if (iter_step(r->iq, now, &r->send) != ITER_SEND) {
            request_finish(r);
            return;
        }
        uint64_t k = upstream_key(w, &r->send);
        struct request *l = upstream_find(w, k, &r->send);
        if (l && l != r) { /* the same query is in flight: wait for its reply */
            r->leader = l;
            r->fnext = l->followers;
            l->followers = r;
            return;
        }
        int err = 0;
        const struct sockaddr *bind = config_outgoing_for(r->env->cfg, r->send.server.ss_family);
        r->out = outbound_start(&w->loop, &r->send, bind, &w->ostats, upstream_cb, r, &err);
        if (r->out) {
            r->ukey = k;
            r->unext = w->upstream[k & (UPSTREAM_BUCKETS - 1)];
            w->upstream[k & (UPSTREAM_BUCKETS - 1)] = r;
            return;
        }
        /* No socket at all (e.g. no route for that family): tell the iterator
         * and let it choose again, a bounded number of times. */
        log_debug("cannot send upstream: %s", strerror(-err));
        if (++r->send_failures > REQUEST_MAX_SEND_FAILURES) {
            request_fail(r, "cannot send upstream queries");
            return;
        }
        iter_fail(r->iq, ITER_FAIL_NETWORK, now);
    }
}

static struct request *request_new(struct worker *w, uint64_t h, const uint8_t *qname, size_t qlen,
                                   uint16_t qtype, uint16_t qclass, bool cd)
{
    const struct config *cfg = w->env->cfg;
    struct request *r;

    if (w->nrequests >= cfg->max_outstanding || w->stopping)
        return NULL;
    if (!(r = calloc(1, sizeof *r)))
        return NULL;
    r->iq = iter_new(&w->env->iter, qname, qlen, qtype, qclass, worker_now());
    if (!r->iq) {
        free(r);
        return NULL;
    }
    iter_set_cd(r->iq, cd);
    r->cd = cd;
    r->w = w;
    r->env = w->env;
    daemon_env_ref(r->env);
    r->hash = h;
    r->qtype = qtype;
    r->qclass = qclass;
    r->qname_len = qlen;
    memcpy(r->qname, qname, qlen);
    uv_timer_init(&w->loop, &r->deadline);
    r->deadline.data = r;
    uv_timer_start(&r->deadline, deadline_cb, cfg->query_deadline_ms, 0);
    r->hnext = w->mesh[h & (MESH_BUCKETS - 1)];
    w->mesh[h & (MESH_BUCKETS - 1)] = r;
    r->next = w->requests;
    if (w->requests)
        w->requests->prev = r;
    w->requests = r;
    w->nrequests++;
    __atomic_store_n(&w->stats.requests_now, w->nrequests, __ATOMIC_RELAXED);
    return r;
}

/* Refreshes a popular entry before it expires, with no client waiting. */
static void prefetch(struct worker *w, const struct wire_query *q)
{
    uint64_t h = question_hash(w, q->qname_lc, q->qname_len, q->qtype, q->qclass);

    if (mesh_find(w, h, q->qname_lc, q->qname_len, q->qtype, q->qclass, false))
        return;
    struct request *r = request_new(w, h, q->qname_lc, q->qname_len, q->qtype, q->qclass, false);
    if (r) {
        count(&w->stats.prefetches);
        request_run(r);
    }
}

/* A cache miss: join or start a resolution of (name, q's type and class).
 * name is q's own name, or the safe-search target when rewrite is given.
 * Returns an answer to send now only when we refuse to take the query on. */
static size_t resolve(struct worker *w, const struct wire_query *q, const struct client *c,
                      const uint8_t *name, size_t name_len, const struct policy *pol,
                      const struct policy_verdict *rewrite, const struct note *n, uint8_t *out,
                      size_t cap)
{
    const struct config *cfg = w->env->cfg;
    uint64_t h = question_hash(w, name, name_len, q->qtype, q->qclass);
    bool cd = (q->flags & WIRE_CD) != 0;
    struct request *r = mesh_find(w, h, name, name_len, q->qtype, q->qclass, cd);
    bool fresh = false;

    if (r && r->nwaiters >= REQUEST_MAX_WAITERS) {
        count(&w->stats.dropped);
        return 0;
    }
    if (!client_inc(w, c, cfg->max_per_client)) {
        count(&w->stats.dropped); /* RFC 8906 lets a busy server stay silent */
        return 0;
    }
    struct waiter *wt = malloc(sizeof *wt);
    if (!wt) {
        client_dec(w, c);
        return 0;
    }
    if (r) {
        count(&w->stats.joined);
    } else if ((r = request_new(w, h, name, name_len, q->qtype, q->qclass, cd))) {
        fresh = true;
    } else {
        free(wt);
        client_dec(w, c);
        count(&w->stats.servfail);
        return wire_reply_error(q, WIRE_SERVFAIL, WIRE_EDE_OTHER, "resolver busy",
                                (uint16_t)cfg->edns_buffer_size, out, cap);
    }
    wt->c = *c;
    wt->note = *n;
    wt->q = *q;
    memcpy(wt->qpkt, q->pkt, q->question_end);
    wt->q.pkt = wt->qpkt;
    wt->q.len = q->question_end;
    wt->policy = pol;
    wt->policy_env = NULL;
    if (pol) {
        wt->policy_env = w->env;
        daemon_env_ref(w->env);
    }
    wt->rewrite = rewrite != NULL;
    wt->rewrite_ttl = rewrite ? rewrite->ttl : 0;
    listener_client_hold(c);
    wt->next = r->waiters;
    r->waiters = wt;
    r->nwaiters++;
    if (fresh)
        request_run(r);
    return 0;
}

/* --- policy -----------------------------------------------------------------------*/

static const struct policy_clock *worker_clock(struct worker *w)
{
    time_t now = worker_now();
    if (w->clock.now != now)
        policy_clock_set(&w->clock, now);
    return &w->clock;
}

/* The blocklist categories of name and its parents.  The index costs a
 * B-tree probe per label, so each worker remembers the answer per name until
 * the index changes (PERFORMANCE.md: probe once per name per reload). */
static uint64_t name_categories(struct worker *w, const uint8_t *name, size_t len)
{
    struct daemon_index *ix = w->env->index;
    struct blocklist_match m;

    if (!ix)
        return 0;
    uint64_t gen = blocklist_generation(ix->bl);
    uint64_t h = siphash13(w->hash_key, name, len);
    struct memo_entry *e = &w->memo[h & (MEMO_SIZE - 1)];
    if (e->hash == h && e->generation == gen)
        return e->categories;
    int rc = blocklist_lookup(ix->bl, name, len, &m);
    if (rc < 0) {
        /* A damaged index or too many readers: decide on what we know, and
         * do not remember it. */
        count(&w->stats.dropped);
        return 0;
    }
    e->hash = h;
    e->generation = gen;
    e->categories = rc > 0 ? m.categories : 0;
    return e->categories;
}

/* Decides for name under an optional dispensation; returns its categories. */
static int index_category_bit(void *arg, const char *name);

/* The policy's verdict on name for this client: with the dispensation in
 * force for it and this name, if any (its grant id in *grant_id).  Returns
 * the name's categories. */
static uint64_t decide(struct worker *w, const struct policy *pol, const struct sockaddr *client,
                       const char *segname, const uint8_t *name, size_t len,
                       struct policy_verdict *v, uint64_t *grant_id)
{
    uint64_t cats = name_categories(w, name, len);
    struct policy_dispensation disp;
    const struct policy_dispensation *dp = NULL;
    if (w->grants && grant_set_has_exemptions(w->grants) &&
        grant_set_dispensation(w->grants, client, segname, worker_now(), name, len, cats,
                               index_category_bit, w, &disp))
        dp = &disp;
    policy_decide(pol, name, len, cats, worker_clock(w), dp, v);
    if (grant_id)
        *grant_id = v->reason == POLICY_BY_DISPENSATION && dp ? dp->grant_id : 0;
    return cats;
}

/* --- grants: guest access and dispensations -----------------------------------------*/

/* Takes a new snapshot when a grant was made or revoked (the store's
 * generation moved) or one starting later came into view.  Each worker
 * keeps its own snapshot, so no other thread can hold the one it frees. */
static void grants_refresh(struct worker *w)
{
    struct grants_store *store = w->d->grants;
    struct grant_set *next;
    time_t now = worker_now();

    if (!store)
        return;
    uint64_t gen = grants_generation(store);
    if (w->grants && gen == w->grants_gen && now < grant_set_valid_until(w->grants))
        return;
    if (grants_snapshot(store, now, &next) < 0)
        return; /* keep the old snapshot; the next tick tries again */
    grant_set_free(w->grants);
    w->grants = next;
    w->grants_gen = gen;
}

static int index_category_bit(void *arg, const char *name)
{
    struct worker *w = arg;
    int id = w->env->index ? blocklist_category_id(w->env->index->bl, name) : -1;
    return id < 0 ? -1 : id;
}

/* An ungranted device on a grant-required segment: captive-portal probes get
 * NXDOMAIN (the device shows it has no internet), the names the school lets
 * everyone reach (grants.unauthorised-allow) go on to the policy, and the
 * rest is answered with the block page (or NXDOMAIN).  Returns true when q
 * was answered here (*len set). */
static bool answer_ungranted(struct worker *w, const struct wire_query *q, uint8_t *out, size_t cap,
                             size_t limit, struct note *n, size_t *len)
{
    static const struct config_action nxdomain = {.kind = CONFIG_ACTION_NXDOMAIN};
    const struct config *cfg = w->env->cfg;
    const struct config_action *act = &cfg->grants_block;

    if (policy_captive_probe(q->qname_lc, q->qname_len))
        act = &nxdomain;
    else if (grants_unauthorised_allowed(cfg, q->qname_lc, q->qname_len))
        return false;
    size_t m = synth_block(q, act, 60, out, cap);
    count(&w->stats.blocked);
    count(&w->stats.answered);
    n->verdict = QLOG_BLOCKED;
    n->rule = POLICY_BY_GUEST_ACCESS;
    *len = m ? wire_finish_answer(q, out, m, cap, limit, (uint16_t)cfg->edns_buffer_size,
                                  WIRE_EDE_BLOCKED, GRANTS_EDE_TEXT)
             : 0;
    return true;
}

static int lowest_bit(uint64_t m)
{
    return m ? __builtin_ctzll(m) : -1;
}

/* The answer to a blocked query, with an Extended DNS Error naming why, so a
 * technician can see it with dig (RFC 8914: 15 Blocked for the operator's
 * own lists and rules, 17 Filtered for category filtering). */
static size_t answer_blocked(struct worker *w, const struct wire_query *q, const struct policy *pol,
                             const struct policy_verdict *v, const uint8_t *via, size_t via_len,
                             uint8_t *out, size_t cap, size_t limit, struct note *n)
{
    const struct config *cfg = w->env->cfg;
    const char *cat = NULL;
    char vianame[1024] = "";

    if (v->category >= 0 && w->env->index)
        cat = blocklist_category_name(w->env->index->bl, (unsigned)v->category);
    if (via)
        wire_name_to_text(via, via_len, vianame, sizeof vianame);
    /* EDE text is for people reading dig output: keep each part short
     * enough that the whole fits, cutting long names rather than failing. */
    snprintf(w->ede_text, sizeof w->ede_text, "%s%s%.32s%s%.60s (policy %.32s)%s%.80s",
             policy_reason_name(v->reason), cat ? " " : "", cat ? cat : "", v->rule ? ": " : "",
             v->rule ? v->rule : "", policy_name(pol), via ? " via CNAME " : "", vianame);
    uint16_t ede = v->reason == POLICY_BY_CATEGORY || v->reason == POLICY_BY_SCHEDULE
                       ? WIRE_EDE_FILTERED
                       : WIRE_EDE_BLOCKED;
    size_t len = synth_block(q, v->action, v->ttl, out, cap);
    count(&w->stats.blocked);
    count(&w->stats.answered);
    n->verdict = QLOG_BLOCKED;
    n->rule = (uint16_t)v->reason;
    n->category = v->category;
    if (v->category >= 0 && (w->flag_mask & (1ull << v->category)))
        n->flags |= QLOG_F_FLAGGED;
    return len ? wire_finish_answer(q, out, len, cap, limit, (uint16_t)cfg->edns_buffer_size, ede,
                                    w->ede_text)
               : 0;
}

/* A CNAME chain is blocked when any name in it is; a dispensation the
 * client holds for a target counts there as it would for the name. */
struct chain_check {
    struct worker *w;
    const struct policy *pol;
    const struct sockaddr *client;
    const char *segname;
    struct policy_verdict v;
    uint8_t name[WIRE_MAX_NAME];
    size_t len;
};

static int chain_check_cb(void *arg, const uint8_t *name, size_t len)
{
    struct chain_check *cc = arg;

    decide(cc->w, cc->pol, cc->client, cc->segname, name, len, &cc->v, NULL);
    if (cc->v.outcome != POLICY_BLOCK)
        return 0;
    memcpy(cc->name, name, len);
    cc->len = len;
    return 1;
}

/* Checks the CNAME targets of a stored answer in msg; if one is blocked,
 * replaces msg with the block answer (in final form) and returns its length. */
static size_t check_chain(struct worker *w, const struct wire_query *q, const struct policy *pol,
                          const struct client *c, const char *segname, uint8_t *msg, size_t len,
                          size_t cap, size_t limit, struct note *n)
{
    struct chain_check cc = {
        .w = w, .pol = pol, .client = (const struct sockaddr *)&c->addr, .segname = segname};

    if (len < WIRE_HEADER_LEN || wire_get16(msg + 6) < 2) /* a chain needs 2 records */
        return 0;
    if (synth_cname_targets(msg, len, chain_check_cb, &cc) != 1)
        return 0;
    return answer_blocked(w, q, pol, &cc.v, cc.name, cc.len, msg, cap, limit, n);
}

/* An answer whose addresses lie in a network the asking segment's policy
 * blocks (an ASN, a country or a range: geo.h) is replaced by that policy's
 * block answer.  A policy with no network rules costs one branch; a cached
 * answer is checked for the segment asking, not the one that filled it. */
static size_t check_geo(struct worker *w, const struct geo_ruleset *rs, const struct wire_query *q,
                        struct note *n, uint8_t *msg, size_t len, size_t cap, size_t limit)
{
    const struct geo_rules *gr = geo_rules_of_segment(rs, (int)n->segment - 1);
    struct geo_match m;

    if (!gr || !w->geo || !geo_check_answer(w->geo, gr, msg, len, &m))
        return 0;
    const struct config_policy *cp = geo_rules_config(gr);
    geo_match_text(&m, cp->name, w->ede_text, sizeof w->ede_text);
    w->geo_blocked = m.info;
    n->geo = &w->geo_blocked; /* logged before the next query reuses it */
    size_t out = synth_block(q, &cp->action, cp->block_ttl, msg, cap);
    count(&w->stats.blocked);
    count(&w->stats.answered);
    n->verdict = QLOG_BLOCKED;
    n->rule = POLICY_BY_NETWORK;
    return out ? wire_finish_answer(q, msg, out, cap, limit,
                                    (uint16_t)w->env->cfg->edns_buffer_size, WIRE_EDE_BLOCKED,
                                    w->ede_text)
               : 0;
}

/* The safe-search rewrite: the CNAME, then the target's answer from the
 * cache, or a resolution of the target that this client waits for. */
static size_t answer_rewrite(struct worker *w, const struct wire_query *q, const struct client *c,
                             const struct policy *pol, const struct policy_verdict *v, uint8_t *out,
                             size_t cap, size_t limit, struct note *n)
{
    const struct config *cfg = w->env->cfg;
    struct cache_msg_hit hit;
    int got = cache_msg_get(w->d->cache, v->target, v->target_len, q->qtype, q->qclass,
                            worker_now(), false, w->stale, sizeof w->stale, &hit);

    count(&w->stats.rewritten);
    n->verdict = QLOG_REWRITTEN;
    n->rule = POLICY_BY_SAFE_SEARCH;
    if (got <= 0)
        return resolve(w, q, c, v->target, v->target_len, pol, v, n, out, cap);
    n->flags |= QLOG_F_CACHE;
    size_t len =
        synth_rewrite(q, v->target, v->target_len, v->ttl, w->stale, (size_t)got, out, cap);
    count(&w->stats.answered);
    return len ? wire_finish_answer(q, out, len, cap, limit, (uint16_t)cfg->edns_buffer_size,
                                    WIRE_EDE_NONE, NULL)
               : 0;
}

/* --- the pipeline ---------------------------------------------------------------*/

static bool client_allowed(const struct config *cfg, const struct client *c)
{
    for (size_t i = 0; i < cfg->nclient_networks; i++)
        if (config_net_contains(&cfg->client_networks[i], (const struct sockaddr *)&c->addr))
            return true;
    return false;
}

static size_t reply_error(struct worker *w, const struct wire_query *q, unsigned rcode,
                          uint16_t ede, const char *text, uint8_t *out, size_t cap)
{
    count(&w->stats.answered);
    return wire_reply_error(q, rcode, ede, text, (uint16_t)w->env->cfg->edns_buffer_size, out, cap);
}

/* Parses and answers a query now (returns the length) or later (returns
 * 0), filling q and n for the log. */
static size_t answer_query(struct worker *w, const uint8_t *pkt, size_t len, const struct client *c,
                           uint8_t *out, size_t cap, struct wire_query *q, struct note *n)
{
    const struct config *cfg = w->env->cfg;

    n->verdict = QLOG_FAILED;
    switch (wire_parse_query(pkt, len, q)) {
    case WIRE_OK:
        break;
    case WIRE_DROP:
        count(&w->stats.dropped);
        return 0;
    case WIRE_BAD_FORMAT:
        count(&w->stats.formerr);
        return reply_error(w, q, WIRE_FORMERR, WIRE_EDE_NONE, NULL, out, cap);
    case WIRE_BAD_OPCODE:
        count(&w->stats.notimp);
        return reply_error(w, q, WIRE_NOTIMP, WIRE_EDE_NONE, NULL, out, cap);
    case WIRE_BAD_VERSION:
        return reply_error(w, q, WIRE_BADVERS, WIRE_EDE_NONE, NULL, out, cap);
    }

    /* Never an open resolver: with segments configured, a query must match
     * one; without, it must come from server.client-networks. */
    const struct policy *pol = NULL;
    const char *segname = NULL;
    bool guest = false;
    if (w->env->policies) {
        int seg = policy_segment_match(w->env->policies, (const struct sockaddr *)&c->addr,
                                       (const struct sockaddr *)&c->local, c->ifindex);
        if (seg < 0) {
            count(&w->stats.refused);
            n->verdict = QLOG_REFUSED;
            return reply_error(w, q, WIRE_REFUSED, WIRE_EDE_PROHIBITED, NULL, out, cap);
        }
        pol = policy_of_segment(w->env->policies, seg);
        n->segment = (uint8_t)(seg + 1);
        segname = policy_segment_name(w->env->policies, seg);
        guest = policy_segment_grant_required(w->env->policies, seg);
    } else if (!client_allowed(cfg, c)) {
        count(&w->stats.refused);
        n->verdict = QLOG_REFUSED;
        return reply_error(w, q, WIRE_REFUSED, WIRE_EDE_PROHIBITED, NULL, out, cap);
    }
    if (q->qclass != WIRE_CLASS_IN || q->qtype == WIRE_TYPE_AXFR || q->qtype == WIRE_TYPE_IXFR) {
        count(&w->stats.refused); /* no zones to transfer; only the Internet class */
        n->verdict = QLOG_REFUSED;
        return reply_error(w, q, WIRE_REFUSED, WIRE_EDE_NONE, NULL, out, cap);
    }
    if (q->qtype == WIRE_TYPE_MAILA || q->qtype == WIRE_TYPE_MAILB) {
        count(&w->stats.notimp);
        return reply_error(w, q, WIRE_NOTIMP, WIRE_EDE_NONE, NULL, out, cap);
    }

    size_t limit = c->tcp ? 65535 : wire_udp_limit(q, (uint16_t)cfg->edns_buffer_size);
    if (limit > cap)
        limit = cap;
    n->verdict = QLOG_ANSWERED;
    if (q->qtype == WIRE_TYPE_ANY) {
        size_t any = wire_any_answer(q, out, cap);
        count(&w->stats.answered);
        return any ? wire_finish_answer(q, out, any, cap, limit, (uint16_t)cfg->edns_buffer_size,
                                        WIRE_EDE_NONE, NULL)
                   : 0;
    }

    /* The policy decides for every query, cache hit or not: one cache
     * serves every segment. */
    if (guest) {
        const struct grant *g = w->grants
                                    ? grant_set_guest(w->grants, (const struct sockaddr *)&c->addr,
                                                      segname, worker_now())
                                    : NULL;
        size_t answered = 0;
        if (g)
            n->grant_id = g->id;
        else if (answer_ungranted(w, q, out, cap, limit, n, &answered))
            return answered;
    }
    if (pol) {
        struct policy_verdict v;
        uint64_t grant_id = 0;
        uint64_t cats = decide(w, pol, (const struct sockaddr *)&c->addr, segname, q->qname_lc,
                               q->qname_len, &v, &grant_id);
        if (grant_id) {
            n->grant_id = grant_id; /* the report shows it was authorised */
            n->rule = POLICY_BY_DISPENSATION;
        }
        if (v.outcome == POLICY_BLOCK)
            return answer_blocked(w, q, pol, &v, NULL, 0, out, cap, limit, n);
        if (cats & w->flag_mask) { /* allowed, but the DSL sees it */
            n->flags |= QLOG_F_FLAGGED;
            n->category = lowest_bit(cats & w->flag_mask);
        }
        if (v.outcome == POLICY_REWRITE)
            return answer_rewrite(w, q, c, pol, &v, out, cap, limit, n);
    }

    struct cache_msg_hit hit;
    /* RFC 4035 3.2.1: DO clients get the form with the DNSSEC records (a
     * key of its own: no extra look-up for anyone). */
    int got = q->edns_do && cfg->dnssec_enabled
                  ? cache_msg_get_form(w->d->cache, q->qname_lc, q->qname_len, q->qtype, q->qclass,
                                       CACHE_MSG_DNSSEC, worker_now(), false, out, cap, &hit)
                  : cache_msg_get(w->d->cache, q->qname_lc, q->qname_len, q->qtype, q->qclass,
                                  worker_now(), false, out, cap, &hit);
    if (got > 0) {
        count(&w->stats.cache_hits);
        n->flags |= QLOG_F_CACHE;
        if (hit.prefetch_due && cfg->prefetch)
            prefetch(w, q);
        size_t blocked =
            pol ? check_chain(w, q, pol, c, segname, out, (size_t)got, cap, limit, n) : 0;
        if (!blocked && pol)
            blocked = check_geo(w, w->env->geo_rules, q, n, out, (size_t)got, cap, limit);
        if (blocked)
            return blocked;
        count(&w->stats.answered);
        return wire_finish_answer(q, out, (size_t)got, cap, limit, (uint16_t)cfg->edns_buffer_size,
                                  WIRE_EDE_NONE, NULL);
    }
    if (got == -ENOSPC) {
        /* Cached, but bigger than a UDP answer can be: tell the client to
         * come back over TCP. */
        count(&w->stats.cache_hits);
        size_t r = reply_error(w, q, WIRE_NOERROR, WIRE_EDE_NONE, NULL, out, cap);
        if (r)
            wire_put16(out + 2, wire_get16(out + 2) | WIRE_TC);
        return r;
    }
    count(&w->stats.cache_misses);
    return resolve(w, q, c, q->qname_lc, q->qname_len, pol, NULL, n, out, cap);
}

size_t worker_query(struct worker *w, const uint8_t *pkt, size_t len, const struct client *c,
                    uint8_t *out, size_t cap)
{
    struct wire_query q = {0};
    struct note n = {.verdict = QLOG_ANSWERED, .category = -1};

    count(&w->stats.queries);
    if (w->ring)
        n.start_us = now_us();
    size_t answer = answer_query(w, pkt, len, c, out, cap, &q, &n);
    if (answer)
        log_answer(w, c, &q, &n, out, answer);
    return answer;
}

/* --- the thread -----------------------------------------------------------------*/

static void close_handle_cb(uv_handle_t *h)
{
    (void)h;
}

static void worker_close_all(struct worker *w)
{
    if (w->closed)
        return;
    w->closed = true;
    uv_close((uv_handle_t *)&w->wake, close_handle_cb);
    uv_close((uv_handle_t *)&w->drain, close_handle_cb);
    uv_close((uv_handle_t *)&w->tick, close_handle_cb);
}

static void drain_cb(uv_timer_t *t)
{
    struct worker *w = t->data;

    /* Grace is over: fail what is still resolving (each frees itself). */
    while (w->requests && !w->requests->finished)
        request_fail(w->requests, "server shutting down");
}

static void worker_begin_stop(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    for (unsigned i = 0; i < w->nlisteners; i++) {
        listener_udp_close(w->udp[i]);
        listener_tcp_close(w->tcp[i]);
    }
    if (w->nrequests == 0)
        worker_close_all(w);
    else
        uv_timer_start(&w->drain, drain_cb, WORKER_DRAIN_MS, 0);
}

static void wake_cb(uv_async_t *a)
{
    struct worker *w = a->data;

    if (atomic_exchange(&w->reload_pending, false)) {
        struct daemon_env *e = daemon_env_get(w->d);
        daemon_env_unref(w->env);
        w->env = e;
        w->flag_mask = safeguarding_mask(e);
    }
    if (atomic_load(&w->stop_pending))
        worker_begin_stop(w);
}

/* A loop that still runs its timers is a loop that still serves: main's
 * watchdog pings systemd only while every worker's heartbeat moves. */
static void tick_cb(uv_timer_t *t)
{
    struct worker *w = t->data;
    atomic_fetch_add_explicit(&w->heartbeat, 1, memory_order_relaxed);
    grants_refresh(w); /* a new or revoked grant is seen within a second */
    geo_reader_refresh(w->geo);
}

uint64_t worker_heartbeat(const struct worker *w)
{
    return atomic_load_explicit(&w->heartbeat, memory_order_relaxed);
}

struct worker *worker_new(struct daemon *d, unsigned id)
{
    struct worker *w = calloc(1, sizeof *w);

    if (!w)
        return NULL;
    w->d = d;
    w->id = id;
    w->memo = calloc(MEMO_SIZE, sizeof *w->memo);
    if (!w->memo || getrandom(w->hash_key, sizeof w->hash_key, 0) != sizeof w->hash_key ||
        uv_loop_init(&w->loop) < 0) {
        free(w->memo);
        free(w);
        return NULL;
    }
    uv_async_init(&w->loop, &w->wake, wake_cb);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->drain);
    w->drain.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, tick_cb, 1000, 1000);
    w->env = daemon_env_get(d);
    w->flag_mask = safeguarding_mask(w->env);
    w->geo = d->geo ? geo_reader_new(d->geo) : NULL;
    grants_refresh(w);
    if (d->qlog && !(w->ring = qlog_ring_new(d->qlog, 0)))
        log_warning("worker %u: no memory for a query log ring: its queries go unlogged", id);
    return w;
}

int worker_add_listener(struct worker *w, int udp_fd, int tcp_fd)
{
    const struct config *cfg = w->env->cfg;
    int rc;

    if (w->nlisteners >= WORKER_MAX_LISTENERS) {
        close(udp_fd);
        close(tcp_fd);
        return -E2BIG;
    }
    unsigned i = w->nlisteners;
    if ((rc = listener_udp_start(w, &w->loop, udp_fd, &w->udp[i])) < 0) {
        close(tcp_fd);
        return rc;
    }
    if ((rc = listener_tcp_start(w, &w->loop, tcp_fd, cfg->tcp_max_connections,
                                 cfg->tcp_idle_timeout_ms, &w->tcp[i])) < 0) {
        listener_udp_close(w->udp[i]);
        return rc;
    }
    w->nlisteners++;
    return 0;
}

static void worker_thread(void *arg)
{
    struct worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int worker_start(struct worker *w)
{
    int rc = uv_thread_create(&w->thread, worker_thread, w);
    w->started = rc == 0;
    return rc;
}

void worker_reload(struct worker *w)
{
    atomic_store(&w->reload_pending, true);
    uv_async_send(&w->wake);
}

void worker_stop(struct worker *w)
{
    atomic_store(&w->stop_pending, true);
    uv_async_send(&w->wake);
}

static void free_clients(struct worker *w)
{
    for (unsigned i = 0; i < CLIENT_BUCKETS; i++) {
        while (w->clients[i]) {
            struct client_count *c = w->clients[i];
            w->clients[i] = c->next;
            free(c);
        }
    }
}

void worker_join_free(struct worker *w)
{
    if (!w)
        return;
    if (w->started)
        uv_thread_join(&w->thread);
    /* Run here too: a worker that never started handles its stop request
     * now, and close callbacks scheduled at the very end complete. */
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        log_warning("worker %u: handles still open at exit", w->id);
    daemon_env_unref(w->env);
    free_clients(w);
    grant_set_free(w->grants);
    geo_reader_free(w->geo);
    free(w->memo);
    free(w);
}

void worker_get_stats(const struct worker *w, struct worker_stats *out)
{
    const uint64_t *src = (const uint64_t *)&w->stats;
    uint64_t *dst = (uint64_t *)out;

    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    out->upstream_sent = __atomic_load_n(&w->ostats.sent_udp, __ATOMIC_RELAXED) +
                         __atomic_load_n(&w->ostats.sent_tcp, __ATOMIC_RELAXED);
    out->upstream_timeouts = __atomic_load_n(&w->ostats.timeouts, __ATOMIC_RELAXED);
    out->upstream_errors = __atomic_load_n(&w->ostats.errors, __ATOMIC_RELAXED);
}
