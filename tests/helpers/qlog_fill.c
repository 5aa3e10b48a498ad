/*
 * qlog_fill.c - write query log records through qlog's API, for the
 * integration tests (tests/integration/test_querylog.py): records older
 * than the retention (the daemon only logs "now"), and filler to bring a
 * store to a full map.  Another process may have the store open: LMDB
 * serialises the writers.
 *
 *   qlog_fill DIR MAPSIZE records COUNT AGE_S CLIENT NAME [blocked CAT]
 *       COUNT records AGE_S seconds old (one microsecond apart) from CLIENT
 *       for NAME, answered, or blocked in category id CAT
 *   qlog_fill DIR MAPSIZE fill
 *       filler records (client 192.0.2.250) until the map is full; prints
 *       the count
 *
 * Exit status 0, or 1 with a message.  Not a tool for people: no audit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qlog.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int mkrec(struct qlog_record *r, uint64_t t, const char *client, const char *name)
{
    bool sfx;
    memset(r, 0, sizeof *r);
    r->time_us = t;
    r->qtype = 1;
    r->response_us = 1000;
    r->segment = 1;
    if (qlog_parse_addr(client, r->client, &r->family) < 0 ||
        qlog_parse_name(name, r->name, &r->name_len, &sfx) < 0 || sfx)
        return -EINVAL;
    return 0;
}

int main(int argc, char **argv)
{
    struct qlog_store *s;
    if (argc < 4) {
        fprintf(stderr, "usage: qlog_fill DIR MAPSIZE records|fill ...\n");
        return 1;
    }
    int rc = qlog_open(argv[1], strtoull(argv[2], NULL, 10), 0, &s);
    if (rc < 0) {
        fprintf(stderr, "qlog_fill: open %s: %s\n", argv[1], strerror(-rc));
        return 1;
    }
    if (strcmp(argv[3], "records") == 0 && argc >= 8) {
        long n = atol(argv[4]);
        uint64_t t = now_us() - strtoull(argv[5], NULL, 10) * 1000000;
        struct qlog_record *b = calloc(n > 0 ? (size_t)n : 1, sizeof *b);
        for (long i = 0; b && i < n; i++) {
            if (mkrec(&b[i], t + (uint64_t)i, argv[6], argv[7]) < 0) {
                fprintf(stderr, "qlog_fill: bad client or name\n");
                return 1;
            }
            if (argc >= 10 && strcmp(argv[8], "blocked") == 0) {
                b[i].verdict = QLOG_BLOCKED;
                b[i].category = (uint16_t)atoi(argv[9]);
                b[i].rcode = 3;
            }
        }
        rc = b ? qlog_write(s, b, (size_t)n) : -ENOMEM;
        free(b);
    } else if (strcmp(argv[3], "fill") == 0) {
        /* halve the chunk on a full map, so the map ends really full */
        size_t chunk = 4096, total = 0;
        struct qlog_record *b = calloc(chunk, sizeof *b);
        uint64_t t = now_us() - 60 * 1000000ull;
        for (int rounds = 0; b && chunk > 0 && rounds < 100000; rounds++) {
            for (size_t i = 0; i < chunk; i++) {
                char name[64];
                snprintf(name, sizeof name, "filler%zu.example.org", (total + i) % 5000);
                mkrec(&b[i], t++, "192.0.2.250", name);
            }
            rc = qlog_write(s, b, chunk);
            if (rc == -ENOSPC) {
                chunk /= 2;
                rc = 0;
                continue;
            }
            if (rc < 0)
                break;
            total += chunk;
        }
        free(b);
        printf("%zu\n", total);
    } else {
        fprintf(stderr, "qlog_fill: bad arguments\n");
        rc = -EINVAL;
    }
    qlog_close(s);
    if (rc < 0) {
        fprintf(stderr, "qlog_fill: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
