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
 * of the same microsecond have distinct keys; TS is TIME SEQ (12 bytes), the
 * key of a record in "log".
 *
 *   log         TS                       -> record value (below)
 *   recent      N(u64)                   -> TS
 *                 records committed by the writer thread but not yet in an
 *                 index segment (at most QLOG_SEG_RECORDS); emptied when the
 *                 segment is written, replayed into one at the next start
 *   segments    SEG(u32)                 -> MIN_TIME(u64) MAX_TIME(u64) COUNT(u32)
 *   by_client   SEG ADDR16               -> TS, TS, ...   (MDB_DUPSORT|MDB_DUPFIXED)
 *   by_name     SEG RNAME                -> TS, TS, ...   (MDB_DUPSORT|MDB_DUPFIXED)
 *                 RNAME: the labels of the query name in reverse order, each
 *                 as LEN BYTES, then a 0: "www.example.com" is
 *                 \3com\7example\3www\0, so "*.example.com" is the range
 *                 starting \3com\7example (label lengths keep it unambiguous)
 *   by_verdict  VERDICT(u8) CATEGORY(u16) TS -> ""
 *                 only records that are not plain answers, or carry a
 *                 category: most queries are answered and need no entry
 *   audit       TS            -> u8 1, WHO \0 ACTION \0 DETAIL \0 (never erased)
 *   meta        "version"     -> u32 QLOG_STORE_VERSION (checked at open)
 *               "s" ID(u8)    -> segment name
 *               "c" ID(u16)   -> category name
 *               "a" ASN(u32)  -> AS owner name, as a record's org last gave it;
 *                                written by the writer in the transaction
 *                                of the record that brought it (an
 *                                in-memory set of the ASNs done, bounded,
 *                                keeps that to once per ASN per run)
 *               "purged_until"-> u64 TIME: unflagged records before it are gone
 *               "deletions"   -> u64, counts transactions that deleted records
 *                                (purge, erase): the writer checks its
 *                                pending entries against the log only when
 *                                it moved since its last segment
 *
 * Why segments: a client or a name index keyed ADDR16 TS or RNAME TS takes
 * each record at a random point of a big B-tree, so every commit dirtied
 * (copied, wrote and synced) about one page per record per index: the
 * writer managed ~35k records/s.  Instead the writer keeps the client and
 * name entries of the records it commits in memory (and their keys in
 * "recent", so a reader or a restart finds them), and every QLOG_SEG_AGE_MS
 * or QLOG_SEG_RECORDS writes them sorted, with MDB_APPEND, under a new
 * segment number: pages are written once, full, and never touched again
 * until the purge.  A search walks the segments that overlap its time range
 * newest first (about 1,440 a day: one seek each) plus "recent".  The log
 * itself is keyed by time, so a sorted batch is an append too.  SEG numbers
 * are taken inside the write transaction (the last one plus one), so
 * another process writing with qlog_write cannot collide with the daemon.
 * Segments may overlap in time (a slow query is logged late): searches
 * merge by time, deletions try every segment whose range holds the record.
 *
 * Record value, format 2: an 18-byte header (struct qlog_disk), then the
 * client (4 or 16 bytes), the grant id (8 bytes, only if QLOG_D_GRANT), the
 * answers (4 or 16 bytes each), the AS number (4 bytes, only if
 * QLOG_D_ASN), the country (2 bytes, only if QLOG_D_CC) and the wire name.
 * About 60-80 bytes for a typical query instead of the 400-byte ring slot;
 * a record without geo data is as long as in format 1.  The AS owner is
 * not in the record: "a" in meta names it once per AS number.
 *
 * Device names from DHCP leases (a later extension): a "devices" database
 * keyed by ADDR16 TIME (lease start) -> device name, filled from the lease
 * file, joined at review time; the record itself does not change.
 *
 * Durability: the environment is opened with MDB_NOMETASYNC.  A commit
 * writes and fdatasyncs its data pages, then writes the meta page without a
 * sync; the next commit's data sync carries it to the disk.  A kill -9 loses
 * only what was still in the rings or the open batch (at most QLOG_COMMIT_MS
 * of records) and never corrupts: every page written is in the page cache.
 * A power cut can in addition undo the last committed batch, never corrupt.
 * MDB_NOSYNC with an mdb_env_sync() every second was considered and
 * rejected: without the data sync before the meta write, a later commit may
 * reuse pages the last synced meta still points to, and a power cut can
 * then leave a meta page naming pages that were overwritten (LMDB's own
 * warning for MDB_NOSYNC: "a system crash can corrupt the database").  The
 * cost we keep is one fdatasync per commit, and commits are few: every
 * QLOG_COMMIT_MS or QLOG_BATCH_MAX records.
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
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "log.h"
#include "qlog.h"
#include "store.h"

/* 2: index segments (1 had one client/name B-tree); 3: records carry the
 * answer's AS number and country, meta the AS owner table */
#define QLOG_STORE_VERSION 3u
#define QLOG_RECORD_FORMAT 2u /* 2: QLOG_D_ASN, QLOG_D_CC */
#define QLOG_MAX_RINGS 256
#define QLOG_KEY_TS 12                     /* TIME SEQ */
#define QLOG_RNAME_MAX (QLOG_NAME_MAX + 1) /* reversed labels + 0 */
#define QLOG_SEG_KEY 4                     /* SEG */
#define QLOG_SEG_VALUE 20                  /* MIN_TIME MAX_TIME COUNT */
#define QLOG_SEG_RECORDS 32768             /* index entries held in memory at most */
#define QLOG_SEG_ARENA (4u << 20)          /* bytes of reversed names held at most */
#define QLOG_SEG_AGE_MS 60000              /* a segment is written at least this often */
#define QLOG_PURGE_DELETES 2048            /* per write transaction */
#define QLOG_PURGE_SCAN 32768              /* keys looked at per transaction */
#define QLOG_ERASE_BATCH 1024              /* per write transaction */
#define QLOG_COLLECT_MAX (1u << 21)        /* index hits held for the merge at most */
#define QLOG_SEGS_MAX (1u << 22)           /* segments a query looks at (8 years of minutes) */
#define QLOG_RETRY_STOPPED_S 60            /* try again after a full map */
#define QLOG_NAME_TABLE_MAX 63
#define QLOG_ASN_SLOTS 32768    /* the writer's set of AS numbers whose owner is stored */
#define QLOG_ASN_SEEN_MAX 16384 /* at most this many (half full), then it starts afresh */

/* 344 bytes before the geo fields: +56 (asn 4, country 2, org 48, padding
 * 2), 3.5 MiB more per worker ring of QLOG_RING_DEFAULT slots. */
static_assert(sizeof(struct qlog_record) == 400, "ring slot size is part of the ABI");
/* qlog_submit and ring_drain copy org only for records with an AS number */
static_assert(offsetof(struct qlog_record, org) + QLOG_ORG_MAX ==
                  offsetof(struct qlog_record, name),
              "org sits right before name");

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
#define QLOG_D_ASN 0x40   /* 4-byte AS number follows the answers (format 2) */
#define QLOG_D_CC 0x80    /* 2-byte country follows (format 2) */
#define QLOG_VALUE_MAX (sizeof(struct qlog_disk) + 16 + 8 + 32 + 4 + 2 + QLOG_NAME_MAX)

/* AS numbers whose owner name is in the store (open addressing, 0 = an
 * empty slot: AS 0 is never an owner).  The numbers come from answers
 * chosen by outside servers, so the hash is seeded with a secret. */
struct asnset {
    uint32_t *slots; /* QLOG_ASN_SLOTS, allocated on first use */
    size_t n;
    uint64_t seed;
};

struct qlog_ring {
    _Alignas(64) atomic_size_t head; /* written by the producer */
    size_t tail_cache;               /* producer's last view of tail */
    uint64_t dropped_local;
    _Alignas(64) atomic_size_t tail; /* written by the consumer */
    _Alignas(64) atomic_uint_fast64_t dropped;
    size_t mask;
    struct qlog_record *slots;
};

/* The client and name index entries of records not yet in a segment. */
struct pend_ent {
    uint8_t ts[QLOG_KEY_TS];
    uint8_t client[16];
    uint32_t name_off; /* reversed name in pending.arena */
    uint16_t name_len;
    uint16_t pad_;
};
static_assert(sizeof(struct pend_ent) == 36, "pending entry is 36 bytes");

struct pending {
    struct pend_ent *e;
    uint32_t *order; /* sort permutation for the segment write */
    size_t n;
    uint8_t *arena;
    size_t alen;
    uint64_t first_ms;  /* monotonic time the oldest entry was added */
    uint64_t deletions; /* "deletions" in meta when the last segment was written */
};

/* A segment's entry in "segments", as a search or a deletion uses it. */
struct segmeta {
    uint32_t seg;
    uint32_t count;
    uint64_t min_t, max_t;
};

struct qlog_store {
    MDB_env *env;
    MDB_dbi log, recent, segments, by_client, by_name, by_verdict, audit, meta;
    bool rdonly;
    uint32_t seq; /* writer thread only */
    uint32_t audit_seq;
    uint64_t recent_next; /* writer thread only: the next key of "recent" */
    struct pending pend;  /* writer thread only */

    pthread_mutex_t rings_mu;
    struct qlog_ring *rings[QLOG_MAX_RINGS];
    atomic_size_t nrings;

    pthread_t thread;
    bool running;
    bool replay_needed; /* writer thread only: "recent" not replayed yet */
    atomic_bool stop;
    uint32_t retention_s, retention_flagged_s;
    struct qlog_record *batch; /* writer thread only */
    struct asnset asns;        /* writer thread only */

    atomic_uint_fast64_t written, lost, commits, lag_us, purged;
    atomic_int last_error;
    atomic_bool stopped;
};

/* --- small helpers ----------------------------------------------------- */

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
    return store_errno(rc);
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

static bool country_valid(const char c[2])
{
    return c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z';
}

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
    /* geo data only when known: a record without it does not grow */
    if (r->asn) {
        d.layout |= QLOG_D_ASN;
        put_be32(out + o, r->asn);
        o += 4;
    }
    if (country_valid(r->country)) {
        d.layout |= QLOG_D_CC;
        memcpy(out + o, r->country, 2);
        o += 2;
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
    if (d.layout & QLOG_D_ASN) {
        if (o + 4 > n)
            return -EIO;
        r->asn = get_be32(p + o);
        o += 4;
    }
    if (d.layout & QLOG_D_CC) {
        if (o + 2 > n || !country_valid((const char *)p + o))
            return -EIO;
        memcpy(r->country, p + o, 2);
        o += 2;
    }
    if (d.name_len == 0 || o + d.name_len != n)
        return -EIO;
    r->name_len = d.name_len;
    memcpy(r->name, p + o, d.name_len);
    r->name[d.name_len] = 0;
    return 0;
}

/* --- open / close ------------------------------------------------------ */

static int open_dbs(struct qlog_store *s, MDB_txn *txn)
{
    static const char *names[] = {"log",     "recent",     "segments", "by_client",
                                  "by_name", "by_verdict", "audit",    "meta"};
    MDB_dbi *dbis[] = {&s->log,     &s->recent,     &s->segments, &s->by_client,
                       &s->by_name, &s->by_verdict, &s->audit,    &s->meta};
    /* the segment indexes hold many 12-byte TS values per key */
    static const unsigned extra[] = {
        0, 0, 0, MDB_DUPSORT | MDB_DUPFIXED, MDB_DUPSORT | MDB_DUPFIXED, 0, 0, 0};
    unsigned fl = s->rdonly ? 0 : MDB_CREATE;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int rc = mdb_dbi_open(txn, names[i], fl | extra[i], dbis[i]);
        if (rc == MDB_INCOMPATIBLE)
            return -EPROTO; /* a by_client of format 1: see check_version */
        if (rc != 0)
            return qlog_errno(rc);
    }
    return 0;
}

/* The version key: written into a new store, checked in an old one.  Runs
 * before open_dbs creates anything, so a store of another version is left
 * exactly as it was. */
static int check_version(struct qlog_store *s, MDB_txn *txn)
{
    uint64_t v;
    MDB_dbi meta, log;
    int rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_NOTFOUND) {
        /* a new store, unless records are there without a version */
        if (mdb_dbi_open(txn, "log", 0, &log) == 0) {
            MDB_stat st;
            if (mdb_stat(txn, log, &st) == 0 && st.ms_entries > 0)
                return -EPROTO;
        }
        return s->rdonly ? -ENOENT : 1;
    }
    if (rc != 0)
        return qlog_errno(rc);
    rc = store_meta_get_u64(txn, meta, "version", &v);
    if (rc == -ENOENT)
        return s->rdonly ? -ENOENT : 1;
    if (rc < 0)
        return rc;
    return v == QLOG_STORE_VERSION ? 0 : -EPROTO;
}

static int write_version(struct qlog_store *s, MDB_txn *txn)
{
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
    if (getrandom(&s->asns.seed, sizeof s->asns.seed, GRND_NONBLOCK) != sizeof s->asns.seed)
        s->asns.seed = wall_us() ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)s;
    if (!s->rdonly && mkdir(path, 0750) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = qlog_errno(mdb_env_create(&s->env))) < 0)
        goto fail;
    mdb_env_set_maxdbs(s->env, 12);
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
    int fresh = check_version(s, txn);
    if ((rc = fresh) < 0 || (rc = open_dbs(s, txn)) < 0)
        goto fail;
    if (fresh && (rc = write_version(s, txn)) < 0)
        goto fail;
    if (!s->rdonly) {
        /* continue the sequence after the newest record (keys stay unique
         * across restarts even within one microsecond), and "recent" after
         * its last key */
        MDB_cursor *c;
        MDB_val k, d;
        if (mdb_cursor_open(txn, s->log, &c) == 0) {
            if (mdb_cursor_get(c, &k, &d, MDB_LAST) == 0 && k.mv_size == QLOG_KEY_TS)
                s->seq = get_be32((uint8_t *)k.mv_data + 8) + 1;
            mdb_cursor_close(c);
        }
        if (mdb_cursor_open(txn, s->recent, &c) == 0) {
            if (mdb_cursor_get(c, &k, &d, MDB_LAST) == 0 && k.mv_size == 8)
                s->recent_next = get_be64(k.mv_data) + 1;
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

static void pend_free(struct pending *p)
{
    free(p->e);
    free(p->order);
    free(p->arena);
    memset(p, 0, sizeof *p);
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
    pend_free(&s->pend);
    free(s->asns.slots);
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

/* A ring copy: the fixed fields, the owner only with an AS number (it is
 * read only then), and name_len bytes of the name. */
static void rec_copy(struct qlog_record *dst, const struct qlog_record *src)
{
    size_t nl = src->name_len;
    memcpy(dst, src, offsetof(struct qlog_record, org));
    if (src->asn)
        memcpy(dst->org, src->org, QLOG_ORG_MAX);
    memcpy(dst->name, src->name, nl);
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
    rec_copy(&ring->slots[h & ring->mask], r);
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
    for (size_t i = 0; i < n; i++)
        rec_copy(&out[i], &ring->slots[(t + i) & ring->mask]);
    atomic_store_explicit(&ring->tail, t + n, memory_order_release);
    return n;
}

/* --- the pending index and segments ------------------------------------ */

static int pend_alloc(struct pending *p)
{
    if (p->e)
        return 0;
    p->e = malloc(QLOG_SEG_RECORDS * sizeof *p->e);
    p->order = malloc(QLOG_SEG_RECORDS * sizeof *p->order);
    p->arena = malloc(QLOG_SEG_ARENA);
    if (!p->e || !p->order || !p->arena) {
        pend_free(p);
        return -ENOMEM;
    }
    return 0;
}

/* Room for N more records of any name length? */
static bool pend_room(const struct pending *p, size_t n)
{
    return p->n + n <= QLOG_SEG_RECORDS && p->alen + n * QLOG_RNAME_MAX <= QLOG_SEG_ARENA;
}

static void pend_add(struct pending *p, const uint8_t ts[QLOG_KEY_TS], const uint8_t client[16],
                     const uint8_t *rn, size_t rnl)
{
    struct pend_ent *e = &p->e[p->n];
    if (p->n++ == 0)
        p->first_ms = 0; /* set by the writer; 0 = now */
    memcpy(e->ts, ts, QLOG_KEY_TS);
    memcpy(e->client, client, 16);
    e->name_off = (uint32_t)p->alen;
    e->name_len = (uint16_t)rnl;
    memcpy(p->arena + p->alen, rn, rnl);
    p->alen += rnl;
}

static int cmp_pend_client(const void *a, const void *b, void *arg)
{
    const struct pending *p = arg;
    const struct pend_ent *x = &p->e[*(const uint32_t *)a], *y = &p->e[*(const uint32_t *)b];
    int c = memcmp(x->client, y->client, 16);
    return c ? c : memcmp(x->ts, y->ts, QLOG_KEY_TS);
}

/* LMDB's default key order: bytes, then the shorter first. */
static int cmp_pend_name(const void *a, const void *b, void *arg)
{
    const struct pending *p = arg;
    const struct pend_ent *x = &p->e[*(const uint32_t *)a], *y = &p->e[*(const uint32_t *)b];
    size_t m = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(p->arena + x->name_off, p->arena + y->name_off, m);
    if (c == 0 && x->name_len != y->name_len)
        c = x->name_len < y->name_len ? -1 : 1;
    return c ? c : memcmp(x->ts, y->ts, QLOG_KEY_TS);
}

/* Append ORDER[0..n) of P to DBI under SEG, the entries sorted by key then
 * TS: every key is past the end of the tree (MDB_APPEND), every TS past the
 * end of its key (MDB_APPENDDUP). */
static int seg_append(MDB_txn *txn, MDB_dbi dbi, uint32_t seg, const struct pending *p, size_t n,
                      bool by_name)
{
    MDB_cursor *c;
    uint8_t kb[QLOG_SEG_KEY + QLOG_RNAME_MAX], prev[QLOG_SEG_KEY + QLOG_RNAME_MAX];
    size_t plen = 0;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return qlog_errno(rc);
    put_be32(kb, seg);
    for (size_t i = 0; i < n; i++) {
        const struct pend_ent *e = &p->e[p->order[i]];
        size_t klen;
        if (by_name) {
            memcpy(kb + QLOG_SEG_KEY, p->arena + e->name_off, e->name_len);
            klen = QLOG_SEG_KEY + e->name_len;
        } else {
            memcpy(kb + QLOG_SEG_KEY, e->client, 16);
            klen = QLOG_SEG_KEY + 16;
        }
        bool same = klen == plen && memcmp(kb, prev, klen) == 0;
        MDB_val k = {klen, kb}, d = {QLOG_KEY_TS, (void *)e->ts};
        rc = mdb_cursor_put(c, &k, &d, same ? MDB_APPENDDUP : MDB_APPEND);
        if (rc == MDB_KEYEXIST) /* out of order (cannot happen): a plain put */
            rc = mdb_cursor_put(c, &k, &d, MDB_NODUPDATA);
        if (rc != 0 && rc != MDB_KEYEXIST) {
            mdb_cursor_close(c);
            return qlog_errno(rc);
        }
        memcpy(prev, kb, klen);
        plen = klen;
    }
    mdb_cursor_close(c);
    return 0;
}

/* Write the entries of P as a new segment in TXN.  With CHECK, entries
 * whose record is gone (erased or purged by another process since it was
 * committed) are left out.  The segment number is the last one plus one,
 * read inside this transaction, so writers in two processes never share
 * one. */
static int seg_write(struct qlog_store *s, MDB_txn *txn, struct pending *p, bool check)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint32_t seg = 1;
    uint64_t tmin = UINT64_MAX, tmax = 0;
    size_t n = 0;
    int rc;

    if (p->n == 0)
        return 0;
    if ((rc = mdb_cursor_open(txn, s->segments, &c)) != 0)
        return qlog_errno(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == QLOG_SEG_KEY)
        seg = get_be32(k.mv_data) + 1;
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return qlog_errno(rc);
    if (seg == 0)
        return -EOVERFLOW; /* 4 billion segments: 8,000 years of minutes */
    for (size_t i = 0; i < p->n; i++) {
        if (check) {
            MDB_val pk = {QLOG_KEY_TS, p->e[i].ts}, pv;
            rc = mdb_get(txn, s->log, &pk, &pv);
            if (rc == MDB_NOTFOUND)
                continue;
            if (rc != 0)
                return qlog_errno(rc);
        }
        uint64_t t = get_be64(p->e[i].ts);
        tmin = t < tmin ? t : tmin;
        tmax = t > tmax ? t : tmax;
        p->order[n++] = (uint32_t)i;
    }
    if (n == 0)
        return 0;
    qsort_r(p->order, n, sizeof *p->order, cmp_pend_client, p);
    if ((rc = seg_append(txn, s->by_client, seg, p, n, false)) < 0)
        return rc;
    qsort_r(p->order, n, sizeof *p->order, cmp_pend_name, p);
    if ((rc = seg_append(txn, s->by_name, seg, p, n, true)) < 0)
        return rc;
    uint8_t kb[QLOG_SEG_KEY], vb[QLOG_SEG_VALUE];
    put_be32(kb, seg);
    put_be64(vb, tmin);
    put_be64(vb + 8, tmax);
    put_be32(vb + 16, (uint32_t)n);
    MDB_val sk = {QLOG_SEG_KEY, kb}, sv = {QLOG_SEG_VALUE, vb};
    return qlog_errno(mdb_put(txn, s->segments, &sk, &sv, MDB_APPEND));
}

static int seg_decode(const MDB_val *k, const MDB_val *v, struct segmeta *m)
{
    if (k->mv_size != QLOG_SEG_KEY || v->mv_size != QLOG_SEG_VALUE)
        return -EIO;
    m->seg = get_be32(k->mv_data);
    m->min_t = get_be64(v->mv_data);
    m->max_t = get_be64((const uint8_t *)v->mv_data + 8);
    m->count = get_be32((const uint8_t *)v->mv_data + 16);
    return 0;
}

/* The segments overlapping [since, until) (until 0: no end), into *out
 * (caller frees).  Returns the count or -errno. */
static long seg_list(struct qlog_store *s, MDB_txn *txn, uint64_t since, uint64_t until,
                     struct segmeta **out)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct segmeta *a = NULL, m;
    size_t n = 0, cap = 0;
    int rc = mdb_cursor_open(txn, s->segments, &c);
    *out = NULL;
    if (rc != 0)
        return qlog_errno(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (seg_decode(&k, &v, &m) < 0 || m.max_t < since || (until && m.min_t >= until))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            void *na = nc > QLOG_SEGS_MAX ? NULL : realloc(a, nc * sizeof *a);
            if (!na) {
                rc = nc > QLOG_SEGS_MAX ? -E2BIG : -ENOMEM;
                goto out;
            }
            a = na;
            cap = nc;
        }
        a[n++] = m;
    }
    rc = rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
out:
    mdb_cursor_close(c);
    if (rc < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return (long)n;
}

/* --- the AS owner table ------------------------------------------------ */

static size_t asn_hash(const struct asnset *a, uint32_t asn)
{
    uint64_t x = asn + a->seed; /* splitmix64's finaliser over a secret offset */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (size_t)(x ^ (x >> 31)) & (QLOG_ASN_SLOTS - 1);
}

static bool asnset_has(const struct asnset *a, uint32_t asn)
{
    if (!a->slots)
        return false;
    for (size_t i = asn_hash(a, asn); a->slots[i]; i = (i + 1) & (QLOG_ASN_SLOTS - 1))
        if (a->slots[i] == asn)
            return true;
    return false;
}

static void asnset_clear(struct asnset *a)
{
    if (a->slots)
        memset(a->slots, 0, QLOG_ASN_SLOTS * sizeof *a->slots);
    a->n = 0;
}

/* Without memory the set stays empty: every record then looks its owner up
 * in the store (correct, only slower). */
static void asnset_add(struct asnset *a, uint32_t asn)
{
    if (!a->slots && !(a->slots = calloc(QLOG_ASN_SLOTS, sizeof *a->slots)))
        return;
    if (a->n >= QLOG_ASN_SEEN_MAX) /* bounded: start afresh, names are rewritten once */
        asnset_clear(a);
    size_t i = asn_hash(a, asn);
    while (a->slots[i] && a->slots[i] != asn)
        i = (i + 1) & (QLOG_ASN_SLOTS - 1);
    if (!a->slots[i]) {
        a->slots[i] = asn;
        a->n++;
    }
}

/* Store R's owner under its AS number in TXN, unless SEEN says it is there
 * already or it is there with the same name (no page dirtied).  The name
 * comes from a database file: control characters become '?', and a UTF-8
 * character the worker's truncation cut in two is dropped. */
static int owner_note(struct qlog_store *s, MDB_txn *txn, struct asnset *seen,
                      const struct qlog_record *r)
{
    char name[QLOG_ORG_MAX];
    size_t n = strnlen(r->org, QLOG_ORG_MAX - 1);
    uint8_t kb[5] = {'a'};
    MDB_val k = {sizeof kb, kb}, d;

    if (!r->asn || n == 0 || asnset_has(seen, r->asn))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)r->org[i];
        name[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if ((unsigned char)name[n - 1] >= 0x80) { /* ends inside a multi-byte character? */
        size_t lead = n - 1, want;
        while (lead > 0 && ((unsigned char)name[lead] & 0xc0) == 0x80 && n - lead < 4)
            lead--;
        unsigned char c = (unsigned char)name[lead];
        want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (c >= 0xc0 && n - lead < want)
            n = lead;
        if (n == 0)
            return 0;
    }
    put_be32(kb + 1, r->asn);
    int rc = mdb_get(txn, s->meta, &k, &d);
    if (rc == MDB_NOTFOUND || (rc == 0 && (d.mv_size != n || memcmp(d.mv_data, name, n) != 0))) {
        d.mv_size = n;
        d.mv_data = name;
        rc = mdb_put(txn, s->meta, &k, &d, 0);
    }
    if (rc != 0)
        return qlog_errno(rc);
    asnset_add(seen, r->asn);
    return 0;
}

int qlog_asn_name(struct qlog_store *s, uint32_t asn, char *buf, size_t len)
{
    uint8_t k[5] = {'a'};
    put_be32(k + 1, asn);
    return table_get(s, k, sizeof k, buf, len);
}

/* --- writing ----------------------------------------------------------- */

/* Put one record in "log" and "by_verdict", and its client and name entries
 * in P.  Returns 0, a negative errno from LMDB, or 1 if the record itself is
 * malformed (skipped and counted). */
static int put_record(struct qlog_store *s, MDB_txn *txn, MDB_cursor *logc, struct qlog_record *r,
                      bool *append, struct pending *p)
{
    uint8_t kb[3 + QLOG_KEY_TS], val[QLOG_VALUE_MAX], rn[QLOG_RNAME_MAX];
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
        rc = mdb_cursor_put(logc, &k, &d, *append ? MDB_APPEND : MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST && *append) {
            *append = false;
            rc = mdb_cursor_put(logc, &k, &d, MDB_NOOVERWRITE);
        }
        if (rc != MDB_KEYEXIST || tries >= 16)
            break;
    }
    if (rc != 0)
        return qlog_errno(rc);
    pend_add(p, kb, r->client, rn, (size_t)rnl);
    if (rec_in_verdict_index(r)) {
        MDB_val e = {0, ""};
        uint8_t vk[3 + QLOG_KEY_TS];
        vk[0] = r->verdict;
        put_be16(vk + 1, r->category);
        memcpy(vk + 3, kb, QLOG_KEY_TS);
        MDB_val ik = {sizeof vk, vk};
        if ((rc = mdb_put(txn, s->by_verdict, &ik, &e, 0)) != 0)
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

/* One write transaction for N records (sorted in place).  With P (the
 * writer thread's pending index) the records' keys go to "recent" and their
 * index entries to P, written as a segment later; without, they are
 * indexed in a segment of their own in the same transaction.  New AS
 * owners go to the owner table in the same transaction (SEEN: the ASNs
 * done).  Returns the number stored (malformed ones are skipped) or a
 * negative errno; on error nothing of the batch is stored, P is as it was
 * and SEEN is emptied (it may name owners of the aborted transaction). */
static long write_batch(struct qlog_store *s, struct qlog_record *recs, size_t n, struct pending *p,
                        struct asnset *seen)
{
    MDB_txn *txn;
    MDB_cursor *logc = NULL, *recc = NULL;
    struct pending own = {0};
    long stored = 0;
    bool append = true;
    uint32_t seq0 = s->seq;
    uint64_t recent0 = s->recent_next;
    size_t pn0 = p ? p->n : 0, palen0 = p ? p->alen : 0;
    int rc;

    if (s->rdonly)
        return -EROFS;
    if (!p) {
        if ((rc = pend_alloc(&own)) < 0)
            return rc;
        if (!pend_room(&own, n)) {
            pend_free(&own);
            return -E2BIG;
        }
    } else if (!pend_room(p, n)) {
        return -ENOBUFS; /* the caller writes the segment first */
    }
    qsort(recs, n, sizeof *recs, cmp_time);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        pend_free(&own);
        return qlog_errno(rc);
    }
    if ((rc = mdb_cursor_open(txn, s->log, &logc)) != 0 ||
        (p && (rc = mdb_cursor_open(txn, s->recent, &recc)) != 0)) {
        rc = qlog_errno(rc);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        size_t before = p ? p->n : own.n;
        rc = put_record(s, txn, logc, &recs[i], &append, p ? p : &own);
        if (rc == 0 && recs[i].asn)
            rc = owner_note(s, txn, seen, &recs[i]);
        if (rc < 0)
            goto fail;
        stored += rc == 0;
        if (p && p->n > before) {
            uint8_t nk[8];
            put_be64(nk, s->recent_next++);
            MDB_val k = {8, nk}, d = {QLOG_KEY_TS, p->e[p->n - 1].ts};
            if ((rc = mdb_cursor_put(recc, &k, &d, MDB_APPEND)) != 0) {
                rc = qlog_errno(rc);
                goto fail;
            }
        }
    }
    mdb_cursor_close(logc);
    logc = NULL;
    if (recc)
        mdb_cursor_close(recc);
    recc = NULL;
    if (!p && (rc = seg_write(s, txn, &own, false)) < 0)
        goto fail;
    pend_free(&own);
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        rc = qlog_errno(rc);
        txn = NULL;
        goto fail;
    }
    return stored;
fail:
    if (logc)
        mdb_cursor_close(logc);
    if (recc)
        mdb_cursor_close(recc);
    if (txn)
        mdb_txn_abort(txn);
    pend_free(&own);
    asnset_clear(seen);
    s->seq = seq0;
    s->recent_next = recent0;
    if (p) {
        p->n = pn0;
        p->alen = palen0;
    }
    return rc;
}

int qlog_write(struct qlog_store *s, const struct qlog_record *recs, size_t n)
{
    /* one fdatasync and one segment per chunk: as much as a segment holds */
    const size_t max = QLOG_SEG_ARENA / QLOG_RNAME_MAX < QLOG_SEG_RECORDS
                           ? QLOG_SEG_ARENA / QLOG_RNAME_MAX
                           : QLOG_SEG_RECORDS;
    size_t chunk = n < max ? n : max;
    if (chunk == 0)
        return 0;
    struct qlog_record *copy = malloc(chunk * sizeof *copy);
    struct asnset seen = {.seed = s->asns.seed}; /* not the writer thread's */
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        memcpy(copy, recs + i, m * sizeof *copy);
        long rc = write_batch(s, copy, m, NULL, &seen);
        if (rc < 0) {
            free(copy);
            free(seen.slots);
            return (int)rc;
        }
        atomic_fetch_add(&s->written, (uint64_t)rc);
    }
    free(copy);
    free(seen.slots);
    return 0;
}

/* Write the writer's pending entries as a segment and empty "recent", in
 * one transaction.  0 or -errno (the entries stay pending). */
static int pend_flush(struct qlog_store *s)
{
    MDB_txn *txn;
    uint64_t dels = 0;
    if (s->pend.n == 0)
        return 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return qlog_errno(rc);
    if (store_meta_get_u64(txn, s->meta, "deletions", &dels) < 0)
        dels = 0;
    /* a purge or an erase since the last segment may have taken records
     * that are pending here: then look each one up */
    bool check = dels != s->pend.deletions;
    if ((rc = seg_write(s, txn, &s->pend, check)) < 0 ||
        (rc = qlog_errno(mdb_drop(txn, s->recent, 0))) < 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return qlog_errno(rc);
    s->pend.n = 0;
    s->pend.alen = 0;
    s->pend.deletions = dels;
    return 0;
}

/* At writer start: records a previous run committed but never indexed (it
 * was killed) are in "recent"; index them now, before anything new is
 * committed (so no record is indexed twice).  Uses its own scratch index;
 * 0 or -errno (then nothing changed). */
static int pend_replay(struct qlog_store *s)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    struct pending tmp = {0};
    int rc = pend_alloc(&tmp);
    if (rc < 0)
        return rc;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        pend_free(&tmp);
        return qlog_errno(rc);
    }
    if ((rc = mdb_cursor_open(txn, s->recent, &c)) != 0) {
        mdb_txn_abort(txn);
        pend_free(&tmp);
        return qlog_errno(rc);
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct qlog_record r;
        uint8_t rn[QLOG_RNAME_MAX];
        MDB_val rv, rk = v;
        if (v.mv_size != QLOG_KEY_TS || mdb_get(txn, s->log, &rk, &rv) != 0 ||
            rec_decode(&rk, &rv, &r) < 0)
            continue; /* erased or purged meanwhile */
        int rnl = rname(r.name, r.name_len, true, rn);
        if (rnl < 0)
            continue;
        if (!pend_room(&tmp, 1)) { /* more than one segment's worth */
            if ((rc = seg_write(s, txn, &tmp, false)) < 0)
                break;
            tmp.n = tmp.alen = 0;
        }
        pend_add(&tmp, v.mv_data, r.client, rn, (size_t)rnl);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    else if (rc > 0)
        rc = qlog_errno(rc);
    if (rc == 0)
        rc = seg_write(s, txn, &tmp, false);
    if (rc == 0)
        rc = qlog_errno(mdb_drop(txn, s->recent, 0));
    uint64_t dels = 0;
    if (store_meta_get_u64(txn, s->meta, "deletions", &dels) < 0)
        dels = 0;
    pend_free(&tmp);
    if (rc < 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return qlog_errno(rc);
    s->pend.deletions = dels;
    return 0;
}

/* --- deletion, purge, erase -------------------------------------------- */

/* Count a transaction that deletes records (see "deletions" above). */
static int note_deletions(struct qlog_store *s, MDB_txn *txn)
{
    uint64_t v = 0;
    uint8_t b[8];
    if (store_meta_get_u64(txn, s->meta, "deletions", &v) < 0)
        v = 0;
    put_be64(b, v + 1);
    MDB_val k = {9, "deletions"}, d = {8, b};
    return qlog_errno(mdb_put(txn, s->meta, &k, &d, 0));
}

/* Delete the record at key K (value V) and its index entries: the client
 * and name entries are looked for in every segment of SEGS whose time
 * range holds the record (usually one). */
static int del_record(struct qlog_store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                      const struct segmeta *segs, size_t nsegs)
{
    struct qlog_record r;
    uint8_t kb[QLOG_SEG_KEY + QLOG_RNAME_MAX + QLOG_KEY_TS], rn[QLOG_RNAME_MAX];
    MDB_val ik = {0, kb}, id = {QLOG_KEY_TS, k->mv_data};
    int rc = rec_decode(k, v, &r);

    if (rc == 0) {
        int rnl = rname(r.name, r.name_len, true, rn);
        for (size_t i = 0; i < nsegs; i++) {
            if (r.time_us < segs[i].min_t || r.time_us > segs[i].max_t)
                continue;
            put_be32(kb, segs[i].seg);
            memcpy(kb + QLOG_SEG_KEY, r.client, 16);
            ik.mv_size = QLOG_SEG_KEY + 16;
            rc = mdb_del(txn, s->by_client, &ik, &id);
            if (rc != 0 && rc != MDB_NOTFOUND)
                return qlog_errno(rc);
            if (rnl > 0) {
                memcpy(kb + QLOG_SEG_KEY, rn, (size_t)rnl);
                ik.mv_size = QLOG_SEG_KEY + (size_t)rnl;
                rc = mdb_del(txn, s->by_name, &ik, &id);
                if (rc != 0 && rc != MDB_NOTFOUND)
                    return qlog_errno(rc);
            }
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

/* Segments entirely before CUT (every record in them is gone by now):
 * delete what is left of their entries and their "segments" entry.
 * Bounded per transaction; returns 1 if there is more to do, 0, or -errno. */
static int seg_drop_before(struct qlog_store *s, MDB_txn *txn, uint64_t cut)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct segmeta m;
    unsigned budget = QLOG_PURGE_DELETES;
    int rc = mdb_cursor_open(txn, s->segments, &c);
    if (rc != 0)
        return qlog_errno(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && budget;) {
        if (seg_decode(&k, &v, &m) < 0 || m.max_t >= cut) {
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            continue;
        }
        MDB_dbi dbis[2] = {s->by_client, s->by_name};
        uint8_t pk[QLOG_SEG_KEY];
        put_be32(pk, m.seg);
        for (int d = 0; d < 2 && rc == 0; d++) {
            MDB_cursor *ic;
            MDB_val ik = {QLOG_SEG_KEY, pk}, iv;
            if ((rc = mdb_cursor_open(txn, dbis[d], &ic)) != 0)
                break;
            for (rc = mdb_cursor_get(ic, &ik, &iv, MDB_SET_RANGE);
                 rc == 0 && ik.mv_size >= QLOG_SEG_KEY && memcmp(ik.mv_data, pk, 4) == 0 && budget;
                 rc = mdb_cursor_get(ic, &ik, &iv, MDB_SET_RANGE)) {
                if ((rc = mdb_cursor_del(ic, MDB_NODUPDATA)) != 0)
                    break;
                budget--;
                ik.mv_size = QLOG_SEG_KEY;
                ik.mv_data = pk;
            }
            mdb_cursor_close(ic);
            if (rc == MDB_NOTFOUND || rc == 0)
                rc = 0;
        }
        if (rc != 0)
            break;
        if (!budget)
            break; /* this segment's entries are not all gone yet */
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        put_be32(pk, m.seg + 1); /* on from the one after */
        k.mv_size = QLOG_SEG_KEY;
        k.mv_data = pk;
        rc = m.seg == UINT32_MAX ? MDB_NOTFOUND : mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return qlog_errno(rc);
    return budget == 0;
}

/* One purge transaction over [from, to): deletes everything (ALL) or only
 * the unflagged records.  Sets *next to where the next call starts, or to
 * TO when the range is done.  Returns deletions or -errno. */
static long purge_step(struct qlog_store *s, uint64_t from, uint64_t to, bool all, uint64_t *next)
{
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    uint8_t kb[QLOG_KEY_TS];
    MDB_val k = {QLOG_KEY_TS, kb}, v;
    struct segmeta *segs = NULL;
    long deleted = 0, nsegs;
    unsigned scanned = 0;
    int rc;

    *next = to;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        return qlog_errno(rc);
    if ((nsegs = seg_list(s, txn, from, to, &segs)) < 0) {
        rc = (int)nsegs;
        goto fail;
    }
    if ((rc = mdb_cursor_open(txn, s->log, &c)) != 0) {
        rc = qlog_errno(rc);
        goto fail;
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
            rc = del_record(s, txn, &ck, &v, segs, (size_t)nsegs);
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
    if (all && *next == to && (rc = seg_drop_before(s, txn, to)) < 0)
        goto fail;
    if (all && rc == 1)
        *next = to - 1; /* segments left to drop: come back */
    if (!all && *next == to) {
        uint8_t b[8];
        put_be64(b, to);
        MDB_val mk = {12, "purged_until"}, md = {8, b};
        if ((rc = mdb_put(txn, s->meta, &mk, &md, 0)) != 0) {
            rc = qlog_errno(rc);
            goto fail;
        }
    }
    if (deleted && (rc = note_deletions(s, txn)) < 0)
        goto fail;
    mdb_cursor_close(c);
    free(segs);
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return qlog_errno(rc);
    atomic_fetch_add(&s->purged, (uint64_t)deleted);
    return deleted;
fail:
    if (c)
        mdb_cursor_close(c);
    free(segs);
    mdb_txn_abort(txn);
    return rc;
}

static uint64_t purged_until(struct qlog_store *s)
{
    MDB_txn *txn;
    uint64_t v = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (store_meta_get_u64(txn, s->meta, "purged_until", &v) < 0)
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
        MDB_cursor *c = NULL;
        struct segmeta *segs = NULL;
        uint8_t keys[QLOG_ERASE_BATCH][QLOG_KEY_TS];
        uint32_t segof[QLOG_ERASE_BATCH]; /* 0: from "recent" */
        size_t n = 0, deleted = 0;
        long nsegs;
        int rc;

        if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
            return qlog_errno(rc);
        if ((nsegs = seg_list(s, txn, 0, 0, &segs)) < 0) {
            rc = (int)nsegs;
            goto fail;
        }
        /* the client's entries in every segment, then "recent" */
        if ((rc = mdb_cursor_open(txn, s->by_client, &c)) != 0) {
            rc = qlog_errno(rc);
            goto fail;
        }
        for (long i = 0; i < nsegs && n < QLOG_ERASE_BATCH; i++) {
            uint8_t kb[QLOG_SEG_KEY + 16];
            put_be32(kb, segs[i].seg);
            memcpy(kb + QLOG_SEG_KEY, client, 16);
            MDB_val k = {sizeof kb, kb}, v;
            for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0 && n < QLOG_ERASE_BATCH;
                 rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP))
                if (v.mv_size == QLOG_KEY_TS) {
                    segof[n] = segs[i].seg;
                    memcpy(keys[n++], v.mv_data, QLOG_KEY_TS);
                }
            if (rc != 0 && rc != MDB_NOTFOUND) {
                rc = qlog_errno(rc);
                goto fail;
            }
            if (n < QLOG_ERASE_BATCH) { /* all of them: the key goes (dangling ones too) */
                k.mv_size = sizeof kb;
                k.mv_data = kb;
                rc = mdb_del(txn, s->by_client, &k, NULL);
                if (rc != 0 && rc != MDB_NOTFOUND) {
                    rc = qlog_errno(rc);
                    goto fail;
                }
            }
        }
        mdb_cursor_close(c);
        c = NULL;
        if (n < QLOG_ERASE_BATCH) {
            if ((rc = mdb_cursor_open(txn, s->recent, &c)) != 0) {
                rc = qlog_errno(rc);
                goto fail;
            }
            MDB_val k, v;
            for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < QLOG_ERASE_BATCH;
                 rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                MDB_val rk = v, rv;
                struct qlog_record r;
                if (v.mv_size == QLOG_KEY_TS && mdb_get(txn, s->log, &rk, &rv) == 0 &&
                    rec_decode(&rk, &rv, &r) == 0 && memcmp(r.client, client, 16) == 0) {
                    segof[n] = 0;
                    memcpy(keys[n++], v.mv_data, QLOG_KEY_TS);
                }
            }
            mdb_cursor_close(c);
            c = NULL;
            if (rc != 0 && rc != MDB_NOTFOUND) {
                rc = qlog_errno(rc);
                goto fail;
            }
        }
        for (size_t i = 0; i < n; i++) {
            MDB_val pk = {QLOG_KEY_TS, keys[i]}, pv;
            rc = mdb_get(txn, s->log, &pk, &pv);
            if (rc == 0) {
                rc = del_record(s, txn, &pk, &pv, segs, (size_t)nsegs);
                deleted++;
            } else if (rc == MDB_NOTFOUND && segof[i]) { /* an entry without its record */
                uint8_t kb[QLOG_SEG_KEY + 16];
                put_be32(kb, segof[i]);
                memcpy(kb + QLOG_SEG_KEY, client, 16);
                MDB_val k = {sizeof kb, kb};
                rc = mdb_del(txn, s->by_client, &k, &pk);
                rc = rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
            } else {
                rc = rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
            }
            if (rc < 0)
                goto fail;
        }
        free(segs);
        segs = NULL;
        if (deleted && (rc = note_deletions(s, txn)) < 0)
            goto fail;
        if ((rc = mdb_txn_commit(txn)) != 0)
            return qlog_errno(rc);
        total += (long)deleted;
        if (n < QLOG_ERASE_BATCH)
            return total;
        continue;
    fail:
        if (c)
            mdb_cursor_close(c);
        free(segs);
        mdb_txn_abort(txn);
        return rc;
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

static void map_full(struct qlog_store *s, uint64_t *stopped_at)
{
    if (!atomic_exchange(&s->stopped, true))
        log_error("query log: the map is full (log.map-size) and retention frees "
                  "nothing: logging stopped; raise log.map-size or shorten "
                  "log.retention");
    *stopped_at = mono_ms();
    atomic_store(&s->last_error, -ENOSPC);
}

/* Write the pending index as a segment; on a full map purge and try once
 * more.  0 or -errno (the entries stay pending, tried again later). */
static int writer_flush(struct qlog_store *s, uint64_t *stopped_at)
{
    int rc = pend_flush(s);
    if (rc == -ENOSPC && s->retention_s &&
        qlog_purge(s, wall_us(), s->retention_s, s->retention_flagged_s) > 0)
        rc = pend_flush(s);
    if (rc == -ENOSPC)
        map_full(s, stopped_at);
    else if (rc < 0)
        note_error(s, rc, "index segment write failed");
    s->pend.first_ms = mono_ms(); /* after a failure: not before the next age */
    return rc;
}

static void writer_commit(struct qlog_store *s, size_t n, uint64_t *stopped_at)
{
    if (n == 0)
        return;
    if (atomic_load(&s->stopped) && mono_ms() - *stopped_at < QLOG_RETRY_STOPPED_S * 1000u) {
        atomic_fetch_add(&s->lost, n);
        return;
    }
    if (s->replay_needed) {
        int rc = pend_replay(s);
        if (rc < 0) {
            if (rc == -ENOSPC)
                map_full(s, stopped_at);
            else
                note_error(s, rc, "indexing the records of the last run failed");
            atomic_fetch_add(&s->lost, n);
            return;
        }
        s->replay_needed = false;
    }
    if (!pend_room(&s->pend, n) && writer_flush(s, stopped_at) < 0) {
        atomic_fetch_add(&s->lost, n);
        return;
    }
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (s->batch[i].time_us < oldest)
            oldest = s->batch[i].time_us;
    bool was_empty = s->pend.n == 0;
    long rc = write_batch(s, s->batch, n, &s->pend, &s->asns);
    if (rc == -ENOSPC && s->retention_s) {
        long freed = qlog_purge(s, wall_us(), s->retention_s, s->retention_flagged_s);
        if (freed > 0)
            rc = write_batch(s, s->batch, n, &s->pend, &s->asns);
    }
    if (rc == -ENOSPC) {
        map_full(s, stopped_at);
        atomic_fetch_add(&s->lost, n);
        return;
    }
    if (rc < 0) {
        note_error(s, (int)rc, "commit failed, batch lost");
        atomic_fetch_add(&s->lost, n);
        return;
    }
    if (was_empty)
        s->pend.first_ms = mono_ms();
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

    int rc = pend_replay(s);
    if (rc < 0) {
        note_error(s, rc, "indexing the records of the last run failed");
        s->replay_needed = true;
    }
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
        if (s->pend.n && mono_ms() >= s->pend.first_ms + QLOG_SEG_AGE_MS)
            writer_flush(s, &stopped_at);
        if (s->retention_s && now >= next_purge && p.phase == 2) {
            purge_init(s, &p, wall_us(), s->retention_s, s->retention_flagged_s);
            next_purge = now + QLOG_PURGE_INTERVAL * 1000u;
        }
        if (p.phase != 2) { /* one short transaction per turn */
            long prc = purge_run_step(s, &p);
            if (prc < 0) {
                note_error(s, (int)prc, "purge failed");
                p.phase = 2;
            }
            continue;
        }
        if (got == 0) {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (s->pend.n) /* a clean stop leaves nothing to replay */
        writer_flush(s, &stopped_at);
    return NULL;
}

int qlog_writer_start(struct qlog_store *s, uint32_t retention_s, uint32_t retention_flagged_s)
{
    if (s->running)
        return -EALREADY;
    if (s->rdonly)
        return -EROFS;
    s->batch = malloc(QLOG_BATCH_MAX * sizeof *s->batch);
    if (!s->batch || pend_alloc(&s->pend) < 0) {
        free(s->batch);
        s->batch = NULL;
        return -ENOMEM;
    }
    s->retention_s = retention_s;
    s->retention_flagged_s = retention_flagged_s;
    s->replay_needed = false;
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
    if (f->has_asn && r->asn != f->asn)
        return false;
    if (f->has_country && memcmp(r->country, f->country, 2) != 0)
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

/* Filter and deliver the record K V of the log.  1 = stop. */
static int deliver_rec(struct qctx *q, const MDB_val *k, const MDB_val *v)
{
    struct qlog_record r;
    int rc;
    if (rec_decode(k, v, &r) < 0 || !rec_matches(q->f, &r))
        return 0;
    q->delivered++;
    rc = q->cb(&r, q->arg);
    if (rc != 0)
        return rc;
    return q->f->limit && (uint64_t)q->delivered >= q->f->limit;
}

/* Fetch the record for KEY12 (TIME SEQ), filter, deliver.  1 = stop. */
static int deliver(struct qctx *q, const uint8_t *key12)
{
    MDB_val k = {QLOG_KEY_TS, (void *)key12}, v;
    int rc = mdb_get(q->txn, q->s->log, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0; /* an index entry without its record: skip */
    if (rc != 0)
        return qlog_errno(rc);
    return deliver_rec(q, &k, &v);
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
        /* the log itself: the value is at hand */
        int d = dbi == q->s->log ? deliver_rec(q, &k, &v) : deliver(q, kd + plen);
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

static int keys_push(struct keyset *ks, const uint8_t *ts)
{
    if (ks->n == ks->cap) {
        size_t ncap = ks->cap ? ks->cap * 2 : 1024;
        if (ncap > QLOG_COLLECT_MAX)
            return -E2BIG;
        void *nk = realloc(ks->keys, ncap * QLOG_KEY_TS);
        if (!nk)
            return -ENOMEM;
        ks->keys = nk;
        ks->cap = ncap;
    }
    memcpy(ks->keys[ks->n++], ts, QLOG_KEY_TS);
    return 0;
}

static bool in_range(const struct qlog_filter *f, uint64_t t)
{
    return t >= f->since_us && (!f->until_us || t < f->until_us);
}

/* The entries of segment SEG under key SEG PFX (exact), or under every key
 * starting with it (PREFIX), in the time range, into KS. */
static int seg_collect(struct qctx *q, MDB_cursor *c, uint32_t seg, const uint8_t *pfx, size_t plen,
                       bool prefix, struct keyset *ks)
{
    uint8_t kb[QLOG_SEG_KEY + QLOG_RNAME_MAX];
    size_t klen = QLOG_SEG_KEY + plen;
    put_be32(kb, seg);
    memcpy(kb + QLOG_SEG_KEY, pfx, plen);
    MDB_val k = {klen, kb}, v;
    int rc = mdb_cursor_get(c, &k, &v, prefix ? MDB_SET_RANGE : MDB_SET_KEY);
    while (rc == 0) {
        if (k.mv_size < klen || memcmp(k.mv_data, kb, klen) != 0)
            break;
        do {
            if (v.mv_size == QLOG_KEY_TS && in_range(q->f, get_be64(v.mv_data)) &&
                (rc = keys_push(ks, v.mv_data)) < 0)
                return rc;
        } while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) == 0);
        if (rc != MDB_NOTFOUND || !prefix)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP);
    }
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : qlog_errno(rc);
}

/* The records in "recent" (not yet in a segment) that match, into KS;
 * *MAX_T the newest time among them. */
static int recent_collect(struct qctx *q, struct keyset *ks, uint64_t *max_t)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(q->txn, q->s->recent, &c);
    *max_t = 0;
    if (rc != 0)
        return qlog_errno(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        MDB_val rk = v, rv;
        struct qlog_record r;
        if (v.mv_size != QLOG_KEY_TS || !in_range(q->f, get_be64(v.mv_data)) ||
            mdb_get(q->txn, q->s->log, &rk, &rv) != 0 || rec_decode(&rk, &rv, &r) < 0 ||
            !rec_matches(q->f, &r))
            continue;
        if ((rc = keys_push(ks, v.mv_data)) < 0)
            break;
        if (r.time_us > *max_t)
            *max_t = r.time_us;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc < 0 ? rc : qlog_errno(rc);
}

static int cmp_seg_newest(const void *a, const void *b)
{
    const struct segmeta *x = a, *y = b;
    if (x->max_t != y->max_t)
        return x->max_t < y->max_t ? 1 : -1;
    return x->seg < y->seg ? 1 : x->seg > y->seg ? -1 : 0;
}

/* Newest first through the client or name index: the sources (each
 * segment overlapping the time range, and "recent") are taken in order of
 * their newest record; after each, every hit newer than anything a later
 * source can hold is sorted and delivered, so the output streams (a limit
 * stops early) and is in time order even where segments overlap. */
static int seg_query(struct qctx *q, MDB_dbi dbi, const uint8_t *pfx, size_t plen, bool prefix)
{
    struct segmeta *segs = NULL;
    struct keyset ks = {0}, rk = {0};
    MDB_cursor *c = NULL;
    uint64_t rmax = 0;
    long nsegs = seg_list(q->s, q->txn, q->f->since_us, q->f->until_us, &segs);
    int rc = nsegs < 0 ? (int)nsegs : 0;
    if (rc == 0)
        rc = recent_collect(q, &rk, &rmax);
    if (rc == 0)
        rc = qlog_errno(mdb_cursor_open(q->txn, dbi, &c));
    if (rc < 0)
        goto out;
    if (nsegs > 1)
        qsort(segs, (size_t)nsegs, sizeof *segs, cmp_seg_newest);
    bool recent_done = rk.n == 0;
    long i = 0;
    for (;;) {
        if (!recent_done && (i == nsegs || rmax >= segs[i].max_t)) {
            for (size_t j = 0; j < rk.n && rc == 0; j++)
                rc = keys_push(&ks, rk.keys[j]);
            recent_done = true;
        } else if (i < nsegs) {
            rc = seg_collect(q, c, segs[i].seg, pfx, plen, prefix, &ks);
            i++;
        } else {
            break;
        }
        if (rc < 0)
            break;
        bool more = i < nsegs || !recent_done;
        uint64_t bound = i < nsegs ? segs[i].max_t : 0;
        if (!recent_done && rmax > bound)
            bound = rmax;
        if (ks.n > 1)
            qsort(ks.keys, ks.n, QLOG_KEY_TS, cmp_key_desc);
        size_t j = 0;
        for (; j < ks.n && (!more || get_be64(ks.keys[j]) > bound); j++) {
            int d = deliver(q, ks.keys[j]);
            if (d != 0) {
                rc = d < 0 ? d : 0;
                goto out;
            }
        }
        if (j < ks.n) /* keys stays NULL until the first hit */
            memmove(ks.keys, ks.keys + j, (ks.n - j) * QLOG_KEY_TS);
        ks.n -= j;
        if (!more)
            break;
    }
out:
    if (c)
        mdb_cursor_close(c);
    free(segs);
    free(ks.keys);
    free(rk.keys);
    return rc;
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
        rc = seg_query(&q, s->by_client, f->client, 16, false);
        break;
    case PLAN_NAME:
        n = rname(f->name, f->name_len, true, pfx);
        rc = seg_query(&q, s->by_name, pfx, (size_t)n, false);
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
        rc = seg_query(&q, s->by_name, pfx, (size_t)n, true);
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
    if (rc == -E2BIG && q.delivered == 0) /* too many to sort: every filter still applies */
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

int qlog_parse_country(const char *s, char out[2])
{
    char c[2];
    if (!s || !s[0] || !s[1] || s[2])
        return -EINVAL;
    for (int i = 0; i < 2; i++) /* ASCII only, whatever the locale */
        c[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
    if (!country_valid(c))
        return -EINVAL;
    memcpy(out, c, 2);
    return 0;
}

/* --- presentation ------------------------------------------------------ */

void qlog_country_text(const char country[2], char *buf, size_t len)
{
    if (len == 0)
        return;
    if (country_valid(country))
        snprintf(buf, len, "%c%c", country[0], country[1]);
    else
        buf[0] = 0;
}

void qlog_csv_field(FILE *f, const char *s, bool last)
{
    /* OWASP's list of formula starts; a lone "-" (no segment) is plain text. */
    bool formula = (s[0] && strchr("=+-@\t\r", s[0]) && strcmp(s, "-") != 0);
    if (formula || strpbrk(s, ",\"\n\r")) {
        fputc('"', f);
        if (formula)
            fputc('\'', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

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
