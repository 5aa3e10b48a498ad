/*
 * qlog.c - the query log store, the per-worker rings and the writer thread.
 *
 * What it does: takes fixed-size records from workers through lock-free
 * rings, commits them to LMDB in batches, indexes them for review, purges
 * them by retention, erases a client on request and keeps the audit trail.
 * What it does not: decide verdicts or categories (policy), render reports
 * (tools/ctl_logs.c), or know device names (see "device names" below).
 *
 * Key space: one LMDB environment in a directory, named databases.  All
 * integers in keys are big-endian so keys sort by number; TIME is u64
 * microseconds since the epoch, SEQ a u32 the writer assigns so two records
 * of the same microsecond have distinct keys.
 *
 *   log         TIME SEQ                            -> record value (below)
 *   by_client   ADDR16 TIME SEQ                     -> ""
 *   by_name     RNAME TIME SEQ                      -> ""
 *                 RNAME: the labels of the query name in reverse order, each
 *                 as LEN BYTES, then a 0: "www.example.com" is
 *                 \3com\7example\3www\0, so "*.example.com" is the range
 *                 starting \3com\7example (label lengths keep it unambiguous)
 *   by_verdict  VERDICT(u8) CATEGORY(u16) TIME SEQ  -> ""
 *                 only records that are not plain answers, or carry a
 *                 category: most queries are answered and need no entry
 *   audit       TIME SEQ      -> u8 1, WHO \0 ACTION \0 DETAIL \0 (never erased)
 *   meta        "version"     -> u32 QLOG_STORE_VERSION (checked at open)
 *               "s" ID(u8)    -> segment name
 *               "c" ID(u16)   -> category name
 *               "purged_until"-> u64 TIME: unflagged records before it are gone
 *
 * Record value, format 1: an 18-byte header (struct qlog_disk), then the
 * client (4 or 16 bytes), the grant id (8 bytes, only if QLOG_D_GRANT), the
 * answers (4 or 16 bytes each) and the wire name.  About 60-80 bytes for a
 * typical query instead of the 344-byte ring slot.
 *
 * Device names from DHCP leases (a later extension): a "devices" database
 * keyed by ADDR16 TIME (lease start) -> device name, filled from the lease
 * file, joined at review time; the record itself does not change.
 *
 * Durability: the environment is opened with MDB_NOMETASYNC.  A commit
 * writes and fdatasyncs its data pages; the meta page reaches the disk with
 * the next commit.  A kill -9 loses only what was still in the rings (at most
 * QLOG_COMMIT_MS plus one batch) and never corrupts: the OS keeps every
 * page written.  A power cut can in addition undo the last committed batch,
 * never corrupt (MDB_NOSYNC could, which is why it is not used).
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "log.h"
#include "qlog.h"

#define QLOG_STORE_VERSION 1u
#define QLOG_RECORD_FORMAT 1u
#define QLOG_MAX_RINGS 256
#define QLOG_KEY_TS 12                     /* TIME SEQ */
#define QLOG_RNAME_MAX (QLOG_NAME_MAX + 1) /* reversed labels + 0 */
#define QLOG_PURGE_DELETES 2048            /* per write transaction */
#define QLOG_PURGE_SCAN 32768              /* keys looked at per transaction */
#define QLOG_ERASE_BATCH 1024              /* per write transaction */
#define QLOG_COLLECT_MAX (1u << 20)        /* unordered index hits sorted in memory */
#define QLOG_RETRY_STOPPED_S 60            /* try again after a full map */
#define QLOG_NAME_TABLE_MAX 63

static_assert(sizeof(struct qlog_record) == 344, "ring slot size is part of the ABI");

/* The stored header; byte arrays so it has no padding and no byte order. */
struct qlog_disk {
    uint8_t format; /* QLOG_RECORD_FORMAT */
    uint8_t verdict;
    uint8_t rcode;
    uint8_t flags;
    uint8_t segment;
    uint8_t layout; /* QLOG_D_* */
    uint8_t name_len;
    uint8_t qtype[2];
    uint8_t category[2];
    uint8_t rule[2];
    uint8_t response_us[4];
    uint8_t reserved;
};
static_assert(sizeof(struct qlog_disk) == 18, "record header format 1 is 18 bytes");
#define QLOG_D_V6 0x01    /* client is 16 bytes, else 4 */
#define QLOG_D_GRANT 0x02 /* 8-byte grant id follows the client */
#define QLOG_D_NADDR 0x0c /* answers, 0..2, << 2 */
#define QLOG_D_A0V6 0x10  /* answer 0 is 16 bytes */
#define QLOG_D_A1V6 0x20  /* answer 1 is 16 bytes */
#define QLOG_VALUE_MAX (sizeof(struct qlog_disk) + 16 + 8 + 32 + QLOG_NAME_MAX)

struct qlog_ring {
    _Alignas(64) atomic_size_t head; /* written by the producer */
    size_t tail_cache;               /* producer's last view of tail */
    uint64_t dropped_local;
    _Alignas(64) atomic_size_t tail; /* written by the consumer */
    _Alignas(64) atomic_uint_fast64_t dropped;
    size_t mask;
    struct qlog_record *slots;
};

struct qlog_store {
    MDB_env *env;
    MDB_dbi log, by_client, by_name, by_verdict, audit, meta;
    bool rdonly;
    uint32_t seq; /* writer thread only */
    uint32_t audit_seq;

    pthread_mutex_t rings_mu;
    struct qlog_ring *rings[QLOG_MAX_RINGS];
    atomic_size_t nrings;

    pthread_t thread;
    bool running;
    atomic_bool stop;
    uint32_t retention_s, retention_flagged_s;
    struct qlog_record *batch; /* writer thread only */

    atomic_uint_fast64_t written, lost, commits, lag_us, purged;
    atomic_int last_error;
    atomic_bool stopped;
};

/* --- small helpers ----------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = v;
}
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = v;
}
static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int qlog_errno(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return -EPROTO;
    case MDB_READERS_FULL:
    case MDB_MAP_RESIZED:
        return -EAGAIN;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
        return -E2BIG;
    case MDB_DBS_FULL:
    case MDB_TLS_FULL:
        return -EMFILE;
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI:
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_INCOMPATIBLE:
        return -EINVAL;
    default:
        if (rc > 0)
            return -rc; /* a system errno */
        return -EIO;    /* MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PANIC */
    }
}

/* Walk the labels of a wire name of LEN bytes; fills starts[] (at most 128)
 * and returns the label count, or -1 if malformed (RFC 1035 section 3.1). */
static int wire_labels(const uint8_t *w, size_t len, uint8_t starts[128])
{
    size_t o = 0;
    int n = 0;
    if (len < 1 || len > QLOG_NAME_MAX)
        return -1;
    while (o < len) {
        uint8_t l = w[o];
        if (l == 0)
            return o + 1 == len ? n : -1;
        if (l > 63 || o + 1 + l >= len || n >= 127)
            return -1;
        starts[n++] = (uint8_t)o;
        o += 1 + (size_t)l;
    }
    return -1;
}

/* Reversed-label form; with TERMINATE the closing 0 is added (exact name),
 * without it the result is the prefix of the name and every name below. */
static int rname(const uint8_t *w, size_t len, bool terminate, uint8_t out[QLOG_RNAME_MAX])
{
    uint8_t starts[128];
    int n = wire_labels(w, len, starts);
    if (n < 0)
        return -1;
    size_t o = 0;
    for (int i = n - 1; i >= 0; i--) {
        size_t l = (size_t)w[starts[i]] + 1;
        memcpy(out + o, w + starts[i], l);
        o += l;
    }
    if (terminate)
        out[o++] = 0;
    return (int)o;
}

static void key_ts(uint8_t *p, uint64_t t, uint32_t seq)
{
    put_be64(p, t);
    put_be32(p + 8, seq);
}

static bool rec_flagged(const struct qlog_record *r)
{
    return r->verdict == QLOG_BLOCKED || (r->flags & QLOG_F_FLAGGED);
}

static bool rec_in_verdict_index(const struct qlog_record *r)
{
    return r->verdict != QLOG_ANSWERED || r->category != 0;
}

/* --- record encoding --------------------------------------------------- */

static size_t rec_encode(const struct qlog_record *r, uint8_t out[QLOG_VALUE_MAX])
{
    struct qlog_disk d = {0};
    size_t o = sizeof d;
    bool v6 = r->family == 6;
    uint8_t na = r->naddrs > 2 ? 2 : r->naddrs;

    d.format = QLOG_RECORD_FORMAT;
    d.verdict = r->verdict;
    d.rcode = r->rcode;
    d.flags = r->flags;
    d.segment = r->segment;
    d.name_len = r->name_len;
    put_be16(d.qtype, r->qtype);
    put_be16(d.category, r->category);
    put_be16(d.rule, r->rule);
    put_be32(d.response_us, r->response_us);
    d.layout = (uint8_t)((v6 ? QLOG_D_V6 : 0) | (r->grant_id ? QLOG_D_GRANT : 0) | na << 2);
    if (v6) {
        memcpy(out + o, r->client, 16);
        o += 16;
    } else {
        memcpy(out + o, r->client + 12, 4);
        o += 4;
    }
    if (r->grant_id) {
        put_be64(out + o, r->grant_id);
        o += 8;
    }
    for (int i = 0; i < na; i++) {
        if (r->answer_family[i] == 6) {
            d.layout |= (uint8_t)(i ? QLOG_D_A1V6 : QLOG_D_A0V6);
            memcpy(out + o, r->answer[i], 16);
            o += 16;
        } else {
            memcpy(out + o, r->answer[i] + 12, 4);
            o += 4;
        }
    }
    memcpy(out + o, r->name, r->name_len);
    o += r->name_len;
    memcpy(out, &d, sizeof d);
    return o;
}

static void v4mapped(uint8_t *dst, const uint8_t *v4)
{
    memset(dst, 0, 10);
    dst[10] = dst[11] = 0xff;
    memcpy(dst + 12, v4, 4);
}

/* Decode a stored value; the time and seq come from the key.  Checks every
 * length against the value size: the file may have been damaged. */
static int rec_decode(const MDB_val *k, const MDB_val *v, struct qlog_record *r)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, o = sizeof(struct qlog_disk);
    struct qlog_disk d;

    if (k->mv_size != QLOG_KEY_TS || n < sizeof d)
        return -EIO;
    memcpy(&d, p, sizeof d);
    if (d.format != QLOG_RECORD_FORMAT)
        return -EPROTO;
    memset(r, 0, offsetof(struct qlog_record, name));
    r->time_us = get_be64(k->mv_data);
    r->seq = get_be32((const uint8_t *)k->mv_data + 8);
    r->verdict = d.verdict;
    r->rcode = d.rcode;
    r->flags = d.flags;
    r->segment = d.segment;
    r->qtype = get_be16(d.qtype);
    r->category = get_be16(d.category);
    r->rule = get_be16(d.rule);
    r->response_us = get_be32(d.response_us);
    size_t clen = d.layout & QLOG_D_V6 ? 16 : 4;
    if (o + clen > n)
        return -EIO;
    if (clen == 16) {
        memcpy(r->client, p + o, 16);
        r->family = 6;
    } else {
        v4mapped(r->client, p + o);
        r->family = 4;
    }
    o += clen;
    if (d.layout & QLOG_D_GRANT) {
        if (o + 8 > n)
            return -EIO;
        r->grant_id = get_be64(p + o);
        o += 8;
    }
    r->naddrs = (d.layout & QLOG_D_NADDR) >> 2;
    if (r->naddrs > 2)
        return -EIO;
    for (int i = 0; i < r->naddrs; i++) {
        bool a6 = d.layout & (i ? QLOG_D_A1V6 : QLOG_D_A0V6);
        size_t alen = a6 ? 16 : 4;
        if (o + alen > n)
            return -EIO;
        if (a6)
            memcpy(r->answer[i], p + o, 16);
        else
            v4mapped(r->answer[i], p + o);
        r->answer_family[i] = a6 ? 6 : 4;
        o += alen;
    }
    if (d.name_len == 0 || o + d.name_len != n)
        return -EIO;
    r->name_len = d.name_len;
    memcpy(r->name, p + o, d.name_len);
    r->name[d.name_len] = 0;
    return 0;
}

/* --- open / close ------------------------------------------------------ */

static int meta_get_u64(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, meta, &k, &d);
    if (rc != 0)
        return qlog_errno(rc);
    if (d.mv_size == 8)
        *v = get_be64(d.mv_data);
    else if (d.mv_size == 4)
        *v = get_be32(d.mv_data);
    else
        return -EIO;
    return 0;
}

static int open_dbs(struct qlog_store *s, MDB_txn *txn)
{
    static const char *names[] = {"log", "by_client", "by_name", "by_verdict", "audit", "meta"};
    MDB_dbi *dbis[] = {&s->log, &s->by_client, &s->by_name, &s->by_verdict, &s->audit, &s->meta};
    unsigned fl = s->rdonly ? 0 : MDB_CREATE;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int rc = mdb_dbi_open(txn, names[i], fl, dbis[i]);
        if (rc != 0)
            return qlog_errno(rc);
    }
    return 0;
}

/* The version key: written into a new store, checked in an old one. */
static int check_version(struct qlog_store *s, MDB_txn *txn)
{
    uint64_t v;
    int rc = meta_get_u64(txn, s->meta, "version", &v);
    if (rc == 0)
        return v == QLOG_STORE_VERSION ? 0 : -EPROTO;
    if (rc != -ENOENT)
        return rc;
    MDB_stat st;
    if (mdb_stat(txn, s->log, &st) == 0 && st.ms_entries > 0)
        return -EPROTO; /* records without a version: not ours */
    if (s->rdonly)
        return -ENOENT;
    uint8_t b[4];
    put_be32(b, QLOG_STORE_VERSION);
    MDB_val k = {7, "version"}, d = {4, b};
    return qlog_errno(mdb_put(txn, s->meta, &k, &d, 0));
}

int qlog_open(const char *path, size_t map_size, unsigned flags, struct qlog_store **out)
{
    struct qlog_store *s;
    MDB_txn *txn = NULL;
    int rc;

    *out = NULL;
    if (!path || !*path)
        return -EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->rdonly = flags & QLOG_OPEN_RDONLY;
    pthread_mutex_init(&s->rings_mu, NULL);
    s->audit_seq = (uint32_t)getpid() << 12;
    if (!s->rdonly && mkdir(path, 0750) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = qlog_errno(mdb_env_create(&s->env))) < 0)
        goto fail;
    mdb_env_set_maxdbs(s->env, 8);
    if (map_size && (rc = qlog_errno(mdb_env_set_mapsize(s->env, map_size))) < 0)
        goto fail;
    /* MDB_NOTLS: a query callback may look up a name (its own read txn)
     * while the query's read txn is open in the same thread */
    rc = mdb_env_open(s->env, path, (s->rdonly ? MDB_RDONLY : 0) | MDB_NOMETASYNC | MDB_NOTLS,
                      QLOG_FILE_MODE);
    if (rc != 0) {
        rc = qlog_errno(rc);
        goto fail;
    }
    if ((rc = qlog_errno(mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn))) < 0)
        goto fail;
    if ((rc = open_dbs(s, txn)) < 0 || (rc = check_version(s, txn)) < 0)
        goto fail;
    if (!s->rdonly) {
        /* continue the sequence after the newest record (keys stay unique
         * across restarts even within one microsecond) */
        MDB_cursor *c;
        MDB_val k, d;
        if (mdb_cursor_open(txn, s->log, &c) == 0) {
            if (mdb_cursor_get(c, &k, &d, MDB_LAST) == 0 && k.mv_size == QLOG_KEY_TS)
                s->seq = get_be32((uint8_t *)k.mv_data + 8) + 1;
            mdb_cursor_close(c);
        }
    }
    rc = qlog_errno(mdb_txn_commit(txn));
    txn = NULL;
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    pthread_mutex_destroy(&s->rings_mu);
    free(s);
    return rc;
}

void qlog_close(struct qlog_store *s)
{
    if (!s)
        return;
    qlog_writer_stop(s);
    size_t n = atomic_load(&s->nrings);
    for (size_t i = 0; i < n; i++) {
        free(s->rings[i]->slots);
        free(s->rings[i]);
    }
    mdb_env_close(s->env);
    pthread_mutex_destroy(&s->rings_mu);
    free(s);
}

/* --- name tables ------------------------------------------------------- */

static int table_set(struct qlog_store *s, const uint8_t *key, size_t klen, const char *name)
{
    size_t n = strlen(name);
    MDB_txn *txn;
    if (n == 0 || n > QLOG_NAME_TABLE_MAX)
        return -EINVAL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    MDB_val k = {klen, (void *)key}, d = {n, (void *)name};
    rc = mdb_put(txn, s->meta, &k, &d, 0);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return qlog_errno(rc);
    }
    return qlog_errno(mdb_txn_commit(txn));
}

static int table_get(struct qlog_store *s, const uint8_t *key, size_t klen, char *buf, size_t len)
{
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key}, d;
    if (len == 0)
        return -EINVAL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    rc = qlog_errno(mdb_get(txn, s->meta, &k, &d));
    if (rc == 0) {
        size_t n = d.mv_size < len - 1 ? d.mv_size : len - 1;
        memcpy(buf, d.mv_data, n);
        buf[n] = 0;
    }
    mdb_txn_abort(txn);
    return rc;
}

/* Reverse lookup: the table is small (at most 65536 entries, usually tens). */
static int table_find(struct qlog_store *s, uint8_t tag, size_t klen, const char *name,
                      uint8_t *key_out)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k = {1, &tag}, d;
    size_t n = strlen(name);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    if ((rc = mdb_cursor_open(txn, s->meta, &c)) != 0) {
        mdb_txn_abort(txn);
        return qlog_errno(rc);
    }
    rc = -ENOENT;
    for (int op = MDB_SET_RANGE; mdb_cursor_get(c, &k, &d, op) == 0; op = MDB_NEXT) {
        if (k.mv_size == 0 || ((uint8_t *)k.mv_data)[0] != tag)
            break;
        if (k.mv_size == klen && d.mv_size == n && strncasecmp(d.mv_data, name, n) == 0) {
            memcpy(key_out, k.mv_data, klen);
            rc = 0;
            break;
        }
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

int qlog_set_segment_name(struct qlog_store *s, uint8_t id, const char *name)
{
    uint8_t k[2] = {'s', id};
    return table_set(s, k, sizeof k, name);
}

int qlog_set_category_name(struct qlog_store *s, uint16_t id, const char *name)
{
    uint8_t k[3] = {'c'};
    put_be16(k + 1, id);
    return table_set(s, k, sizeof k, name);
}

int qlog_segment_name(struct qlog_store *s, uint8_t id, char *buf, size_t len)
{
    uint8_t k[2] = {'s', id};
    return table_get(s, k, sizeof k, buf, len);
}

int qlog_category_name(struct qlog_store *s, uint16_t id, char *buf, size_t len)
{
    uint8_t k[3] = {'c'};
    put_be16(k + 1, id);
    return table_get(s, k, sizeof k, buf, len);
}

int qlog_segment_id(struct qlog_store *s, const char *name, uint8_t *id)
{
    uint8_t k[2];
    int rc = table_find(s, 's', sizeof k, name, k);
    if (rc == 0)
        *id = k[1];
    return rc;
}

int qlog_category_id(struct qlog_store *s, const char *name, uint16_t *id)
{
    uint8_t k[3];
    int rc = table_find(s, 'c', sizeof k, name, k);
    if (rc == 0)
        *id = get_be16(k + 1);
    return rc;
}

/* --- rings ------------------------------------------------------------- */

struct qlog_ring *qlog_ring_new(struct qlog_store *s, size_t capacity)
{
    size_t cap = 64;
    if (capacity == 0)
        capacity = QLOG_RING_DEFAULT;
    if (capacity > ((size_t)1 << 24))
        capacity = (size_t)1 << 24;
    while (cap < capacity)
        cap <<= 1;
    struct qlog_ring *r = aligned_alloc(64, sizeof *r);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    r->mask = cap - 1;
    r->slots = calloc(cap, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return NULL;
    }
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->dropped, 0);
    pthread_mutex_lock(&s->rings_mu);
    size_t n = atomic_load(&s->nrings);
    if (n >= QLOG_MAX_RINGS) {
        pthread_mutex_unlock(&s->rings_mu);
        free(r->slots);
        free(r);
        return NULL;
    }
    s->rings[n] = r;
    atomic_store_explicit(&s->nrings, n + 1, memory_order_release);
    pthread_mutex_unlock(&s->rings_mu);
    return r;
}

bool qlog_submit(struct qlog_ring *ring, const struct qlog_record *r)
{
    size_t h = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (h - ring->tail_cache > ring->mask) {
        ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (h - ring->tail_cache > ring->mask) {
            /* only this thread writes the counter: no locked add needed */
            atomic_store_explicit(&ring->dropped, ++ring->dropped_local, memory_order_relaxed);
            return false;
        }
    }
    size_t n = r->name_len;
    memcpy(&ring->slots[h & ring->mask], r, offsetof(struct qlog_record, name) + n);
    atomic_store_explicit(&ring->head, h + 1, memory_order_release);
    return true;
}

/* Consumer side: copy up to MAX records from RING into OUT. */
static size_t ring_drain(struct qlog_ring *ring, struct qlog_record *out, size_t max)
{
    size_t t = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&ring->head, memory_order_acquire);
    size_t n = h - t;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        const struct qlog_record *src = &ring->slots[(t + i) & ring->mask];
        size_t nl = src->name_len;
        memcpy(&out[i], src, offsetof(struct qlog_record, name) + nl);
    }
    atomic_store_explicit(&ring->tail, t + n, memory_order_release);
    return n;
}

/* --- writing ----------------------------------------------------------- */

/* Put one record and its index entries.  Returns 0, a negative errno from
 * LMDB, or 1 if the record itself is malformed (skipped and counted). */
static int put_record(struct qlog_store *s, MDB_txn *txn, struct qlog_record *r, bool *append)
{
    uint8_t kb[QLOG_RNAME_MAX + QLOG_KEY_TS], val[QLOG_VALUE_MAX], rn[QLOG_RNAME_MAX];
    int rc, rnl;

    if (r->name_len == 0 || r->verdict >= QLOG_VERDICT_COUNT || (r->family != 4 && r->family != 6))
        return 1;
    for (size_t i = 0; i < r->name_len; i++) /* names are keys: lower case */
        if (r->name[i] >= 'A' && r->name[i] <= 'Z')
            r->name[i] += 'a' - 'A';
    if ((rnl = rname(r->name, r->name_len, true, rn)) < 0)
        return 1;
    if (r->naddrs > 2)
        r->naddrs = 2;

    MDB_val k = {QLOG_KEY_TS, kb}, d = {rec_encode(r, val), val};
    for (int tries = 0;; tries++) {
        r->seq = s->seq++;
        key_ts(kb, r->time_us, r->seq);
        /* the batch is sorted by time, so appending is the common case and
         * keeps pages full; an older straggler falls back to a normal put */
        rc = mdb_put(txn, s->log, &k, &d, *append ? MDB_APPEND : MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST && *append) {
            *append = false;
            rc = mdb_put(txn, s->log, &k, &d, MDB_NOOVERWRITE);
        }
        if (rc != MDB_KEYEXIST || tries >= 16)
            break;
    }
    if (rc != 0)
        return qlog_errno(rc);

    MDB_val e = {0, ""};
    memcpy(kb, r->client, 16);
    key_ts(kb + 16, r->time_us, r->seq);
    k.mv_size = 16 + QLOG_KEY_TS;
    if ((rc = mdb_put(txn, s->by_client, &k, &e, 0)) != 0)
        return qlog_errno(rc);
    memcpy(kb, rn, (size_t)rnl);
    key_ts(kb + rnl, r->time_us, r->seq);
    k.mv_size = (size_t)rnl + QLOG_KEY_TS;
    if ((rc = mdb_put(txn, s->by_name, &k, &e, 0)) != 0)
        return qlog_errno(rc);
    if (rec_in_verdict_index(r)) {
        kb[0] = r->verdict;
        put_be16(kb + 1, r->category);
        key_ts(kb + 3, r->time_us, r->seq);
        k.mv_size = 3 + QLOG_KEY_TS;
        if ((rc = mdb_put(txn, s->by_verdict, &k, &e, 0)) != 0)
            return qlog_errno(rc);
    }
    return 0;
}

static int cmp_time(const void *a, const void *b)
{
    uint64_t x = ((const struct qlog_record *)a)->time_us;
    uint64_t y = ((const struct qlog_record *)b)->time_us;
    return x < y ? -1 : x > y;
}

/* One write transaction for N records (sorted in place).  Returns the
 * number stored (malformed ones are skipped) or a negative errno; on error
 * nothing of the batch is stored. */
static long write_batch(struct qlog_store *s, struct qlog_record *recs, size_t n)
{
    MDB_txn *txn;
    long stored = 0;
    bool append = true;
    uint32_t seq0 = s->seq;

    if (s->rdonly)
        return -EROFS;
    qsort(recs, n, sizeof *recs, cmp_time);
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    for (size_t i = 0; i < n; i++) {
        rc = put_record(s, txn, &recs[i], &append);
        if (rc < 0) {
            mdb_txn_abort(txn);
            s->seq = seq0;
            return rc;
        }
        stored += rc == 0;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        s->seq = seq0;
        return qlog_errno(rc);
    }
    return stored;
}

int qlog_write(struct qlog_store *s, const struct qlog_record *recs, size_t n)
{
    size_t chunk = n < 32768 ? n : 32768; /* one fdatasync per chunk */
    if (chunk == 0)
        return 0;
    struct qlog_record *copy = malloc(chunk * sizeof *copy);
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        memcpy(copy, recs + i, m * sizeof *copy);
        long rc = write_batch(s, copy, m);
        if (rc < 0) {
            free(copy);
            return (int)rc;
        }
        atomic_fetch_add(&s->written, (uint64_t)rc);
    }
    free(copy);
    return 0;
}

/* --- deletion, purge, erase -------------------------------------------- */

/* Delete the record at key K (value V) and its index entries. */
static int del_record(struct qlog_store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
    struct qlog_record r;
    uint8_t kb[QLOG_RNAME_MAX + QLOG_KEY_TS];
    MDB_val ik = {0, kb};
    int rc = rec_decode(k, v, &r);

    if (rc == 0) {
        memcpy(kb, r.client, 16);
        memcpy(kb + 16, k->mv_data, QLOG_KEY_TS);
        ik.mv_size = 16 + QLOG_KEY_TS;
        rc = mdb_del(txn, s->by_client, &ik, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return qlog_errno(rc);
        int rnl = rname(r.name, r.name_len, true, kb);
        if (rnl > 0) {
            memcpy(kb + rnl, k->mv_data, QLOG_KEY_TS);
            ik.mv_size = (size_t)rnl + QLOG_KEY_TS;
            rc = mdb_del(txn, s->by_name, &ik, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND)
                return qlog_errno(rc);
        }
        if (rec_in_verdict_index(&r)) {
            kb[0] = r.verdict;
            put_be16(kb + 1, r.category);
            memcpy(kb + 3, k->mv_data, QLOG_KEY_TS);
            ik.mv_size = 3 + QLOG_KEY_TS;
            rc = mdb_del(txn, s->by_verdict, &ik, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND)
                return qlog_errno(rc);
        }
    }
    /* a record that does not decode is deleted all the same */
    MDB_val kk = *k;
    rc = mdb_del(txn, s->log, &kk, NULL);
    return rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
}

/* One purge transaction over [from, to): deletes everything (ALL) or only
 * the unflagged records.  Sets *next to where the next call starts, or to
 * TO when the range is done.  Returns deletions or -errno. */
static long purge_step(struct qlog_store *s, uint64_t from, uint64_t to, bool all, uint64_t *next)
{
    MDB_txn *txn;
    MDB_cursor *c;
    uint8_t kb[QLOG_KEY_TS];
    MDB_val k = {QLOG_KEY_TS, kb}, v;
    long deleted = 0;
    unsigned scanned = 0;
    int rc;

    *next = to;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        return qlog_errno(rc);
    if ((rc = mdb_cursor_open(txn, s->log, &c)) != 0) {
        mdb_txn_abort(txn);
        return qlog_errno(rc);
    }
    key_ts(kb, from, 0);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size != QLOG_KEY_TS)
            break;
        uint64_t t = get_be64(k.mv_data);
        if (t >= to)
            break;
        if (deleted >= QLOG_PURGE_DELETES || scanned >= QLOG_PURGE_SCAN) {
            *next = t;
            break;
        }
        scanned++;
        struct qlog_record r;
        bool keep = !all && rec_decode(&k, &v, &r) == 0 && rec_flagged(&r);
        if (!keep) {
            uint8_t cur[QLOG_KEY_TS]; /* the page may move under the deletions */
            memcpy(cur, k.mv_data, QLOG_KEY_TS);
            MDB_val ck = {QLOG_KEY_TS, cur};
            rc = del_record(s, txn, &ck, &v);
            if (rc < 0)
                goto fail;
            deleted++;
            memcpy(kb, cur, QLOG_KEY_TS);
            k.mv_size = QLOG_KEY_TS;
            k.mv_data = kb;
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rc = qlog_errno(rc);
        goto fail;
    }
    if (!all && *next == to) {
        uint8_t b[8];
        put_be64(b, to);
        MDB_val mk = {12, "purged_until"}, md = {8, b};
        if ((rc = mdb_put(txn, s->meta, &mk, &md, 0)) != 0) {
            rc = qlog_errno(rc);
            goto fail;
        }
    }
    mdb_cursor_close(c);
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return qlog_errno(rc);
    atomic_fetch_add(&s->purged, (uint64_t)deleted);
    return deleted;
fail:
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc;
}

static uint64_t purged_until(struct qlog_store *s)
{
    MDB_txn *txn;
    uint64_t v = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (meta_get_u64(txn, s->meta, "purged_until", &v) < 0)
            v = 0;
        mdb_txn_abort(txn);
    }
    return v;
}

/* The purge as a resumable state machine, so the writer can interleave
 * steps with commits (a first purge of a big backlog takes many steps). */
struct purge {
    uint64_t cut_flagged, cut_normal, pos;
    int phase; /* 0 everything before cut_flagged, 1 unflagged up to cut_normal, 2 done */
};

static void purge_init(struct qlog_store *s, struct purge *p, uint64_t now_us, uint32_t ret,
                       uint32_t ret_flagged)
{
    uint64_t rn = (uint64_t)ret * 1000000, rf = (uint64_t)ret_flagged * 1000000;
    if (rf < rn)
        rf = rn;
    p->cut_normal = now_us > rn ? now_us - rn : 0;
    p->cut_flagged = now_us > rf ? now_us - rf : 0;
    p->pos = 0;
    p->phase = 0;
    (void)s;
}

/* Returns deletions of this step (>= 0), or -errno; p->phase 2 when done. */
static long purge_run_step(struct qlog_store *s, struct purge *p)
{
    uint64_t next;
    long n;
    if (p->phase == 0) {
        n = purge_step(s, p->pos, p->cut_flagged, true, &next);
        if (n < 0)
            return n;
        p->pos = next;
        if (next >= p->cut_flagged) {
            p->phase = 1;
            uint64_t pu = purged_until(s);
            p->pos = pu > p->cut_flagged ? pu : p->cut_flagged;
        }
        return n;
    }
    if (p->phase == 1) {
        if (p->pos >= p->cut_normal) {
            p->phase = 2;
            return 0;
        }
        n = purge_step(s, p->pos, p->cut_normal, false, &next);
        if (n < 0)
            return n;
        p->pos = next;
        if (next >= p->cut_normal)
            p->phase = 2;
        return n;
    }
    return 0;
}

long qlog_purge(struct qlog_store *s, uint64_t now_us, uint32_t retention_s,
                uint32_t retention_flagged_s)
{
    struct purge p;
    long total = 0;
    if (s->rdonly)
        return -EROFS;
    if (retention_s == 0)
        return -EINVAL;
    purge_init(s, &p, now_us, retention_s, retention_flagged_s);
    while (p.phase != 2) {
        long n = purge_run_step(s, &p);
        if (n < 0)
            return n;
        total += n;
    }
    return total;
}

long qlog_erase_client(struct qlog_store *s, const uint8_t client[16])
{
    long total = 0;
    if (s->rdonly)
        return -EROFS;
    for (;;) {
        MDB_txn *txn;
        MDB_cursor *c;
        uint8_t keys[QLOG_ERASE_BATCH][QLOG_KEY_TS], kb[16];
        MDB_val k = {16, kb}, v;
        size_t n = 0;
        int rc;

        memcpy(kb, client, 16);
        if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
            return qlog_errno(rc);
        if ((rc = mdb_cursor_open(txn, s->by_client, &c)) != 0) {
            mdb_txn_abort(txn);
            return qlog_errno(rc);
        }
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && n < QLOG_ERASE_BATCH;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 16 + QLOG_KEY_TS || memcmp(k.mv_data, client, 16) != 0)
                break;
            memcpy(keys[n++], (uint8_t *)k.mv_data + 16, QLOG_KEY_TS);
        }
        mdb_cursor_close(c);
        for (size_t i = 0; i < n; i++) {
            MDB_val pk = {QLOG_KEY_TS, keys[i]}, pv;
            rc = mdb_get(txn, s->log, &pk, &pv);
            if (rc == 0) {
                rc = del_record(s, txn, &pk, &pv);
            } else if (rc == MDB_NOTFOUND) { /* a stray index entry */
                uint8_t ik[16 + QLOG_KEY_TS];
                memcpy(ik, client, 16);
                memcpy(ik + 16, keys[i], QLOG_KEY_TS);
                MDB_val ikv = {sizeof ik, ik};
                rc = mdb_del(txn, s->by_client, &ikv, NULL);
            }
            if (rc != 0) {
                mdb_txn_abort(txn);
                return rc < 0 ? rc : qlog_errno(rc);
            }
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            return qlog_errno(rc);
        total += (long)n;
        if (n < QLOG_ERASE_BATCH)
            return total;
    }
}

long qlog_count(struct qlog_store *s)
{
    MDB_txn *txn;
    MDB_stat st;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    rc = mdb_stat(txn, s->log, &st);
    mdb_txn_abort(txn);
    return rc ? qlog_errno(rc) : (long)st.ms_entries;
}

/* --- the writer thread ------------------------------------------------- */

static void note_error(struct qlog_store *s, int err, const char *what)
{
    int prev = atomic_exchange(&s->last_error, err);
    if (prev != err) /* one message per kind of failure, not one per batch */
        log_error("query log: %s: %s", what, strerror(-err));
}

static void writer_commit(struct qlog_store *s, size_t n, uint64_t *stopped_at)
{
    if (n == 0)
        return;
    if (atomic_load(&s->stopped) && mono_ms() - *stopped_at < QLOG_RETRY_STOPPED_S * 1000u) {
        atomic_fetch_add(&s->lost, n);
        return;
    }
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (s->batch[i].time_us < oldest)
            oldest = s->batch[i].time_us;
    long rc = write_batch(s, s->batch, n);
    if (rc == -ENOSPC && s->retention_s) {
        long freed = qlog_purge(s, wall_us(), s->retention_s, s->retention_flagged_s);
        if (freed > 0)
            rc = write_batch(s, s->batch, n);
    }
    if (rc == -ENOSPC) {
        if (!atomic_exchange(&s->stopped, true))
            log_error("query log: the map is full (log.map-size) and retention frees "
                      "nothing: logging stopped; raise log.map-size or shorten "
                      "log.retention");
        *stopped_at = mono_ms();
        atomic_store(&s->last_error, -ENOSPC);
        atomic_fetch_add(&s->lost, n);
        return;
    }
    if (rc < 0) {
        note_error(s, (int)rc, "commit failed, batch lost");
        atomic_fetch_add(&s->lost, n);
        return;
    }
    if (atomic_exchange(&s->stopped, false))
        log_notice("query log: space available again, logging resumed");
    atomic_fetch_add(&s->written, (uint64_t)rc);
    atomic_fetch_add(&s->lost, n - (uint64_t)rc);
    atomic_fetch_add(&s->commits, 1);
    uint64_t now = wall_us();
    atomic_store(&s->lag_us, now > oldest ? now - oldest : 0);
}

static void *writer_main(void *arg)
{
    struct qlog_store *s = arg;
    size_t n = 0, start = 0;
    uint64_t batch_start = mono_ms(), stopped_at = 0;
    uint64_t next_purge = mono_ms() + 60000; /* first purge a minute after start */
    struct purge p = {.phase = 2};

    for (;;) {
        bool stopping = atomic_load_explicit(&s->stop, memory_order_acquire);
        size_t nr = atomic_load_explicit(&s->nrings, memory_order_acquire), got = 0;
        /* round robin from a moving start so no ring waits behind another */
        for (size_t i = 0; i < nr && n < QLOG_BATCH_MAX; i++) {
            size_t m = ring_drain(s->rings[(start + i) % nr], s->batch + n, QLOG_BATCH_MAX - n);
            n += m;
            got += m;
        }
        start++;
        uint64_t now = mono_ms();
        if (n == 0)
            batch_start = now;
        if (n >= QLOG_BATCH_MAX || (n > 0 && now - batch_start >= QLOG_COMMIT_MS) ||
            (stopping && got == 0)) {
            writer_commit(s, n, &stopped_at);
            n = 0;
            batch_start = now;
        }
        if (stopping && got == 0)
            break;
        if (s->retention_s && now >= next_purge && p.phase == 2) {
            purge_init(s, &p, wall_us(), s->retention_s, s->retention_flagged_s);
            next_purge = now + QLOG_PURGE_INTERVAL * 1000u;
        }
        if (p.phase != 2) { /* one short transaction per turn */
            long rc = purge_run_step(s, &p);
            if (rc < 0) {
                note_error(s, (int)rc, "purge failed");
                p.phase = 2;
            }
            continue;
        }
        if (got == 0) {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int qlog_writer_start(struct qlog_store *s, uint32_t retention_s, uint32_t retention_flagged_s)
{
    if (s->running)
        return -EALREADY;
    if (s->rdonly)
        return -EROFS;
    s->batch = malloc(QLOG_BATCH_MAX * sizeof *s->batch);
    if (!s->batch)
        return -ENOMEM;
    s->retention_s = retention_s;
    s->retention_flagged_s = retention_flagged_s;
    atomic_store(&s->stop, false);
    int rc = pthread_create(&s->thread, NULL, writer_main, s);
    if (rc != 0) {
        free(s->batch);
        s->batch = NULL;
        return -rc;
    }
    s->running = true;
    return 0;
}

void qlog_writer_stop(struct qlog_store *s)
{
    if (!s->running)
        return;
    atomic_store_explicit(&s->stop, true, memory_order_release);
    pthread_join(s->thread, NULL);
    s->running = false;
    free(s->batch);
    s->batch = NULL;
}

void qlog_stats(struct qlog_store *s, struct qlog_stats *out)
{
    memset(out, 0, sizeof *out);
    size_t nr = atomic_load_explicit(&s->nrings, memory_order_acquire);
    for (size_t i = 0; i < nr; i++) {
        struct qlog_ring *r = s->rings[i];
        out->dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
        out->pending += atomic_load_explicit(&r->head, memory_order_acquire) -
                        atomic_load_explicit(&r->tail, memory_order_acquire);
    }
    out->written = atomic_load(&s->written);
    out->lost = atomic_load(&s->lost);
    out->commits = atomic_load(&s->commits);
    out->lag_us = atomic_load(&s->lag_us);
    out->purged = atomic_load(&s->purged);
    out->last_error = atomic_load(&s->last_error);
    out->stopped = atomic_load(&s->stopped);
}

/* --- queries ----------------------------------------------------------- */

static bool name_matches(const struct qlog_filter *f, const struct qlog_record *r)
{
    if (f->name_len == 0)
        return true;
    if (!f->name_suffix)
        return r->name_len == f->name_len && memcmp(r->name, f->name, f->name_len) == 0;
    /* label-aligned suffix: walk the record's labels */
    for (size_t o = 0; o < r->name_len;) {
        if ((size_t)r->name_len - o == f->name_len &&
            memcmp(r->name + o, f->name, f->name_len) == 0)
            return true;
        if (r->name[o] == 0)
            break;
        o += 1 + (size_t)r->name[o];
    }
    return false;
}

static bool rec_matches(const struct qlog_filter *f, const struct qlog_record *r)
{
    if (r->time_us < f->since_us || (f->until_us && r->time_us >= f->until_us))
        return false;
    if (f->has_client && memcmp(r->client, f->client, 16) != 0)
        return false;
    if (f->has_segment && r->segment != f->segment)
        return false;
    if (f->has_category && r->category != f->category)
        return false;
    if (f->blocked_only && r->verdict != QLOG_BLOCKED)
        return false;
    return name_matches(f, r);
}

struct qctx {
    struct qlog_store *s;
    MDB_txn *txn;
    const struct qlog_filter *f;
    qlog_query_cb cb;
    void *arg;
    long delivered;
};

/* Fetch the record for KEY12 (TIME SEQ), filter, deliver.  1 = stop. */
static int deliver(struct qctx *q, const uint8_t *key12)
{
    MDB_val k = {QLOG_KEY_TS, (void *)key12}, v;
    struct qlog_record r;
    int rc = mdb_get(q->txn, q->s->log, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0; /* an index entry without its record: skip */
    if (rc != 0)
        return qlog_errno(rc);
    if (rec_decode(&k, &v, &r) < 0 || !rec_matches(q->f, &r))
        return 0;
    q->delivered++;
    rc = q->cb(&r, q->arg);
    if (rc != 0)
        return rc;
    return q->f->limit && (uint64_t)q->delivered >= q->f->limit;
}

/* Newest first over keys PREFIX TIME SEQ in DBI, for TIME in the filter's
 * range; the index is in time order under the prefix, so this streams. */
static int scan_desc(struct qctx *q, MDB_dbi dbi, const uint8_t *prefix, size_t plen)
{
    MDB_cursor *c;
    uint8_t kb[QLOG_RNAME_MAX + QLOG_KEY_TS];
    MDB_val k = {plen + QLOG_KEY_TS, kb}, v;
    int rc = mdb_cursor_open(q->txn, dbi, &c);
    if (rc != 0)
        return qlog_errno(rc);
    memcpy(kb, prefix, plen);
    key_ts(kb + plen, q->f->until_us ? q->f->until_us : UINT64_MAX, 0);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(c, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        const uint8_t *kd = k.mv_data;
        if (k.mv_size != plen + QLOG_KEY_TS || memcmp(kd, prefix, plen) != 0)
            break;
        if (get_be64(kd + plen) < q->f->since_us)
            break;
        int d = deliver(q, kd + plen);
        if (d != 0) {
            mdb_cursor_close(c);
            return d < 0 ? d : 0;
        }
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
}

static int cmp_key_desc(const void *a, const void *b)
{
    return -memcmp(a, b, QLOG_KEY_TS);
}

/* Index entries under a prefix ordered by something before the time (the
 * rest of a name, a category): collect the matching keys, sort them newest
 * first, deliver.  -E2BIG when more than QLOG_COLLECT_MAX match: the caller
 * falls back to the time-ordered log. */
struct keyset {
    uint8_t (*keys)[QLOG_KEY_TS];
    size_t n, cap;
};

static int collect(struct qctx *q, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
                   struct keyset *ks)
{
    MDB_cursor *c;
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = mdb_cursor_open(q->txn, dbi, &c);
    if (rc != 0)
        return qlog_errno(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *kd = k.mv_data;
        if (k.mv_size < plen + QLOG_KEY_TS || memcmp(kd, prefix, plen) != 0)
            break;
        const uint8_t *ts = kd + k.mv_size - QLOG_KEY_TS;
        uint64_t t = get_be64(ts);
        if (t < q->f->since_us || (q->f->until_us && t >= q->f->until_us))
            continue;
        if (ks->n == ks->cap) {
            size_t ncap = ks->cap ? ks->cap * 2 : 1024;
            if (ncap > QLOG_COLLECT_MAX) {
                mdb_cursor_close(c);
                return -E2BIG;
            }
            void *nk = realloc(ks->keys, ncap * QLOG_KEY_TS);
            if (!nk) {
                mdb_cursor_close(c);
                return -ENOMEM;
            }
            ks->keys = nk;
            ks->cap = ncap;
        }
        memcpy(ks->keys[ks->n++], ts, QLOG_KEY_TS);
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
}

static int deliver_sorted(struct qctx *q, struct keyset *ks)
{
    if (ks->n)
        qsort(ks->keys, ks->n, QLOG_KEY_TS, cmp_key_desc);
    for (size_t i = 0; i < ks->n; i++) {
        int d = deliver(q, ks->keys[i]);
        if (d != 0)
            return d < 0 ? d : 0;
    }
    return 0;
}

enum plan {
    PLAN_CLIENT,
    PLAN_NAME,
    PLAN_VERDICT_CAT,
    PLAN_CATEGORY,
    PLAN_SUFFIX,
    PLAN_BLOCKED,
    PLAN_LOG
};

static enum plan choose_plan(const struct qlog_filter *f)
{
    if (f->has_client)
        return PLAN_CLIENT; /* one client: its entries are few and in time order */
    if (f->name_len && !f->name_suffix)
        return PLAN_NAME;
    if (f->has_category && f->blocked_only)
        return PLAN_VERDICT_CAT;
    if (f->has_category)
        return PLAN_CATEGORY;
    if (f->name_len)
        return PLAN_SUFFIX;
    if (f->blocked_only)
        return PLAN_BLOCKED;
    return PLAN_LOG;
}

const char *qlog_query_plan(const struct qlog_filter *f)
{
    switch (choose_plan(f)) {
    case PLAN_CLIENT:
        return "client";
    case PLAN_NAME:
    case PLAN_SUFFIX:
        return "name";
    case PLAN_VERDICT_CAT:
    case PLAN_CATEGORY:
    case PLAN_BLOCKED:
        return "verdict";
    default:
        return "log";
    }
}

long qlog_query(struct qlog_store *s, const struct qlog_filter *f, qlog_query_cb cb, void *arg)
{
    struct qctx q = {.s = s, .f = f, .cb = cb, .arg = arg};
    struct keyset ks = {0};
    uint8_t pfx[QLOG_RNAME_MAX], starts[128];
    int rc, n;

    if (f->name_len && wire_labels(f->name, f->name_len, starts) < 0)
        return -EINVAL;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &q.txn)) != 0)
        return qlog_errno(rc);
    switch (choose_plan(f)) {
    case PLAN_CLIENT:
        rc = scan_desc(&q, s->by_client, f->client, 16);
        break;
    case PLAN_NAME:
        n = rname(f->name, f->name_len, true, pfx);
        rc = scan_desc(&q, s->by_name, pfx, (size_t)n);
        break;
    case PLAN_VERDICT_CAT:
        pfx[0] = QLOG_BLOCKED;
        put_be16(pfx + 1, f->category);
        rc = scan_desc(&q, s->by_verdict, pfx, 3);
        break;
    case PLAN_CATEGORY: /* one time-ordered run per verdict */
        rc = 0;
        for (uint8_t v = 0; v < QLOG_VERDICT_COUNT && rc == 0; v++) {
            pfx[0] = v;
            put_be16(pfx + 1, f->category);
            rc = collect(&q, s->by_verdict, pfx, 3, &ks);
        }
        if (rc == 0)
            rc = deliver_sorted(&q, &ks);
        break;
    case PLAN_SUFFIX: /* the name itself and every name below it */
        n = rname(f->name, f->name_len, false, pfx);
        rc = collect(&q, s->by_name, pfx, (size_t)n, &ks);
        if (rc == 0)
            rc = deliver_sorted(&q, &ks);
        break;
    case PLAN_BLOCKED:
        pfx[0] = QLOG_BLOCKED;
        rc = collect(&q, s->by_verdict, pfx, 1, &ks);
        if (rc == 0)
            rc = deliver_sorted(&q, &ks);
        break;
    default:
        rc = -E2BIG;
        break;
    }
    if (rc == -E2BIG) /* too many to sort: every filter still applies */
        rc = scan_desc(&q, s->log, pfx, 0);
    free(ks.keys);
    mdb_txn_abort(q.txn);
    return rc < 0 ? rc : q.delivered;
}

/* --- audit ------------------------------------------------------------- */

int qlog_audit_add(struct qlog_store *s, uint64_t time_us, const char *who, const char *action,
                   const char *detail)
{
    size_t lw = strlen(who), la = strlen(action), ld = detail ? strlen(detail) : 0;
    uint8_t kb[QLOG_KEY_TS];
    MDB_txn *txn;
    int rc;

    if (s->rdonly)
        return -EROFS;
    if (lw == 0 || lw > 256 || la == 0 || la > 64 || ld > 4096)
        return -EINVAL;
    size_t n = 1 + lw + 1 + la + 1 + ld + 1;
    uint8_t *buf = malloc(n), *p = buf;
    if (!buf)
        return -ENOMEM;
    *p++ = 1;
    memcpy(p, who, lw + 1);
    p += lw + 1;
    memcpy(p, action, la + 1);
    p += la + 1;
    if (ld)
        memcpy(p, detail, ld);
    p[ld] = 0;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        free(buf);
        return qlog_errno(rc);
    }
    MDB_val k = {QLOG_KEY_TS, kb}, d = {n, buf};
    for (int tries = 0; tries < 16; tries++) {
        key_ts(kb, time_us, s->audit_seq++);
        rc = mdb_put(txn, s->audit, &k, &d, MDB_NOOVERWRITE);
        if (rc != MDB_KEYEXIST)
            break;
    }
    free(buf);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return qlog_errno(rc);
    }
    return qlog_errno(mdb_txn_commit(txn));
}

long qlog_audit_list(struct qlog_store *s, uint64_t since_us, uint64_t limit, qlog_audit_cb cb,
                     void *arg)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    long n = 0;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    if ((rc = mdb_cursor_open(txn, s->audit, &c)) != 0) {
        mdb_txn_abort(txn);
        return qlog_errno(rc);
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_LAST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        if (k.mv_size != QLOG_KEY_TS)
            continue;
        uint64_t t = get_be64(k.mv_data);
        if (t < since_us)
            break;
        /* three NUL-terminated strings after a version byte; check them */
        const char *p = v.mv_data, *end = p + v.mv_size, *f[3];
        if (v.mv_size < 4 || p[0] != 1 || end[-1] != 0)
            continue;
        p++;
        int i;
        for (i = 0; i < 3 && p < end; i++) {
            f[i] = p;
            p += strnlen(p, (size_t)(end - p)) + 1;
        }
        if (i < 3)
            continue;
        n++;
        if (cb(t, f[0], f[1], f[2], arg) != 0 || (limit && (uint64_t)n >= limit))
            break;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return n;
}

/* --- parsers ----------------------------------------------------------- */

/* Digits into *v; returns characters used (0 if none or too many). */
static int parse_uint(const char *s, int maxdigits, long *v)
{
    int i = 0;
    *v = 0;
    while (isdigit((unsigned char)s[i])) {
        if (i >= maxdigits)
            return 0;
        *v = *v * 10 + (s[i] - '0');
        i++;
    }
    return i;
}

static uint64_t local_midnight(uint64_t now_us, int days_back)
{
    time_t t = (time_t)(now_us / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mday -= days_back;
    tm.tm_isdst = -1;
    time_t m = mktime(&tm);
    return m < 0 ? 0 : (uint64_t)m * 1000000;
}

int qlog_parse_time(const char *s, uint64_t now_us, uint64_t *out)
{
    long v;
    int n;

    if (!s || strlen(s) > 64)
        return -EINVAL;
    if (strcasecmp(s, "now") == 0) {
        *out = now_us;
        return 0;
    }
    if (strcasecmp(s, "today") == 0) {
        *out = local_midnight(now_us, 0);
        return 0;
    }
    if (strcasecmp(s, "yesterday") == 0) {
        *out = local_midnight(now_us, 1);
        return 0;
    }
    /* relative: NUMBER UNIT, the time that long before now */
    n = parse_uint(s, 6, &v);
    if (n > 0 && s[n] && !s[n + 1] && s[n] != '-') {
        uint64_t unit;
        switch (s[n]) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        default:
            return -EINVAL;
        }
        uint64_t d = (uint64_t)v * unit * 1000000;
        if (d > (uint64_t)100 * 366 * 86400 * 1000000)
            return -EINVAL;
        *out = now_us > d ? now_us - d : 0;
        return 0;
    }
    /* absolute: YYYY-MM-DD[( |T)HH:MM[:SS]], local time */
    long y, mo, d, h = 0, mi = 0, se = 0;
    const char *p = s;
    if ((n = parse_uint(p, 4, &y)) != 4 || p[n] != '-')
        return -EINVAL;
    p += n + 1;
    if ((n = parse_uint(p, 2, &mo)) != 2 || p[n] != '-')
        return -EINVAL;
    p += n + 1;
    if ((n = parse_uint(p, 2, &d)) != 2)
        return -EINVAL;
    p += n;
    if (*p == ' ' || *p == 'T') {
        p++;
        if ((n = parse_uint(p, 2, &h)) != 2 || p[n] != ':')
            return -EINVAL;
        p += n + 1;
        if ((n = parse_uint(p, 2, &mi)) != 2)
            return -EINVAL;
        p += n;
        if (*p == ':') {
            p++;
            if ((n = parse_uint(p, 2, &se)) != 2)
                return -EINVAL;
            p += n;
        }
    }
    if (*p)
        return -EINVAL;
    if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 60)
        return -EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return -EINVAL;
    struct tm tm = {.tm_year = (int)y - 1900,
                    .tm_mon = (int)mo - 1,
                    .tm_mday = (int)d,
                    .tm_hour = (int)h,
                    .tm_min = (int)mi,
                    .tm_sec = (int)se,
                    .tm_isdst = -1};
    time_t t = mktime(&tm);
    if (t < 0)
        return -EINVAL;
    *out = (uint64_t)t * 1000000;
    return 0;
}

int qlog_parse_name(const char *s, uint8_t *wire, uint8_t *len, bool *suffix)
{
    size_t n, o = 0;
    if (!s)
        return -EINVAL;
    *suffix = false;
    if (s[0] == '*') {
        if (s[1] != '.' || s[2] == 0 || s[2] == '.')
            return -EINVAL; /* "*" alone would be every name: use no filter */
        *suffix = true;
        s += 2;
    }
    n = strlen(s);
    if (n == 0 || n > 254)
        return -EINVAL;
    if (n > 1 && s[n - 1] == '.')
        n--; /* the root dot is implied */
    if (n == 1 && s[0] == '.') {
        wire[0] = 0;
        *len = 1;
        return *suffix ? -EINVAL : 0;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t l = i - start;
            if (l == 0 || l > 63 || o + 1 + l + 1 > QLOG_NAME_MAX)
                return -EINVAL;
            wire[o++] = (uint8_t)l;
            for (size_t j = start; j < i; j++) {
                unsigned char ch = (unsigned char)s[j];
                if (ch <= ' ' || ch >= 0x7f || ch == '\\')
                    return -EINVAL; /* no escapes: names as people type them */
                wire[o++] = (uint8_t)tolower(ch);
            }
            start = i + 1;
        }
    }
    wire[o++] = 0;
    *len = (uint8_t)o;
    return 0;
}

int qlog_parse_addr(const char *s, uint8_t addr[16], uint8_t *family)
{
    uint8_t b[16];
    if (!s || strlen(s) > INET6_ADDRSTRLEN)
        return -EINVAL;
    if (inet_pton(AF_INET, s, b) == 1) {
        v4mapped(addr, b);
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        *family = memcmp(addr, mapped, 12) == 0 ? 4 : 6;
        return 0;
    }
    return -EINVAL;
}

/* --- presentation ------------------------------------------------------ */

void qlog_name_text(const uint8_t *w, size_t wl, char *buf, size_t len)
{
    size_t o = 0, i = 0;
    if (len == 0)
        return;
    if (wl == 0 || (wl >= 1 && w[0] == 0)) {
        snprintf(buf, len, ".");
        return;
    }
    while (i < wl && w[i] != 0) {
        size_t l = w[i++];
        if (l > 63 || i + l > wl)
            break;
        for (size_t j = 0; j < l; j++, i++) {
            unsigned char c = w[i];
            char tmp[5];
            int m;
            if (c == '.' || c == '\\')
                m = snprintf(tmp, sizeof tmp, "\\%c", c);
            else if (c <= ' ' || c >= 0x7f)
                m = snprintf(tmp, sizeof tmp, "\\%03u", c);
            else
                m = snprintf(tmp, sizeof tmp, "%c", c);
            if (o + (size_t)m + 1 >= len)
                goto done;
            memcpy(buf + o, tmp, (size_t)m);
            o += (size_t)m;
        }
        if (o + 2 >= len)
            break;
        buf[o++] = '.';
    }
done:
    buf[o] = 0;
}

void qlog_addr_text(const uint8_t addr[16], uint8_t family, char *buf, size_t len)
{
    char tmp[INET6_ADDRSTRLEN];
    if (len == 0)
        return;
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, family == 4 ? addr + 12 : addr, tmp,
                   sizeof tmp))
        snprintf(tmp, sizeof tmp, "?");
    snprintf(buf, len, "%s", tmp);
}

const char *qlog_verdict_text(uint8_t v)
{
    static const char *names[] = {"answered", "blocked", "rewritten", "refused", "failed"};
    return v < QLOG_VERDICT_COUNT ? names[v] : "unknown";
}

void qlog_qtype_text(uint16_t t, char *buf, size_t len)
{
    static const struct {
        uint16_t t;
        const char *n;
    } types[] = {{1, "A"},     {2, "NS"},     {5, "CNAME"}, {6, "SOA"},
                 {12, "PTR"},  {15, "MX"},    {16, "TXT"},  {28, "AAAA"},
                 {33, "SRV"},  {35, "NAPTR"}, {43, "DS"},   {48, "DNSKEY"},
                 {64, "SVCB"}, {65, "HTTPS"}, {255, "ANY"}, {257, "CAA"}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (types[i].t == t) {
            snprintf(buf, len, "%s", types[i].n);
            return;
        }
    snprintf(buf, len, "TYPE%u", t); /* RFC 3597 section 5 */
}

void qlog_rcode_text(uint8_t rc, char *buf, size_t len)
{
    static const char *names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                  "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rc < sizeof names / sizeof *names)
        snprintf(buf, len, "%s", names[rc]);
    else
        snprintf(buf, len, "RCODE%u", rc);
}
