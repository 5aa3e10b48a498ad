/*
 * infra.c - the infrastructure cache: what the resolver has learnt about each
 * upstream address (smoothed RTT and variance, RFC 6298 section 2;
 * consecutive timeouts with back-off) and which (address, zone) pairs are
 * lame (RFC 1034 section 5.3.3 step 4: "the server is not authoritative").
 *
 * Key space: one table of entries keyed by (family, address, port, zone).
 * The RTT entry of an address has an empty zone (zone_len 0); a lameness
 * entry carries the zone in lower-case uncompressed wire form.  Buckets are
 * chosen by SipHash-1-3 with a secret key drawn in infra_new: addresses and
 * zone names come from referrals, that is from outside.
 *
 * Bounded: at most INFRA_MAX_ENTRIES entries; when full, the least recently
 * used entry goes (one LRU list).  One mutex guards everything; each call is
 * a hash lookup.  RTTs are milliseconds measured by the driver (monotonic);
 * down and lame expiry are wall-clock seconds.
 *
 * Not here: choosing a server (iterator.c decides, from infra_rtt_ms).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "infra.h"
#include "siphash.h"

#define INFRA_BUCKETS 4096      /* power of two */
#define INFRA_MAX_ENTRIES 16384 /* bound on the table */
#define INFRA_MAX_ZONE 255
#define INFRA_DEFAULT_BASE_MS 400
#define INFRA_RTO_MAX_MS 3000      /* clamp of the un-backed-off RTO */
#define INFRA_TIMEOUT_CAP_MS 12000 /* clamp after doubling */
#define INFRA_MAX_BACKOFF_SHIFT 3  /* doubling stops after 3 timeouts */
#define INFRA_DOWN_AFTER 3         /* consecutive timeouts before "down" */
#define INFRA_DOWN_MIN_S 5         /* first back-off, doubled per further timeout */
#define INFRA_DOWN_MAX_S 120
#define INFRA_LAME_TTL_S 900     /* 15 minutes, as Unbound's infra-host-ttl */
#define INFRA_UNKNOWN_RTT_MAX 10 /* unknown servers rank 1..10 ms: tried early */
#define INFRA_TIMEOUT_PENALTY_MS 1000

struct infra_key {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t pad;
    uint16_t port; /* network order */
    uint8_t addr[16];
    uint16_t zone_len; /* 0: the address's RTT entry */
    uint8_t zone[INFRA_MAX_ZONE];
};

struct infra_entry {
    struct infra_key key;
    struct infra_entry *hnext;               /* bucket chain */
    struct infra_entry *lru_prev, *lru_next; /* head = most recent */
    bool have_rtt;
    uint32_t srtt_ms, rttvar_ms;
    unsigned timeouts; /* consecutive */
    time_t down_until;
    time_t lame_until;
};

struct infra {
    pthread_mutex_t lock;
    uint8_t secret[SIPHASH_KEY_LEN];
    struct infra_entry *buckets[INFRA_BUCKETS];
    struct infra_entry *lru_head, *lru_tail;
    size_t count;
};

struct infra *infra_new(void)
{
    struct infra *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    if (getrandom(in->secret, sizeof(in->secret), 0) != (ssize_t)sizeof(in->secret))
        arc4random_buf(in->secret, sizeof(in->secret));
    if (pthread_mutex_init(&in->lock, NULL) != 0) {
        free(in);
        return NULL;
    }
    return in;
}

void infra_free(struct infra *in)
{
    if (!in)
        return;
    struct infra_entry *e = in->lru_head;
    while (e) {
        struct infra_entry *next = e->lru_next;
        free(e);
        e = next;
    }
    pthread_mutex_destroy(&in->lock);
    free(in);
}

/* Fills key from sa and zone.  -EAFNOSUPPORT for anything but IPv4/IPv6,
 * -EINVAL for an over-long zone. */
static int infra_key_make(struct infra_key *key, const struct sockaddr *sa, const uint8_t *zone,
                          size_t zone_len)
{
    memset(key, 0, sizeof(*key));
    if (!sa)
        return -EINVAL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        key->family = AF_INET;
        key->port = s4->sin_port;
        memcpy(key->addr, &s4->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        key->family = AF_INET6;
        key->port = s6->sin6_port;
        memcpy(key->addr, &s6->sin6_addr, 16);
    } else {
        return -EAFNOSUPPORT;
    }
    if (zone_len > INFRA_MAX_ZONE || (zone_len > 0 && !zone))
        return -EINVAL;
    key->zone_len = (uint16_t)zone_len;
    /* Zones are keys: lower case them here so callers cannot miss. */
    for (size_t i = 0; i < zone_len; i++) {
        uint8_t c = zone[i];
        key->zone[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    }
    return 0;
}

static size_t infra_bucket(const struct infra *in, const struct infra_key *key)
{
    size_t hashed = offsetof(struct infra_key, zone) + key->zone_len;
    return (size_t)(siphash13(in->secret, key, hashed) & (INFRA_BUCKETS - 1));
}

static bool infra_key_eq(const struct infra_key *a, const struct infra_key *b)
{
    return memcmp(a, b, offsetof(struct infra_key, zone) + a->zone_len) == 0;
}

static void lru_unlink(struct infra *in, struct infra_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        in->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        in->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct infra *in, struct infra_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = in->lru_head;
    if (in->lru_head)
        in->lru_head->lru_prev = e;
    in->lru_head = e;
    if (!in->lru_tail)
        in->lru_tail = e;
}

static void infra_remove(struct infra *in, struct infra_entry *e)
{
    struct infra_entry **pp = &in->buckets[infra_bucket(in, &e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(in, e);
    in->count--;
    free(e);
}

/* Finds the entry for key, moving it to the front of the LRU list.  With
 * create, makes it (evicting the oldest when full).  NULL when absent, or on
 * ENOMEM: the infra cache is advice, so callers carry on without it. */
static struct infra_entry *infra_find(struct infra *in, const struct infra_key *key, bool create)
{
    size_t b = infra_bucket(in, key);
    for (struct infra_entry *e = in->buckets[b]; e; e = e->hnext) {
        if (infra_key_eq(&e->key, key)) {
            lru_unlink(in, e);
            lru_push_front(in, e);
            return e;
        }
    }
    if (!create)
        return NULL;
    if (in->count >= INFRA_MAX_ENTRIES && in->lru_tail)
        infra_remove(in, in->lru_tail);
    struct infra_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key = *key;
    e->hnext = in->buckets[b];
    in->buckets[b] = e;
    lru_push_front(in, e);
    in->count++;
    return e;
}

static struct infra_entry *infra_lock_find(struct infra *in, const struct sockaddr *sa,
                                           const uint8_t *zone, size_t zone_len, bool create)
{
    struct infra_key key;
    if (!in || infra_key_make(&key, sa, zone, zone_len) < 0)
        return NULL;
    pthread_mutex_lock(&in->lock);
    struct infra_entry *e = infra_find(in, &key, create);
    if (!e)
        pthread_mutex_unlock(&in->lock);
    return e; /* locked when not NULL */
}

/* RFC 6298 section 2: RTO = SRTT + 4 * RTTVAR, clamped to [base, 3 s]; then
 * doubled per consecutive timeout (section 5.5), capped. */
unsigned infra_timeout_ms(struct infra *in, const struct sockaddr *sa, unsigned base_ms)
{
    if (base_ms == 0)
        base_ms = INFRA_DEFAULT_BASE_MS;
    struct infra_entry *e = infra_lock_find(in, sa, NULL, 0, false);
    if (!e)
        return base_ms;
    uint64_t rto = base_ms;
    if (e->have_rtt)
        rto = (uint64_t)e->srtt_ms + 4 * (uint64_t)e->rttvar_ms;
    if (rto < base_ms)
        rto = base_ms;
    if (rto > INFRA_RTO_MAX_MS)
        rto = INFRA_RTO_MAX_MS > base_ms ? INFRA_RTO_MAX_MS : base_ms;
    unsigned shift = e->timeouts < INFRA_MAX_BACKOFF_SHIFT ? e->timeouts : INFRA_MAX_BACKOFF_SHIFT;
    pthread_mutex_unlock(&in->lock);
    rto <<= shift;
    if (rto > INFRA_TIMEOUT_CAP_MS)
        rto = INFRA_TIMEOUT_CAP_MS > base_ms ? INFRA_TIMEOUT_CAP_MS : base_ms;
    return (unsigned)rto;
}

unsigned infra_rtt_ms(struct infra *in, const struct sockaddr *sa)
{
    struct infra_entry *e = infra_lock_find(in, sa, NULL, 0, false);
    if (!e || (!e->have_rtt && e->timeouts == 0)) {
        if (e)
            pthread_mutex_unlock(&in->lock);
        /* Never asked: rank it near the top so it gets one try. */
        return 1 + arc4random_uniform(INFRA_UNKNOWN_RTT_MAX);
    }
    uint64_t rtt = e->have_rtt ? e->srtt_ms : INFRA_TIMEOUT_PENALTY_MS;
    rtt += (uint64_t)e->timeouts * INFRA_TIMEOUT_PENALTY_MS;
    pthread_mutex_unlock(&in->lock);
    return rtt > UINT32_MAX ? UINT32_MAX : (unsigned)rtt;
}

void infra_rtt_update(struct infra *in, const struct sockaddr *sa, unsigned rtt_ms, time_t now)
{
    (void)now;
    struct infra_entry *e = infra_lock_find(in, sa, NULL, 0, true);
    if (!e)
        return;
    if (rtt_ms > 120000)
        rtt_ms = 120000; /* keep the arithmetic far from overflow */
    if (!e->have_rtt) {
        /* RFC 6298 (2.2): first measurement R: SRTT = R, RTTVAR = R/2. */
        e->srtt_ms = rtt_ms;
        e->rttvar_ms = rtt_ms / 2;
        e->have_rtt = true;
    } else {
        /* RFC 6298 (2.3): beta = 1/4, alpha = 1/8. */
        uint32_t delta = e->srtt_ms > rtt_ms ? e->srtt_ms - rtt_ms : rtt_ms - e->srtt_ms;
        e->rttvar_ms = (3 * e->rttvar_ms + delta) / 4;
        e->srtt_ms = (7 * e->srtt_ms + rtt_ms) / 8;
    }
    e->timeouts = 0;
    e->down_until = 0;
    pthread_mutex_unlock(&in->lock);
}

void infra_timeout(struct infra *in, const struct sockaddr *sa, time_t now)
{
    struct infra_entry *e = infra_lock_find(in, sa, NULL, 0, true);
    if (!e)
        return;
    if (e->timeouts < 64)
        e->timeouts++;
    if (e->timeouts >= INFRA_DOWN_AFTER) {
        unsigned shift = e->timeouts - INFRA_DOWN_AFTER;
        time_t backoff = INFRA_DOWN_MAX_S;
        if (shift < 5 && ((time_t)INFRA_DOWN_MIN_S << shift) < INFRA_DOWN_MAX_S)
            backoff = (time_t)INFRA_DOWN_MIN_S << shift;
        e->down_until = now + backoff;
    }
    pthread_mutex_unlock(&in->lock);
}

bool infra_is_down(struct infra *in, const struct sockaddr *sa, time_t now)
{
    struct infra_entry *e = infra_lock_find(in, sa, NULL, 0, false);
    if (!e)
        return false;
    /* Once the back-off has passed the server gets a probe: one more timeout
     * puts it down again for longer. */
    bool down = e->timeouts >= INFRA_DOWN_AFTER && now < e->down_until;
    pthread_mutex_unlock(&in->lock);
    return down;
}

void infra_set_lame(struct infra *in, const struct sockaddr *sa, const uint8_t *zone,
                    size_t zone_len, time_t now)
{
    if (zone_len == 0)
        return; /* the root is "\0", never empty */
    struct infra_entry *e = infra_lock_find(in, sa, zone, zone_len, true);
    if (!e)
        return;
    e->lame_until = now + INFRA_LAME_TTL_S;
    pthread_mutex_unlock(&in->lock);
}

bool infra_is_lame(struct infra *in, const struct sockaddr *sa, const uint8_t *zone,
                   size_t zone_len, time_t now)
{
    if (zone_len == 0)
        return false;
    struct infra_entry *e = infra_lock_find(in, sa, zone, zone_len, false);
    if (!e)
        return false;
    bool lame = now < e->lame_until;
    pthread_mutex_unlock(&in->lock);
    return lame;
}
