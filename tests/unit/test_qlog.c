/*
 * test_qlog.c - the query log against real LMDB files in a temporary
 * directory: rings and the writer, every filter, ordering, retention, erase
 * and audit, the full-map path, a reader in another process, kill -9, the
 * filter parsers, geo data (AS number, country, the owner table), and the
 * review tools' output and daily report.
 *
 * The tools' code (tools/ctl_logs.c) is included rather than linked: unit
 * tests link libgatehouse.a only, and the report is what we want to test.
 */
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qlog.h"
#include "unit.h"

#include "../../tools/ctl_logs.c"

static char tmpdir[256];
static int dircount;

/* A fresh store directory under the test's temporary directory. */
static const char *newdir(char *buf, size_t len)
{
    snprintf(buf, len, "%s/s%d", tmpdir, dircount++);
    return buf;
}

static uint64_t T0 = 1795392000ull * 1000000; /* 2026-11-23 00:00:00 UTC */

static void mkrec(struct qlog_record *r, uint64_t t, const char *client, const char *name,
                  uint8_t verdict, uint16_t cat)
{
    bool sfx;
    memset(r, 0, sizeof *r);
    r->time_us = t;
    qlog_parse_addr(client, r->client, &r->family);
    qlog_parse_name(name, r->name, &r->name_len, &sfx);
    r->qtype = 1;
    r->verdict = verdict;
    r->category = cat;
    r->rule = cat ? 7 : 0;
    r->response_us = 1234;
    r->segment = 1;
}

struct collect {
    int n;
    uint64_t times[4096];
    struct qlog_record last;
};

static int collect_cb(const struct qlog_record *r, void *arg)
{
    struct collect *c = arg;
    if (c->n < 4096)
        c->times[c->n] = r->time_us;
    c->n++;
    c->last = *r;
    return 0;
}

static long run(struct qlog_store *s, const struct qlog_filter *f, struct collect *c)
{
    memset(c, 0, sizeof *c);
    return qlog_query(s, f, collect_cb, c);
}

static bool newest_first(const struct collect *c)
{
    for (int i = 1; i < c->n && i < 4096; i++)
        if (c->times[i] > c->times[i - 1])
            return false;
    return true;
}

/* The writer thread: 4 rings, 2000 records, then every filter finds them. */
static void test_rings_writer_filters(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    CHECK_EQ(qlog_set_category_name(s, 3, "adult"), 0);
    CHECK_EQ(qlog_set_segment_name(s, 1, "students"), 0);
    struct qlog_ring *rings[4];
    for (int i = 0; i < 4; i++)
        CHECK((rings[i] = qlog_ring_new(s, 1024)) != NULL);
    CHECK_EQ(qlog_writer_start(s, 0, 0), 0);
    const char *names[] = {"www.example.com", "example.com", "a.b.example.com", "other.org"};
    for (int i = 0; i < 2000; i++) {
        struct qlog_record r;
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.%d.%d", i % 4, i % 50);
        mkrec(&r, T0 + (uint64_t)i * 1000, ip, names[i % 4], i % 10 == 0 ? QLOG_BLOCKED : 0,
              i % 10 == 0 ? 3 : 0);
        r.naddrs = 1;
        r.answer_family[0] = 4;
        qlog_parse_addr("192.0.2.1", r.answer[0], &r.answer_family[0]);
        while (!qlog_submit(rings[i % 4], &r))
            usleep(100); /* the test waits; a worker never would */
    }
    qlog_writer_stop(s);
    struct qlog_stats st;
    qlog_stats(s, &st);
    CHECK_EQ(st.written, 2000);
    CHECK_EQ(st.pending, 0);
    CHECK_EQ(st.last_error, 0);
    CHECK_EQ(qlog_count(s), 2000);

    struct qlog_filter f = {0};
    struct collect c;
    CHECK_EQ(run(s, &f, &c), 2000);
    CHECK(newest_first(&c));
    CHECK_EQ(c.times[0], T0 + 1999 * 1000);
    CHECK_STR(qlog_query_plan(&f), "log");

    /* the round trip keeps every field */
    f.limit = 1;
    CHECK_EQ(run(s, &f, &c), 1);
    CHECK_EQ(c.last.response_us, 1234);
    CHECK_EQ(c.last.naddrs, 1);
    CHECK_EQ(c.last.answer_family[0], 4);
    CHECK_EQ(c.last.answer[0][15], 1);
    CHECK_EQ(c.last.family, 4);
    f.limit = 0;

    f.has_client = true;
    uint8_t fam;
    qlog_parse_addr("10.0.1.1", f.client, &fam);
    CHECK_STR(qlog_query_plan(&f), "client");
    /* i % 4 == 1 and i % 50 == 1: i = 1, 101, 201, ...  (20 of them) */
    CHECK_EQ(run(s, &f, &c), 20);
    CHECK(newest_first(&c));
    f.since_us = T0 + 1000 * 1000;
    f.until_us = T0 + 1500 * 1000;
    CHECK_EQ(run(s, &f, &c), 5); /* 1001 .. 1401 */
    f = (struct qlog_filter){0};

    bool sfx;
    CHECK_EQ(qlog_parse_name("example.com", f.name, &f.name_len, &sfx), 0);
    CHECK_STR(qlog_query_plan(&f), "name");
    CHECK_EQ(run(s, &f, &c), 500);
    CHECK(newest_first(&c));
    CHECK_EQ(qlog_parse_name("*.example.com", f.name, &f.name_len, &f.name_suffix), 0);
    CHECK_EQ(run(s, &f, &c), 1500);
    CHECK(newest_first(&c));
    CHECK_EQ(qlog_parse_name("*.b.example.com", f.name, &f.name_len, &f.name_suffix), 0);
    CHECK_EQ(run(s, &f, &c), 500);
    CHECK_EQ(qlog_parse_name("*.ample.com", f.name, &f.name_len, &f.name_suffix), 0);
    CHECK_EQ(run(s, &f, &c), 0); /* label-aligned, not a string suffix */
    f = (struct qlog_filter){0};

    f.blocked_only = true;
    CHECK_STR(qlog_query_plan(&f), "verdict");
    CHECK_EQ(run(s, &f, &c), 200);
    CHECK(newest_first(&c));
    f.has_category = true;
    CHECK_EQ(qlog_category_id(s, "ADULT", &f.category), 0);
    CHECK_EQ(f.category, 3);
    CHECK_EQ(run(s, &f, &c), 200);
    f.blocked_only = false;
    CHECK_EQ(run(s, &f, &c), 200);
    CHECK(newest_first(&c));
    f.limit = 7;
    CHECK_EQ(run(s, &f, &c), 7);
    CHECK_EQ(c.times[0], T0 + 1990 * 1000);
    f = (struct qlog_filter){0};
    f.has_segment = true;
    f.segment = 1;
    CHECK_EQ(run(s, &f, &c), 2000);
    f.segment = 2;
    CHECK_EQ(run(s, &f, &c), 0);

    char buf[64];
    CHECK_EQ(qlog_segment_name(s, 1, buf, sizeof buf), 0);
    CHECK_STR(buf, "students");
    CHECK_EQ(qlog_segment_name(s, 9, buf, sizeof buf), -ENOENT);
    qlog_close(s);

    /* reopen: the version key is there and the data too */
    CHECK_EQ(qlog_open(d, 64 << 20, QLOG_OPEN_RDONLY, &s), 0);
    CHECK_EQ(qlog_count(s), 2000);
    qlog_close(s);
}

/* A full ring refuses at once and counts; nothing blocks. */
static void test_ring_full_drops(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 16 << 20, 0, &s), 0);
    struct qlog_ring *r = qlog_ring_new(s, 64);
    struct qlog_record rec;
    mkrec(&rec, T0, "10.1.1.1", "x.test", 0, 0);
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += qlog_submit(r, &rec);
    CHECK_EQ(ok, 64);
    struct qlog_stats st;
    qlog_stats(s, &st);
    CHECK_EQ(st.dropped, 36);
    CHECK_EQ(st.pending, 64);
    CHECK_EQ(qlog_writer_start(s, 0, 0), 0);
    qlog_writer_stop(s);
    qlog_stats(s, &st);
    CHECK_EQ(st.written, 64);
    qlog_close(s);
}

/* Retention: plain records go after 1 day, blocked and flagged after 7. */
static void test_purge_keeps_flagged(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    static struct qlog_record recs[3000];
    uint64_t day = 86400ull * 1000000;
    for (int i = 0; i < 3000; i++) {
        /* ages: 0..9 days */
        mkrec(&recs[i], T0 - (uint64_t)(i % 10) * day - 1000, "10.2.0.1", "p.test",
              i % 3 == 0 ? QLOG_BLOCKED : 0, 0);
        if (i % 3 == 1 && i % 2 == 0)
            recs[i].flags = QLOG_F_FLAGGED;
    }
    CHECK_EQ(qlog_write(s, recs, 3000), 0);
    long n = qlog_purge(s, T0, 86400, 7 * 86400);
    CHECK(n > 0);
    /* expected survivors */
    long keep = 0, keep_blocked = 0;
    for (int i = 0; i < 3000; i++) {
        int age = i % 10;
        bool flagged = i % 3 == 0 || (i % 3 == 1 && i % 2 == 0);
        if (age < 1 || (flagged && age < 7)) {
            keep++;
            keep_blocked += i % 3 == 0;
        }
    }
    CHECK_EQ(qlog_count(s), keep);
    CHECK_EQ(n, 3000 - keep);
    /* the indexes went with the records */
    struct qlog_filter f = {0};
    struct collect c;
    f.has_client = true;
    uint8_t fam;
    qlog_parse_addr("10.2.0.1", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), keep);
    f = (struct qlog_filter){0};
    f.blocked_only = true;
    CHECK_EQ(run(s, &f, &c), keep_blocked);
    CHECK_EQ(keep_blocked, 700);
    /* a second purge an hour later finds little to do and keeps the rest */
    CHECK_EQ(qlog_purge(s, T0, 86400, 7 * 86400), 0);
    CHECK_EQ(qlog_count(s), keep);
    qlog_close(s);
}

static int audit_cb(uint64_t t, const char *who, const char *action, const char *detail, void *arg)
{
    char *out = arg;
    (void)t;
    snprintf(out, 512, "%s|%s|%s", who, action, detail);
    return 0;
}

static void test_erase_client_audited(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    static struct qlog_record recs[5000];
    for (int i = 0; i < 5000; i++)
        mkrec(&recs[i], T0 + (uint64_t)i, i % 2 ? "2001:db8::7" : "10.3.0.1", "e.test", i % 5 == 0,
              2);
    CHECK_EQ(qlog_write(s, recs, 5000), 0);
    uint8_t a[16], fam;
    CHECK_EQ(qlog_parse_addr("2001:db8::7", a, &fam), 0);
    CHECK_EQ(fam, 6);
    CHECK_EQ(qlog_erase_client(s, a), 2500); /* more than one batch */
    CHECK_EQ(qlog_audit_add(s, T0, "dsl", "erase", "client=2001:db8::7 reason=SAR"), 0);
    CHECK_EQ(qlog_count(s), 2500);
    struct qlog_filter f = {.has_client = true};
    memcpy(f.client, a, 16);
    struct collect c;
    CHECK_EQ(run(s, &f, &c), 0);
    f = (struct qlog_filter){0};
    bool sfx;
    qlog_parse_name("e.test", f.name, &f.name_len, &sfx);
    CHECK_EQ(run(s, &f, &c), 2500);
    f = (struct qlog_filter){.has_category = true, .category = 2};
    CHECK_EQ(run(s, &f, &c), 2500);
    char out[512] = "";
    CHECK_EQ(qlog_audit_list(s, 0, 0, audit_cb, out), 1);
    CHECK_STR(out, "dsl|erase|client=2001:db8::7 reason=SAR");
    qlog_close(s);
}

/* A tiny map fills: logging stops with one error, submit never blocks. */
static void test_full_map(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 256 << 10, 0, &s), 0);
    struct qlog_ring *r = qlog_ring_new(s, 4096);
    CHECK_EQ(qlog_writer_start(s, 3600, 7200), 0);
    struct timespec t0, t1;
    double worst = 0;
    int refused = 0;
    for (int i = 0; i < 40000; i++) {
        struct qlog_record rec;
        char name[64];
        snprintf(name, sizeof name, "n%d.full.test", i);
        mkrec(&rec, T0 + (uint64_t)i, "10.4.0.1", name, 0, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        refused += !qlog_submit(r, &rec);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double us = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
        if (us > worst)
            worst = us;
        if (i % 1000 == 0)
            usleep(2000);
    }
    usleep(600 * 1000);
    struct qlog_stats st;
    qlog_stats(s, &st);
    CHECK(st.stopped);
    CHECK_EQ(st.last_error, -ENOSPC);
    CHECK(st.lost > 0);
    CHECK(st.written < 40000);
    CHECK(worst < 5000); /* microseconds: generous, a blocked submit would be far longer */
    qlog_writer_stop(s);
    qlog_close(s);
    /* the store still opens and what was written is readable */
    CHECK_EQ(qlog_open(d, 256 << 10, QLOG_OPEN_RDONLY, &s), 0);
    CHECK_EQ(qlog_count(s), (long)st.written);
    qlog_close(s);
    (void)refused;
}

/* A second process reads while this one writes (each opens its own env,
 * after the fork: LMDB handles never cross a fork). */
static void test_forked_reader(void)
{
    char d[300];
    int p[2];
    newdir(d, sizeof d);
    CHECK_EQ(pipe(p), 0);
    {
        struct qlog_store *s0; /* create it first so the reader finds it */
        CHECK_EQ(qlog_open(d, 64 << 20, 0, &s0), 0);
        qlog_close(s0);
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        struct qlog_store *s;
        if (qlog_open(d, 64 << 20, QLOG_OPEN_RDONLY, &s) != 0)
            _exit(10);
        long prev = 0, reads = 0;
        char b;
        /* read until the parent closes the pipe; counts only grow */
        for (int i = 0; i < 20000; i++) {
            long n = qlog_count(s);
            if (n < prev)
                _exit(11);
            prev = n;
            reads++;
            struct qlog_filter f = {.limit = 10};
            struct collect c;
            if (run(s, &f, &c) < 0)
                _exit(12);
            struct timeval tv = {0, 1000};
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(p[0], &fds);
            if (select(p[0] + 1, &fds, NULL, NULL, &tv) > 0 && read(p[0], &b, 1) == 0)
                break;
        }
        long n = qlog_count(s);
        qlog_close(s);
        _exit(n == 3000 && reads > 1 ? 0 : 13);
    }
    close(p[0]);
    struct qlog_store *s;
    CHECK_EQ(qlog_open(d, 64 << 20, 0, &s), 0);
    struct qlog_ring *r = qlog_ring_new(s, 4096);
    qlog_writer_start(s, 0, 0);
    for (int i = 0; i < 3000; i++) {
        struct qlog_record rec;
        mkrec(&rec, T0 + (uint64_t)i, "10.5.0.1", "fork.test", 0, 0);
        while (!qlog_submit(r, &rec))
            usleep(100);
        if (i % 100 == 0)
            usleep(5000);
    }
    qlog_writer_stop(s);
    qlog_close(s);
    close(p[1]);
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

/* kill -9 of a process writing under load: the store reopens cleanly and
 * holds at least what the child saw committed. */
static void test_kill9(void)
{
    char d[300];
    int p[2];
    newdir(d, sizeof d);
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct qlog_store *s;
        if (qlog_open(d, 256 << 20, 0, &s) != 0)
            _exit(10);
        struct qlog_ring *r = qlog_ring_new(s, 65536);
        qlog_writer_start(s, 0, 0);
        for (uint64_t i = 0;; i++) {
            struct qlog_record rec;
            mkrec(&rec, T0 + i, i % 2 ? "10.6.0.1" : "fd00::1", "kill.test", i % 7 == 0, 0);
            qlog_submit(r, &rec);
            if (i % 4096 == 0) {
                struct qlog_stats st;
                qlog_stats(s, &st);
                if (write(p[1], &st.written, sizeof st.written) < 0)
                    _exit(11);
                usleep(1000);
            }
        }
    }
    close(p[1]);
    uint64_t seen = 0, w;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do { /* at least 20000 committed, at most 10 s */
        if (read(p[0], &w, sizeof w) == sizeof w)
            seen = w;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (seen < 20000 && now.tv_sec - start.tv_sec < 10);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    while (read(p[0], &w, sizeof w) == sizeof w)
        seen = w;
    close(p[0]);
    CHECK(WIFSIGNALED(status));
    CHECK(seen >= 20000);
    struct qlog_store *s;
    CHECK_EQ(qlog_open(d, 256 << 20, 0, &s), 0);
    long n = qlog_count(s);
    CHECK(n >= (long)seen);
    /* every record decodes and the indexes agree */
    struct qlog_filter f = {0};
    struct collect c;
    CHECK_EQ(run(s, &f, &c), n);
    f.has_client = true;
    uint8_t fam;
    qlog_parse_addr("10.6.0.1", f.client, &fam);
    long a = run(s, &f, &c);
    qlog_parse_addr("fd00::1", f.client, &fam);
    long b = run(s, &f, &c);
    CHECK_EQ(a + b, n);
    /* a writer start indexes what the killed one left in "recent": the
     * same answers, nothing twice */
    CHECK_EQ(qlog_writer_start(s, 0, 0), 0);
    qlog_writer_stop(s);
    qlog_parse_addr("10.6.0.1", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), a);
    CHECK(newest_first(&c));
    qlog_parse_addr("fd00::1", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), b);
    f = (struct qlog_filter){0};
    bool sfx;
    CHECK_EQ(qlog_parse_name("kill.test", f.name, &f.name_len, &sfx), 0);
    CHECK_EQ(run(s, &f, &c), n);
    /* and it takes new records */
    struct qlog_record rec;
    mkrec(&rec, T0 - 1, "10.6.0.2", "after.test", 0, 0);
    CHECK_EQ(qlog_write(s, &rec, 1), 0);
    CHECK_EQ(qlog_count(s), n + 1);
    qlog_close(s);
}

/* Index segments: records the writer committed are found through "recent"
 * before their segment is written and through it after, once each; two
 * segments overlapping in time come out merged newest first; a limit stops
 * early; erase takes a client out of segments and "recent" alike. */
static void test_segments(void)
{
    char d[300];
    struct qlog_store *s;
    struct qlog_filter f = {0};
    struct collect c;
    uint8_t fam;
    bool sfx;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    /* segment 1: even microseconds 0..198; segment 2: odd ones, written later */
    struct qlog_record recs[100];
    for (int i = 0; i < 100; i++)
        mkrec(&recs[i], T0 + (uint64_t)i * 2, "10.9.0.1", "a.seg.test", 0, 0);
    CHECK_EQ(qlog_write(s, recs, 100), 0);
    for (int i = 0; i < 100; i++)
        mkrec(&recs[i], T0 + (uint64_t)i * 2 + 1, "10.9.0.1", "b.seg.test", 0, 0);
    CHECK_EQ(qlog_write(s, recs, 100), 0);
    f.has_client = true;
    qlog_parse_addr("10.9.0.1", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), 200);
    CHECK(newest_first(&c));
    CHECK_EQ(c.times[0], T0 + 199);
    CHECK_EQ(c.times[199], T0);
    f.limit = 3;
    CHECK_EQ(run(s, &f, &c), 3);
    CHECK_EQ(c.times[2], T0 + 197);
    f.limit = 0;
    f.since_us = T0 + 150;
    f.until_us = T0 + 160;
    CHECK_EQ(run(s, &f, &c), 10);
    f = (struct qlog_filter){0};
    CHECK_EQ(qlog_parse_name("*.seg.test", f.name, &f.name_len, &f.name_suffix), 0);
    CHECK_EQ(run(s, &f, &c), 200);
    CHECK(newest_first(&c));
    CHECK_EQ(qlog_parse_name("b.seg.test", f.name, &f.name_len, &sfx), 0);
    CHECK_EQ(run(s, &f, &c), 100);
    CHECK_EQ(c.times[0], T0 + 199);

    /* the writer: newer records, found while pending and after */
    struct qlog_ring *ring = qlog_ring_new(s, 1024);
    CHECK(ring != NULL);
    CHECK_EQ(qlog_writer_start(s, 0, 0), 0);
    for (int i = 0; i < 500; i++) {
        struct qlog_record r;
        mkrec(&r, T0 + 1000 + (uint64_t)i, i % 2 ? "10.9.0.1" : "10.9.0.2", "c.seg.test", 0, 0);
        while (!qlog_submit(ring, &r))
            usleep(100);
    }
    struct qlog_stats st;
    for (int i = 0; i < 200; i++) { /* committed within a few QLOG_COMMIT_MS */
        qlog_stats(s, &st);
        if (st.written == 700) /* qlog_write counts too */
            break;
        usleep(10000);
    }
    CHECK_EQ(st.written, 700);
    f = (struct qlog_filter){.has_client = true};
    qlog_parse_addr("10.9.0.1", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), 450); /* 200 in segments, 250 in "recent" */
    CHECK(newest_first(&c));
    CHECK_EQ(c.times[0], T0 + 1499);
    /* erase while the writer runs: its next segment leaves the erased out */
    qlog_parse_addr("10.9.0.2", f.client, &fam);
    CHECK_EQ(qlog_erase_client(s, f.client), 250);
    CHECK_EQ(run(s, &f, &c), 0);
    qlog_writer_stop(s); /* writes the pending segment */
    CHECK_EQ(run(s, &f, &c), 0);
    qlog_parse_addr("10.9.0.1", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), 450);
    CHECK(newest_first(&c));
    f = (struct qlog_filter){0};
    CHECK_EQ(qlog_parse_name("c.seg.test", f.name, &f.name_len, &sfx), 0);
    CHECK_EQ(run(s, &f, &c), 250);
    /* erase across segments: nothing of 10.9.0.1 left in any index */
    f = (struct qlog_filter){.has_client = true};
    qlog_parse_addr("10.9.0.1", f.client, &fam);
    CHECK_EQ(qlog_erase_client(s, f.client), 450);
    CHECK_EQ(run(s, &f, &c), 0);
    CHECK_EQ(qlog_count(s), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat ms;
    CHECK_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 12);
    CHECK_EQ(mdb_env_open(env, d, MDB_RDONLY, 0), 0);
    CHECK_EQ(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    const char *idx[] = {"by_client", "by_name", "recent"};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(mdb_dbi_open(txn, idx[i], 0, &dbi), 0);
        CHECK_EQ(mdb_stat(txn, dbi, &ms), 0);
        if (i == 0)
            CHECK_EQ(ms.ms_entries, 0); /* no trace of either client */
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    qlog_close(s);
}

static void test_parsers(void)
{
    uint64_t now = T0 + 10 * 3600 * 1000000ull + 30 * 60 * 1000000ull, t; /* 10:30 UTC */
    CHECK_EQ(qlog_parse_time("1h", now, &t), 0);
    CHECK_EQ(t, now - 3600 * 1000000ull);
    CHECK_EQ(qlog_parse_time("30m", now, &t), 0);
    CHECK_EQ(t, now - 1800 * 1000000ull);
    CHECK_EQ(qlog_parse_time("7d", now, &t), 0);
    CHECK_EQ(t, now - 7 * 86400 * 1000000ull);
    CHECK_EQ(qlog_parse_time("today", now, &t), 0);
    CHECK_EQ(t, T0);
    CHECK_EQ(qlog_parse_time("yesterday", now, &t), 0);
    CHECK_EQ(t, T0 - 86400 * 1000000ull);
    CHECK_EQ(qlog_parse_time("2026-11-23", now, &t), 0);
    CHECK_EQ(t, T0);
    CHECK_EQ(qlog_parse_time("2026-11-23 10:15", now, &t), 0);
    CHECK_EQ(t, T0 + (10 * 3600 + 15 * 60) * 1000000ull);
    CHECK_EQ(qlog_parse_time("2026-11-23T10:15:07", now, &t), 0);
    CHECK_EQ(t, T0 + (10 * 3600 + 15 * 60 + 7) * 1000000ull);
    const char *bad[] = {"",
                         "1",
                         "h",
                         "1y",
                         "-1h",
                         "2026-13-01",
                         "2026-02-29",
                         "2026-11-23 25:00",
                         "2026-11-23 10",
                         "2026-11-23x",
                         "99999999h",
                         "2026-1-1",
                         "yesterdayx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ(qlog_parse_time(bad[i], now, &t), -EINVAL);

    uint8_t w[256], len;
    bool sfx;
    CHECK_EQ(qlog_parse_name("WWW.Example.COM.", w, &len, &sfx), 0);
    CHECK(!sfx);
    CHECK_EQ(len, 17);
    CHECK(memcmp(w, "\3www\7example\3com", 17) == 0);
    CHECK_EQ(qlog_parse_name("*.example.com", w, &len, &sfx), 0);
    CHECK(sfx);
    CHECK_EQ(len, 13);
    const char *badn[] = {"", "*", "*.", "a..b", "*example.com", "a b.com", ".a", "a\\.b"};
    for (size_t i = 0; i < sizeof badn / sizeof *badn; i++)
        CHECK_EQ(qlog_parse_name(badn[i], w, &len, &sfx), -EINVAL);
    char big[400];
    memset(big, 'a', sizeof big);
    big[64] = 0;
    CHECK_EQ(qlog_parse_name(big, w, &len, &sfx), -EINVAL); /* label of 64 */
    char text[300];
    qlog_parse_name("www.example.com", w, &len, &sfx);
    qlog_name_text(w, len, text, sizeof text);
    CHECK_STR(text, "www.example.com.");

    uint8_t a[16], fam;
    CHECK_EQ(qlog_parse_addr("192.0.2.7", a, &fam), 0);
    CHECK_EQ(fam, 4);
    qlog_addr_text(a, fam, text, sizeof text);
    CHECK_STR(text, "192.0.2.7");
    CHECK_EQ(qlog_parse_addr("::ffff:192.0.2.7", a, &fam), 0);
    CHECK_EQ(fam, 4);
    CHECK_EQ(qlog_parse_addr("2001:DB8::1", a, &fam), 0);
    CHECK_EQ(fam, 6);
    qlog_addr_text(a, fam, text, sizeof text);
    CHECK_STR(text, "2001:db8::1");
    CHECK_EQ(qlog_parse_addr("10.0.0.256", a, &fam), -EINVAL);
    CHECK_EQ(qlog_parse_addr("example.com", a, &fam), -EINVAL);
}

static void set_geo(struct qlog_record *r, uint32_t asn, const char *cc, const char *org)
{
    r->naddrs = 1;
    qlog_parse_addr("198.51.100.7", r->answer[0], &r->answer_family[0]);
    r->asn = asn;
    if (cc)
        memcpy(r->country, cc, 2);
    snprintf(r->org, sizeof r->org, "%s", org ? org : "");
}

/* The stored value of the record at time T (raw LMDB), its size or -1. */
static long value_size(const char *dir, uint64_t t)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    uint8_t kb[12] = {0};
    MDB_val k = {sizeof kb, kb}, v;
    long n = -1;
    for (int i = 7; i >= 0; i--, t >>= 8)
        kb[i] = (uint8_t)t;
    if (mdb_env_create(&env) != 0)
        return -1;
    mdb_env_set_maxdbs(env, 12);
    if (mdb_env_open(env, dir, MDB_RDONLY, 0) == 0 &&
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_dbi_open(txn, "log", 0, &dbi) == 0 && mdb_cursor_open(txn, dbi, &c) == 0) {
            if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0 && memcmp(k.mv_data, kb, 8) == 0)
                n = (long)v.mv_size;
            mdb_cursor_close(c);
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return n;
}

/* Geo data through a ring, the writer and the store: the AS number and
 * country come back, the owner goes to the owner table (not the record),
 * a record without geo data is stored as short as before, and the
 * --asn/--country filters find them alone and with the indexed filters. */
static void test_geo_round_trip(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    struct qlog_ring *ring = qlog_ring_new(s, 256);
    CHECK(ring != NULL);
    CHECK_EQ(qlog_writer_start(s, 0, 0), 0);
    /* i % 4: 0 no geo, 1 AS9009 RO, 2 AS64501 RU, 3 country only (GB) */
    for (int i = 0; i < 400; i++) {
        struct qlog_record r;
        mkrec(&r, T0 + (uint64_t)i * 10, i % 2 ? "10.8.0.1" : "10.8.0.2",
              i % 3 ? "www.geo.test" : "cdn.geo.test", i % 5 == 0 ? QLOG_BLOCKED : 0,
              i % 5 == 0 ? 4 : 0);
        if (i % 4 == 0)
            snprintf(r.org, sizeof r.org, "ignored without an AS number");
        else if (i % 4 == 1)
            set_geo(&r, 9009, "RO", "M247 Europe SRL");
        else if (i % 4 == 2)
            set_geo(&r, 64501, "RU", "Gatehouse Test Hosting");
        else
            set_geo(&r, 0, "GB", NULL);
        while (!qlog_submit(ring, &r))
            usleep(100);
    }
    qlog_writer_stop(s);
    struct qlog_stats st;
    qlog_stats(s, &st);
    CHECK_EQ(st.written, 400);
    CHECK_EQ(st.last_error, 0);

    struct qlog_filter f = {0};
    struct collect c;
    CHECK_EQ(run(s, &f, &c), 400);
    int kinds[4] = {0};
    for (int i = 0; i < 4; i++) { /* the newest of each kind, fetched one by one */
        f = (struct qlog_filter){.since_us = T0 + (uint64_t)(396 + i) * 10,
                                 .until_us = T0 + (uint64_t)(396 + i) * 10 + 1};
        CHECK_EQ(run(s, &f, &c), 1);
        CHECK_STR(c.last.org, ""); /* never in a record handed back */
        if (i == 0) {
            CHECK_EQ(c.last.asn, 0);
            CHECK(c.last.country[0] == 0 && c.last.country[1] == 0);
            kinds[0]++;
        } else if (i == 1) {
            CHECK_EQ(c.last.asn, 9009);
            CHECK(memcmp(c.last.country, "RO", 2) == 0);
            CHECK_EQ(c.last.naddrs, 1);
            CHECK_EQ(c.last.answer[0][15], 7);
            kinds[1]++;
        } else if (i == 2) {
            CHECK_EQ(c.last.asn, 64501);
            CHECK(memcmp(c.last.country, "RU", 2) == 0);
            kinds[2]++;
        } else {
            CHECK_EQ(c.last.asn, 0);
            CHECK(memcmp(c.last.country, "GB", 2) == 0);
            kinds[3]++;
        }
    }
    CHECK(kinds[0] == 1 && kinds[1] == 1 && kinds[2] == 1 && kinds[3] == 1);

    /* the owner table: one name per AS number, none for the rest */
    char buf[64];
    CHECK_EQ(qlog_asn_name(s, 9009, buf, sizeof buf), 0);
    CHECK_STR(buf, "M247 Europe SRL");
    CHECK_EQ(qlog_asn_name(s, 64501, buf, sizeof buf), 0);
    CHECK_STR(buf, "Gatehouse Test Hosting");
    CHECK_EQ(qlog_asn_name(s, 64500, buf, sizeof buf), -ENOENT);
    CHECK_EQ(qlog_asn_name(s, 0, buf, sizeof buf), -ENOENT);

    /* filters: alone (a scan of the log), and with the indexed ones */
    f = (struct qlog_filter){.has_asn = true, .asn = 9009};
    CHECK_STR(qlog_query_plan(&f), "log");
    CHECK_EQ(run(s, &f, &c), 100);
    CHECK(newest_first(&c));
    CHECK_EQ(c.times[0], T0 + 397 * 10);
    f = (struct qlog_filter){.has_country = true};
    CHECK_EQ(qlog_parse_country("gb", f.country), 0);
    CHECK_EQ(run(s, &f, &c), 100);
    memcpy(f.country, "RU", 2);
    CHECK_EQ(run(s, &f, &c), 100);
    f.has_asn = true;
    f.asn = 64501;
    CHECK_EQ(run(s, &f, &c), 100);
    f.asn = 9009; /* AS9009 is RO here: nothing in both */
    CHECK_EQ(run(s, &f, &c), 0);
    uint8_t fam;
    /* client 10.8.0.1 is odd i: kinds 1 and 3 */
    f = (struct qlog_filter){.has_client = true, .has_asn = true, .asn = 9009};
    qlog_parse_addr("10.8.0.1", f.client, &fam);
    CHECK_STR(qlog_query_plan(&f), "client");
    CHECK_EQ(run(s, &f, &c), 100);
    qlog_parse_addr("10.8.0.2", f.client, &fam);
    CHECK_EQ(run(s, &f, &c), 0);
    /* blocked is i % 5 == 0; with AS9009 (i % 4 == 1): i % 20 == 5 */
    f = (struct qlog_filter){.blocked_only = true, .has_asn = true, .asn = 9009};
    CHECK_EQ(run(s, &f, &c), 20);
    f = (struct qlog_filter){.has_country = true, .country = {'R', 'O'}};
    bool sfx;
    CHECK_EQ(qlog_parse_name("cdn.geo.test", f.name, &f.name_len, &sfx), 0);
    /* i % 3 == 0 and i % 4 == 1: i % 12 == 9, 0 <= i < 400 */
    CHECK_EQ(run(s, &f, &c), 33);
    f.limit = 5;
    CHECK_EQ(run(s, &f, &c), 5);
    qlog_close(s);

    /* on disk: geo data only when known ("www" and "cdn" names are the same
     * length).  392: no geo, no answer; 393: answer, ASN, country; 396: no
     * geo; 397: answer, ASN, country; 399: answer, country only */
    CHECK_EQ(value_size(d, T0 + 393 * 10) - value_size(d, T0 + 392 * 10), 4 + 4 + 2);
    CHECK_EQ(value_size(d, T0 + 397 * 10) - value_size(d, T0 + 399 * 10), 4);
    /* without geo data: header, client, name, as in format 1 */
    CHECK_EQ(value_size(d, T0 + 396 * 10), 18 + 4 + 14); /* \3cdn\3geo\4test\0 */

    /* read-only and in another open: the owner is still there */
    CHECK_EQ(qlog_open(d, 64 << 20, QLOG_OPEN_RDONLY, &s), 0);
    CHECK_EQ(qlog_asn_name(s, 9009, buf, sizeof buf), 0);
    CHECK_STR(buf, "M247 Europe SRL");
    qlog_close(s);
}

/* The owner table: a renamed owner is updated (the latest name wins),
 * control characters are not stored, an org without its NUL is cut at 47
 * bytes, and more AS numbers than the writer's set holds are all named. */
static void test_owner_table(void)
{
    char d[300], buf[64];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    struct qlog_record r[3];
    mkrec(&r[0], T0, "10.9.1.1", "a.test", 0, 0);
    set_geo(&r[0], 64500, "GB", "Old Name Ltd");
    mkrec(&r[1], T0 + 1, "10.9.1.1", "b.test", 0, 0);
    set_geo(&r[1], 64502, "NL", "Bad\nName\x01");
    mkrec(&r[2], T0 + 2, "10.9.1.1", "c.test", 0, 0);
    set_geo(&r[2], 64503, "NL", NULL);
    memset(r[2].org, 'x', sizeof r[2].org); /* no NUL */
    CHECK_EQ(qlog_write(s, r, 3), 0);
    CHECK_EQ(qlog_asn_name(s, 64500, buf, sizeof buf), 0);
    CHECK_STR(buf, "Old Name Ltd");
    CHECK_EQ(qlog_asn_name(s, 64502, buf, sizeof buf), 0);
    CHECK_STR(buf, "Bad?Name?");
    CHECK_EQ(qlog_asn_name(s, 64503, buf, sizeof buf), 0);
    CHECK_EQ(strlen(buf), QLOG_ORG_MAX - 1);
    /* a two-byte character cut by the worker's truncation is dropped; a
     * whole one stays */
    mkrec(&r[0], T0 + 3, "10.9.1.1", "d.test", 0, 0);
    set_geo(&r[0], 64504, "DE", NULL);
    memset(r[0].org, 'y', QLOG_ORG_MAX - 2);
    r[0].org[QLOG_ORG_MAX - 2] = (char)0xc3; /* the first byte of "é" */
    r[0].org[QLOG_ORG_MAX - 1] = 0;
    mkrec(&r[1], T0 + 4, "10.9.1.1", "e.test", 0, 0);
    set_geo(&r[1], 64505, "DE", "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale");
    CHECK_EQ(qlog_write(s, r, 2), 0);
    CHECK_EQ(qlog_asn_name(s, 64504, buf, sizeof buf), 0);
    CHECK_EQ(strlen(buf), QLOG_ORG_MAX - 2);
    CHECK_EQ(qlog_asn_name(s, 64505, buf, sizeof buf), 0);
    CHECK_STR(buf, "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale");
    /* the writer thread, later: the database renamed the owner */
    struct qlog_ring *ring = qlog_ring_new(s, 64);
    CHECK_EQ(qlog_writer_start(s, 0, 0), 0);
    mkrec(&r[0], T0 + 10, "10.9.1.1", "a.test", 0, 0);
    set_geo(&r[0], 64500, "GB", "New Name Ltd");
    CHECK(qlog_submit(ring, &r[0]));
    qlog_writer_stop(s);
    CHECK_EQ(qlog_asn_name(s, 64500, buf, sizeof buf), 0);
    CHECK_STR(buf, "New Name Ltd");
    /* 20,000 AS numbers: past the set's bound (QLOG_ASN_SEEN_MAX) */
    static struct qlog_record many[20000];
    for (int i = 0; i < 20000; i++) {
        char org[32];
        mkrec(&many[i], T0 + 100 + (uint64_t)i, "10.9.1.2", "many.test", 0, 0);
        snprintf(org, sizeof org, "Owner %d", 100000 + i);
        set_geo(&many[i], 100000 + (uint32_t)i, "DE", org);
    }
    CHECK_EQ(qlog_write(s, many, 20000), 0);
    CHECK_EQ(qlog_asn_name(s, 100000, buf, sizeof buf), 0);
    CHECK_STR(buf, "Owner 100000");
    CHECK_EQ(qlog_asn_name(s, 119999, buf, sizeof buf), 0);
    CHECK_STR(buf, "Owner 119999");
    int named = 0;
    for (uint32_t a = 100000; a < 120000; a++)
        named += qlog_asn_name(s, a, buf, sizeof buf) == 0;
    CHECK_EQ(named, 20000);
    qlog_close(s);
}

/* gatehousectl's columns: CSV and JSON append asn, owner and country after
 * mac and host; the table has them too; top asns and countries. */
static void test_geo_output(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    struct qlog_record r[2];
    mkrec(&r[0], T0, "10.9.2.1", "vpn.test", 0, 0);
    set_geo(&r[0], 9009, "RO", "M247, \"Europe\" SRL");
    mkrec(&r[1], T0 + 1, "10.9.2.1", "plain.test", 0, 0);
    CHECK_EQ(qlog_write(s, r, 2), 0);
    struct names *nm = names_new(s);
    CHECK(nm != NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (size_t i = 0; i < CSV_COLUMNS; i++)
        qlog_csv_field(f, CSV_HEADER[i], i + 1 == CSV_COLUMNS);
    struct qlog_filter flt = {.has_asn = true, .asn = 9009};
    struct search q = {.out = f, .fmt = FMT_CSV, .nm = nm};
    CHECK_EQ(qlog_query(s, &flt, search_cb, &q), 1);
    q.fmt = FMT_JSON;
    CHECK_EQ(qlog_query(s, &flt, search_cb, &q), 1);
    flt = (struct qlog_filter){0};
    q.fmt = FMT_CSV;
    flt.since_us = T0 + 1;
    CHECK_EQ(qlog_query(s, &flt, search_cb, &q), 1);
    fclose(f);
    CHECK(strncmp(buf,
                  "time,client,segment,name,type,verdict,category,rule,rcode,ms,cache,grant,"
                  "answers,mac,host,asn,owner,country\n",
                  strlen("time,client,segment,name,type,verdict,category,rule,rcode,ms,cache,"
                         "grant,answers,mac,host,asn,owner,country\n")) == 0);
    CHECK(strstr(buf, ",vpn.test.,A,answered,,,NOERROR,1.2,no,,198.51.100.7,,,AS9009,"
                      "\"M247, \"\"Europe\"\" SRL\",RO\n") != NULL);
    CHECK(strstr(buf, "\"host\":\"\",\"asn\":\"AS9009\",\"owner\":\"M247, \\\"Europe\\\" "
                      "SRL\",\"country\":\"RO\"}") != NULL);
    CHECK(strstr(buf, ",plain.test.,A,answered,,,NOERROR,1.2,no,,,,,,,\n") != NULL);
    free(buf);

    /* the table */
    buf = NULL;
    f = open_memstream(&buf, &len);
    q = (struct search){.out = f, .fmt = FMT_TABLE, .nm = nm};
    flt = (struct qlog_filter){0};
    CHECK_EQ(qlog_query(s, &flt, search_cb, &q), 2);
    print_table(&q);
    fclose(f);
    free(q.rows);
    CHECK(strstr(buf, "CACHE  ASN     OWNER               COUNTRY\n") != NULL);
    CHECK(strstr(buf, "no     AS9009  M247, \"Europe\" SRL  RO\n") != NULL);
    free(buf);

    /* top asns / countries count what has them */
    struct top_ctx t = {.kind = TOP_ASNS, .nm = nm};
    CHECK_EQ(qlog_query(s, &flt, top_cb, &t), 2);
    CHECK_EQ(counts_sort(&t.c), 1);
    CHECK_STR(t.c.t[0].key, "AS9009 M247, \"Europe\" SRL");
    free(t.c.t);
    t = (struct top_ctx){.kind = TOP_COUNTRIES, .nm = nm};
    CHECK_EQ(qlog_query(s, &flt, top_cb, &t), 2);
    CHECK_EQ(counts_sort(&t.c), 1);
    CHECK_STR(t.c.t[0].key, "RO");
    CHECK_EQ(t.c.t[0].n, 1);
    free(t.c.t);
    names_free(nm);
    qlog_close(s);
}

/* The review options: --asn and --country are validated, an error names
 * the argument. */
static void test_geo_options(void)
{
    struct opts o;
    char *good[] = {"logs", "--asn", "AS9009", "--country", "ro", "--client", "10.0.0.1"};
    CHECK_EQ(parse_opts("logs", 7, good, &o, T0), 0);
    CHECK(o.f.has_asn && o.f.asn == 9009);
    CHECK(o.f.has_country && memcmp(o.f.country, "RO", 2) == 0);
    CHECK(o.f.has_client);
    char *plain[] = {"logs", "--asn", "9009"};
    CHECK_EQ(parse_opts("logs", 3, plain, &o, T0), 0);
    CHECK_EQ(o.f.asn, 9009);
    const char *bad_asn[] = {"AS", "ASX", "0", "-1", "4294967296", "AS9009x", ""};
    for (size_t i = 0; i < sizeof bad_asn / sizeof *bad_asn; i++) {
        char *argv[] = {"logs", "--asn", (char *)bad_asn[i]};
        CHECK_EQ(parse_opts("logs", 3, argv, &o, T0), 2);
    }
    const char *bad_cc[] = {"R", "ROU", "R0", "", "é", "--"};
    for (size_t i = 0; i < sizeof bad_cc / sizeof *bad_cc; i++) {
        char *argv[] = {"logs", "--country", (char *)bad_cc[i]};
        CHECK_EQ(parse_opts("logs", 3, argv, &o, T0), 2);
    }
    char cc[2];
    CHECK_EQ(qlog_parse_country("gB", cc), 0);
    CHECK(memcmp(cc, "GB", 2) == 0);
    CHECK_EQ(qlog_parse_country(NULL, cc), -EINVAL);
    char text[8];
    qlog_country_text(cc, text, sizeof text);
    CHECK_STR(text, "GB");
    qlog_country_text((char[2]){0, 0}, text, sizeof text);
    CHECK_STR(text, "");
}

/* A store of format version 2 (before geo data) is refused, untouched. */
static void test_old_version_refused(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 16 << 20, 0, &s), 0);
    struct qlog_record r;
    mkrec(&r, T0, "10.9.3.1", "old.test", 0, 0);
    CHECK_EQ(qlog_write(s, &r, 1), 0);
    qlog_close(s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {7, "version"}, dv;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 12);
    CHECK_EQ(mdb_env_open(env, d, 0, 0640), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "meta", 0, &meta);
    CHECK_EQ(mdb_get(txn, meta, &k, &dv), 0);
    CHECK_EQ(dv.mv_size, 4);
    CHECK_EQ(((uint8_t *)dv.mv_data)[3], 3); /* this version */
    uint8_t v[4] = {0, 0, 0, 2};
    dv = (MDB_val){4, v};
    CHECK_EQ(mdb_put(txn, meta, &k, &dv, 0), 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    CHECK_EQ(qlog_open(d, 16 << 20, 0, &s), -EPROTO);
    CHECK_EQ(qlog_open(d, 16 << 20, QLOG_OPEN_RDONLY, &s), -EPROTO);
    /* untouched: the version is still 2 and the record still there */
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 12);
    CHECK_EQ(mdb_env_open(env, d, MDB_RDONLY, 0), 0);
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    mdb_dbi_open(txn, "meta", 0, &meta);
    CHECK_EQ(mdb_get(txn, meta, &k, &dv), 0);
    CHECK_EQ(((uint8_t *)dv.mv_data)[3], 2);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    /* gatehousectl's message for it */
    struct config cfg = {0};
    cfg.log_path = d;
    cfg.log_map_size = 16 << 20;
    struct ctl_global g = {.cfg = &cfg};
    fflush(stderr);
    int saved = dup(2);
    char errf[400];
    snprintf(errf, sizeof errf, "%s/stderr", tmpdir);
    FILE *e = fopen(errf, "w+");
    CHECK(e != NULL);
    dup2(fileno(e), 2);
    CHECK_EQ(open_store(&g, "logs", &s), -EPROTO);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char msg[512] = "";
    rewind(e);
    size_t got = fread(msg, 1, sizeof msg - 1, e);
    msg[got] = 0;
    fclose(e);
    CHECK(strstr(msg, "not a query log of this version") != NULL);
    CHECK(strstr(msg, d) != NULL);
}

/* The version key: a store of another version is refused. */
static void test_version_checked(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 16 << 20, 0, &s), 0);
    qlog_close(s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    CHECK_EQ(mdb_env_open(env, d, 0, 0640), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "meta", 0, &meta);
    uint8_t v[4] = {0, 0, 0, 99};
    MDB_val k = {7, "version"}, dv = {4, v};
    CHECK_EQ(mdb_put(txn, meta, &k, &dv, 0), 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    CHECK_EQ(qlog_open(d, 16 << 20, 0, &s), -EPROTO);
    struct stat st;
    char f[400];
    snprintf(f, sizeof f, "%s/data.mdb", d);
    CHECK_EQ(stat(f, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0640);
    CHECK_EQ(qlog_open("/nonexistent/qlog", 16 << 20, QLOG_OPEN_RDONLY, &s), -ENOENT);
}

/* The daily report on a known day: groups, counts, and a self-contained
 * HTML page with its charts. */
static void test_report_daily(void)
{
    char d[300];
    struct qlog_store *s;
    CHECK_EQ(qlog_open(newdir(d, sizeof d), 64 << 20, 0, &s), 0);
    qlog_set_category_name(s, 1, "adult");
    qlog_set_category_name(s, 2, "self_harm");
    qlog_set_category_name(s, 3, "gaming");
    qlog_set_segment_name(s, 1, "students");
    qlog_set_segment_name(s, 2, "staff");
    static struct qlog_record recs[1000];
    size_t n = 0;
    uint64_t h = 3600000000ull;
    /* 10.7.0.1 students: 3 adult (2 names), 1 self_harm; 10.7.0.2 staff: 2 adult */
    mkrec(&recs[n++], T0 + 9 * h, "10.7.0.1", "bad.example", QLOG_BLOCKED, 1);
    mkrec(&recs[n++], T0 + 9 * h + 5, "10.7.0.1", "bad.example", QLOG_BLOCKED, 1);
    mkrec(&recs[n++], T0 + 10 * h, "10.7.0.1", "worse.example", QLOG_BLOCKED, 1);
    mkrec(&recs[n++], T0 + 11 * h, "10.7.0.1", "sad.example", QLOG_BLOCKED, 2);
    mkrec(&recs[n++], T0 + 13 * h, "10.7.0.2", "bad.example", QLOG_BLOCKED, 1);
    mkrec(&recs[n++], T0 + 14 * h, "10.7.0.2", "<b>x.example", QLOG_BLOCKED, 1);
    recs[n - 1].segment = recs[n - 2].segment = 2;
    /* not safeguarding: gaming blocks; and plain queries; and the day before/after */
    mkrec(&recs[n++], T0 + 12 * h, "10.7.0.3", "game.example", QLOG_BLOCKED, 3);
    mkrec(&recs[n++], T0 - 1, "10.7.0.9", "bad.example", QLOG_BLOCKED, 1);
    mkrec(&recs[n++], T0 + 24 * h, "10.7.0.9", "bad.example", QLOG_BLOCKED, 1);
    for (int i = 0; i < 100; i++)
        mkrec(&recs[n++], T0 + (uint64_t)(i % 24) * h + 7, "10.7.0.4", "ok.example", 0, 0);
    /* countries of the answer address: attempts in RO (2) and GB (1), a
     * gaming block in RU, a plain answer in FR (not in the section) */
    set_geo(&recs[0], 9009, "RO", "M247 Europe SRL");
    set_geo(&recs[1], 9009, "RO", "M247 Europe SRL");
    set_geo(&recs[3], 64500, "GB", NULL);
    set_geo(&recs[6], 64501, "RU", NULL);
    set_geo(&recs[9], 64502, "FR", NULL);
    CHECK_EQ(qlog_write(s, recs, n), 0);
    char *cats[] = {"adult", "self_harm", "extremism"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_EQ(ctl_report_daily_write(s, T0, cats, 3, false, f), 0);
    fclose(f);
    CHECK(strstr(buf, "report for 2026-11-23") != NULL);
    CHECK(strstr(buf, "Queries: 107  Blocked: 7  Safeguarding attempts: 6 from 2 clients") != NULL);
    CHECK(strstr(buf, "10.7.0.1 (segment students): 4 attempts, first 09:00:00, last 11:00:00") !=
          NULL);
    CHECK(strstr(buf, "categories: adult 3, self_harm 1") != NULL);
    CHECK(strstr(buf, "names: bad.example. (2), sad.example. (1), worse.example. (1)") != NULL);
    CHECK(strstr(buf, "10.7.0.2 (segment staff): 2 attempts, first 13:00:00, last 14:00:00") !=
          NULL);
    CHECK(strstr(buf, "game.example") == NULL);
    CHECK(strstr(buf, "10.7.0.9") == NULL);
    CHECK(strstr(buf, "10.7.0.1") < strstr(buf, "10.7.0.2")); /* biggest group first */
    /* most attempts first, unknown (no address, as blocked answers) last */
    CHECK(strstr(buf, "\nBy country of the answer address:\n"
                      "  COUNTRY      ATTEMPTS     BLOCKED\n"
                      "  RO                  2           2\n"
                      "  GB                  1           1\n"
                      "  RU                  0           1\n"
                      "  (unknown)           3           3\n") != NULL);
    CHECK(strstr(buf, "  FR ") == NULL);
    CHECK(strstr(buf, "By country") > strstr(buf, "10.7.0.2")); /* after the groups */
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    CHECK_EQ(ctl_report_daily_write(s, T0, cats, 3, true, f), 0);
    fclose(f);
    CHECK(strstr(buf, "<!DOCTYPE html>") != NULL);
    CHECK(strstr(buf, "aria-label=\"queries and blocks by hour\"") != NULL);
    CHECK(strstr(buf, "aria-label=\"blocked by category\"") != NULL);
    CHECK(strstr(buf, "<title>09:00 2 blocked</title>") != NULL);
    CHECK(strstr(buf, "<h2>By country of the answer address</h2>\n<table class=\"cc\" "
                      "aria-label=\"attempts and blocked by country\">") != NULL);
    CHECK(strstr(buf, "<tr><td>RO</td><td class=\"n\">2</td><td class=\"n\">2</td>") != NULL);
    CHECK(strstr(buf, "aria-label=\"RU: 0 attempts, 1 blocked\"><rect class=\"s\" y=\"0\" "
                      "width=\"0.0\"") != NULL);
    CHECK(strstr(buf, "<tr><td>(unknown)</td><td class=\"n\">3</td>") != NULL);
    CHECK(strstr(buf, "<td>FR</td>") == NULL);
    CHECK(strstr(buf, "&lt;b&gt;x.example") != NULL); /* escaped */
    CHECK(strstr(buf, "<b>x") == NULL);
    CHECK(strstr(buf, "http:") == NULL);
    CHECK(strstr(buf, "https:") == NULL);
    CHECK(strstr(buf, "src=") == NULL);
    CHECK(strstr(buf, "<link") == NULL);
    CHECK(strstr(buf, "</html>") != NULL);
    free(buf);
    qlog_close(s);
}

/* CSV exports are opened in spreadsheets: a field a client chose (a query
 * name) must never start a formula (CSV injection). */
static void test_csv_field_quoting(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    qlog_csv_field(f, "plain.example.", false);
    qlog_csv_field(f, "=HYPERLINK(\"x\").evil.", false);
    qlog_csv_field(f, "a,b", false);
    qlog_csv_field(f, "-1", false);
    qlog_csv_field(f, "-", false);
    qlog_csv_field(f, "@SUM(1)", false);
    qlog_csv_field(f, "say \"hi\"", true);
    fclose(f);
    CHECK_STR(buf, "plain.example.,\"'=HYPERLINK(\"\"x\"\").evil.\",\"a,b\",\"'-1\","
                   "-,\"'@SUM(1)\",\"say \"\"hi\"\"\"\n");
    free(buf);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_qlog.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_parsers);
    UNIT_RUN(test_rings_writer_filters);
    UNIT_RUN(test_segments);
    UNIT_RUN(test_ring_full_drops);
    UNIT_RUN(test_purge_keeps_flagged);
    UNIT_RUN(test_erase_client_audited);
    UNIT_RUN(test_full_map);
    UNIT_RUN(test_forked_reader);
    UNIT_RUN(test_kill9);
    UNIT_RUN(test_version_checked);
    UNIT_RUN(test_geo_round_trip);
    UNIT_RUN(test_owner_table);
    UNIT_RUN(test_geo_output);
    UNIT_RUN(test_geo_options);
    UNIT_RUN(test_old_version_refused);
    UNIT_RUN(test_report_daily);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    UNIT_RUN(test_csv_field_quoting);
    return unit_done();
}
