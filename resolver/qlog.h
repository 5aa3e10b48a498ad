/*
 * qlog.h - the query log: one record per client query, kept in LMDB.
 *
 * Workers copy a fixed-size struct qlog_record into their own ring
 * (single producer, single consumer, lock-free): qlog_submit() never blocks,
 * never allocates and never makes a system call; when the ring is full the
 * record is dropped and counted.  One writer thread drains every ring and
 * commits in batches (at least every QLOG_COMMIT_MS, or every
 * QLOG_BATCH_MAX records), purges by retention once an hour, and stops
 * logging with one clear error if the map is full and nothing can be purged.
 *
 * The store (qlog.c opens with its key space) also holds the segment and
 * category name tables, so old records stay readable after the policy
 * changes, the AS owner table (one name per AS number, filled by the
 * writer from the records: a record on disk carries only the number), and
 * the audit table of who looked at the log.  The review tools
 * (tools/ctl_logs.c) use the query, erase, purge and audit calls.
 *
 * Not here: deciding what is blocked or flagged (policy), DHCP device names
 * (a later extension: see QLOG_F_* and the "device" comment in qlog.c).
 *
 * LMDB caveats obeyed: one environment per process (open the store once and
 * share the handle), read transactions are short (one per query call), and a
 * handle is never used across fork(): a child opens its own.
 */
#ifndef GATEHOUSE_QLOG_H
#define GATEHOUSE_QLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define QLOG_NAME_MAX 255        /* wire-format name, lower case */
#define QLOG_COMMIT_MS 250       /* the longest a record waits before a commit */
#define QLOG_BATCH_MAX 8192      /* records per write transaction at most */
#define QLOG_RING_DEFAULT 65536  /* slots per worker ring, 400 B each: 26 MB, 0.4 s at 150k/s */
#define QLOG_ORG_MAX 48          /* bytes of an AS owner in a ring record, with the NUL */
#define QLOG_FILE_MODE 0640      /* data.mdb and lock.mdb */
#define QLOG_PURGE_INTERVAL 3600 /* seconds between background purges */

enum qlog_verdict {
    QLOG_ANSWERED = 0,
    QLOG_BLOCKED = 1,
    QLOG_REWRITTEN = 2,
    QLOG_REFUSED = 3,
    QLOG_FAILED = 4,
};
#define QLOG_VERDICT_COUNT 5

/* flags */
#define QLOG_F_CACHE 0x01   /* answered from the cache */
#define QLOG_F_FLAGGED 0x02 /* safeguarding: kept for retention_flagged, like blocked */

/*
 * One query, as a worker fills it in and as a query hands it back.  Fixed
 * size so a ring slot is a plain copy; only name_len bytes of name are
 * copied and stored.  Addresses are 16 bytes: IPv4 as ::ffff:a.b.c.d
 * (RFC 4291 section 2.5.5.2) with family 4, IPv6 with family 6.
 */
struct qlog_record {
    uint64_t time_us;     /* microseconds since the epoch (wall clock) */
    uint64_t grant_id;    /* guest-access grant, 0 = none */
    uint32_t response_us; /* time to answer */
    uint32_t seq;         /* set by the store (ignored on submit) */
    uint16_t qtype;
    uint16_t category; /* policy category id when blocked/flagged, 0 = none */
    uint16_t rule;     /* policy rule id, 0 = none */
    uint8_t rcode;
    uint8_t verdict; /* enum qlog_verdict */
    uint8_t flags;   /* QLOG_F_* */
    uint8_t family;  /* 4 or 6 */
    uint8_t segment; /* segment id; names in the store's table */
    uint8_t naddrs;  /* answers[] used, 0..2 */
    uint8_t answer_family[2];
    uint8_t name_len; /* 1..255 */
    uint8_t reserved_;
    uint8_t client[16];
    uint8_t answer[2][16]; /* first A/AAAA answers, same form as client */
    /* where answer[0] points (geo.h), as the worker's geo lookup found it */
    uint32_t asn;    /* AS number, 0 = unknown */
    char country[2]; /* ISO 3166-1 alpha-2, upper case; zero bytes = unknown */
    /* The AS owner, NUL-terminated (truncated).  Ring only: copied only
     * when asn is set; the writer keeps one name per AS number in the
     * store's owner table, and a query hands back "" (qlog_asn_name). */
    char org[QLOG_ORG_MAX];
    uint8_t name[QLOG_NAME_MAX + 1];
};

struct qlog_store;
struct qlog_ring;

/* Open (creating if need be) the store in directory PATH (created 0750),
 * with a map of MAP_SIZE bytes.  Flags: QLOG_OPEN_RDONLY for readers that
 * never write (no audit, no purge).  Returns 0 and *out (close with
 * qlog_close), or a negative errno: -EACCES, -ENOENT (read-only and absent),
 * -EPROTO (a store of another format version), -ENOSPC, -ENOMEM. */
#define QLOG_OPEN_RDONLY 0x1
int qlog_open(const char *path, size_t map_size, unsigned flags, struct qlog_store **out);
/* Stops the writer if running (see qlog_writer_stop), frees the rings. */
void qlog_close(struct qlog_store *s);

/* Name tables: the daemon sets them at start and on reload.  NAME is copied;
 * up to 63 bytes.  0 or negative errno. */
int qlog_set_segment_name(struct qlog_store *s, uint8_t id, const char *name);
int qlog_set_category_name(struct qlog_store *s, uint16_t id, const char *name);
/* Look up a name into buf (NUL-terminated); -ENOENT if unknown. */
int qlog_segment_name(struct qlog_store *s, uint8_t id, char *buf, size_t len);
int qlog_category_name(struct qlog_store *s, uint16_t id, char *buf, size_t len);
/* Reverse lookups (case-insensitive); 0 and *id, or -ENOENT. */
int qlog_segment_id(struct qlog_store *s, const char *name, uint8_t *id);
int qlog_category_id(struct qlog_store *s, const char *name, uint16_t *id);
/* The owner of AS number ASN as the writer last stored it (from a record's
 * org), into buf (NUL-terminated); -ENOENT if none was stored. */
int qlog_asn_name(struct qlog_store *s, uint32_t asn, char *buf, size_t len);

/* --- the hand-off ------------------------------------------------------ */

/* A ring for one worker thread, registered with the store; CAPACITY is
 * rounded up to a power of two (0 = QLOG_RING_DEFAULT).  Call before
 * qlog_writer_start.  Owned by the store: freed by qlog_close.  NULL on
 * ENOMEM. */
struct qlog_ring *qlog_ring_new(struct qlog_store *s, size_t capacity);
/* Copy R into the ring.  Never blocks, never allocates.  Returns false (and
 * counts a drop) when the ring is full.  Only the owning thread may call. */
bool qlog_submit(struct qlog_ring *ring, const struct qlog_record *r);

/* Start the writer thread.  RETENTION_S / RETENTION_FLAGGED_S drive the
 * hourly purge (0 = never purge).  0 or negative errno. */
int qlog_writer_start(struct qlog_store *s, uint32_t retention_s, uint32_t retention_flagged_s);
/* Drain every ring, commit, join.  Safe if not started. */
void qlog_writer_stop(struct qlog_store *s);

struct qlog_stats {
    uint64_t written; /* records committed */
    uint64_t dropped; /* rings full (summed over rings) */
    uint64_t lost;    /* drained but not stored: logging stopped or a failed commit */
    uint64_t commits; /* write transactions */
    uint64_t pending; /* in the rings now */
    uint64_t lag_us;  /* age of the oldest record at the last commit */
    uint64_t purged;  /* records deleted by retention */
    int last_error;   /* negative errno of the last failure, 0 if none */
    bool stopped;     /* logging stopped (map full, nothing to purge) */
};
void qlog_stats(struct qlog_store *s, struct qlog_stats *out);

/* Write RECS straight into the store in one transaction (tests, tools and
 * the benchmark's generator; the daemon goes through rings).  0 or -errno. */
int qlog_write(struct qlog_store *s, const struct qlog_record *recs, size_t n);

/* --- review ------------------------------------------------------------ */

struct qlog_filter {
    uint64_t since_us; /* inclusive, 0 = from the start */
    uint64_t until_us; /* exclusive, 0 = no end */
    bool has_client;
    uint8_t client[16]; /* 16-byte form, as in the record */
    bool has_segment;
    uint8_t segment;
    uint8_t name_len; /* 0 = any name */
    bool name_suffix; /* true: the name and everything below it */
    uint8_t name[QLOG_NAME_MAX + 1];
    bool has_category;
    uint16_t category;
    bool has_asn; /* no index: with no other indexed filter, a scan of the time range */
    uint32_t asn;
    bool has_country; /* likewise */
    char country[2];  /* upper case, as qlog_parse_country gives it */
    bool blocked_only;
    uint64_t limit; /* 0 = no limit */
};

/* Called once per matching record, newest first.  R is borrowed for the
 * call, which may use the name lookups above (each its own read txn).
 * Return 0 to go on, 1 to stop, a negative errno to fail. */
typedef int (*qlog_query_cb)(const struct qlog_record *r, void *arg);

/* Runs one read transaction (readers never block the writer).  Picks the
 * index: client, exact name, blocked+category, category, name suffix,
 * blocked, else the time-ordered log.  Returns the number of records
 * delivered, or a negative errno (or the callback's). */
long qlog_query(struct qlog_store *s, const struct qlog_filter *f, qlog_query_cb cb, void *arg);
/* Which index qlog_query would use: "client", "name", "verdict", "log". */
const char *qlog_query_plan(const struct qlog_filter *f);

/* Delete records older than now - retention_s, except blocked and flagged
 * ones, which go after now - retention_flagged_s.  In short transactions of
 * at most a few thousand deletions.  Returns records deleted or -errno. */
long qlog_purge(struct qlog_store *s, uint64_t now_us, uint32_t retention_s,
                uint32_t retention_flagged_s);

/* Delete every record of CLIENT (16-byte form).  Returns the count or -errno.
 * The caller audits (qlog_audit_add). */
long qlog_erase_client(struct qlog_store *s, const uint8_t client[16]);

/* Total records in the log (from the B-tree statistics). */
long qlog_count(struct qlog_store *s);

/* --- audit: who looked, when, at what.  Never erased. ------------------ */

int qlog_audit_add(struct qlog_store *s, uint64_t time_us, const char *who, const char *action,
                   const char *detail);
/* Newest first; strings borrowed for the call.  Return non-zero to stop. */
typedef int (*qlog_audit_cb)(uint64_t time_us, const char *who, const char *action,
                             const char *detail, void *arg);
long qlog_audit_list(struct qlog_store *s, uint64_t since_us, uint64_t limit, qlog_audit_cb cb,
                     void *arg);

/* --- parsers for review filters (outside input: bounded, fuzzed) ------- */

/* "2026-11-23", "2026-11-23 10:15", "2026-11-23 10:15:30" (also with 'T'),
 * local time; "now", "today", "yesterday" (local midnight); relative "90s",
 * "30m", "1h", "7d", "2w" (before NOW_US).  0 and *out, or -EINVAL. */
int qlog_parse_time(const char *s, uint64_t now_us, uint64_t *out_us);
/* "www.example.com", "example.com." exact; "*.example.com" the name and
 * everything below.  Lower-cased wire form into wire[256]. 0 or -EINVAL. */
int qlog_parse_name(const char *s, uint8_t *wire, uint8_t *len, bool *suffix);
/* IPv4 or IPv6 text into the 16-byte form; 0 or -EINVAL. */
int qlog_parse_addr(const char *s, uint8_t addr[16], uint8_t *family);
/* An ISO 3166-1 alpha-2 code, "ro" or "RO": two ASCII letters, upper-cased
 * into out (not NUL-terminated).  0 or -EINVAL.  (AS numbers: geo_parse_asn.) */
int qlog_parse_country(const char *s, char out[2]);

/* Presentation forms.  Always NUL-terminate (truncating) when len > 0. */
void qlog_name_text(const uint8_t *wire, size_t wire_len, char *buf, size_t len);
/* One CSV field (RFC 4180 quoting) and its separator, or a newline when
 * last.  A field starting with = + - @ is quoted with a leading apostrophe:
 * query names come from clients, and a spreadsheet would run it as a formula
 * (CSV injection).  Shared by gatehousectl and the admin page's exports. */
void qlog_csv_field(FILE *f, const char *s, bool last);
void qlog_addr_text(const uint8_t addr[16], uint8_t family, char *buf, size_t len);
const char *qlog_verdict_text(uint8_t verdict);
void qlog_qtype_text(uint16_t qtype, char *buf, size_t len);
void qlog_rcode_text(uint8_t rcode, char *buf, size_t len);
/* "RO", or "" for a record without a country. */
void qlog_country_text(const char country[2], char *buf, size_t len);

/* An LMDB error translated once: MDB_MAP_FULL -> -ENOSPC and so on. */
int qlog_errno(int mdb_rc);

#endif
