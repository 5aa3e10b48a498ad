/*
 * geo.c - network owner and country of answer addresses, from .mmdb files
 * (libmaxminddb), and the block-asn / block-countries / block-networks rules.
 * See geo.h for the threads and owners.
 *
 * Databases are opened with MMDB_MODE_MMAP: opening reads only the metadata,
 * the kernel pages the tree in as lookups touch it, and a replaced file is
 * picked up by opening the new one beside the old mapping (the old mapping
 * stays valid until the last reader drops it, even after the file is gone).
 *
 * Key paths read (GeoLite2/GeoIP2 and DB-IP "lite" files share them):
 *   ASN database:     autonomous_system_number, autonomous_system_organization
 *   country database: country.iso_code
 *
 * Not here: deciding anything about names (policy.c), answering (worker.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <maxminddb.h>
#include <yaml.h>

#include "geo.h"
#include "synth.h"

#define GEO_ERR_MAX 256
#define GEO_LISTS_MAX_FILE (1024 * 1024)
#define GEO_LIST_NAME_MAX 32

/* --- one database file ---------------------------------------------------- */

enum geo_kind { GEO_ASN = 0, GEO_COUNTRY = 1, GEO_KINDS = 2 };

static const char *const kind_name[GEO_KINDS] = {"asn", "country"};
static const char *const kind_key[GEO_KINDS] = {"geo.asn-database", "geo.country-database"};

/* What identifies a file's version: a replaced file (rename over, or a
 * fresh copy) changes the inode or the mtime; a rewrite in place at least
 * the size or mtime. */
struct geo_fileid {
    bool present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* The open databases at one moment.  refs and the free are under
 * geo.lock; readers use a snapshot they hold without any lock. */
struct geo_snap {
    unsigned refs;
    bool open[GEO_KINDS];
    MMDB_s mmdb[GEO_KINDS];
};

struct geo {
    pthread_mutex_t lock;
    struct geo_snap *cur;     /* under lock */
    atomic_uint_fast64_t gen; /* bumped on every publish */
    char *path[GEO_KINDS];    /* NULL = not configured */
    bool required;
    struct geo_fileid seen[GEO_KINDS];  /* the file as last tried (open or failed) */
    char state[GEO_KINDS][GEO_ERR_MAX]; /* "" when open, else why not (under lock) */
    char rejected[GEO_ERR_MAX];         /* why a replaced file was not taken, or "" */
};

/* What the check needs about one address, remembered per reader: answers
 * repeat (cache hits), and a probe of two trees costs a few hundred
 * nanoseconds where this costs a few tens (PERFORMANCE.md: remember the
 * verdict).  Direct-mapped, no chains, emptied when the snapshot changes.
 * The slot comes from a keyed hash of the address: addresses are outside
 * data, and with a secret key nobody can aim answers at one slot. */
#define GEO_MEMO_SIZE 4096 /* power of two; 24 bytes each */

struct geo_memo {
    uint8_t addr[16];
    uint32_t asn;
    char cc[2];
    uint8_t family; /* 0 = empty */
};

struct geo_reader {
    struct geo *g;
    struct geo_snap *snap;
    uint64_t gen;
    uint64_t key[2];
    struct geo_memo memo[GEO_MEMO_SIZE];
};

static void fileid_of(const char *path, struct geo_fileid *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (path && stat(path, &st) == 0) {
        id->present = true;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        id->size = st.st_size;
        id->mtime = st.st_mtim;
    }
}

static bool fileid_eq(const struct geo_fileid *a, const struct geo_fileid *b)
{
    return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* libmaxminddb codes, translated once here (hacking.md: errors). */
static int mmdb_errno(int status)
{
    switch (status) {
    case MMDB_SUCCESS:
        return 0;
    case MMDB_FILE_OPEN_ERROR:
        return errno ? -errno : -ENOENT;
    case MMDB_IO_ERROR:
        return -EIO;
    case MMDB_OUT_OF_MEMORY_ERROR:
        return -ENOMEM;
    default: /* corrupt tree, metadata or data, unknown format */
        return -EINVAL;
    }
}

static bool type_has(const MMDB_s *db, const char *word)
{
    return db->metadata.database_type && strstr(db->metadata.database_type, word);
}

/* Walks the whole search tree once at open: every record must point at a
 * node, at "no data" (node_count) or into the data section.  A damaged
 * file then fails here, with a clear message, instead of on queries.  Cost:
 * one pass over node_count nodes (about 40 ms for a 4-million-node City
 * file), at start-up and on a reopen only.  The data section itself is
 * checked as it is read: a bad record is "unknown", never a crash. */
static int verify_tree(const MMDB_s *db, char *why, size_t len)
{
    uint64_t nodes = db->metadata.node_count;
    uint64_t limit = nodes + 16 + db->data_section_size; /* MaxMind DB spec, "Search tree" */

    if (nodes == 0 || (uint64_t)db->file_size < nodes * (db->full_record_byte_size)) {
        snprintf(why, len, "corrupt: %llu nodes do not fit in the file", (unsigned long long)nodes);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < nodes; i++) {
        MMDB_search_node_s n;
        int st = MMDB_read_node(db, i, &n);
        if (st != MMDB_SUCCESS) {
            snprintf(why, len, "corrupt: search tree node %u: %s", i, MMDB_strerror(st));
            return -EINVAL;
        }
        /* A node pointing at itself is a loop a lookup would walk to the
         * bit limit; MMDB_read_node marks other impossible records
         * MMDB_RECORD_TYPE_INVALID. */
        if (n.left_record_type == MMDB_RECORD_TYPE_INVALID ||
            n.right_record_type == MMDB_RECORD_TYPE_INVALID || n.left_record == i ||
            n.right_record == i || (n.left_record > nodes && n.left_record - nodes < 16) ||
            n.left_record >= limit || (n.right_record > nodes && n.right_record - nodes < 16) ||
            n.right_record >= limit) {
            snprintf(why, len, "corrupt: search tree node %u points outside the file", i);
            return -EINVAL;
        }
    }
    return 0;
}

/* Opens one file and checks it is the kind of database asked for. */
static int db_open(enum geo_kind kind, const char *path, MMDB_s *db, char *why, size_t len)
{
    errno = 0;
    int st = MMDB_open(path, MMDB_MODE_MMAP, db);
    if (st != MMDB_SUCCESS) {
        int rc = mmdb_errno(st);
        snprintf(why, len, "%s", st == MMDB_FILE_OPEN_ERROR ? strerror(-rc) : MMDB_strerror(st));
        return rc;
    }
    /* Telling the two apart catches a swapped pair of settings, which
     * would otherwise just match nothing. */
    bool is_asn = type_has(db, "ASN") || type_has(db, "ISP");
    bool is_geo = type_has(db, "Country") || type_has(db, "City") || type_has(db, "Enterprise");
    const char *type = db->metadata.database_type ? db->metadata.database_type : "?";
    if (kind == GEO_ASN && !is_asn && is_geo) {
        snprintf(why, len, "is a country database (type %.64s), not an ASN database", type);
        MMDB_close(db);
        return -EINVAL;
    }
    if (kind == GEO_COUNTRY && !is_geo && is_asn) {
        snprintf(why, len, "is an ASN database (type %.64s), not a country database", type);
        MMDB_close(db);
        return -EINVAL;
    }
    int rc = verify_tree(db, why, len);
    if (rc < 0)
        MMDB_close(db);
    return rc;
}

static void snap_free(struct geo_snap *s)
{
    if (!s)
        return;
    for (int k = 0; k < GEO_KINDS; k++)
        if (s->open[k])
            MMDB_close(&s->mmdb[k]);
    free(s);
}

/* Under g->lock. */
static void snap_unref_locked(struct geo_snap *s)
{
    if (s && --s->refs == 0)
        snap_free(s);
}

/* Opens every configured file into a new snapshot.  A file that fails is
 * left closed, with why in state[k]; with geo.required the whole open
 * fails instead, and so it does with strict (a replaced file) when a file
 * that is there fails: a bad update must not switch off a good database.
 * Not under lock (MMDB_open reads the file). */
static int snap_build(struct geo *g, bool strict, struct geo_snap **out, char (*state)[GEO_ERR_MAX],
                      struct geo_fileid *ids, char *err, size_t errlen)
{
    struct geo_snap *s = calloc(1, sizeof(*s));
    int first = 0;
    size_t used = 0;

    if (!s)
        return -ENOMEM;
    s->refs = 1;
    if (err && errlen)
        err[0] = '\0';
    for (int k = 0; k < GEO_KINDS; k++) {
        char why[GEO_ERR_MAX - 64];
        state[k][0] = '\0';
        fileid_of(g->path[k], &ids[k]);
        if (!g->path[k]) {
            snprintf(state[k], GEO_ERR_MAX, "off (not configured)");
            continue;
        }
        int rc = db_open((enum geo_kind)k, g->path[k], &s->mmdb[k], why, sizeof(why));
        if (rc == 0) {
            s->open[k] = true;
            continue;
        }
        snprintf(state[k], GEO_ERR_MAX, "off (%s)", why);
        if (!first && (g->required || (strict && ids[k].present)))
            first = rc;
        if (err && used < errlen) {
            int n = snprintf(err + used, errlen - used, "%s%s: %s: %s", used ? "; " : "",
                             kind_key[k], g->path[k], why);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (first) {
        snap_free(s);
        return first;
    }
    *out = s;
    return 0;
}

/* Swaps in s (the caller's reference) and drops the one to the old
 * snapshot; readers move over on their next refresh. */
static void publish(struct geo *g, struct geo_snap *s, char (*state)[GEO_ERR_MAX],
                    const struct geo_fileid *ids)
{
    pthread_mutex_lock(&g->lock);
    struct geo_snap *old = g->cur;
    g->cur = s;
    memcpy(g->state, state, sizeof(g->state));
    memcpy(g->seen, ids, sizeof(g->seen));
    g->rejected[0] = '\0';
    atomic_fetch_add_explicit(&g->gen, 1, memory_order_release);
    snap_unref_locked(old);
    pthread_mutex_unlock(&g->lock);
}

static int set_paths(struct geo *g, const struct config *cfg)
{
    const char *want[GEO_KINDS] = {cfg->geo_asn_db, cfg->geo_country_db};
    for (int k = 0; k < GEO_KINDS; k++) {
        char *p = want[k] ? strdup(want[k]) : NULL;
        if (want[k] && !p)
            return -ENOMEM;
        free(g->path[k]);
        g->path[k] = p;
    }
    g->required = cfg->geo_required;
    return 0;
}

int geo_open(const struct config *cfg, struct geo **out, char *err, size_t errlen)
{
    struct geo *g = calloc(1, sizeof(*g));
    struct geo_snap *s = NULL;
    char state[GEO_KINDS][GEO_ERR_MAX];
    struct geo_fileid ids[GEO_KINDS];
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!g)
        return -ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    atomic_init(&g->gen, 0);
    if ((rc = set_paths(g, cfg)) < 0 ||
        (rc = snap_build(g, false, &s, state, ids, err, errlen)) < 0) {
        geo_close(g);
        return rc;
    }
    publish(g, s, state, ids);
    *out = g;
    return 0;
}

int geo_configure(struct geo *g, const struct config *cfg, char *err, size_t errlen)
{
    struct geo_snap *s = NULL;
    char state[GEO_KINDS][GEO_ERR_MAX];
    struct geo_fileid ids[GEO_KINDS];
    char *old[GEO_KINDS] = {g->path[0], g->path[1]};
    bool old_required = g->required;

    g->path[0] = g->path[1] = NULL;
    int rc = set_paths(g, cfg);
    if (rc == 0)
        rc = snap_build(g, false, &s, state, ids, err, errlen);
    if (rc < 0) { /* reload errors keep the old state */
        for (int k = 0; k < GEO_KINDS; k++) {
            free(g->path[k]);
            g->path[k] = old[k];
        }
        g->required = old_required;
        return rc;
    }
    free(old[0]);
    free(old[1]);
    publish(g, s, state, ids);
    return 0;
}

int geo_maybe_reopen(struct geo *g, char *err, size_t errlen)
{
    struct geo_fileid now[GEO_KINDS];
    bool changed = false;

    if (err && errlen)
        err[0] = '\0';
    /* Only main calls this and geo_configure, so seen[] is stable here. */
    for (int k = 0; k < GEO_KINDS; k++) {
        fileid_of(g->path[k], &now[k]);
        /* A file that went away keeps serving from its mapping: deleting
         * before copying a new one in is a normal way to update. */
        if (g->path[k] && now[k].present && !fileid_eq(&now[k], &g->seen[k]))
            changed = true;
    }
    if (!changed)
        return 0;

    struct geo_snap *s = NULL;
    char state[GEO_KINDS][GEO_ERR_MAX];
    struct geo_fileid ids[GEO_KINDS];
    int rc = snap_build(g, true, &s, state, ids, err, errlen);
    if (rc < 0) {
        /* Remember the bad file so it is reported once, not every second;
         * the old databases stay in use. */
        pthread_mutex_lock(&g->lock);
        for (int k = 0; k < GEO_KINDS; k++)
            g->seen[k] = ids[k];
        snprintf(g->rejected, sizeof(g->rejected), "%s", err && errlen ? err : "unusable file");
        pthread_mutex_unlock(&g->lock);
        return rc;
    }
    publish(g, s, state, ids);
    return 1;
}

bool geo_enabled(struct geo *g)
{
    bool on = false;
    if (!g)
        return false;
    pthread_mutex_lock(&g->lock);
    on = g->cur && (g->cur->open[GEO_ASN] || g->cur->open[GEO_COUNTRY]);
    pthread_mutex_unlock(&g->lock);
    return on;
}

const char *geo_status(struct geo *g, char *buf, size_t len)
{
    size_t used = 0;

    if (!buf || !len)
        return buf;
    buf[0] = '\0';
    if (!g) {
        snprintf(buf, len, "off (not configured)");
        return buf;
    }
    pthread_mutex_lock(&g->lock);
    for (int k = 0; k < GEO_KINDS && used < len; k++) {
        int n;
        const struct geo_snap *s = g->cur;
        if (s && s->open[k]) {
            const MMDB_s *db = &s->mmdb[k];
            char day[16] = "?";
            time_t built = (time_t)db->metadata.build_epoch;
            struct tm tm;
            if (gmtime_r(&built, &tm))
                strftime(day, sizeof(day), "%Y-%m-%d", &tm);
            n = snprintf(buf + used, len - used, "%s%s %.64s (built %s, %s)", k ? "; " : "",
                         kind_name[k],
                         db->metadata.database_type ? db->metadata.database_type : "?", day,
                         g->path[k] ? g->path[k] : "?");
        } else {
            n = snprintf(buf + used, len - used, "%s%s %s", k ? "; " : "", kind_name[k],
                         g->state[k][0] ? g->state[k] : "off");
        }
        used += n > 0 ? (size_t)n : 0;
    }
    if (g->rejected[0] && used < len)
        snprintf(buf + used, len - used, "; kept the old files: %s", g->rejected);
    pthread_mutex_unlock(&g->lock);
    return buf;
}

void geo_close(struct geo *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    snap_unref_locked(g->cur);
    g->cur = NULL;
    pthread_mutex_unlock(&g->lock);
    free(g->path[0]);
    free(g->path[1]);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* --- readers ------------------------------------------------------------ */

struct geo_reader *geo_reader_new(struct geo *g)
{
    struct geo_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (getrandom(r->key, sizeof(r->key), 0) != sizeof(r->key)) {
        free(r);
        return NULL;
    }
    r->g = g;
    geo_reader_refresh(r);
    return r;
}

void geo_reader_refresh(struct geo_reader *r)
{
    struct geo *g = r ? r->g : NULL;
    if (!g)
        return;
    uint64_t gen = atomic_load_explicit(&g->gen, memory_order_acquire);
    if (r->snap && gen == r->gen)
        return;
    pthread_mutex_lock(&g->lock);
    struct geo_snap *old = r->snap;
    r->snap = g->cur;
    if (r->snap)
        r->snap->refs++;
    r->gen = atomic_load_explicit(&g->gen, memory_order_relaxed);
    snap_unref_locked(old);
    pthread_mutex_unlock(&g->lock);
    memset(r->memo, 0, sizeof(r->memo)); /* what the old files said */
}

void geo_reader_free(struct geo_reader *r)
{
    if (!r)
        return;
    if (r->g && r->snap) {
        pthread_mutex_lock(&r->g->lock);
        snap_unref_locked(r->snap);
        pthread_mutex_unlock(&r->g->lock);
    }
    free(r);
}

/* A struct sockaddr on the stack: what MMDB_lookup_sockaddr takes. */
union geo_sa {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

static int make_sa(int family, const uint8_t *addr, union geo_sa *u)
{
    memset(u, 0, sizeof(*u));
    if (family == 4) {
        u->in.sin_family = AF_INET;
        memcpy(&u->in.sin_addr, addr, 4);
        return 0;
    }
    if (family == 6) {
        u->in6.sin6_family = AF_INET6;
        memcpy(&u->in6.sin6_addr, addr, 16);
        return 0;
    }
    return -EINVAL;
}

/* The entry for sa in one database: 1 found, 0 not in the database, or a
 * negative errno for a damaged tree. */
static int entry_of(const MMDB_s *db, const union geo_sa *u, MMDB_entry_s *e)
{
    int st = MMDB_SUCCESS;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(db, &u->sa, &st);
    if (st == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
        return 0; /* an IPv4-only file knows nothing of IPv6 */
    if (st != MMDB_SUCCESS)
        return -EIO;
    if (!res.found_entry)
        return 0;
    *e = res.entry;
    return 1;
}

static const char *const asn_path[] = {"autonomous_system_number", NULL};
static const char *const org_path[] = {"autonomous_system_organization", NULL};
static const char *const cc_path[] = {"country", "iso_code", NULL};

static int read_asn(MMDB_entry_s *e, uint32_t *asn)
{
    MMDB_entry_data_s d;
    if (MMDB_aget_value(e, &d, asn_path) != MMDB_SUCCESS || !d.has_data)
        return 0;
    if (d.type == MMDB_DATA_TYPE_UINT32)
        *asn = d.uint32;
    else if (d.type == MMDB_DATA_TYPE_UINT16)
        *asn = d.uint16;
    else if (d.type == MMDB_DATA_TYPE_UINT64 && d.uint64 <= UINT32_MAX)
        *asn = (uint32_t)d.uint64;
    return 0;
}

/* Copies a UTF-8 string value, cut to fit; control bytes become '?' so
 * the text is safe in an EDE, a log line or a terminal. */
static void read_str(MMDB_entry_s *e, const char *const *path, char *out, size_t cap)
{
    MMDB_entry_data_s d;
    out[0] = '\0';
    if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data ||
        d.type != MMDB_DATA_TYPE_UTF8_STRING)
        return;
    size_t n = d.data_size < cap - 1 ? d.data_size : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)d.utf8_string[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[n] = '\0';
}

static void read_country(MMDB_entry_s *e, char cc[3])
{
    char buf[8];
    read_str(e, cc_path, buf, sizeof(buf));
    if (strlen(buf) == 2 && isupper((unsigned char)buf[0]) && isupper((unsigned char)buf[1]))
        memcpy(cc, buf, 3);
    else
        cc[0] = '\0';
}

int geo_lookup(struct geo_reader *r, int family, const uint8_t *addr, struct geo_info *out)
{
    union geo_sa u;
    MMDB_entry_s e;
    int rc;

    memset(out, 0, sizeof(*out));
    if (make_sa(family, addr, &u) < 0)
        return -EINVAL;
    const struct geo_snap *s = r ? r->snap : NULL;
    if (!s || (!s->open[GEO_ASN] && !s->open[GEO_COUNTRY]))
        return -ENOENT;
    if (s->open[GEO_ASN]) {
        if ((rc = entry_of(&s->mmdb[GEO_ASN], &u, &e)) < 0)
            return rc;
        if (rc > 0) {
            read_asn(&e, &out->asn);
            read_str(&e, org_path, out->org, sizeof(out->org));
        }
    }
    if (s->open[GEO_COUNTRY]) {
        if ((rc = entry_of(&s->mmdb[GEO_COUNTRY], &u, &e)) < 0)
            return rc;
        if (rc > 0)
            read_country(&e, out->country);
    }
    return 0;
}

/* --- rules -------------------------------------------------------------- */

struct geo_rules {
    const struct config_policy *cp;
    const char *policy;
    const uint32_t *asns; /* sorted, unique (config-owned) */
    size_t nasns;
    const char (*countries)[3];
    size_t ncountries;
    const struct config_net *nets;
    size_t nnets;
};

struct geo_ruleset {
    size_t nsegments;
    const struct geo_rules **seg; /* per segment, NULL = no geo rules */
    struct geo_rules *rules;      /* per policy */
    size_t npolicies;
};

int geo_ruleset_build(const struct config *cfg, struct geo_ruleset **out)
{
    struct geo_ruleset *rs = calloc(1, sizeof(*rs));

    *out = NULL;
    if (!rs)
        return -ENOMEM;
    if (cfg->npolicies && !(rs->rules = calloc(cfg->npolicies, sizeof(*rs->rules))))
        goto nomem;
    if (cfg->nsegments && !(rs->seg = calloc(cfg->nsegments, sizeof(*rs->seg))))
        goto nomem;
    for (size_t i = 0; i < cfg->npolicies; i++) {
        const struct config_policy *p = &cfg->policies[i];
        rs->rules[i] = (struct geo_rules){
            .cp = p,
            .policy = p->name,
            .asns = p->asns,
            .nasns = p->nasns,
            .countries = (const char(*)[3])p->block_countries,
            .ncountries = p->nblock_countries,
            .nets = p->block_networks,
            .nnets = p->nblock_networks,
        };
    }
    rs->npolicies = cfg->npolicies;
    rs->nsegments = cfg->nsegments;
    for (size_t s = 0; s < cfg->nsegments; s++)
        for (size_t i = 0; i < cfg->npolicies; i++) {
            const struct geo_rules *gr = &rs->rules[i];
            if (cfg->segments[s].policy && !strcmp(cfg->segments[s].policy, gr->policy) &&
                (gr->nasns || gr->ncountries || gr->nnets))
                rs->seg[s] = gr;
        }
    *out = rs;
    return 0;
nomem:
    geo_ruleset_free(rs);
    return -ENOMEM;
}

void geo_ruleset_free(struct geo_ruleset *rs)
{
    if (!rs)
        return;
    free(rs->seg);
    free(rs->rules);
    free(rs);
}

const struct geo_rules *geo_rules_of_segment(const struct geo_ruleset *rs, int segment)
{
    if (!rs || segment < 0 || (size_t)segment >= rs->nsegments)
        return NULL;
    return rs->seg[segment];
}

const struct geo_rules *geo_rules_of_policy(const struct geo_ruleset *rs, size_t i)
{
    if (!rs || i >= rs->npolicies)
        return NULL;
    const struct geo_rules *gr = &rs->rules[i];
    return gr->nasns || gr->ncountries || gr->nnets ? gr : NULL;
}

const struct config_policy *geo_rules_config(const struct geo_rules *rules)
{
    return rules ? rules->cp : NULL;
}

const char *geo_rules_policy(const struct geo_rules *rules)
{
    return rules ? rules->policy : NULL;
}

static bool net_has(const struct config_net *n, int family, const uint8_t *addr)
{
    if ((family == 4) != (n->family == AF_INET))
        return false;
    unsigned whole = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, addr, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (n->addr[whole] & mask) == (addr[whole] & mask);
}

static bool asn_listed(const struct geo_rules *rules, uint32_t asn)
{
    size_t lo = 0, hi = rules->nasns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rules->asns[mid] == asn)
            return true;
        if (rules->asns[mid] < asn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static struct geo_memo *memo_slot(struct geo_reader *r, int family, const uint8_t *addr)
{
    uint64_t lo = 0, hi = 0;
    memcpy(&lo, addr, family == 4 ? 4 : 8);
    if (family == 6)
        memcpy(&hi, addr + 8, 8);
    uint64_t h = (lo ^ r->key[0]) * 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 29) ^ hi ^ r->key[1]) * 0xbf58476d1ce4e5b9ull;
    return &r->memo[(h >> 40) & (GEO_MEMO_SIZE - 1)];
}

/* The ASN and country of addr, from the memo or both trees.  Returns false
 * when no database is open. */
static bool memo_get(struct geo_reader *r, int family, const uint8_t *addr, uint32_t *asn,
                     char cc[2])
{
    const struct geo_snap *s = r ? r->snap : NULL;
    size_t alen = family == 4 ? 4 : 16;
    union geo_sa u;
    MMDB_entry_s e;

    if (!s || (!s->open[GEO_ASN] && !s->open[GEO_COUNTRY]) || make_sa(family, addr, &u) < 0)
        return false;
    struct geo_memo *mo = memo_slot(r, family, addr);
    if (mo->family == family && memcmp(mo->addr, addr, alen) == 0) {
        *asn = mo->asn;
        memcpy(cc, mo->cc, 2);
        return true;
    }
    char c3[3] = "";
    *asn = 0;
    if (s->open[GEO_ASN] && entry_of(&s->mmdb[GEO_ASN], &u, &e) > 0)
        read_asn(&e, asn);
    if (s->open[GEO_COUNTRY] && entry_of(&s->mmdb[GEO_COUNTRY], &u, &e) > 0)
        read_country(&e, c3);
    memcpy(cc, c3, 2);
    memcpy(mo->addr, addr, alen);
    mo->family = (uint8_t)family;
    mo->asn = *asn;
    memcpy(mo->cc, c3, 2);
    return true;
}

bool geo_check_address(struct geo_reader *r, const struct geo_rules *rules, int family,
                       const uint8_t *addr, struct geo_match *m)
{
    const struct config_net *hit = NULL;
    enum geo_by by = GEO_BY_NONE;

    if (!rules || (family != 4 && family != 6))
        return false;
    for (size_t i = 0; i < rules->nnets && !hit; i++)
        if (net_has(&rules->nets[i], family, addr))
            hit = &rules->nets[i];
    if (hit) {
        by = GEO_BY_NETWORK;
    } else if (rules->nasns || rules->ncountries) {
        uint32_t asn = 0;
        char cc[2];
        if (!memo_get(r, family, addr, &asn, cc))
            return false;
        if (asn && rules->nasns && asn_listed(rules, asn))
            by = GEO_BY_ASN;
        for (size_t i = 0; !by && cc[0] && i < rules->ncountries; i++)
            if (cc[0] == rules->countries[i][0] && cc[1] == rules->countries[i][1])
                by = GEO_BY_COUNTRY;
        if (!by)
            return false;
    }
    /* A match is rare: now fill in everything for the EDE and the log. */
    memset(m, 0, sizeof(*m));
    m->by = by;
    m->family = family;
    memcpy(m->addr, addr, family == 4 ? 4 : 16);
    m->net = hit;
    geo_lookup(r, family, addr, &m->info);
    return true;
}

bool geo_check_answer(struct geo_reader *r, const struct geo_rules *rules, const uint8_t *msg,
                      size_t len, struct geo_match *m)
{
    uint8_t addrs[GEO_CHECK_MAX][16], lens[GEO_CHECK_MAX];

    if (!rules || !msg)
        return false;
    unsigned n = synth_answer_addresses(msg, len, addrs, lens, GEO_CHECK_MAX);
    for (unsigned i = 0; i < n; i++)
        if (geo_check_address(r, rules, lens[i] == 4 ? 4 : 6, addrs[i], m))
            return true;
    return false;
}

const char *geo_match_text(const struct geo_match *m, const char *policy, char *buf, size_t len)
{
    char net[INET6_ADDRSTRLEN + 8] = "?";

    if (!buf || !len)
        return buf;
    policy = policy ? policy : "?";
    switch (m->by) {
    case GEO_BY_ASN:
        if (m->info.org[0])
            snprintf(buf, len, "network AS%u (%.60s) blocked (policy %.32s)", m->info.asn,
                     m->info.org, policy);
        else
            snprintf(buf, len, "network AS%u blocked (policy %.32s)", m->info.asn, policy);
        break;
    case GEO_BY_COUNTRY:
        snprintf(buf, len, "country %s blocked (policy %.32s)", m->info.country, policy);
        break;
    case GEO_BY_NETWORK:
        if (m->net && inet_ntop(m->net->family, m->net->addr, net, sizeof(net)))
            snprintf(net + strlen(net), sizeof(net) - strlen(net), "/%u", m->net->prefix);
        snprintf(buf, len, "network %s blocked (policy %.32s)", net, policy);
        break;
    default:
        snprintf(buf, len, "blocked (policy %.32s)", policy);
    }
    return buf;
}

/* --- geo.asn-lists -------------------------------------------------------- */

struct geo_list {
    char name[GEO_LIST_NAME_MAX + 1];
    uint32_t *asns;
    size_t nasns;
};

struct geo_lists {
    struct geo_list list[GEO_LISTS_MAX];
    size_t n;
};

void geo_lists_free(struct geo_lists *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->list[i].asns);
    free(l);
}

struct lists_ctx {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
};

static int lists_error(struct lists_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int lists_error(struct lists_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int used = 0;
    if (c->err && c->errlen) {
        used = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->path, n ? n->start_mark.line + 1 : 0,
                        n ? n->start_mark.column + 1 : 0);
        if (used < 0 || (size_t)used >= c->errlen)
            return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(c->err + used, c->errlen - (size_t)used, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static yaml_node_t *lists_node(struct lists_ctx *c, int idx)
{
    return yaml_document_get_node(c->doc, idx);
}

static const char *node_str(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Looks up key in mapping m; NULL when absent. */
static yaml_node_t *map_get(struct lists_ctx *c, yaml_node_t *m, const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = node_str(lists_node(c, p->key));
        if (k && !strcmp(k, key))
            return lists_node(c, p->value);
    }
    return NULL;
}

/* Every key of mapping m must be one of keys (NULL-terminated). */
static int map_keys_check(struct lists_ctx *c, yaml_node_t *m, const char *const *keys,
                          const char *where)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = lists_node(c, p->key);
        const char *k = node_str(kn);
        bool ok = false;
        for (size_t i = 0; k && keys[i]; i++)
            ok = ok || !strcmp(k, keys[i]);
        if (!ok)
            return lists_error(c, kn, "%s: unknown key '%.40s'", where, k ? k : "?");
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool list_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GEO_LIST_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* "9009" or "AS9009": 1..4294967295 (0 and AS_TRANS 23456 excluded: they
 * never identify a network, RFC 6793 section 9). */
static int scan_asn(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if ((s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's'))
        s += 2;
    if (!*s || strlen(s) > 10)
        return -EINVAL;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v == 0 || v > UINT32_MAX || v == 23456)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int geo_parse_asn(const char *s, uint32_t *out)
{
    return scan_asn(s, out);
}

static const char *const list_keys[] = {"description", "entries", "sources", NULL};
static const char *const entry_keys[] = {"asn", "name", "source", "confidence", "note", NULL};

static int list_parse(struct lists_ctx *c, const char *name, yaml_node_t *v, struct geo_list *out)
{
    char where[96];
    int rc;

    snprintf(where, sizeof(where), "lists.%s", name);
    if (v->type != YAML_MAPPING_NODE)
        return lists_error(c, v, "%s: expected a mapping", where);
    if ((rc = map_keys_check(c, v, list_keys, where)))
        return rc;
    yaml_node_t *entries = map_get(c, v, "entries");
    if (!entries || entries->type != YAML_SEQUENCE_NODE)
        return lists_error(c, v, "%s: expected 'entries', a list", where);
    size_t n = (size_t)(entries->data.sequence.items.top - entries->data.sequence.items.start);
    if (n == 0 || n > GEO_LIST_MAX_ASNS)
        return lists_error(c, entries, "%s.entries: expected 1 to %d entries", where,
                           GEO_LIST_MAX_ASNS);
    if (!(out->asns = calloc(n, sizeof(*out->asns))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = lists_node(c, entries->data.sequence.items.start[i]);
        char ew[128];
        snprintf(ew, sizeof(ew), "%s.entries[%zu]", where, i);
        if (!e || e->type != YAML_MAPPING_NODE)
            return lists_error(c, e ? e : entries, "%s: expected a mapping with asn, name, source",
                               ew);
        if ((rc = map_keys_check(c, e, entry_keys, ew)))
            return rc;
        yaml_node_t *asn = map_get(c, e, "asn"), *src = map_get(c, e, "source");
        yaml_node_t *conf = map_get(c, e, "confidence");
        if (!node_str(asn) || scan_asn(node_str(asn), &out->asns[out->nasns]))
            return lists_error(c, asn ? asn : e, "%s.asn: expected an AS number", ew);
        /* Every entry says where it comes from: the list is only as good
         * as the evidence behind each line. */
        if (!node_str(src) || !*node_str(src))
            return lists_error(c, e, "%s: every entry needs a source", ew);
        if (conf && (!node_str(conf) ||
                     (strcmp(node_str(conf), "high") && strcmp(node_str(conf), "medium") &&
                      strcmp(node_str(conf), "low"))))
            return lists_error(c, conf, "%s.confidence: expected high, medium or low", ew);
        out->nasns++;
    }
    qsort(out->asns, out->nasns, sizeof(*out->asns), cmp_u32);
    size_t w = 0;
    for (size_t i = 0; i < out->nasns; i++)
        if (w == 0 || out->asns[w - 1] != out->asns[i])
            out->asns[w++] = out->asns[i];
    out->nasns = w;
    return 0;
}

static int lists_parse(struct lists_ctx *c, struct geo_lists *l)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return lists_error(c, root, "expected a mapping with 'version' and 'lists'");
    static const char *const root_keys[] = {"version", "lists", NULL};
    int rc = map_keys_check(c, root, root_keys, "(top level)");
    if (rc)
        return rc;
    yaml_node_t *ver = map_get(c, root, "version");
    if (!node_str(ver) || strcmp(node_str(ver), "1"))
        return lists_error(c, ver ? ver : root, "version: expected 1");
    yaml_node_t *lists = map_get(c, root, "lists");
    if (!lists || lists->type != YAML_MAPPING_NODE)
        return lists_error(c, lists ? lists : root, "lists: expected a mapping of NAME: list");
    for (yaml_node_pair_t *p = lists->data.mapping.pairs.start; p < lists->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = lists_node(c, p->key), *v = lists_node(c, p->value);
        const char *name = node_str(k);
        if (!name || !list_name_ok(name))
            return lists_error(c, k,
                               "lists: a name must be 1 to 32 characters from a-z, 0-9, _, -");
        if (!v)
            return lists_error(c, k, "lists.%s: no value", name);
        for (size_t i = 0; i < l->n; i++)
            if (!strcmp(l->list[i].name, name))
                return lists_error(c, k, "lists: duplicate list '%s'", name);
        if (l->n == GEO_LISTS_MAX)
            return lists_error(c, k, "lists: more than %d lists", GEO_LISTS_MAX);
        struct geo_list *gl = &l->list[l->n++];
        snprintf(gl->name, sizeof(gl->name), "%s", name);
        if ((rc = list_parse(c, name, v, gl)))
            return rc;
    }
    return 0;
}

int geo_lists_load(const char *path, struct geo_lists **out, char *err, size_t errlen)
{
    struct lists_ctx c = {.path = path, .err = err, .errlen = errlen};
    yaml_parser_t p;
    yaml_document_t doc;
    struct stat st;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fileno(f), &st) == 0 && st.st_size > GEO_LISTS_MAX_FILE) {
        fclose(f);
        snprintf(err, errlen, "%s: larger than %d bytes", path, GEO_LISTS_MAX_FILE);
        return -EFBIG;
    }
    struct geo_lists *l = calloc(1, sizeof(*l));
    if (!l || !yaml_parser_initialize(&p)) {
        free(l);
        fclose(f);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: YAML error: %s", path, p.problem_mark.line + 1,
                 p.problem_mark.column + 1, p.problem ? p.problem : "unreadable");
        yaml_parser_delete(&p);
        fclose(f);
        geo_lists_free(l);
        return -EINVAL;
    }
    c.doc = &doc;
    rc = lists_parse(&c, l);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
    if (rc) {
        geo_lists_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

const uint32_t *geo_lists_find(const struct geo_lists *l, const char *name, size_t *n)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->list[i].name, name)) {
            *n = l->list[i].nasns;
            return l->list[i].asns;
        }
    *n = 0;
    return NULL;
}

const char *geo_lists_names(const struct geo_lists *l, char *buf, size_t len)
{
    size_t used = 0;
    if (!len)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; l && i < l->n && used < len; i++) {
        int k = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l->list[i].name);
        used += k > 0 ? (size_t)k : 0;
    }
    return buf;
}
