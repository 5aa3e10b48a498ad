/*
 * cache_micro.c - nanoseconds per cache_msg_get hit and miss.
 *
 * Fills the message cache with 100,000 answers (one A record each, names
 * like "host12345.example.com", about 55 bytes of wire), then times lookups
 * in a shuffled order: hits spread over all 100,000 names (the worst case:
 * every lookup misses the CPU caches and the TLB), hits on a hot set of 1,000
 * names (popular names, as real traffic is), misses on names never stored,
 * and hits from 2 threads at once.  Times are CPU time of the calling thread
 * (CLOCK_THREAD_CPUTIME_ID), so other processes on a busy machine do not
 * count; the 2-thread figure is process CPU time per lookup.  Median of 5
 * rounds.  Not run by make:
 *
 *   cc -std=gnu11 -O2 -D_GNU_SOURCE -Iresolver -o /tmp/cache_micro \
 *      bench/cache_micro.c resolver/cache.c resolver/siphash.c -lldns -lpthread
 */
#include "cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRIES 100000
#define LOOKUPS 2000000
#define ROUNDS 5
#define HOT 1000
#define NOW 1700000000

struct name {
    uint8_t wire[64];
    size_t len;
};

static struct name *names, *absent;
static uint32_t *order;
static struct cache *cache;

static double cpu_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* "\thost12345\7example\3com\0" */
static size_t make_name(uint8_t *w, const char *prefix, unsigned i)
{
    char label[32];
    int n = snprintf(label, sizeof(label), "%s%u", prefix, i);
    w[0] = (uint8_t)n;
    memcpy(w + 1, label, (size_t)n);
    memcpy(w + 1 + n, "\7example\3com", 13);
    return (size_t)n + 14;
}

/* Header, question, one A record pointing back at the question. */
static size_t make_answer(uint8_t *w, const struct name *n, unsigned i)
{
    static const uint8_t head[12] = {0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
    size_t p = sizeof(head);
    memcpy(w, head, p);
    memcpy(w + p, n->wire, n->len);
    p += n->len;
    const uint8_t q[4] = {0, 1, 0, 1};
    memcpy(w + p, q, 4);
    p += 4;
    const uint8_t rr[16] = {0xc0,
                            12,
                            0,
                            1,
                            0,
                            1,
                            0,
                            0,
                            0x0e,
                            0x10,
                            0,
                            4,
                            10,
                            (uint8_t)(i >> 16),
                            (uint8_t)(i >> 8),
                            (uint8_t)i};
    memcpy(w + p, rr, sizeof(rr));
    return p + sizeof(rr);
}

/* Looks up set[order[i % span]]: span ENTRIES spreads over the whole
 * cache, span HOT stays in a hot set (order is a permutation of 0..ENTRIES,
 * so its first HOT values are HOT distinct names). */
static double run(const struct name *set, unsigned span, unsigned lookups, unsigned start,
                  int *found)
{
    uint8_t out[512];
    struct cache_msg_hit hit;
    double t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    for (unsigned i = 0; i < lookups; i++) {
        const struct name *n = &set[order[(start + i) % span]];
        *found += cache_msg_get(cache, n->wire, n->len, 1, 1, NOW + 10, false, out, sizeof(out),
                                &hit) > 0;
    }
    return (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / lookups;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp_double);
    return v[ROUNDS / 2];
}

struct worker {
    unsigned start;
    double ns;
    int found;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    w->ns = run(names, ENTRIES, LOOKUPS, w->start, &w->found);
    return NULL;
}

int main(void)
{
    struct cache_limits l = {
        .max_bytes = 256u << 20, .max_ttl = 86400, .max_negative_ttl = 3600, .stale_max_age = 3600};
    cache = cache_new(&l);
    names = calloc(ENTRIES, sizeof(*names));
    absent = calloc(ENTRIES, sizeof(*absent));
    order = calloc(ENTRIES, sizeof(*order));
    if (!cache || !names || !absent || !order)
        return 1;
    uint8_t w[512];
    for (unsigned i = 0; i < ENTRIES; i++) {
        names[i].len = make_name(names[i].wire, "host", i);
        absent[i].len = make_name(absent[i].wire, "nohost", i);
        size_t len = make_answer(w, &names[i], i);
        if (cache_msg_put(cache, names[i].wire, names[i].len, 1, 1, w, len, NOW) != 0) {
            fprintf(stderr, "put %u failed\n", i);
            return 1;
        }
        order[i] = i;
    }
    srand(1);
    for (unsigned i = ENTRIES - 1; i > 0; i--) {
        unsigned j = (unsigned)rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }

    double hit[ROUNDS], hot[ROUNDS], miss[ROUNDS], par[ROUNDS];
    int found_hit = 0, found_hot = 0, found_miss = 0;
    for (int r = 0; r < ROUNDS; r++) {
        hit[r] = run(names, ENTRIES, LOOKUPS, 0, &found_hit);
        hot[r] = run(names, HOT, LOOKUPS, 0, &found_hot);
        miss[r] = run(absent, ENTRIES, LOOKUPS, 0, &found_miss);
        pthread_t th[2];
        struct worker wk[2] = {{.start = 0}, {.start = ENTRIES / 2}};
        double t0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, worker_main, &wk[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        par[r] = (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - t0) / (2.0 * LOOKUPS);
    }
    struct cache_stats st;
    cache_stats(cache, &st);
    printf("entries %llu, bytes %llu (%.0f per entry)\n", (unsigned long long)st.msg_entries,
           (unsigned long long)st.bytes, (double)st.bytes / (double)st.msg_entries);
    printf("hit, spread over 100k: %.1f ns (found %d of %d)\n", median(hit), found_hit,
           ROUNDS * LOOKUPS);
    printf("hit, hot set of %d:  %.1f ns (found %d of %d)\n", HOT, median(hot), found_hot,
           ROUNDS * LOOKUPS);
    printf("miss:                  %.1f ns (found %d)\n", median(miss), found_miss);
    printf("hit, 2 threads, spread: %.1f ns CPU per lookup\n", median(par));
    cache_free(cache);
    return 0;
}
