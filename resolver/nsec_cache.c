/*
 * nsec_cache.c - validated NSEC/NSEC3 records by zone, in order (see
 * nsec_cache.h).
 *
 * Two levels of ldns red-black trees: zones by name, and in each zone its
 * records by owner name, both in canonical order (ldns_dname_compare).
 * A look-up of the records that could prove something about a name is a
 * handful of predecessor searches: for NSEC at the name itself, at each
 * ancestor down to the zone and at the wildcard below each (RFC 4035
 * 5.4: a covering NSEC, the closest encloser, the wildcard); for NSEC3 the
 * same names hashed (RFC 5155 8.3-8.7).  val_check_denial then decides
 * with those few records as if a server had sent them.
 *
 * Expiry is absolute wall-clock time; an expired record found on the way
 * is dropped there.  Bound: max_records RRsets in all; past it the zone
 * used least recently is dropped whole (a zone is one chain: half of one
 * proves little), which keeps eviction O(zones) and rare.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nsec_cache.h"
#include "validator.h"

#define NSEC_CACHE_DEFAULT_MAX 20000

struct nrec {
    ldns_rbnode_t node; /* key: owner, canonical */
    ldns_rdf *owner;
    ldns_rr_list *rrs, *sigs;
    time_t expire;
};

struct nzone {
    ldns_rbnode_t node; /* key: name, canonical */
    ldns_rdf *name;
    ldns_rr_type type;   /* NSEC or NSEC3 */
    ldns_rr *params;     /* NSEC3: a record whose parameters hash names */
    ldns_rbtree_t *recs; /* struct nrec */
    size_t nrecs;
    ldns_rr_list *soa, *soa_sigs;
    time_t soa_expire;
    uint64_t used; /* tick of the last put or look-up, for eviction */
};

struct nsec_cache {
    pthread_mutex_t lock;
    ldns_rbtree_t *zones; /* struct nzone */
    size_t max_records, records;
    uint64_t tick, evicted;
    uint64_t answers; /* atomic */
};

static int dname_cmp(const void *a, const void *b)
{
    return ldns_dname_compare((const ldns_rdf *)a, (const ldns_rdf *)b);
}

static ldns_rdf *canonical_copy(const ldns_rdf *name)
{
    ldns_rdf *c = ldns_rdf_clone(name);
    if (c)
        ldns_dname2canonical(c);
    return c;
}

/* A deep copy of l with every TTL at most ttl. */
static ldns_rr_list *copy_ttl(const ldns_rr_list *l, uint32_t ttl)
{
    ldns_rr_list *c = l ? ldns_rr_list_clone(l) : ldns_rr_list_new();
    for (size_t i = 0; c && i < ldns_rr_list_rr_count(c); i++)
        if (ldns_rr_ttl(ldns_rr_list_rr(c, i)) > ttl)
            ldns_rr_set_ttl(ldns_rr_list_rr(c, i), ttl);
    return c;
}

/* Appends copies of l's records to out with TTL = what is left. */
static void push_left(ldns_rr_list *out, const ldns_rr_list *l, uint32_t left)
{
    for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
        ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(l, i));
        if (!c)
            return;
        ldns_rr_set_ttl(c, left);
        if (!ldns_rr_list_push_rr(out, c))
            ldns_rr_free(c);
    }
}

static void nrec_free(struct nrec *r)
{
    if (!r)
        return;
    ldns_rdf_deep_free(r->owner);
    ldns_rr_list_deep_free(r->rrs);
    ldns_rr_list_deep_free(r->sigs);
    free(r);
}

static void nrec_free_cb(ldns_rbnode_t *n, void *arg)
{
    (void)arg;
    nrec_free((struct nrec *)n);
}

/* Drops z's records; its type and NSEC3 parameters stay. */
static void zone_clear_recs(struct nsec_cache *nc, struct nzone *z)
{
    ldns_traverse_postorder(z->recs, nrec_free_cb, NULL);
    ldns_rbtree_init(z->recs, dname_cmp);
    nc->records -= z->nrecs;
    z->nrecs = 0;
}

static void zone_clear(struct nsec_cache *nc, struct nzone *z)
{
    zone_clear_recs(nc, z);
    ldns_rr_free(z->params);
    z->params = NULL;
}

static void zone_free(struct nsec_cache *nc, struct nzone *z)
{
    zone_clear(nc, z);
    ldns_rbtree_free(z->recs);
    ldns_rr_list_deep_free(z->soa);
    ldns_rr_list_deep_free(z->soa_sigs);
    ldns_rdf_deep_free(z->name);
    free(z);
}

static void zone_free_cb(ldns_rbnode_t *n, void *arg)
{
    zone_free(arg, (struct nzone *)n);
}

struct nsec_cache *nsec_cache_new(size_t max_records)
{
    struct nsec_cache *nc = calloc(1, sizeof(*nc));
    if (!nc)
        return NULL;
    if (!(nc->zones = ldns_rbtree_create(dname_cmp)) || pthread_mutex_init(&nc->lock, NULL) != 0) {
        ldns_rbtree_free(nc->zones);
        free(nc);
        return NULL;
    }
    nc->max_records = max_records ? max_records : NSEC_CACHE_DEFAULT_MAX;
    return nc;
}

void nsec_cache_free(struct nsec_cache *nc)
{
    if (!nc)
        return;
    ldns_traverse_postorder(nc->zones, zone_free_cb, nc);
    ldns_rbtree_free(nc->zones);
    pthread_mutex_destroy(&nc->lock);
    free(nc);
}

static struct nzone *zone_find(struct nsec_cache *nc, const ldns_rdf *canon)
{
    return (struct nzone *)ldns_rbtree_search(nc->zones, canon);
}

static struct nzone *zone_get(struct nsec_cache *nc, const ldns_rdf *zone)
{
    ldns_rdf *canon = canonical_copy(zone);
    if (!canon)
        return NULL;
    struct nzone *z = zone_find(nc, canon);
    if (z) {
        ldns_rdf_deep_free(canon);
        return z;
    }
    if (!(z = calloc(1, sizeof(*z))) || !(z->recs = ldns_rbtree_create(dname_cmp))) {
        free(z);
        ldns_rdf_deep_free(canon);
        return NULL;
    }
    z->name = canon;
    z->node.key = z->name;
    ldns_rbtree_insert(nc->zones, &z->node);
    return z;
}

static void zone_drop(struct nsec_cache *nc, struct nzone *z)
{
    ldns_rbtree_delete(nc->zones, z->name);
    zone_free(nc, z);
}

/* Past the bound: drop least recently used zones (never keep) until there
 * is room for one more record. */
static void make_room(struct nsec_cache *nc, struct nzone *keep)
{
    while (nc->records >= nc->max_records) {
        struct nzone *lru = NULL, *z;
        LDNS_RBTREE_FOR(z, struct nzone *, nc->zones)
        {
            if (z != keep && z->nrecs > 0 && (!lru || z->used < lru->used))
                lru = z;
        }
        if (!lru) {
            /* keep alone fills the cache: start its chain again */
            zone_clear_recs(nc, keep);
            nc->evicted++;
            return;
        }
        zone_drop(nc, lru);
        nc->evicted++;
    }
}

int nsec_cache_put(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rr_list *set,
                   const ldns_rr_list *sigs, uint32_t ttl, time_t now)
{
    if (!nc || !zone || !set || ldns_rr_list_rr_count(set) == 0 || ttl == 0)
        return -EINVAL;
    const ldns_rr *first = ldns_rr_list_rr(set, 0);
    ldns_rr_type type = ldns_rr_get_type(first);
    if ((type != LDNS_RR_TYPE_NSEC && type != LDNS_RR_TYPE_NSEC3) ||
        (!ldns_dname_is_subdomain(ldns_rr_owner(first), zone) &&
         ldns_dname_compare(ldns_rr_owner(first), zone) != 0))
        return -EINVAL;
    if (type == LDNS_RR_TYPE_NSEC3 && !val_nsec3_hashable(first, zone))
        return -EINVAL;
    struct nrec *r = calloc(1, sizeof(*r));
    if (!r || !(r->owner = canonical_copy(ldns_rr_owner(first))) ||
        !(r->rrs = copy_ttl(set, ttl)) || !(r->sigs = copy_ttl(sigs, ttl))) {
        nrec_free(r);
        return -ENOMEM;
    }
    r->node.key = r->owner;
    r->expire = now + (time_t)ttl;
    int rc = 0;
    pthread_mutex_lock(&nc->lock);
    struct nzone *z = zone_get(nc, zone);
    if (!z) {
        rc = -ENOMEM;
        goto out;
    }
    z->used = ++nc->tick;
    /* One chain per zone: NSEC or NSEC3 with one parameter set. */
    if (z->nrecs > 0 && (z->type != type || (type == LDNS_RR_TYPE_NSEC3 && z->params &&
                                             !val_nsec3_same_params(z->params, first))))
        zone_clear(nc, z);
    if (z->nrecs == 0) {
        z->type = type;
        ldns_rr_free(z->params); /* records expired or evicted: parameters anew */
        z->params = NULL;
        if (type == LDNS_RR_TYPE_NSEC3 && !(z->params = ldns_rr_clone(first))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    struct nrec *old = (struct nrec *)ldns_rbtree_delete(z->recs, r->owner);
    if (old) {
        nrec_free(old);
        z->nrecs--;
        nc->records--;
    }
    make_room(nc, z);
    ldns_rbtree_insert(z->recs, &r->node);
    z->nrecs++;
    nc->records++;
    r = NULL;
out:
    pthread_mutex_unlock(&nc->lock);
    nrec_free(r);
    return rc;
}

int nsec_cache_put_soa(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rr_list *soa,
                       const ldns_rr_list *sigs, uint32_t ttl, time_t now)
{
    if (!nc || !zone || !soa || ldns_rr_list_rr_count(soa) == 0 || ttl == 0 ||
        ldns_rr_get_type(ldns_rr_list_rr(soa, 0)) != LDNS_RR_TYPE_SOA ||
        ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(soa, 0)), zone) != 0)
        return -EINVAL;
    ldns_rr_list *s = copy_ttl(soa, ttl), *g = copy_ttl(sigs, ttl);
    int rc = s && g ? 0 : -ENOMEM;
    pthread_mutex_lock(&nc->lock);
    struct nzone *z = rc == 0 ? zone_get(nc, zone) : NULL;
    if (z) {
        ldns_rr_list_deep_free(z->soa);
        ldns_rr_list_deep_free(z->soa_sigs);
        z->soa = s;
        z->soa_sigs = g;
        z->soa_expire = now + (time_t)ttl;
        s = g = NULL;
    } else {
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&nc->lock);
    ldns_rr_list_deep_free(s);
    ldns_rr_list_deep_free(g);
    return rc;
}

static bool same_rr(const ldns_rr *a, const ldns_rr *b)
{
    if (ldns_rr_get_type(a) != ldns_rr_get_type(b) ||
        ldns_rr_get_class(a) != ldns_rr_get_class(b) ||
        ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(b)) != 0 ||
        ldns_rr_rd_count(a) != ldns_rr_rd_count(b))
        return false;
    for (size_t i = 0; i < ldns_rr_rd_count(a); i++)
        if (ldns_rdf_compare(ldns_rr_rdf(a, i), ldns_rr_rdf(b, i)) != 0)
            return false;
    return true;
}

/* Every RR of l is in kept. */
static bool all_in(const ldns_rr_list *l, const ldns_rr_list *kept)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
        bool found = false;
        for (size_t j = 0; !found && kept && j < ldns_rr_list_rr_count(kept); j++)
            found = same_rr(ldns_rr_list_rr(l, i), ldns_rr_list_rr(kept, j));
        if (!found)
            return false;
    }
    return true;
}

bool nsec_cache_holds(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rr_list *set,
                      const ldns_rr_list *sigs, time_t now)
{
    if (!nc || !zone || !set || ldns_rr_list_rr_count(set) == 0)
        return false;
    const ldns_rr *first = ldns_rr_list_rr(set, 0);
    ldns_rdf *zcanon = canonical_copy(zone), *owner = canonical_copy(ldns_rr_owner(first));
    bool held = false;
    pthread_mutex_lock(&nc->lock);
    struct nzone *z = zcanon ? zone_find(nc, zcanon) : NULL;
    const ldns_rr_list *rrs = NULL, *ksigs = NULL;
    if (z && ldns_rr_get_type(first) == LDNS_RR_TYPE_SOA) {
        if (z->soa && z->soa_expire > now) {
            rrs = z->soa;
            ksigs = z->soa_sigs;
        }
    } else if (z && owner) {
        struct nrec *r = (struct nrec *)ldns_rbtree_search(z->recs, owner);
        if (r && r->expire > now) {
            rrs = r->rrs;
            ksigs = r->sigs;
        }
    }
    held = rrs && ldns_rr_list_rr_count(rrs) == ldns_rr_list_rr_count(set) && all_in(set, rrs) &&
           ldns_rr_list_rr_count(sigs) > 0 && all_in(sigs, ksigs);
    pthread_mutex_unlock(&nc->lock);
    ldns_rdf_deep_free(zcanon);
    ldns_rdf_deep_free(owner);
    return held;
}

ldns_rdf *nsec_cache_zone(struct nsec_cache *nc, const ldns_rdf *name, time_t now)
{
    if (!nc || !name)
        return NULL;
    ldns_rdf *n = canonical_copy(name), *found = NULL;
    pthread_mutex_lock(&nc->lock);
    while (n && !found) {
        struct nzone *z = zone_find(nc, n);
        if (z && z->nrecs > 0 && z->soa_expire > now)
            found = ldns_rdf_clone(z->name);
        ldns_rdf *up = ldns_dname_label_count(n) > 0 ? ldns_dname_left_chop(n) : NULL;
        ldns_rdf_deep_free(n);
        n = up;
    }
    pthread_mutex_unlock(&nc->lock);
    ldns_rdf_deep_free(n);
    return found;
}

/* The unexpired record at or before key, wrapping round to the last one
 * (the last NSEC covers the names after it; the last NSEC3 the hashes
 * after it and before the first).  An expired record met is dropped. */
static struct nrec *at_or_before(struct nsec_cache *nc, struct nzone *z, const ldns_rdf *key,
                                 time_t now)
{
    ldns_rbnode_t *n = NULL;
    ldns_rbtree_find_less_equal(z->recs, key, &n);
    if (!n || n == LDNS_RBTREE_NULL)
        n = ldns_rbtree_last(z->recs);
    if (!n || n == LDNS_RBTREE_NULL)
        return NULL;
    struct nrec *r = (struct nrec *)n;
    if (r->expire > now)
        return r;
    ldns_rbtree_delete(z->recs, r->owner);
    nrec_free(r);
    z->nrecs--;
    nc->records--;
    return NULL;
}

/* The hashed owner H(name).zone under z's parameters, canonical, or NULL. */
static ldns_rdf *nsec3_key(const struct nzone *z, const ldns_rdf *name)
{
    ldns_rdf *h = val_nsec3_hash(z->params, z->name, name);
    if (h)
        ldns_dname2canonical(h);
    return h;
}

#define NSEC_CACHE_MAX_PICKS 256 /* 2 x 127 labels, plus the name */

/* Adds the record for key (a name, hashed for NSEC3) to picks once. */
static void pick(struct nsec_cache *nc, struct nzone *z, const ldns_rdf *name, time_t now,
                 struct nrec **picks, size_t *npicks)
{
    ldns_rdf *key = z->type == LDNS_RR_TYPE_NSEC3 ? nsec3_key(z, name) : canonical_copy(name);
    struct nrec *r = key ? at_or_before(nc, z, key, now) : NULL;
    ldns_rdf_deep_free(key);
    if (!r)
        return;
    for (size_t i = 0; i < *npicks; i++)
        if (picks[i] == r)
            return;
    if (*npicks < NSEC_CACHE_MAX_PICKS)
        picks[(*npicks)++] = r;
}

size_t nsec_cache_candidates(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rdf *name,
                             time_t now, ldns_rr_list *out, uint32_t *ttl)
{
    if (!nc || !zone || !name || !out ||
        (!ldns_dname_is_subdomain(name, zone) && ldns_dname_compare(name, zone) != 0))
        return 0;
    struct nrec *picks[NSEC_CACHE_MAX_PICKS];
    size_t npicks = 0;
    uint32_t least = UINT32_MAX;
    ldns_rdf *zcanon = canonical_copy(zone);
    ldns_rdf *n = canonical_copy(name);
    pthread_mutex_lock(&nc->lock);
    struct nzone *z = zcanon ? zone_find(nc, zcanon) : NULL;
    if (z)
        z->used = ++nc->tick;
    unsigned zl = ldns_dname_label_count(zone);
    while (z && n && z->nrecs > 0) {
        pick(nc, z, n, now, picks, &npicks);
        ldns_rdf *star = ldns_dname_new_frm_str("*");
        if (star && ldns_dname_cat(star, n) == LDNS_STATUS_OK)
            pick(nc, z, star, now, picks, &npicks);
        ldns_rdf_deep_free(star);
        if (ldns_dname_label_count(n) <= zl)
            break;
        ldns_rdf *up = ldns_dname_left_chop(n);
        ldns_rdf_deep_free(n);
        n = up;
    }
    for (size_t i = 0; i < npicks; i++) {
        uint32_t left = (uint32_t)(picks[i]->expire - now);
        least = left < least ? left : least;
        push_left(out, picks[i]->rrs, left);
        push_left(out, picks[i]->sigs, left);
    }
    pthread_mutex_unlock(&nc->lock);
    ldns_rdf_deep_free(n);
    ldns_rdf_deep_free(zcanon);
    if (ttl)
        *ttl = npicks ? least : 0;
    return npicks;
}

int nsec_cache_soa(struct nsec_cache *nc, const ldns_rdf *zone, time_t now, ldns_rr_list *soa,
                   ldns_rr_list *sigs)
{
    if (!nc || !zone || !soa || !sigs)
        return -EINVAL;
    ldns_rdf *canon = canonical_copy(zone);
    int rc = -ENOENT;
    pthread_mutex_lock(&nc->lock);
    struct nzone *z = canon ? zone_find(nc, canon) : NULL;
    if (z && z->soa && z->soa_expire > now) {
        uint32_t left = (uint32_t)(z->soa_expire - now);
        push_left(soa, z->soa, left);
        push_left(sigs, z->soa_sigs, left);
        rc = 0;
    }
    pthread_mutex_unlock(&nc->lock);
    ldns_rdf_deep_free(canon);
    return rc;
}

size_t nsec_cache_flush(struct nsec_cache *nc, const ldns_rdf *name)
{
    if (!nc)
        return 0;
    size_t dropped = 0;
    pthread_mutex_lock(&nc->lock);
    struct nzone *victims[64];
    for (;;) {
        size_t n = 0;
        struct nzone *z;
        LDNS_RBTREE_FOR(z, struct nzone *, nc->zones)
        {
            if (n < 64 && (!name || ldns_dname_compare(z->name, name) == 0 ||
                           ldns_dname_is_subdomain(z->name, name)))
                victims[n++] = z;
        }
        for (size_t i = 0; i < n; i++) {
            dropped += victims[i]->nrecs;
            zone_drop(nc, victims[i]);
        }
        if (n < 64)
            break;
    }
    pthread_mutex_unlock(&nc->lock);
    return dropped;
}

void nsec_cache_count_answer(struct nsec_cache *nc)
{
    if (nc)
        __atomic_add_fetch(&nc->answers, 1, __ATOMIC_RELAXED);
}

void nsec_cache_stats(struct nsec_cache *nc, struct nsec_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!nc)
        return;
    pthread_mutex_lock(&nc->lock);
    out->zones = nc->zones->count;
    out->records = nc->records;
    out->evicted_zones = nc->evicted;
    out->answers = __atomic_load_n(&nc->answers, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&nc->lock);
}
