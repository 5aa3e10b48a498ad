/*
 * cache.c - the shared answer cache (see cache.h for the interface).
 *
 * What it does: keeps whole responses in wire form for the fast path (the
 * message table) and ldns RRsets for the iterator (the RRset table), both
 * bounded in bytes, both evicting the least recently used entry first.
 * What it does not: validate DNSSEC (it keeps the validator's verdict and
 * the RRSIGs with each RRset, cache_rrset_put_sec), decide what is worth
 * caching, or touch the network.  It trusts the caller to pass answers that belong to the
 * question; it trusts nothing about the bytes of those answers.
 *
 * Key space (both tables):
 *   message: lower-case qname wire | qtype (2 bytes BE) | qclass (2 bytes BE)
 *            [| 0x01 for the DNSSEC form: enum cache_msg_form]
 *   RRset:   lower-case owner wire | type  (2 bytes BE) | class  (2 bytes BE)
 * hashed with SipHash-1-3 under a 128-bit secret from getrandom() drawn in
 * cache_new, so names from outside cannot pick their bucket.  Lower-casing a
 * wire name byte by byte is safe: label lengths are at most 63, below 'A'.
 *
 * Layout: each table has CACHE_SHARDS shards chosen by the top hash bits;
 * each shard is a chained hash table (buckets chosen by the low bits), an
 * intrusive LRU list and one mutex.  max_bytes is split half to messages and
 * half to RRsets (the fast path and the iterator both need room and neither
 * can starve the other), and each half evenly across its shards, as in
 * Unbound's slabhash: eviction is per shard.  Within a shard the order is
 * second-chance LRU: new entries go to the head, a hit sets a bit, and
 * eviction takes the tail unless its bit is set (then clears it and moves it
 * to the head).  So the list is LRU by insertion, refined by use.  An entry is
 * charged its allocation (header, key, TTL table, wire) plus a bucket slot.
 *
 * Locks: pthread mutexes.  A spinlock was measured (bench/cache_micro.c) and
 * was no faster uncontended; under contention on 2 cores a mutex does not
 * burn the other thread's time slice.  Entries removed under a lock are
 * freed after it is released.
 *
 * Message entries are immutable once stored apart from their LRU links, hit
 * counter and prefetch flag (all changed under the shard lock), so a hit is
 * a memcpy of the stored wire plus a rewrite of each TTL field from a table
 * of (offset, TTL) pairs: the served TTL is stored + TTL - now.
 */
#include "cache.h"
#include "nsec_cache.h"
#include "siphash.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define CACHE_SHARD_BITS 6
#define CACHE_SHARDS (1u << CACHE_SHARD_BITS)
#define CACHE_BUCKETS_MIN 16u
#define CACHE_BUCKETS_MAX (1u << 24) /* per shard: a bound on the table, not on entries */

#define DNS_HEADER_LEN 12
#define DNS_NAME_MAX 255
#define DNS_MSG_MAX 65535
#define DNS_RR_FIXED 10 /* type, class, TTL, RDLENGTH after the owner */
#define DNS_RR_MIN 11   /* root owner + fixed part */
#define DNS_TYPE_SOA 6
#define DNS_TYPE_OPT 41
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3
#define DNS_TTL_MAX 0x7fffffffu /* RFC 2181 section 8: larger values mean 0 */

/* RFC 8767 section 4: stale answers go out with a TTL of 30 seconds. */
#define CACHE_STALE_TTL 30
/* A negative answer without an SOA gives no negative TTL (RFC 2308 section
 * 5 says such answers SHOULD NOT be cached); we keep it this long so a burst
 * of identical queries costs one upstream query.  Other rcodes (SERVFAIL,
 * REFUSED...) get the same, within RFC 2308 section 7's five-minute bound. */
#define CACHE_NEG_NO_SOA_TTL 5
/* Prefetch: a fresh entry hit at least this many times before the current hit
 * and within a tenth of its original TTL of expiry (at least 1 s). */
#define CACHE_PREFETCH_MIN_HITS 2
#define CACHE_PREFETCH_DIVISOR 10

/* The NSEC cache (RFC 8198) gets about an eighth of cache.size, counted in
 * records of this many bytes (an NSEC or NSEC3 record with one ECDSA or
 * RSA-2048 RRSIG, as ldns holds them). */
#define CACHE_NSEC_SHARE 8
#define CACHE_NSEC_RECORD_BYTES 768

#define KEY_MAX (DNS_NAME_MAX + 5) /* name, type, class, message form */
#define KEY_FORM_DNSSEC 0x01

enum table_kind { TABLE_MSG, TABLE_RRSET };

/* The part every entry shares: hash chain, LRU links, key, size. */
struct entry {
    struct entry *chain;       /* next in the bucket; in a graveyard, next to free */
    struct entry *prev, *next; /* LRU: head is the most recent */
    uint64_t hash;
    uint32_t bytes;     /* charged against the shard */
    uint8_t key_off;    /* key bytes start here, from the entry's address */
    uint8_t referenced; /* hit since it last reached the LRU tail */
    uint16_t key_len;   /* name + 4 */
};

struct msg_entry {
    struct entry e;
    time_t stored, expiry;
    uint32_t ttl_orig;
    uint32_t hits; /* fresh hits since stored */
    uint16_t wire_len, nttl;
    uint16_t ttl_table_off, wire_off; /* from data[] */
    bool prefetch_sent;
    alignas(8) uint8_t data[]; /* key, uint32 ttl[nttl], uint16 off[nttl], wire */
};

struct rrset_entry {
    struct entry e;
    ldns_rr_list *rrs;  /* owned; TTLs as stored */
    ldns_rr_list *sigs; /* owned RRSIGs covering rrs, or NULL */
    time_t expiry;
    enum cache_trust trust;
    enum cache_sec sec;
    uint8_t key[];
};

/* key_off is one byte. */
_Static_assert(offsetof(struct msg_entry, data) < 256, "msg_entry header too large");
_Static_assert(offsetof(struct rrset_entry, key) < 256, "rrset_entry header too large");

struct shard {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets, count;
    struct entry *head, *tail;
    size_t bytes, max_bytes;
    uint64_t hits, misses, stale_hits, evictions;
} __attribute__((aligned(64)));

struct table {
    enum table_kind kind;
    struct shard shards[CACHE_SHARDS];
};

struct cache {
    uint8_t hash_key[SIPHASH_KEY_LEN];
    /* The TTL limits are read without a lock by put and get, and changed by
     * cache_set_limits: relaxed atomics, each field consistent on its own. */
    uint32_t min_ttl, max_ttl, max_negative_ttl, stale_max_age;
    struct table msg, rrset;
    struct nsec_cache *nsec;
};

static uint32_t lim_get(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void lim_set(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* --- Small helpers ------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t lower(uint8_t b)
{
    return (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
}

/* Builds a key in buf (KEY_MAX bytes); returns its length, or 0 if the name
 * is empty or too long. */
static size_t key_build(uint8_t *buf, const uint8_t *name, size_t name_len, uint16_t type,
                        uint16_t klass)
{
    if (name_len == 0 || name_len > DNS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < name_len; i++)
        buf[i] = lower(name[i]);
    wr16(buf + name_len, type);
    wr16(buf + name_len + 2, klass);
    return name_len + 4;
}

/* Checks an uncompressed wire name of exactly len bytes (RFC 1035 section
 * 3.1: labels of at most 63 octets, the root label last, 255 octets in all). */
static bool name_valid(const uint8_t *name, size_t len)
{
    size_t p = 0;
    if (len == 0 || len > DNS_NAME_MAX)
        return false;
    while (p < len) {
        uint8_t l = name[p];
        if (l == 0)
            return p + 1 == len;
        if (l > 63)
            return false;
        p += (size_t)l + 1;
    }
    return false;
}

/* Whether the valid wire name n is apex or (subtree) below it. */
static bool name_matches(const uint8_t *n, size_t nlen, const uint8_t *apex, size_t alen,
                         bool subtree)
{
    if (!subtree)
        return nlen == alen && memcmp(n, apex, alen) == 0;
    for (size_t p = 0; p < nlen; p += (size_t)n[p] + 1) {
        if (nlen - p == alen && memcmp(n + p, apex, alen) == 0)
            return true;
        if (n[p] == 0)
            break;
    }
    return false;
}

/* A message key: the common key, then one byte for the DNSSEC form.  The
 * plain form keeps the plain key, so a lookup for it hashes exactly the
 * bytes it always did. */
static size_t msg_key_build(uint8_t *buf, const uint8_t *name, size_t name_len, uint16_t type,
                            uint16_t klass, enum cache_msg_form form)
{
    size_t klen = key_build(buf, name, name_len, type, klass);
    if (klen && form == CACHE_MSG_DNSSEC)
        buf[klen++] = KEY_FORM_DNSSEC;
    return klen;
}

/* The length of the (valid) wire name a key starts with. */
static size_t key_name_len(const uint8_t *key, size_t key_len)
{
    size_t p = 0;
    while (p < key_len && key[p] != 0)
        p += (size_t)key[p] + 1;
    return p + 1;
}

static uint64_t key_hash(const struct cache *c, const uint8_t *key, size_t len)
{
    return siphash13(c->hash_key, key, len);
}

static struct shard *shard_of(struct table *t, uint64_t hash)
{
    return &t->shards[hash >> (64 - CACHE_SHARD_BITS)];
}

static const uint8_t *entry_key(const struct entry *e)
{
    return (const uint8_t *)e + e->key_off;
}

/* --- Entries and shards -------------------------------------------------- */

static void entry_free(enum table_kind kind, struct entry *e)
{
    if (kind == TABLE_RRSET) {
        ldns_rr_list_deep_free(((struct rrset_entry *)e)->rrs);
        ldns_rr_list_deep_free(((struct rrset_entry *)e)->sigs);
    }
    free(e);
}

/* Frees a list of entries linked through chain (taken out under a lock). */
static void graveyard_free(enum table_kind kind, struct entry *dead)
{
    while (dead) {
        struct entry *next = dead->chain;
        entry_free(kind, dead);
        dead = next;
    }
}

static struct entry *shard_find(struct shard *s, uint64_t hash, const uint8_t *key, size_t len)
{
    for (struct entry *e = s->buckets[hash & (s->nbuckets - 1)]; e; e = e->chain)
        if (e->hash == hash && e->key_len == len && memcmp(entry_key(e), key, len) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct shard *s, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_head(struct shard *s, struct entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

/* A hit only marks the entry: moving it to the head would write to its two
 * neighbours and the old head, three more cache misses on the hot path (each
 * 100-300 ns here once the cache outgrows the CPU caches).  Eviction gives a
 * marked entry a second chance instead (CLOCK, an approximation of LRU). */
static void lru_touch(struct entry *e)
{
    if (!e->referenced)
        e->referenced = 1;
}

/* Takes e out of the shard and pushes it on *dead to be freed unlocked. */
static void shard_remove(struct shard *s, struct entry *e, struct entry **dead)
{
    struct entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(s, e);
    s->count--;
    s->bytes -= e->bytes;
    e->chain = *dead;
    *dead = e;
}

/* Doubles the bucket array when the load passes 1.  On ENOMEM the chains just
 * grow longer: lookups stay correct. */
static void shard_grow(struct shard *s)
{
    if (s->count <= s->nbuckets || s->nbuckets >= CACHE_BUCKETS_MAX)
        return;
    size_t n = s->nbuckets * 2;
    struct entry **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct entry *e = s->buckets[i];
        while (e) {
            struct entry *next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Evicts from the LRU tail until the shard fits its budget, sparing keep.
 * A tail entry hit since it was last here goes back to the head once
 * (bounded: each entry is spared at most once per call). */
static void shard_evict(struct shard *s, const struct entry *keep, struct entry **dead)
{
    size_t spared = 0;
    while (s->bytes > s->max_bytes && s->tail && s->tail != keep) {
        struct entry *e = s->tail;
        if (e->referenced && spared < s->count) {
            e->referenced = 0;
            lru_unlink(s, e);
            lru_push_head(s, e);
            spared++;
            continue;
        }
        shard_remove(s, e, dead);
        s->evictions++;
    }
}

/* Inserts e (hash and key set), replacing any entry with the same key. */
static void shard_insert(struct shard *s, struct entry *e, struct entry *old, struct entry **dead)
{
    if (old)
        shard_remove(s, old, dead);
    size_t b = e->hash & (s->nbuckets - 1);
    e->chain = s->buckets[b];
    s->buckets[b] = e;
    lru_push_head(s, e);
    s->count++;
    s->bytes += e->bytes;
    shard_evict(s, e, dead);
    shard_grow(s);
}

static int table_init(struct table *t, enum table_kind kind, size_t max_bytes)
{
    t->kind = kind;
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &t->shards[i];
        memset(s, 0, sizeof(*s));
        s->buckets = calloc(CACHE_BUCKETS_MIN, sizeof(*s->buckets));
        if (!s->buckets)
            return -ENOMEM;
        s->nbuckets = CACHE_BUCKETS_MIN;
        s->max_bytes = max_bytes / CACHE_SHARDS;
        pthread_mutex_init(&s->lock, NULL);
    }
    return 0;
}

static void table_fini(struct table *t)
{
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &t->shards[i];
        if (!s->buckets)
            continue; /* table_init stopped before this shard */
        struct entry *e = s->head;
        while (e) {
            struct entry *next = e->next;
            entry_free(t->kind, e);
            e = next;
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
}

static void table_set_max(struct table *t, size_t max_bytes)
{
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &t->shards[i];
        struct entry *dead = NULL;
        pthread_mutex_lock(&s->lock);
        s->max_bytes = max_bytes / CACHE_SHARDS;
        shard_evict(s, NULL, &dead);
        pthread_mutex_unlock(&s->lock);
        graveyard_free(t->kind, dead);
    }
}

/* --- Lifecycle ------------------------------------------------------------ */

static void limits_store(struct cache *c, const struct cache_limits *l)
{
    lim_set(&c->min_ttl, l->min_ttl);
    lim_set(&c->max_ttl, l->max_ttl);
    lim_set(&c->max_negative_ttl, l->max_negative_ttl);
    lim_set(&c->stale_max_age, l->stale_max_age);
}

struct cache *cache_new(const struct cache_limits *limits)
{
    struct cache *c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c));
    /* The hash key must be secret: without it, names sent by a client could
     * be chosen to fall into one bucket. */
    if (getrandom(c->hash_key, sizeof(c->hash_key), 0) != (ssize_t)sizeof(c->hash_key)) {
        free(c);
        return NULL;
    }
    limits_store(c, limits);
    if (table_init(&c->msg, TABLE_MSG, limits->max_bytes / 2) < 0 ||
        table_init(&c->rrset, TABLE_RRSET, limits->max_bytes - limits->max_bytes / 2) < 0 ||
        !(c->nsec =
              nsec_cache_new(limits->max_bytes / CACHE_NSEC_SHARE / CACHE_NSEC_RECORD_BYTES))) {
        cache_free(c);
        return NULL;
    }
    return c;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    table_fini(&c->msg);
    table_fini(&c->rrset);
    nsec_cache_free(c->nsec);
    free(c);
}

void cache_set_limits(struct cache *c, const struct cache_limits *limits)
{
    limits_store(c, limits);
    table_set_max(&c->msg, limits->max_bytes / 2);
    table_set_max(&c->rrset, limits->max_bytes - limits->max_bytes / 2);
}

/* --- Message cache: the fast path ----------------------------------------- */

static uint32_t *msg_ttls(struct msg_entry *m)
{
    return (uint32_t *)(void *)(m->data + m->ttl_table_off);
}

static uint16_t *msg_offs(struct msg_entry *m)
{
    return (uint16_t *)(void *)(m->data + m->ttl_table_off + (size_t)m->nttl * 4);
}

static uint8_t *msg_wire(struct msg_entry *m)
{
    return m->data + m->wire_off;
}

/* Writes every TTL field of a served copy: counted down, or 30 s if stale. */
static void msg_rewrite_ttls(struct msg_entry *m, uint8_t *out, time_t now, bool stale)
{
    const uint32_t *ttl = msg_ttls(m);
    const uint16_t *off = msg_offs(m);
    /* now may lie before stored if the clock stepped back: serve full TTLs. */
    uint64_t elapsed = now > m->stored ? (uint64_t)(now - m->stored) : 0;
    for (unsigned i = 0; i < m->nttl; i++) {
        uint32_t v = CACHE_STALE_TTL;
        if (!stale)
            v = ttl[i] > elapsed ? (uint32_t)(ttl[i] - elapsed) : 0;
        wr32(out + off[i], v);
    }
}

/* Decides, under the lock, whether this fresh hit should trigger a prefetch.
 * Reported once per stored version: the flag is cleared only by a new put. */
static bool msg_prefetch_due(struct msg_entry *m, uint32_t ttl_left)
{
    uint32_t window = m->ttl_orig / CACHE_PREFETCH_DIVISOR;
    if (window < 1)
        window = 1;
    bool due = !m->prefetch_sent && m->hits >= CACHE_PREFETCH_MIN_HITS && ttl_left <= window;
    if (due)
        m->prefetch_sent = true;
    return due;
}

/* Inlined into both public look-ups: the plain one costs what it did
 * before there were two forms. */
static inline int msg_get(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                          uint16_t qclass, enum cache_msg_form form, time_t now, bool allow_stale,
                          uint8_t *out, size_t cap, struct cache_msg_hit *hit)
{
    uint8_t key[KEY_MAX];
    struct cache_msg_hit unused;
    size_t klen = msg_key_build(key, qname, qname_len, qtype, qclass, form);
    if (klen == 0)
        return 0;
    if (!hit)
        hit = &unused;
    uint64_t h = key_hash(c, key, klen);
    struct shard *s = shard_of(&c->msg, h);
    struct entry *dead = NULL;
    int ret = 0;

    pthread_mutex_lock(&s->lock);
    struct msg_entry *m = (struct msg_entry *)shard_find(s, h, key, klen);
    if (!m) {
        s->misses++;
        goto out;
    }
    bool stale = now >= m->expiry;
    uint32_t max_age = lim_get(&c->stale_max_age);
    if (stale && (max_age == 0 || (uint64_t)(now - m->expiry) > max_age)) {
        /* Past the serve-stale window (RFC 8767 section 5): gone for good. */
        shard_remove(s, &m->e, &dead);
        s->misses++;
        goto out;
    }
    if (stale && !allow_stale) {
        s->misses++;
        goto out;
    }
    if (m->wire_len > cap) {
        ret = -ENOSPC;
        goto out;
    }
    memcpy(out, msg_wire(m), m->wire_len);
    msg_rewrite_ttls(m, out, now, stale);
    lru_touch(&m->e);

    hit->rcode = out[3] & 0x0f;
    hit->stale = stale;
    hit->ttl_orig = m->ttl_orig;
    hit->ttl_left = 0;
    hit->prefetch_due = false;
    if (stale) {
        s->stale_hits++;
    } else {
        uint64_t left = (uint64_t)(m->expiry - now);
        hit->ttl_left = left < m->ttl_orig ? (uint32_t)left : m->ttl_orig;
        hit->prefetch_due = msg_prefetch_due(m, hit->ttl_left);
        if (m->hits < UINT32_MAX)
            m->hits++;
        s->hits++;
    }
    ret = m->wire_len;
out:
    pthread_mutex_unlock(&s->lock);
    graveyard_free(TABLE_MSG, dead);
    return ret;
}

int cache_msg_get(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                  uint16_t qclass, time_t now, bool allow_stale, uint8_t *out, size_t cap,
                  struct cache_msg_hit *hit)
{
    return msg_get(c, qname, qname_len, qtype, qclass, CACHE_MSG_PLAIN, now, allow_stale, out, cap,
                   hit);
}

int cache_msg_get_form(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                       uint16_t qclass, enum cache_msg_form form, time_t now, bool allow_stale,
                       uint8_t *out, size_t cap, struct cache_msg_hit *hit)
{
    return msg_get(c, qname, qname_len, qtype, qclass, form, now, allow_stale, out, cap, hit);
}

/* --- Message cache: walking a response by hand -----------------------------
 *
 * Nothing here trusts the bytes: every read is preceded by a bounds check,
 * compression pointers must point before the name segment that holds them
 * (so a walk can never loop: each jump goes strictly lower), names are at
 * most 255 octets (so at most 127 labels), RDLENGTH must stay inside the
 * message, and the counts must be backed by data.
 *
 * A pointer may also only lead to bytes of names already walked in place
 * (the question, owners, and names in the RDATA we check): the header and
 * every TTL field are rewritten when the message is served, so a name read
 * through them would be valid when stored and garbage when served.  The walk
 * keeps a bitmap of those name bytes.
 */

struct rr_info {
    uint16_t ttl_off; /* offset of the TTL field in the received message */
    uint16_t type;
    uint32_t ttl; /* as received, then as stored */
};

struct walk {
    const uint8_t *w;
    size_t len;
    size_t pos;
    size_t max_target; /* highest compression target seen (+1), 0 if none */
    uint8_t *namemap;  /* one bit per byte: part of a name walked in place */
    struct rr_info *rrs;
    size_t nrr;
    size_t opt_start, opt_end; /* OPT record span, both 0 if none */
    bool have_soa;
    uint32_t soa_ttl, soa_minimum;
};

/* In place, marks bytes [from, from + n) as name bytes; after a jump,
 * checks that they are.  The caller has checked from + n <= len. */
static bool name_bytes(struct walk *wk, size_t from, size_t n, bool jumped)
{
    for (size_t i = from; i < from + n; i++) {
        uint8_t bit = (uint8_t)(1u << (i & 7));
        if (!jumped)
            wk->namemap[i >> 3] |= bit;
        else if (!(wk->namemap[i >> 3] & bit))
            return false;
    }
    return true;
}

/* Skips the (possibly compressed) name at *pos; sets *pos past the bytes the
 * name occupies in place.  RFC 1035 section 4.1.4. */
static int wire_name_skip(struct walk *wk, size_t *pos)
{
    const uint8_t *w = wk->w;
    size_t p = *pos, seg = p, end = 0, name_len = 1;
    bool jumped = false;

    for (;;) {
        if (p >= wk->len || !name_bytes(wk, p, 1, jumped))
            return -EINVAL;
        uint8_t b = w[p];
        if (b == 0)
            break;
        if ((b & 0xc0) == 0xc0) {
            if (p + 1 >= wk->len || !name_bytes(wk, p + 1, 1, jumped))
                return -EINVAL;
            size_t target = (size_t)(b & 0x3f) << 8 | w[p + 1];
            if (target >= seg)
                return -EINVAL; /* forward, or into this very name: a loop */
            if (!jumped)
                end = p + 2;
            jumped = true;
            if (target + 1 > wk->max_target)
                wk->max_target = target + 1;
            p = seg = target;
            continue;
        }
        if (b > 63)
            return -EINVAL; /* 0x40 and 0x80 label types are obsolete (RFC 6891 5) */
        name_len += (size_t)b + 1;
        if (name_len > DNS_NAME_MAX || b >= wk->len - p || !name_bytes(wk, p + 1, b, jumped))
            return -EINVAL;
        p += (size_t)b + 1;
    }
    *pos = jumped ? end : p + 1;
    return 0;
}

/* Checks the names inside RDATA of the types RFC 1035 lets us compress
 * (RFC 3597 section 4), so a served copy never carries a broken name.  Other
 * types are opaque bytes. */
static int wire_rdata_check(struct walk *wk, uint16_t type, size_t rd, size_t rd_end)
{
    size_t p = rd;
    int r;
    switch (type) {
    case 2:  /* NS */
    case 3:  /* MD */
    case 4:  /* MF */
    case 5:  /* CNAME */
    case 7:  /* MB */
    case 8:  /* MG */
    case 9:  /* MR */
    case 12: /* PTR */
        r = wire_name_skip(wk, &p);
        return r < 0 || p != rd_end ? -EINVAL : 0;
    case 15: /* MX: preference, exchange */
        p += 2;
        if (p > rd_end)
            return -EINVAL;
        r = wire_name_skip(wk, &p);
        return r < 0 || p != rd_end ? -EINVAL : 0;
    case 14: /* MINFO: two names */
        if (wire_name_skip(wk, &p) < 0 || p > rd_end || wire_name_skip(wk, &p) < 0)
            return -EINVAL;
        return p != rd_end ? -EINVAL : 0;
    case DNS_TYPE_SOA: /* MNAME, RNAME, then five 32-bit fields */
        if (wire_name_skip(wk, &p) < 0 || p > rd_end || wire_name_skip(wk, &p) < 0)
            return -EINVAL;
        return p + 20 != rd_end ? -EINVAL : 0;
    default:
        return 0;
    }
}

/* Walks one resource record in section sec (1 answer, 2 authority, 3
 * additional) and records it in wk. */
static int wire_rr(struct walk *wk, int sec)
{
    size_t start = wk->pos, p = wk->pos;
    if (wire_name_skip(wk, &p) < 0 || wk->len - p < DNS_RR_FIXED)
        return -EINVAL;
    uint16_t type = rd16(wk->w + p);
    size_t rd = p + DNS_RR_FIXED;
    size_t rdlen = rd16(wk->w + p + 8);
    if (rdlen > wk->len - rd)
        return -EINVAL;
    size_t rd_end = rd + rdlen;

    if (type == DNS_TYPE_OPT) {
        /* RFC 6891 section 6.1.1: one OPT, in the additional section, owned
         * by the root.  Anything else is FORMERR. */
        if (sec != 3 || wk->opt_end != 0 || p != start + 1 || wk->w[start] != 0)
            return -EINVAL;
        wk->opt_start = start;
        wk->opt_end = rd_end;
        wk->pos = rd_end;
        return 0;
    }
    if (wire_rdata_check(wk, type, rd, rd_end) < 0)
        return -EINVAL;
    if (type == DNS_TYPE_SOA && sec == 2 && !wk->have_soa) {
        wk->have_soa = true;
        wk->soa_ttl = rd32(wk->w + p + 4);
        wk->soa_minimum = rd32(wk->w + rd_end - 4);
    }
    wk->rrs[wk->nrr++] = (struct rr_info){
        .ttl_off = (uint16_t)(p + 4),
        .type = type,
        .ttl = rd32(wk->w + p + 4),
    };
    wk->pos = rd_end;
    return 0;
}

/* Checks the question is exactly the key's (name in any case, type,
 * class); nlen is the length of the key's name. */
static int wire_question(struct walk *wk, const uint8_t *key, size_t nlen)
{
    if (rd16(wk->w + 4) != 1 || wk->len - DNS_HEADER_LEN < nlen + 4)
        return -EINVAL;
    const uint8_t *q = wk->w + DNS_HEADER_LEN;
    for (size_t i = 0; i < nlen; i++)
        if (lower(q[i]) != key[i])
            return -EINVAL;
    if (memcmp(q + nlen, key + nlen, 4) != 0)
        return -EINVAL;
    name_bytes(wk, DNS_HEADER_LEN, nlen, false); /* answers may point at it */
    wk->pos = DNS_HEADER_LEN + nlen + 4;
    return 0;
}

static int wire_walk(struct walk *wk, const uint8_t *key, size_t nlen)
{
    const uint8_t *w = wk->w;
    size_t counts[3] = {rd16(w + 6), rd16(w + 8), rd16(w + 10)};
    size_t total = counts[0] + counts[1] + counts[2];

    if (w[2] & 0x02)
        return -EINVAL; /* TC: not a complete answer, never cached */
    wk->namemap = calloc(wk->len / 8 + 1, 1);
    if (!wk->namemap)
        return -ENOMEM;
    if (wire_question(wk, key, nlen) < 0)
        return -EINVAL;
    /* Counts must be backed by data before we size anything by them. */
    if (total > (wk->len - wk->pos) / DNS_RR_MIN)
        return -EINVAL;
    wk->rrs = malloc((total ? total : 1) * sizeof(*wk->rrs));
    if (!wk->rrs)
        return -ENOMEM;
    for (int sec = 0; sec < 3; sec++)
        for (size_t i = 0; i < counts[sec]; i++)
            if (wire_rr(wk, sec + 1) < 0)
                return -EINVAL;
    /* Removing OPT shifts what follows it: nothing may point into or past it. */
    if (wk->opt_end && wk->max_target > wk->opt_start)
        return -EINVAL;
    return 0;
}

static uint32_t ttl_clamp(uint32_t t, uint32_t lo, uint32_t hi)
{
    if (t > DNS_TTL_MAX)
        t = 0; /* RFC 2181 section 8 */
    if (t < lo)
        t = lo;
    if (t > hi)
        t = hi;
    return t;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Clamps every TTL in wk->rrs and returns the smallest (the entry's life).
 * Positive answers: [min-ttl, max-ttl].  NXDOMAIN and NODATA (NOERROR with an
 * empty answer section): every TTL is capped at the negative TTL, which is
 * min(SOA TTL, SOA MINIMUM) per RFC 2308 section 5, capped at
 * max-negative-ttl; min-ttl does not lengthen negative answers, so a name
 * just added to a zone is not hidden for longer than the zone asked. */
static uint32_t msg_clamp_ttls(const struct cache *c, struct walk *wk, uint8_t rcode,
                               uint16_t ancount)
{
    uint32_t lo = lim_get(&c->min_ttl), hi = lim_get(&c->max_ttl);
    uint32_t max_neg = lim_get(&c->max_negative_ttl);
    bool negative = rcode == DNS_RCODE_NXDOMAIN || (rcode == DNS_RCODE_NOERROR && ancount == 0);

    if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN) {
        negative = true;
        wk->have_soa = false; /* an SOA does not give a SERVFAIL its lifetime */
    }
    if (negative) {
        uint32_t neg = CACHE_NEG_NO_SOA_TTL;
        if (wk->have_soa)
            neg = min_u32(ttl_clamp(wk->soa_ttl, 0, DNS_TTL_MAX),
                          ttl_clamp(wk->soa_minimum, 0, DNS_TTL_MAX));
        lo = 0;
        hi = min_u32(neg, max_neg);
    }
    if (hi < lo)
        hi = lo; /* a misconfiguration; min-ttl wins, as it is the explicit ask */
    uint32_t smallest = hi;
    for (size_t i = 0; i < wk->nrr; i++) {
        wk->rrs[i].ttl = ttl_clamp(wk->rrs[i].ttl, lo, hi);
        smallest = min_u32(smallest, wk->rrs[i].ttl);
    }
    return smallest;
}

/* Copies the walked message into a new entry without its OPT record, with
 * the stored header (ID 0, QR and RA set, RD clear) and clamped TTLs. */
static struct msg_entry *msg_build(const struct walk *wk, const uint8_t *key, size_t klen,
                                   size_t nlen, uint32_t ttl_orig, time_t now)
{
    size_t opt_len = wk->opt_end - wk->opt_start;
    size_t wire_len = wk->pos - opt_len;
    size_t ttl_table_off = (klen + 3) & ~(size_t)3;
    size_t wire_off = ttl_table_off + wk->nrr * 6;
    size_t size = sizeof(struct msg_entry) + wire_off + wire_len;

    struct msg_entry *m = malloc(size);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->e.key_off = (uint8_t)offsetof(struct msg_entry, data);
    m->e.key_len = (uint16_t)klen;
    m->e.bytes = (uint32_t)(size + sizeof(struct entry *));
    m->stored = now;
    m->expiry = now + (time_t)ttl_orig;
    m->ttl_orig = ttl_orig;
    m->wire_len = (uint16_t)wire_len;
    m->nttl = (uint16_t)wk->nrr;
    m->ttl_table_off = (uint16_t)ttl_table_off;
    m->wire_off = (uint16_t)wire_off;
    memcpy(m->data, key, klen);

    uint8_t *out = msg_wire(m);
    if (opt_len) {
        memcpy(out, wk->w, wk->opt_start);
        memcpy(out + wk->opt_start, wk->w + wk->opt_end, wk->pos - wk->opt_end);
        wr16(out + 10, (uint16_t)(rd16(out + 10) - 1));
    } else {
        memcpy(out, wk->w, wire_len);
    }
    wr16(out, 0);                                /* ID: the server sets the client's */
    out[2] = (uint8_t)((out[2] & ~0x01) | 0x80); /* QR set, RD clear */
    out[3] = (uint8_t)((out[3] & ~0x40) | 0x80); /* RA set, Z clear; AD, CD kept */
    memcpy(out + DNS_HEADER_LEN, key, nlen);     /* the question in lower case */

    uint32_t *ttl = msg_ttls(m);
    uint16_t *off = msg_offs(m);
    for (size_t i = 0; i < wk->nrr; i++) {
        size_t o = wk->rrs[i].ttl_off;
        if (opt_len && o > wk->opt_start)
            o -= opt_len;
        ttl[i] = wk->rrs[i].ttl;
        off[i] = (uint16_t)o;
        wr32(out + o, ttl[i]);
    }
    return m;
}

int cache_msg_put(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                  uint16_t qclass, const uint8_t *wire, size_t len, time_t now)
{
    return cache_msg_put_form(c, qname, qname_len, qtype, qclass, CACHE_MSG_PLAIN, wire, len, now);
}

int cache_msg_put_form(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                       uint16_t qclass, enum cache_msg_form form, const uint8_t *wire, size_t len,
                       time_t now)
{
    uint8_t key[KEY_MAX];
    if (!name_valid(qname, qname_len) || len < DNS_HEADER_LEN || len > DNS_MSG_MAX ||
        (form != CACHE_MSG_PLAIN && form != CACHE_MSG_DNSSEC))
        return -EINVAL;
    size_t klen = msg_key_build(key, qname, qname_len, qtype, qclass, form);

    struct walk wk = {.w = wire, .len = len};
    int r = wire_walk(&wk, key, qname_len);
    free(wk.namemap);
    if (r < 0) {
        free(wk.rrs);
        return r;
    }
    uint32_t ttl_orig = msg_clamp_ttls(c, &wk, wire[3] & 0x0f, rd16(wire + 6));
    struct msg_entry *m = msg_build(&wk, key, klen, qname_len, ttl_orig, now);
    free(wk.rrs);
    if (!m)
        return -ENOMEM;

    m->e.hash = key_hash(c, key, klen);
    struct shard *s = shard_of(&c->msg, m->e.hash);
    struct entry *dead = NULL;
    pthread_mutex_lock(&s->lock);
    if (m->e.bytes > s->max_bytes) {
        /* Larger than a whole shard's budget: it would evict everything. */
        pthread_mutex_unlock(&s->lock);
        free(m);
        return -ENOMEM;
    }
    shard_insert(s, &m->e, shard_find(s, m->e.hash, key, klen), &dead);
    pthread_mutex_unlock(&s->lock);
    graveyard_free(TABLE_MSG, dead);
    return 0;
}

/* --- RRset cache ------------------------------------------------------------ */

/* What an ldns RR list costs in memory, roughly: each allocation plus 16 bytes
 * of malloc overhead.  Good enough to bound the table. */
static size_t rrset_bytes(const ldns_rr_list *l)
{
    size_t b = sizeof(ldns_rr_list) + 16 + ldns_rr_list_rr_count(l) * sizeof(ldns_rr *) + 16;
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(l, i);
        b += sizeof(ldns_rr) + 16 + ldns_rr_rd_count(rr) * sizeof(ldns_rdf *) + 16;
        b += sizeof(ldns_rdf) + 16 + ldns_rdf_size(ldns_rr_owner(rr)) + 16;
        for (size_t j = 0; j < ldns_rr_rd_count(rr); j++)
            b += sizeof(ldns_rdf) + 16 + ldns_rdf_size(ldns_rr_rdf(rr, j)) + 16;
    }
    return b;
}

/* Builds the key for an owner dname, or returns 0 if it is not one. */
static size_t rrset_key(uint8_t *key, const ldns_rdf *owner, uint16_t type, uint16_t klass)
{
    if (!owner || ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME)
        return 0;
    return key_build(key, ldns_rdf_data(owner), ldns_rdf_size(owner), type, klass);
}

/* Checks all RRs share owner, type and class (RFC 2181 section 5) and returns
 * the lowest TTL (RFC 2181 section 5.2: a set has one TTL). */
static int rrset_check(const ldns_rr_list *rrset, uint32_t *ttl)
{
    size_t n = rrset ? ldns_rr_list_rr_count(rrset) : 0;
    if (n == 0)
        return -EINVAL;
    const ldns_rr *first = ldns_rr_list_rr(rrset, 0);
    *ttl = ldns_rr_ttl(first);
    for (size_t i = 1; i < n; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrset, i);
        if (ldns_rr_get_type(rr) != ldns_rr_get_type(first) ||
            ldns_rr_get_class(rr) != ldns_rr_get_class(first) ||
            ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(first)) != 0)
            return -EINVAL;
        *ttl = min_u32(*ttl, ldns_rr_ttl(rr));
    }
    return 0;
}

int cache_rrset_put(struct cache *c, const ldns_rr_list *rrset, enum cache_trust trust, time_t now)
{
    return cache_rrset_put_sec(c, rrset, NULL, trust, CACHE_SEC_UNCHECKED, now);
}

int cache_rrset_put_sec(struct cache *c, const ldns_rr_list *rrset, const ldns_rr_list *sigs,
                        enum cache_trust trust, enum cache_sec sec, time_t now)
{
    uint8_t key[KEY_MAX];
    uint32_t ttl;
    if (rrset_check(rrset, &ttl) < 0)
        return -EINVAL;
    const ldns_rr *first = ldns_rr_list_rr(rrset, 0);
    size_t klen = rrset_key(key, ldns_rr_owner(first), (uint16_t)ldns_rr_get_type(first),
                            (uint16_t)ldns_rr_get_class(first));
    if (klen == 0 || !name_valid(key, klen - 4))
        return -EINVAL;
    ttl = ttl_clamp(ttl, lim_get(&c->min_ttl), lim_get(&c->max_ttl));

    struct rrset_entry *r = malloc(sizeof(*r) + klen);
    if (!r)
        return -ENOMEM;
    memset(r, 0, sizeof(*r));
    r->rrs = ldns_rr_list_clone(rrset);
    if (!r->rrs) {
        free(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ldns_rr_list_rr_count(r->rrs); i++)
        ldns_rr_set_ttl(ldns_rr_list_rr(r->rrs, i), ttl);
    if (sigs && ldns_rr_list_rr_count(sigs) > 0) {
        r->sigs = ldns_rr_list_clone(sigs);
        if (!r->sigs) {
            ldns_rr_list_deep_free(r->rrs);
            free(r);
            return -ENOMEM;
        }
        for (size_t i = 0; i < ldns_rr_list_rr_count(r->sigs); i++)
            ldns_rr_set_ttl(ldns_rr_list_rr(r->sigs, i), ttl);
    }
    r->sec = sec;
    memcpy(r->key, key, klen);
    r->e.key_off = (uint8_t)offsetof(struct rrset_entry, key);
    r->e.key_len = (uint16_t)klen;
    r->e.hash = key_hash(c, key, klen);
    size_t bytes = sizeof(*r) + klen + sizeof(struct entry *) + rrset_bytes(r->rrs) +
                   (r->sigs ? rrset_bytes(r->sigs) : 0);
    r->e.bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
    r->expiry = now + (time_t)ttl;
    r->trust = trust;

    struct shard *s = shard_of(&c->rrset, r->e.hash);
    struct entry *dead = NULL;
    int ret = 0;
    pthread_mutex_lock(&s->lock);
    struct rrset_entry *old = (struct rrset_entry *)shard_find(s, r->e.hash, key, klen);
    if (r->e.bytes > s->max_bytes) {
        ret = -ENOMEM;
    } else if (old && now < old->expiry && old->trust > trust) {
        /* RFC 2181 section 5.4.1: keep the better data while it lasts. */
    } else if (old && now < old->expiry && old->trust == trust && old->sec != CACHE_SEC_UNCHECKED &&
               sec == CACHE_SEC_UNCHECKED) {
        /* RFC 4035 section 4.5: validated data outranks the same unchecked. */
    } else {
        shard_insert(s, &r->e, old ? &old->e : NULL, &dead);
        r = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    graveyard_free(TABLE_RRSET, dead);
    if (r)
        entry_free(TABLE_RRSET, &r->e);
    return ret;
}

ldns_rr_list *cache_rrset_get(struct cache *c, const ldns_rdf *owner, ldns_rr_type type, time_t now,
                              enum cache_trust *trust)
{
    return cache_rrset_get_sec(c, owner, type, now, trust, NULL, NULL);
}

ldns_rr_list *cache_rrset_get_sec(struct cache *c, const ldns_rdf *owner, ldns_rr_type type,
                                  time_t now, enum cache_trust *trust, enum cache_sec *sec,
                                  ldns_rr_list **sigs)
{
    if (sigs)
        *sigs = NULL;
    uint8_t key[KEY_MAX];
    size_t klen = rrset_key(key, owner, (uint16_t)type, LDNS_RR_CLASS_IN);
    if (klen == 0)
        return NULL;
    uint64_t h = key_hash(c, key, klen);
    struct shard *s = shard_of(&c->rrset, h);
    struct entry *dead = NULL;
    ldns_rr_list *copy = NULL;

    pthread_mutex_lock(&s->lock);
    struct rrset_entry *r = (struct rrset_entry *)shard_find(s, h, key, klen);
    if (r && now >= r->expiry) {
        shard_remove(s, &r->e, &dead);
        r = NULL;
    }
    if (r) {
        lru_touch(&r->e);
        if (trust)
            *trust = r->trust;
        copy = ldns_rr_list_clone(r->rrs);
        /* Counted down; never above the stored TTL if the clock stepped back. */
        uint32_t stored_ttl = ldns_rr_ttl(ldns_rr_list_rr(r->rrs, 0));
        uint64_t left = (uint64_t)(r->expiry - now);
        if (left > stored_ttl)
            left = stored_ttl;
        for (size_t i = 0; copy && i < ldns_rr_list_rr_count(copy); i++)
            ldns_rr_set_ttl(ldns_rr_list_rr(copy, i), (uint32_t)left);
        if (sec)
            *sec = r->sec;
        if (sigs && r->sigs && copy) {
            *sigs = ldns_rr_list_clone(r->sigs);
            for (size_t i = 0; *sigs && i < ldns_rr_list_rr_count(*sigs); i++)
                ldns_rr_set_ttl(ldns_rr_list_rr(*sigs, i), (uint32_t)left);
        }
    }
    pthread_mutex_unlock(&s->lock);
    graveyard_free(TABLE_RRSET, dead);
    return copy;
}

/* --- Maintenance ------------------------------------------------------------ */

static size_t table_flush(struct table *t, const uint8_t *name, size_t name_len, bool subtree)
{
    size_t removed = 0;
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &t->shards[i];
        struct entry *dead = NULL;
        pthread_mutex_lock(&s->lock);
        struct entry *e = s->head;
        while (e) {
            struct entry *next = e->next;
            const uint8_t *k = entry_key(e);
            if (name_matches(k, key_name_len(k, e->key_len), name, name_len, subtree)) {
                shard_remove(s, e, &dead);
                removed++;
            }
            e = next;
        }
        pthread_mutex_unlock(&s->lock);
        graveyard_free(t->kind, dead);
    }
    return removed;
}

/* The NSEC cache could still prove a flushed name absent: a subtree flush
 * drops the zones at or below it, a flush of one name the zone whose chain
 * covers it. */
static size_t flush_nsec(struct cache *c, const uint8_t *name, size_t name_len, bool subtree)
{
    ldns_rdf *n = ldns_dname_new_frm_data((uint16_t)name_len, name);
    ldns_rdf *z = n && !subtree ? nsec_cache_zone(c->nsec, n, time(NULL)) : NULL;
    size_t dropped = n && (subtree || z) ? nsec_cache_flush(c->nsec, subtree ? n : z) : 0;
    ldns_rdf_deep_free(n);
    ldns_rdf_deep_free(z);
    return dropped;
}

size_t cache_flush(struct cache *c, const uint8_t *name, size_t name_len, bool subtree)
{
    uint8_t lname[DNS_NAME_MAX];
    if (!name_valid(name, name_len))
        return 0;
    for (size_t i = 0; i < name_len; i++)
        lname[i] = lower(name[i]);
    return table_flush(&c->msg, lname, name_len, subtree) +
           table_flush(&c->rrset, lname, name_len, subtree) +
           flush_nsec(c, lname, name_len, subtree);
}

struct nsec_cache *cache_nsec(struct cache *c)
{
    return c ? c->nsec : NULL;
}

static void table_stats(struct table *t, uint64_t *entries, struct cache_stats *out)
{
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &t->shards[i];
        pthread_mutex_lock(&s->lock);
        *entries += s->count;
        out->bytes += s->bytes;
        out->hits += s->hits;
        out->misses += s->misses;
        out->stale_hits += s->stale_hits;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}

/* hits, misses and stale_hits count cache_msg_get only (the RRset table does
 * not count lookups: the iterator's probes would swamp the hit ratio that
 * operators read); evictions and bytes cover both tables. */
void cache_stats(struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    table_stats(&c->msg, &out->msg_entries, out);
    table_stats(&c->rrset, &out->rrset_entries, out);
    struct nsec_cache_stats ns;
    nsec_cache_stats(c->nsec, &ns);
    out->nsec_records = ns.records;
    out->nsec_answers = ns.answers;
}
