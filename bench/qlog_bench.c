/*
 * qlog_bench.c - query log figures (not a test; nothing asserted):
 *   1. sustained records/s through one ring of the daemon's default size
 *      (QLOG_RING_DEFAULT) and the writer thread, the producer retrying on a
 *      full ring so nothing is dropped; then paced runs at fixed rates
 *      without retrying, counting drops (what a worker sees);
 *   2. bytes per record on disk;
 *   3. over N generated records (default 10 million, one day, 2,000
 *      clients, 50,000 names, 5% blocked): a one-client search over the
 *      day (as "logs --client X --since 1d" with the default limit and
 *      without), an exact name, a *.suffix search, blocked in one category,
 *      one AS number and one country over the day (no index: a scan), and
 *      the daily safeguarding report.  Answered records carry geo data as
 *      with geo databases configured (3,000 ASNs, 20 countries; 1 in 10
 *      unknown).
 *
 * Build (after make): cc -std=gnu11 -O2 -D_GNU_SOURCE -Iresolver -Itools -o qlog_bench \
 *          bench/qlog_bench.c build/libgatehouse.a $(pkg-config --libs ldns libuv yaml-0.1 \
 *          lmdb libmaxminddb libsystemd libidn2) -lpthread -lm
 * Run:   qlog_bench DIR [RECORDS]      (DIR is created; needs a few GB)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qlog.h"

#include "../tools/ctl_logs.c"

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void gen(struct qlog_record *r, uint64_t t)
{
    char name[96];
    bool sfx;
    uint64_t x = xr();
    unsigned client = (unsigned)(x % 2000), n = (unsigned)((x >> 16) % 50000);
    memset(r, 0, offsetof(struct qlog_record, name));
    r->time_us = t;
    r->family = 4;
    r->client[10] = r->client[11] = 0xff;
    r->client[12] = 10;
    r->client[13] = 20;
    r->client[14] = (uint8_t)(client >> 8);
    r->client[15] = (uint8_t)client;
    r->segment = (uint8_t)(client % 4);
    snprintf(name, sizeof name, "www%u.site%u.example%u.com", n % 7, n, n % 13);
    qlog_parse_name(name, r->name, &r->name_len, &sfx);
    r->qtype = (x >> 40) % 4 ? 1 : 28;
    r->response_us = (uint32_t)((x >> 20) % 50000);
    r->flags = (x >> 50) % 3 ? QLOG_F_CACHE : 0;
    if ((x >> 33) % 20 == 0) {
        r->verdict = QLOG_BLOCKED;
        r->category = (uint16_t)(1 + (x >> 44) % 10);
        r->rule = 1;
    } else {
        static const char cc[] = "GBUSDEFRNLIEROCHSEITESPLBEATDKNOFIRUCN";
        r->naddrs = 1;
        r->answer_family[0] = 4;
        r->answer[0][10] = r->answer[0][11] = 0xff;
        memcpy(r->answer[0] + 12, &x, 4);
        if ((x >> 56) % 10) { /* as the worker fills them from the geo databases */
            unsigned a = (unsigned)((x >> 8) % 3000), c = a % 19;
            r->asn = 64512 + a;
            memcpy(r->country, cc + 2 * c, 2);
            snprintf(r->org, sizeof r->org, "Bench Network Owner %u Ltd", a);
        }
    }
}

static uint64_t wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static long du(const char *dir)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    return stat(p, &st) == 0 ? (long)st.st_blocks * 512 : -1;
}

static int count_cb(const struct qlog_record *r, void *arg)
{
    (void)r;
    ++*(long *)arg;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: qlog_bench DIR [RECORDS]\n");
        return 2;
    }
    long total = argc > 2 ? atol(argv[2]) : 10000000;
    char d1[512], d2[512];
    mkdir(argv[1], 0755);
    snprintf(d1, sizeof d1, "%s/rings", argv[1]);
    snprintf(d2, sizeof d2, "%s/day", argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    setenv("TZ", "UTC", 1);
    tzset();

    /* 1. rings + writer */
    struct qlog_store *s;
    if (qlog_open(d1, (size_t)8 << 30, 0, &s) < 0)
        return 1;
    struct qlog_ring *ring = qlog_ring_new(s, 0); /* as the daemon's workers */
    qlog_writer_start(s, 0, 0);
    long n = 2000000;
    uint64_t retries = 0;
    double t0 = secs();
    for (long i = 0; i < n; i++) {
        struct qlog_record r;
        gen(&r, wall());
        while (!qlog_submit(ring, &r)) {
            retries++;
            sched_yield();
        }
    }
    qlog_writer_stop(s);
    double t1 = secs();
    struct qlog_stats st;
    qlog_stats(s, &st);
    printf("rings+writer: %ld records in %.2f s = %.0f records/s committed (%llu commits, "
           "%llu full-ring retries, written %llu)\n",
           n, t1 - t0, n / (t1 - t0), (unsigned long long)st.commits, (unsigned long long)retries,
           (unsigned long long)st.written);
    printf("bytes per record (log + 3 indexes): %.1f\n", (double)du(d1) / (double)st.written);
    /* paced: RATE per second for 5 s, no retry: how many drops */
    static const long rates[] = {50000, 100000, 150000, 200000};
    for (size_t k = 0; k < sizeof rates / sizeof *rates; k++) {
        qlog_writer_start(s, 0, 0);
        qlog_stats(s, &st);
        uint64_t dropped0 = st.dropped;
        long sent = 0;
        double start = secs();
        while (secs() - start < 5) {
            long due = (long)((secs() - start) * rates[k]);
            for (; sent < due; sent++) {
                struct qlog_record r;
                gen(&r, wall());
                qlog_submit(ring, &r);
            }
            usleep(200);
        }
        qlog_writer_stop(s);
        qlog_stats(s, &st);
        printf("paced %ld/s for 5 s: %ld sent, %llu dropped, lag at last commit %.1f ms\n",
               rates[k], sent, (unsigned long long)(st.dropped - dropped0), st.lag_us / 1000.0);
    }
    qlog_close(s);

    /* 3. one day of TOTAL records */
    if (qlog_open(d2, (size_t)16 << 30, 0, &s) < 0)
        return 1;
    static const char *cats[] = {"adult",   "extremism", "self_harm", "violence", "drugs",
                                 "weapons", "gaming",    "social",    "gambling", "malware"};
    for (int i = 0; i < 10; i++)
        qlog_set_category_name(s, (uint16_t)(i + 1), cats[i]);
    uint64_t day = 1795392000ull * 1000000;
    long have = qlog_count(s);
    if (have < total) {
        size_t chunk = 65536;
        struct qlog_record *b = malloc(chunk * sizeof *b);
        t0 = secs();
        for (long i = have; i < total;) {
            size_t m = (size_t)(total - i) < chunk ? (size_t)(total - i) : chunk;
            for (size_t j = 0; j < m; j++, i++)
                gen(&b[j], day + (uint64_t)i * (86400000000ull / (uint64_t)total));
            if (qlog_write(s, b, m) < 0) {
                fprintf(stderr, "write failed\n");
                return 1;
            }
        }
        t1 = secs();
        free(b);
        printf("generated %ld records with qlog_write in %.1f s (%.0f/s)\n", total - have, t1 - t0,
               (total - have) / (t1 - t0));
    }
    printf("one day: %ld records, data.mdb %.1f MB, %.1f bytes per record\n", qlog_count(s),
           du(d2) / 1e6, (double)du(d2) / (double)qlog_count(s));
    for (int rep = 0; rep < 3; rep++) {
        /* "--since 1d": from 24 hours before the end of the generated day */
        struct qlog_filter f = {.since_us = day, .limit = 1000};
        uint8_t fam;
        bool sfx;
        qlog_parse_addr("10.20.3.7", f.client, &fam);
        f.has_client = true;
        long c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("client search --since 1d (limit 1000): %ld records in %.1f ms\n", c,
               (t1 - t0) * 1e3);
        f.limit = 0;
        c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("client search --since 1d (no limit): %ld records in %.1f ms\n", c, (t1 - t0) * 1e3);
        f.has_client = false;
        qlog_parse_name("www1.site4243.example5.com", f.name, &f.name_len, &sfx);
        f.name_suffix = false;
        c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("exact name over the day: %ld records in %.1f ms\n", c, (t1 - t0) * 1e3);
        qlog_parse_name("*.site4242.example4.com", f.name, &f.name_len, &f.name_suffix);
        c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("*.suffix search over the day: %ld records in %.1f ms\n", c, (t1 - t0) * 1e3);
        f.name_len = 0;
        f.name_suffix = false;
        f.has_category = true;
        f.category = 3;
        f.blocked_only = true;
        f.limit = 1000;
        c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("blocked in one category (limit 1000): %ld records in %.1f ms\n", c,
               (t1 - t0) * 1e3);
        f = (struct qlog_filter){.since_us = day, .has_asn = true, .asn = 64512 + 42};
        c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("one AS number over the day (no limit): %ld records in %.1f ms\n", c,
               (t1 - t0) * 1e3);
        f = (struct qlog_filter){
            .since_us = day, .has_country = true, .country = {'R', 'O'}, .limit = 1000};
        c = 0;
        t0 = secs();
        qlog_query(s, &f, count_cb, &c);
        t1 = secs();
        printf("one country (limit 1000): %ld records in %.1f ms\n", c, (t1 - t0) * 1e3);
        char *safe[] = {"adult", "extremism", "self_harm", "violence", "drugs", "weapons"};
        FILE *out = fopen("/dev/null", "w");
        t0 = secs();
        ctl_report_daily_write(s, day, safe, 6, rep == 1, out);
        t1 = secs();
        fclose(out);
        printf("daily report (%s): %.2f s\n", rep == 1 ? "html" : "text", t1 - t0);
    }
    qlog_close(s);
    return 0;
}
