/*
 * grants.c - the grants store (LMDB), the daemon's in-memory snapshot, and
 * the checks and parsers gatehousectl uses before it writes.
 *
 * What it does: keeps guest-access and dispensation grants with their
 * audit fields, bumps a generation counter on every change so the daemon
 * can poll cheaply, answers "is this client granted" and "what is
 * dispensed for this client" from memory without allocating.  What it
 * does not: decide answers (policy.c), read DHCP leases (leases.c), print
 * (tools/ctl_grants.c).
 *
 * Key space: one LMDB environment in a directory (grants.path), named
 * databases; integers in keys are big-endian so keys sort by number.
 *
 *   grants  ID(u64)                -> struct grant_disk (format 1, fixed size)
 *   audit   TIME(u64 us) SEQ(u32)  -> WHO \0 ACTION \0 DETAIL \0
 *   meta    "version"              -> u32 GRANTS_STORE_VERSION (checked at open)
 *           "generation"           -> u64, bumped by every write transaction
 *           "next_id"              -> u64, the id the next grant gets
 *
 * A grant record is never rewritten except to record its revocation, and
 * never deleted except by grants_purge once it ended more than the
 * retention ago.  Records are fixed-size so the format is checked by size
 * and a truncated or foreign record is refused, not misread.
 */
#include "grants.h"
#include "store.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GRANTS_STORE_VERSION 1u
#define GRANTS_RECORD_FORMAT 1u
#define GRANTS_AUDIT_MAX 2048   /* bytes in one audit value */
#define GRANTS_PURGE_BATCH 1024 /* deletions per write transaction */
#define GRANTS_MAX_DURATION (400u * 86400u)
#define GRANTS_MAX_GROUPS 1024 /* supplementary groups looked at */

/* The stored record: byte arrays only, so no padding and no byte order. */
struct grant_disk {
    uint8_t format; /* GRANTS_RECORD_FORMAT */
    uint8_t kind;
    uint8_t scope;
    uint8_t family;
    uint8_t flags; /* GRANTS_D_* */
    uint8_t name_len;
    uint8_t reserved[2];
    uint8_t id[8];
    uint8_t created[8];
    uint8_t from[8];
    uint8_t until[8];
    uint8_t revoked[8];
    uint8_t addr[16];
    uint8_t mac[6];
    uint8_t reserved2[2];
    uint8_t name_wire[256];
    char segment[GRANTS_SEGMENT_SIZE];
    char category[GRANTS_CATEGORY_SIZE];
    char name[GRANTS_NAME_SIZE];
    char by[GRANTS_BY_SIZE];
    char user[GRANTS_USER_SIZE];
    char reason[GRANTS_REASON_SIZE];
    char revoked_by[GRANTS_BY_SIZE];
    char revoked_user[GRANTS_USER_SIZE];
    char revoke_reason[GRANTS_REASON_SIZE];
};
static_assert(sizeof(struct grant_disk) == 1944, "grant record format 1 is 1944 bytes");
#define GRANTS_D_MAC 0x01

struct grants_store {
    MDB_env *env;
    MDB_dbi grants, audit, meta;
    bool rdonly;
    uint32_t audit_seq;
};

struct grant_set {
    time_t taken;
    struct grant *guests; /* sorted by id */
    size_t nguests;
    struct grant *exemptions; /* sorted by id */
    size_t nexemptions;
};

/* --- helpers ----------------------------------------------------------- */

int grants_errno(int rc)
{
    return store_errno(rc);
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Copy a NUL-terminated field that must fit; false if it does not. */
static bool text_fits(char *dst, const char *src, size_t size)
{
    size_t n = strnlen(src, size);
    if (n >= size)
        return false;
    memcpy(dst, src, n);
    memset(dst + n, 0, size - n);
    return true;
}

/* A stored text field must hold its NUL; copy it out. */
static bool text_load(char *dst, const char *src, size_t size)
{
    if (!memchr(src, '\0', size))
        return false;
    memcpy(dst, src, size);
    return true;
}

static void to_disk(const struct grant *g, struct grant_disk *d)
{
    memset(d, 0, sizeof(*d));
    d->format = GRANTS_RECORD_FORMAT;
    d->kind = g->kind;
    d->scope = g->scope;
    d->family = g->family;
    d->flags = g->has_mac ? GRANTS_D_MAC : 0;
    d->name_len = g->name_len;
    put_be64(d->id, g->id);
    put_be64(d->created, (uint64_t)g->created);
    put_be64(d->from, (uint64_t)g->from);
    put_be64(d->until, (uint64_t)g->until);
    put_be64(d->revoked, (uint64_t)g->revoked);
    memcpy(d->addr, g->addr, 16);
    memcpy(d->mac, g->mac, 6);
    memcpy(d->name_wire, g->name_wire, g->name_len);
    /* Sizes are equal on both sides (same constants), and every field of a
     * struct grant is NUL-terminated by construction. */
    text_fits(d->segment, g->segment, sizeof(d->segment));
    text_fits(d->category, g->category, sizeof(d->category));
    text_fits(d->name, g->name, sizeof(d->name));
    text_fits(d->by, g->by, sizeof(d->by));
    text_fits(d->user, g->user, sizeof(d->user));
    text_fits(d->reason, g->reason, sizeof(d->reason));
    text_fits(d->revoked_by, g->revoked_by, sizeof(d->revoked_by));
    text_fits(d->revoked_user, g->revoked_user, sizeof(d->revoked_user));
    text_fits(d->revoke_reason, g->revoke_reason, sizeof(d->revoke_reason));
}

static int from_disk(const MDB_val *v, struct grant *g)
{
    struct grant_disk d;
    if (v->mv_size != sizeof(d))
        return -EIO;
    memcpy(&d, v->mv_data, sizeof(d));
    if (d.format != GRANTS_RECORD_FORMAT)
        return -EPROTO;
    memset(g, 0, sizeof(*g));
    g->kind = d.kind;
    g->scope = d.scope;
    g->family = d.family;
    g->has_mac = d.flags & GRANTS_D_MAC;
    g->name_len = d.name_len;
    g->id = get_be64(d.id);
    g->created = (time_t)get_be64(d.created);
    g->from = (time_t)get_be64(d.from);
    g->until = (time_t)get_be64(d.until);
    g->revoked = (time_t)get_be64(d.revoked);
    memcpy(g->addr, d.addr, 16);
    memcpy(g->mac, d.mac, 6);
    memcpy(g->name_wire, d.name_wire, sizeof(g->name_wire));
    if (!text_load(g->segment, d.segment, sizeof(d.segment)) ||
        !text_load(g->category, d.category, sizeof(d.category)) ||
        !text_load(g->name, d.name, sizeof(d.name)) || !text_load(g->by, d.by, sizeof(d.by)) ||
        !text_load(g->user, d.user, sizeof(d.user)) ||
        !text_load(g->reason, d.reason, sizeof(d.reason)) ||
        !text_load(g->revoked_by, d.revoked_by, sizeof(d.revoked_by)) ||
        !text_load(g->revoked_user, d.revoked_user, sizeof(d.revoked_user)) ||
        !text_load(g->revoke_reason, d.revoke_reason, sizeof(d.revoke_reason)))
        return -EIO;
    if ((g->kind != GRANT_GUEST && g->kind != GRANT_EXEMPTION) ||
        (g->scope != GRANT_SCOPE_CLIENT && g->scope != GRANT_SCOPE_SEGMENT))
        return -EIO;
    return 0;
}

bool grant_in_force(const struct grant *g, time_t now)
{
    return g->revoked == 0 && g->from <= now && now < g->until;
}

bool grant_ended(const struct grant *g, time_t now, time_t *at)
{
    time_t end = g->revoked && g->revoked < g->until ? g->revoked : g->until;
    if (g->revoked == 0 && now < g->until)
        return false;
    if (at)
        *at = end;
    return true;
}

/* --- open / close ------------------------------------------------------ */

/* Every write transaction ends here: the daemon polls this counter. */
static int bump_generation(struct grants_store *s, MDB_txn *txn)
{
    uint64_t g = 0;
    int rc = store_meta_get_u64(txn, s->meta, "generation", &g);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    return store_meta_put_u64(txn, s->meta, "generation", g + 1);
}

static int check_version(struct grants_store *s, MDB_txn *txn)
{
    uint64_t v;
    int rc = store_meta_get_u64(txn, s->meta, "version", &v);
    if (rc == 0)
        return v == GRANTS_STORE_VERSION ? 0 : -EPROTO;
    if (rc != -ENOENT)
        return rc;
    MDB_stat st;
    if (mdb_stat(txn, s->grants, &st) == 0 && st.ms_entries > 0)
        return -EPROTO; /* grants without a version: not ours */
    if (s->rdonly)
        return -ENOENT;
    uint8_t b[4];
    put_be32(b, GRANTS_STORE_VERSION);
    MDB_val k = {7, "version"}, d = {4, b};
    if ((rc = grants_errno(mdb_put(txn, s->meta, &k, &d, 0))) < 0)
        return rc;
    return bump_generation(s, txn);
}

/* The files get the group's write bit whatever the umask: the daemon and
 * the admin group share them (LMDB creates them with mode & ~umask). */
static void fix_modes(const char *path)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char p[PATH_MAX];
    struct stat st;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (snprintf(p, sizeof(p), "%s/%s", path, files[i]) >= (int)sizeof(p))
            continue;
        if (stat(p, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) != GRANTS_FILE_MODE)
            chmod(p, GRANTS_FILE_MODE);
    }
}

int grants_open(const char *path, unsigned flags, struct grants_store **out)
{
    struct grants_store *s;
    MDB_txn *txn = NULL;
    int rc;

    *out = NULL;
    if (!path || !*path)
        return -EINVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    s->rdonly = flags & GRANTS_OPEN_RDONLY;
    s->audit_seq = (uint32_t)getpid() << 12;
    if (!s->rdonly) {
        if (mkdir(path, GRANTS_DIR_MODE) == 0)
            chmod(path, GRANTS_DIR_MODE); /* the group writes too, whatever the umask */
        else if (errno != EEXIST) {
            rc = -errno;
            goto fail;
        }
    }
    if ((rc = grants_errno(mdb_env_create(&s->env))) < 0)
        goto fail;
    mdb_env_set_maxdbs(s->env, 4);
    if ((rc = grants_errno(mdb_env_set_mapsize(s->env, GRANTS_MAP_SIZE))) < 0)
        goto fail;
    /* MDB_NOTLS: the daemon may poll from one thread and snapshot from
     * another; read transactions are not tied to a thread. */
    rc = mdb_env_open(s->env, path, (s->rdonly ? MDB_RDONLY : 0) | MDB_NOTLS, GRANTS_FILE_MODE);
    if (rc != 0) {
        rc = grants_errno(rc);
        goto fail;
    }
    if (!s->rdonly)
        fix_modes(path);
    if ((rc = grants_errno(mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn))) < 0)
        goto fail;
    unsigned fl = s->rdonly ? 0 : MDB_CREATE;
    if ((rc = grants_errno(mdb_dbi_open(txn, "grants", fl, &s->grants))) < 0 ||
        (rc = grants_errno(mdb_dbi_open(txn, "audit", fl, &s->audit))) < 0 ||
        (rc = grants_errno(mdb_dbi_open(txn, "meta", fl, &s->meta))) < 0 ||
        (rc = check_version(s, txn)) < 0)
        goto fail;
    rc = grants_errno(mdb_txn_commit(txn));
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
    free(s);
    return rc;
}

void grants_close(struct grants_store *s)
{
    if (!s)
        return;
    mdb_env_close(s->env);
    free(s);
}

uint64_t grants_generation(struct grants_store *s)
{
    MDB_txn *txn;
    uint64_t g = 0;
    if (!s || mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (store_meta_get_u64(txn, s->meta, "generation", &g) < 0)
        g = 0;
    mdb_txn_abort(txn);
    return g;
}

/* --- audit ------------------------------------------------------------- */

static int audit_put(struct grants_store *s, MDB_txn *txn, const char *who, const char *action,
                     const char *detail)
{
    char v[GRANTS_AUDIT_MAX];
    size_t a = strlen(who), b = strlen(action), c = strlen(detail);
    if (a + b + 3 > sizeof(v))
        return -EINVAL;
    if (c > sizeof(v) - a - b - 3) /* a long detail is cut, never the who */
        c = sizeof(v) - a - b - 3;
    memcpy(v, who, a + 1);
    memcpy(v + a + 1, action, b + 1);
    memcpy(v + a + 1 + b + 1, detail, c);
    v[a + b + c + 2] = '\0';
    uint8_t key[12];
    put_be64(key, wall_us());
    put_be32(key + 8, s->audit_seq++);
    MDB_val k = {sizeof(key), key}, d = {a + b + c + 3, v};
    return grants_errno(mdb_put(txn, s->audit, &k, &d, MDB_NOOVERWRITE));
}

long grants_audit_list(struct grants_store *s, grants_audit_cb cb, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, d;
    long n = 0;
    int rc = grants_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
    if (rc < 0)
        return rc;
    if ((rc = grants_errno(mdb_cursor_open(txn, s->audit, &cur))) < 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &d, op) == 0; op = MDB_NEXT) {
        const char *p = d.mv_data;
        /* three NUL-terminated strings; check before reading */
        if (k.mv_size != 12 || d.mv_size < 3 || p[d.mv_size - 1] != '\0')
            continue;
        const char *who = p, *action = memchr(p, '\0', d.mv_size);
        if (!action || (size_t)(++action - p) >= d.mv_size)
            continue;
        const char *detail = memchr(action, '\0', d.mv_size - (size_t)(action - p));
        if (!detail || (size_t)(++detail - p) >= d.mv_size)
            continue;
        n++;
        if (cb(get_be64(k.mv_data), who, action, detail, arg))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return n;
}

/* --- writing ------------------------------------------------------------ */

void grants_addr_text(const uint8_t addr[16], uint8_t family, char *buf, size_t len)
{
    char t[INET6_ADDRSTRLEN] = "?";
    if (family == 4)
        inet_ntop(AF_INET, addr + 12, t, sizeof(t));
    else
        inet_ntop(AF_INET6, addr, t, sizeof(t));
    snprintf(buf, len, "%s", t);
}

/* "guest 10.30.0.57 in visitor ..." for the audit. */
static void describe(const struct grant *g, char *buf, size_t len)
{
    char who[INET6_ADDRSTRLEN + 64], what[GRANTS_NAME_SIZE + 32];
    if (g->scope == GRANT_SCOPE_CLIENT)
        grants_addr_text(g->addr, g->family, who, sizeof(who));
    else
        snprintf(who, sizeof(who), "segment");
    if (g->has_mac) {
        size_t n = strlen(who);
        snprintf(who + n, sizeof(who) - n, " (mac %02x:%02x:%02x:%02x:%02x:%02x)", g->mac[0],
                 g->mac[1], g->mac[2], g->mac[3], g->mac[4], g->mac[5]);
    }
    if (g->kind == GRANT_GUEST)
        snprintf(what, sizeof(what), "guest access");
    else if (g->category[0])
        snprintf(what, sizeof(what), "exemption for category %s", g->category);
    else
        snprintf(what, sizeof(what), "exemption for %s", g->name);
    char from[32] = "?", until[32] = "?";
    struct tm tm;
    if (gmtime_r(&g->from, &tm))
        strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (gmtime_r(&g->until, &tm))
        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, len, "id %llu: %s for %s in %s from %s until %s; reason: %s",
             (unsigned long long)g->id, what, who, g->segment, from, until, g->reason);
}

static void who_text(const char *by, const char *user, char *buf, size_t len)
{
    snprintf(buf, len, "%s (as %s)", by, user && *user ? user : "?");
}

static bool valid_basic(const struct grant *g)
{
    if (g->kind != GRANT_GUEST && g->kind != GRANT_EXEMPTION)
        return false;
    if (g->scope != GRANT_SCOPE_CLIENT && g->scope != GRANT_SCOPE_SEGMENT)
        return false;
    if (g->scope == GRANT_SCOPE_CLIENT && g->family != 4 && g->family != 6)
        return false;
    if (g->kind == GRANT_EXEMPTION && !g->category[0] && !g->name_len)
        return false;
    if (!memchr(g->segment, 0, sizeof(g->segment)) || !g->segment[0] ||
        !memchr(g->by, 0, sizeof(g->by)) || !g->by[0] || !memchr(g->reason, 0, sizeof(g->reason)) ||
        !g->reason[0] || !memchr(g->user, 0, sizeof(g->user)) ||
        !memchr(g->category, 0, sizeof(g->category)) || !memchr(g->name, 0, sizeof(g->name)))
        return false;
    return g->from > 0 && g->until > g->from;
}

int grants_add(struct grants_store *s, struct grant *g, time_t now)
{
    MDB_txn *txn;
    struct grant_disk d;
    char who[GRANTS_BY_SIZE + GRANTS_USER_SIZE + 8], detail[GRANTS_AUDIT_MAX - 300];
    uint64_t id = 1;
    int rc;
    if (s->rdonly)
        return -EROFS;
    if (!valid_basic(g))
        return -EINVAL;
    if ((rc = grants_errno(mdb_txn_begin(s->env, NULL, 0, &txn))) < 0)
        return rc;
    rc = store_meta_get_u64(txn, s->meta, "next_id", &id);
    if (rc == -ENOENT)
        rc = 0;
    if (rc < 0)
        goto out;
    g->id = id;
    g->created = now;
    g->revoked = 0;
    g->revoked_by[0] = g->revoked_user[0] = g->revoke_reason[0] = '\0';
    to_disk(g, &d);
    uint8_t key[8];
    put_be64(key, id);
    MDB_val k = {8, key}, v = {sizeof(d), &d};
    who_text(g->by, g->user, who, sizeof(who));
    describe(g, detail, sizeof(detail));
    if ((rc = grants_errno(mdb_put(txn, s->grants, &k, &v, MDB_NOOVERWRITE))) < 0 ||
        (rc = store_meta_put_u64(txn, s->meta, "next_id", id + 1)) < 0 ||
        (rc = audit_put(s, txn, who, "grant", detail)) < 0 || (rc = bump_generation(s, txn)) < 0)
        goto out;
    rc = grants_errno(mdb_txn_commit(txn));
    txn = NULL;
out:
    if (txn)
        mdb_txn_abort(txn);
    if (rc < 0)
        g->id = 0;
    return rc;
}

int grants_revoke(struct grants_store *s, uint64_t id, time_t now, const char *by, const char *user,
                  const char *reason)
{
    MDB_txn *txn;
    struct grant g;
    struct grant_disk d;
    char who[GRANTS_BY_SIZE + GRANTS_USER_SIZE + 8], detail[GRANTS_AUDIT_MAX - 300];
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    int rc;
    if (s->rdonly)
        return -EROFS;
    if (!by || !*by || strlen(by) >= GRANTS_BY_SIZE || (user && strlen(user) >= GRANTS_USER_SIZE) ||
        (reason && strlen(reason) >= GRANTS_REASON_SIZE))
        return -EINVAL;
    put_be64(key, id);
    if ((rc = grants_errno(mdb_txn_begin(s->env, NULL, 0, &txn))) < 0)
        return rc;
    if ((rc = grants_errno(mdb_get(txn, s->grants, &k, &v))) < 0 || (rc = from_disk(&v, &g)) < 0)
        goto out;
    if (grant_ended(&g, now, NULL)) {
        rc = -EALREADY;
        goto out;
    }
    g.revoked = now;
    snprintf(g.revoked_by, sizeof(g.revoked_by), "%s", by);
    snprintf(g.revoked_user, sizeof(g.revoked_user), "%s", user ? user : "");
    snprintf(g.revoke_reason, sizeof(g.revoke_reason), "%s", reason ? reason : "");
    to_disk(&g, &d);
    v.mv_size = sizeof(d);
    v.mv_data = &d;
    who_text(by, user, who, sizeof(who));
    snprintf(detail, sizeof(detail), "id %llu revoked; reason: %s", (unsigned long long)id,
             reason && *reason ? reason : "(none given)");
    if ((rc = grants_errno(mdb_put(txn, s->grants, &k, &v, 0))) < 0 ||
        (rc = audit_put(s, txn, who, "revoke", detail)) < 0 || (rc = bump_generation(s, txn)) < 0)
        goto out;
    rc = grants_errno(mdb_txn_commit(txn));
    txn = NULL;
out:
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

int grants_get(struct grants_store *s, uint64_t id, struct grant *out)
{
    MDB_txn *txn;
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    put_be64(key, id);
    int rc = grants_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
    if (rc < 0)
        return rc;
    rc = grants_errno(mdb_get(txn, s->grants, &k, &v));
    if (rc == 0)
        rc = from_disk(&v, out);
    mdb_txn_abort(txn);
    return rc;
}

long grants_list(struct grants_store *s, grants_cb cb, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    struct grant g;
    long n = 0;
    int rc = grants_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
    if (rc < 0)
        return rc;
    if ((rc = grants_errno(mdb_cursor_open(txn, s->grants, &cur))) < 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
        if (from_disk(&v, &g) < 0)
            continue; /* a damaged record is skipped, not misread */
        n++;
        if (cb(&g, arg))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return n;
}

long grants_purge(struct grants_store *s, time_t now, uint32_t retention_s, const char *who)
{
    time_t cutoff = now - (time_t)retention_s;
    long deleted = 0;
    int rc;
    if (s->rdonly)
        return -EROFS;
    /* Short transactions of at most GRANTS_PURGE_BATCH deletions each, so
     * the daemon's readers never wait long and the map never balloons. */
    for (bool more = true; more;) {
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        struct grant g;
        long batch = 0;
        more = false;
        if ((rc = grants_errno(mdb_txn_begin(s->env, NULL, 0, &txn))) < 0)
            return rc;
        if ((rc = grants_errno(mdb_cursor_open(txn, s->grants, &cur))) < 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
            time_t ended;
            if (from_disk(&v, &g) < 0 || !grant_ended(&g, now, &ended) || ended >= cutoff)
                continue;
            if ((rc = grants_errno(mdb_cursor_del(cur, 0))) < 0)
                break;
            if (++batch >= GRANTS_PURGE_BATCH) {
                more = true;
                break;
            }
        }
        mdb_cursor_close(cur);
        /* audit entries older than the retention go too (not the one below) */
        if (rc == 0 && !more && (rc = grants_errno(mdb_cursor_open(txn, s->audit, &cur))) == 0) {
            for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
                if (k.mv_size != 12 || (time_t)(get_be64(k.mv_data) / 1000000) >= cutoff)
                    break;
                if ((rc = grants_errno(mdb_cursor_del(cur, 0))) < 0)
                    break;
            }
            mdb_cursor_close(cur);
        }
        if (rc == 0 && !more) {
            char detail[128];
            snprintf(detail, sizeof(detail), "%ld grants ended before %lld deleted",
                     deleted + batch, (long long)cutoff);
            rc = audit_put(s, txn, who && *who ? who : "?", "purge", detail);
        }
        if (rc == 0)
            rc = bump_generation(s, txn);
        if (rc < 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        if ((rc = grants_errno(mdb_txn_commit(txn))) < 0)
            return rc;
        deleted += batch;
    }
    return deleted;
}

/* --- the snapshot ------------------------------------------------------- */

static int grow(struct grant **arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    struct grant *a = realloc(*arr, c * sizeof(**arr));
    if (!a)
        return -ENOMEM;
    *arr = a;
    *cap = c;
    return 0;
}

int grants_snapshot(struct grants_store *s, time_t now, struct grant_set **out)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    struct grant g;
    size_t capg = 0, cape = 0;
    int rc;
    *out = NULL;
    struct grant_set *set = calloc(1, sizeof(*set));
    if (!set)
        return -ENOMEM;
    set->taken = now;
    if ((rc = grants_errno(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) < 0) {
        free(set);
        return rc;
    }
    if ((rc = grants_errno(mdb_cursor_open(txn, s->grants, &cur))) < 0) {
        mdb_txn_abort(txn);
        free(set);
        return rc;
    }
    /* Keys are ids, so both arrays come out sorted by id. */
    for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
        if (from_disk(&v, &g) < 0 || g.revoked || g.until <= now ||
            g.from >= now + GRANTS_LOOKAHEAD)
            continue;
        if (set->nguests + set->nexemptions >= GRANTS_SNAPSHOT_MAX) {
            rc = -E2BIG;
            break;
        }
        if (g.kind == GRANT_GUEST) {
            if ((rc = grow(&set->guests, set->nguests, &capg)) < 0)
                break;
            set->guests[set->nguests++] = g;
        } else {
            if ((rc = grow(&set->exemptions, set->nexemptions, &cape)) < 0)
                break;
            set->exemptions[set->nexemptions++] = g;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc < 0) {
        grant_set_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

void grant_set_free(struct grant_set *set)
{
    if (!set)
        return;
    free(set->guests);
    free(set->exemptions);
    free(set);
}

time_t grant_set_valid_until(const struct grant_set *set)
{
    return set ? set->taken + GRANTS_LOOKAHEAD : 0;
}

size_t grant_set_live(const struct grant_set *set, time_t now)
{
    size_t n = 0;
    if (!set)
        return 0;
    for (size_t i = 0; i < set->nguests; i++)
        n += grant_in_force(&set->guests[i], now);
    for (size_t i = 0; i < set->nexemptions; i++)
        n += grant_in_force(&set->exemptions[i], now);
    return n;
}

bool grant_set_has_exemptions(const struct grant_set *set)
{
    return set && set->nexemptions > 0;
}

/* The 16-byte form of a socket address; false for other families. */
static bool sa_addr16(const struct sockaddr *sa, uint8_t a[16])
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool applies(const struct grant *g, bool have_addr, const uint8_t a[16], const char *segment,
                    time_t now)
{
    if (!grant_in_force(g, now) || strcmp(g->segment, segment) != 0)
        return false;
    return g->scope == GRANT_SCOPE_SEGMENT || (have_addr && !memcmp(g->addr, a, 16));
}

const struct grant *grant_set_guest(const struct grant_set *set, const struct sockaddr *client,
                                    const char *segment, time_t now)
{
    uint8_t a[16];
    if (!set || !segment)
        return NULL;
    bool have = sa_addr16(client, a);
    for (size_t i = 0; i < set->nguests; i++)
        if (applies(&set->guests[i], have, a, segment, now))
            return &set->guests[i];
    return NULL;
}

/* qname at or below name (both wire, lower case). */
static bool wire_under(const uint8_t *q, size_t ql, const uint8_t *n, size_t nl)
{
    size_t o = 0;
    if (ql < nl)
        return false;
    while (o < ql) {
        if (ql - o == nl)
            return memcmp(q + o, n, nl) == 0;
        if (q[o] == 0 || q[o] > 63)
            return false;
        o += 1 + (size_t)q[o];
    }
    return false;
}

bool grant_set_dispensation(const struct grant_set *set, const struct sockaddr *client,
                            const char *segment, time_t now, const uint8_t *qname, size_t qname_len,
                            uint64_t qcats, policy_category_fn category_bit, void *arg,
                            struct policy_dispensation *out)
{
    uint8_t a[16];
    uint64_t first = 0, by_cat = 0, by_name = 0;
    memset(out, 0, sizeof(*out));
    if (!set || !segment || set->nexemptions == 0)
        return false;
    bool have = sa_addr16(client, a);
    for (size_t i = 0; i < set->nexemptions; i++) {
        const struct grant *g = &set->exemptions[i];
        if (!applies(g, have, a, segment, now))
            continue;
        if (!first)
            first = g->id;
        if (g->category[0] && category_bit) {
            int bit = category_bit(arg, g->category);
            if (bit >= 0 && bit < POLICY_MAX_CATEGORIES) {
                out->categories |= 1ULL << bit;
                if (!by_cat && (qcats & (1ULL << bit)))
                    by_cat = g->id;
            }
        }
        if (g->name_len) {
            bool covers = qname && wire_under(qname, qname_len, g->name_wire, g->name_len);
            if (!out->name || (covers && !by_name)) {
                out->name = g->name_wire;
                out->name_len = g->name_len;
            }
            if (covers && !by_name)
                by_name = g->id;
        }
    }
    if (!first)
        return false;
    out->grant_id = by_name ? by_name : by_cat ? by_cat : first;
    return true;
}

bool grants_unauthorised_allowed(const struct config *cfg, const uint8_t *qname, size_t qname_len)
{
    for (size_t i = 0; cfg && qname && i < cfg->ngrants_unauthorised_allow; i++) {
        const struct config_name *n = &cfg->grants_unauthorised_allow[i];
        if (n->subtree ? wire_under(qname, qname_len, n->wire, n->len)
                       : (qname_len == n->len && !memcmp(qname, n->wire, n->len)))
            return true;
    }
    return false;
}

/* --- checks ------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static void fmt_dur(char *buf, size_t len, uint64_t v)
{
    if (v % 604800 == 0)
        snprintf(buf, len, "%lluw", (unsigned long long)(v / 604800));
    else if (v % 86400 == 0)
        snprintf(buf, len, "%llud", (unsigned long long)(v / 86400));
    else if (v % 3600 == 0)
        snprintf(buf, len, "%lluh", (unsigned long long)(v / 3600));
    else if (v % 60 == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(v / 60));
    else
        snprintf(buf, len, "%llus", (unsigned long long)v);
}

static bool printable_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static const struct config_segment *find_segment(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsegments; i++)
        if (!strcmp(cfg->segments[i].name, name))
            return &cfg->segments[i];
    return NULL;
}

static bool seg_contains(const struct config_segment *seg, const struct sockaddr *sa)
{
    for (size_t i = 0; i < seg->nnetworks; i++)
        if (config_net_contains(&seg->networks[i], sa))
            return true;
    return false;
}

static void addr_sockaddr(const uint8_t a[16], uint8_t family, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == 4) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        memcpy(&v4->sin_addr, a + 12, 4);
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        memcpy(&v6->sin6_addr, a, 16);
    }
}

/* Category names as the config allows them, declared or built in. */
static bool category_known(const struct config *cfg, const char *name)
{
    static const char *const builtin[] = {"doh", "vpn_proxy"};
    for (size_t i = 0; i < cfg->ncategories; i++)
        if (!strcmp(cfg->categories[i].name, name))
            return true;
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
        if (!strcmp(builtin[i], name))
            return true;
    return false;
}

/* "example.org" or "*.example.org" (the same: a dispensed name opens the
 * names below it) into lower-case wire form.  RFC 1035 section 3.1 limits;
 * letters, digits, '-' and '_' only. */
static int name_wire(const char *s, uint8_t *wire, uint8_t *wlen)
{
    size_t w = 0;
    if (!strncmp(s, "*.", 2))
        s += 2;
    size_t n = strlen(s);
    if (n && s[n - 1] == '.')
        n--;
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n;) {
        size_t l = 0;
        while (i + l < n && s[i + l] != '.')
            l++;
        if (l == 0 || l > 63 || w + 1 + l + 1 > 255)
            return -EINVAL;
        wire[w++] = (uint8_t)l;
        for (size_t j = 0; j < l; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (!isalnum(c) && c != '-' && c != '_')
                return -EINVAL;
            wire[w++] = (uint8_t)tolower(c);
        }
        i += l + 1;
    }
    /* a name with one label ("org") would open a whole top-level domain */
    if (wire[0] + 1u == w)
        return -EINVAL;
    wire[w++] = 0;
    *wlen = (uint8_t)w;
    return 0;
}

int grants_check(const struct config *cfg, struct grant *g, time_t now, char *err, size_t errlen)
{
    char a[32], b[32], addr[INET6_ADDRSTRLEN];
    const struct config_segment *seg = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (g->kind != GRANT_GUEST && g->kind != GRANT_EXEMPTION)
        return fail(err, errlen, "unknown kind of grant");
    if (g->scope != GRANT_SCOPE_CLIENT && g->scope != GRANT_SCOPE_SEGMENT)
        return fail(err, errlen, "give --client, --mac or --segment");
    if (!memchr(g->segment, 0, sizeof(g->segment)) || !memchr(g->by, 0, sizeof(g->by)) ||
        !memchr(g->reason, 0, sizeof(g->reason)) || !memchr(g->user, 0, sizeof(g->user)) ||
        !memchr(g->category, 0, sizeof(g->category)) || !memchr(g->name, 0, sizeof(g->name)))
        return fail(err, errlen, "a field is too long");
    if (!g->by[0] || !printable_text(g->by))
        return fail(err, errlen, "--by is required: the name of who authorised this");
    if (!g->reason[0] || !printable_text(g->reason))
        return fail(err, errlen, "--reason is required: why this is granted");
    if (cfg->nsegments == 0)
        return fail(err, errlen, "no segments are configured: there is nothing to grant in");

    /* where */
    if (g->segment[0]) {
        if (!(seg = find_segment(cfg, g->segment)))
            return fail(err, errlen, "unknown segment '%s'", g->segment);
    }
    if (g->scope == GRANT_SCOPE_CLIENT) {
        struct sockaddr_storage ss;
        if (g->family != 4 && g->family != 6)
            return fail(err, errlen, "expected an IPv4 or IPv6 client address");
        addr_sockaddr(g->addr, g->family, &ss);
        grants_addr_text(g->addr, g->family, addr, sizeof(addr));
        if (seg && seg->nnetworks && !seg_contains(seg, (struct sockaddr *)&ss))
            return fail(err, errlen, "%s is outside the networks of segment '%s'", addr, seg->name);
        if (!seg) {
            for (size_t i = 0; i < cfg->nsegments && !seg; i++)
                if (seg_contains(&cfg->segments[i], (struct sockaddr *)&ss))
                    seg = &cfg->segments[i];
            if (!seg)
                return fail(err, errlen,
                            "%s is outside every segment's networks; name the segment with "
                            "--segment",
                            addr);
        }
    } else if (!seg) {
        return fail(err, errlen, "--segment is required");
    }
    if (g->kind == GRANT_GUEST && !seg->grant_required)
        return fail(err, errlen,
                    "segment '%s' does not require a grant (guest-access: grant-required): its "
                    "clients are already served",
                    seg->name);
    snprintf(g->segment, sizeof(g->segment), "%s", seg->name);

    /* what */
    if (g->kind == GRANT_EXEMPTION) {
        if (!!g->category[0] == !!g->name[0])
            return fail(err, errlen, "give one of --allow-category or --allow-name");
        if (g->category[0]) {
            if (!strcmp(g->category, POLICY_STATUTORY))
                return fail(err, errlen,
                            "the statutory category (IWF, police terrorist content lists) is "
                            "always blocked and cannot be exempted");
            if (!category_known(cfg, g->category))
                return fail(err, errlen,
                            "unknown category '%s'; declared categories are in "
                            "blocklists.categories (built in: doh, vpn_proxy)",
                            g->category);
            g->name_len = 0;
        } else if (name_wire(g->name, g->name_wire, &g->name_len) < 0) {
            return fail(err, errlen, "'%s' is not a domain name (at least two labels)", g->name);
        }
    } else {
        g->category[0] = g->name[0] = '\0';
        g->name_len = 0;
    }

    /* when */
    uint32_t max = g->kind == GRANT_GUEST ? cfg->grants_max_guest : cfg->grants_max_exemption;
    if (g->until <= g->from)
        return fail(err, errlen, "a grant needs a duration (--for); none is open-ended");
    if (g->from < now - GRANTS_PAST_SLACK || g->until <= now)
        return fail(err, errlen, "the window is in the past");
    if (g->from > now + GRANTS_MAX_FUTURE)
        return fail(err, errlen, "--from is more than a year ahead");
    if ((uint64_t)(g->until - g->from) > max) {
        fmt_dur(a, sizeof(a), (uint64_t)(g->until - g->from));
        fmt_dur(b, sizeof(b), max);
        return fail(err, errlen, "%s is longer than %s allows (%s)", a,
                    g->kind == GRANT_GUEST ? "grants.max-guest" : "grants.max-exemption", b);
    }
    return 0;
}

/* --- parsers ----------------------------------------------------------- */

int grants_parse_duration(const char *s, uint32_t *out)
{
    static const struct {
        char unit;
        uint32_t mul;
    } units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    uint64_t total = 0;
    int last = -1; /* units must come largest first, each once: "1h30m" */
    if (!s || !*s)
        return -EINVAL;
    while (*s) {
        uint64_t v = 0;
        int digits = 0;
        for (; isdigit((unsigned char)*s); s++) {
            if (++digits > 6)
                return -EINVAL;
            v = v * 10 + (uint64_t)(*s - '0');
        }
        if (!digits)
            return -EINVAL;
        int u = 0;
        while (u < 5 && units[u].unit != *s)
            u++;
        if (u == 5 || u <= last)
            return -EINVAL;
        last = u;
        s++;
        total += v * units[u].mul;
        if (total > GRANTS_MAX_DURATION)
            return -EINVAL;
    }
    if (total == 0)
        return -EINVAL;
    *out = (uint32_t)total;
    return 0;
}

int grants_parse_time(const char *s, time_t now, time_t *out)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    char sep;
    if (!s)
        return -EINVAL;
    if (!strcmp(s, "now"))
        return *out = now, 0;
    size_t len = strnlen(s, 32);
    if (len >= 32)
        return -EINVAL;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -EINVAL;
    if (s[n]) {
        int m = 0;
        sep = s[n];
        if (sep != ' ' && sep != 'T')
            return -EINVAL;
        const char *t = s + n + 1;
        if (sscanf(t, "%2d:%2d%n", &h, &mi, &m) != 2 || m != 5)
            return -EINVAL;
        if (t[m]) {
            int m2 = 0;
            if (sscanf(t + m, ":%2d%n", &sec, &m2) != 1 || m2 != 3 || t[m + m2])
                return -EINVAL;
        }
        if (!isdigit((unsigned char)t[0]) || !isdigit((unsigned char)t[3]))
            return -EINVAL;
    }
    if (!isdigit((unsigned char)s[5]) || !isdigit((unsigned char)s[8]))
        return -EINVAL;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || h < 0 ||
        mi > 59 || mi < 0 || sec > 59 || sec < 0)
        return -EINVAL;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    /* mktime normalises 31 February into March: refuse rather than guess */
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -EINVAL;
    *out = t;
    return 0;
}

int grants_parse_addr(const char *s, uint8_t addr[16], uint8_t *family)
{
    if (!s)
        return -EINVAL;
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr + 12) == 1) {
        addr[10] = addr[11] = 0xff;
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)addr)) {
            *family = 4;
            return 0;
        }
        *family = 6;
        return 0;
    }
    return -EINVAL;
}

/* --- who may grant ------------------------------------------------------ */

bool grants_in_group(gid_t gid, gid_t rgid, const gid_t *groups, int ngroups, bool member)
{
    if (rgid == gid || member)
        return true;
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

int grants_check_admin(const char *group, char *err, size_t errlen)
{
    gid_t groups[GRANTS_MAX_GROUPS];
    if (err && errlen)
        err[0] = '\0';
    /* root can write the files whatever we say; refusing would only hide
     * who did it, which the audit records anyway */
    if (getuid() == 0)
        return 0;
    struct group *gr = group ? getgrnam(group) : NULL;
    if (!gr) {
        if (err && errlen)
            snprintf(err, errlen, "the admin group '%s' (grants.admin-group) does not exist",
                     group ? group : "");
        return -ENOENT;
    }
    gid_t gid = gr->gr_gid;
    bool member = false;
    struct passwd *pw = getpwuid(getuid());
    for (char **m = gr->gr_mem; pw && m && *m && !member; m++)
        member = !strcmp(*m, pw->pw_name);
    int n = getgroups(GRANTS_MAX_GROUPS, groups);
    if (n < 0)
        n = 0;
    if (grants_in_group(gid, getgid(), groups, n, member))
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "you are not in the %s group", group);
    return -EPERM;
}
