/*
 * blocklist.c - the compiled category index (LMDB), its compiler and its
 * lookup.
 *
 * Key space.  One LMDB file (MDB_NOSUBDIR), two named databases:
 *
 *   "names"  key   = the name's labels in reverse order, each followed by a
 *                    0 byte: www.example.com -> "com\0example\0www\0"
 *                    (lower case, [a-z0-9_-] only, so 0 never occurs inside
 *                    a label).  Every parent's key is a prefix of its
 *                    children's keys, a subtree is one contiguous key range,
 *                    and a parent sorts right before its subtree.
 *            value = struct bl_rec (24 bytes, big-endian): the union of the
 *                    categories of this name and of every listed parent, the
 *                    name's own categories, and the first source id and line
 *                    that listed it.
 *   "meta"   "version"      be32 BLOCKLIST_FORMAT_VERSION, checked at open
 *            "generation"   be64 random, changes with every compile
 *            "built"        be64 unix time of the compile
 *            "names"        be64 number of keys in "names"
 *            "c" + u8 id    category name (id 0 is always "statutory")
 *            "n" + u8 id    be64 names listed in that category
 *            "s" + be32 id  struct bl_srcrec + origin (path or URL) bytes
 *
 * Writer.  Names from all sources go into one in-memory arena, are sorted
 * once (8-byte key prefix in the sort array, then memcmp), merged (one key
 * per name, union of category bits), and inserted with MDB_APPEND: sorted
 * appends fill B-tree pages completely, so no compaction copy is needed.
 * The file is "OUT.tmp.PID" until synced and renamed over OUT.
 *
 * Readers.  The file is immutable once renamed into place, so it is opened
 * MDB_RDONLY | MDB_NOLOCK: the LMDB caveat for MDB_NOLOCK (the caller must
 * keep writers and readers apart) holds by construction because no process
 * ever opens a published index for writing, and the daemon (perhaps running
 * as an unprivileged user) need not create a lock file beside it.  For the
 * same reason the usual caveat against long-lived read transactions (they
 * stop a writer from reusing pages) does not apply: BLOCKLIST_MAX_READERS
 * read transactions are begun at open and kept until close, and a lookup
 * borrows one with an atomic flag.  No mdb_txn_begin (which allocates), no
 * reset/renew on the lookup path.
 *
 * Not here: policy (which categories a segment blocks), downloads.
 */
#include "blocklist.h"
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BL_KEY_MAX 255 /* 253 text characters + final 0 + slack */
#define BL_MAX_LABELS 128
#define BL_COMMIT_EVERY 262144 /* keys per write transaction: bounds the dirty list */
#define BL_MAX_GROWS 16

struct bl_rec {
    uint8_t cats[8];   /* be64: own | every listed parent's */
    uint8_t own[8];    /* be64 */
    uint8_t source[4]; /* be32 */
    uint8_t line[4];   /* be32 */
};
static_assert(sizeof(struct bl_rec) == 24, "on-disk record size");

struct bl_srcrec {
    uint8_t category;
    uint8_t format;
    uint8_t pad[2];
    uint8_t lines[4], names[4], duplicates[4], overlap[4], bad[4], skipped_ip[4], unsupported[4];
};
static_assert(sizeof(struct bl_srcrec) == 32, "on-disk source record size");

struct bl_slot {
    atomic_int busy;
    MDB_txn *txn;
};

struct blocklist {
    MDB_env *env;
    MDB_dbi names, meta;
    uint64_t generation;
    time_t built;
    uint64_t nnames;
    unsigned ncategories;
    uint32_t nsources;
    char catname[BLOCKLIST_MAX_CATEGORIES][BLOCKLIST_CATEGORY_NAME_MAX + 1];
    uint64_t catcount[BLOCKLIST_MAX_CATEGORIES];
    atomic_uint next_slot;
    struct bl_slot slot[BLOCKLIST_MAX_READERS];
};

/* ---- helpers ---- */

/* LMDB codes are translated once, here.  Unlike store_errno (qlog, grants),
 * lookups report damage as -EBADMSG and a full reader table as -EBUSY: the
 * daemon counts those per query, and the API documents them. */
static int mdb_errno(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return -ENOSPC;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_VALSIZE:
        return -EBADMSG;
    case MDB_VERSION_MISMATCH:
        return -EPROTO;
    case MDB_READERS_FULL:
        return -EBUSY;
    default:
        return rc > 0 && rc < 4096 ? -rc : -EIO;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "www.example.com" -> "com\0example\0www\0"; returns key length. */
static size_t text_to_key(const char *name, size_t len, uint8_t *key)
{
    size_t k = 0, end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && name[start - 1] != '.')
            start--;
        memcpy(key + k, name + start, end - start);
        k += end - start;
        key[k++] = 0;
        end = start > 0 ? start - 1 : 0;
    }
    return k;
}

static bool valid_category_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BLOCKLIST_CATEGORY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* ---- reader ---- */

static int meta_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *v)
{
    MDB_val key = {klen, (void *)k};
    return mdb_errno(mdb_get(txn, dbi, &key, v));
}

int blocklist_open(const char *path, struct blocklist **out, char *err, size_t errlen)
{
    struct blocklist *bl = NULL;
    MDB_txn *txn = NULL;
    MDB_val v;
    struct stat st;
    int rc;

    *out = NULL;
    if (stat(path, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    bl = calloc(1, sizeof *bl);
    if (!bl) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    if ((rc = mdb_errno(mdb_env_create(&bl->env))) < 0 ||
        (rc = mdb_errno(mdb_env_set_maxdbs(bl->env, 2))) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        goto fail;
    }
    rc = mdb_env_open(bl->env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0);
    if (rc != 0) {
        snprintf(err, errlen, "%s: not a blocklist index (%s)", path, mdb_strerror(rc));
        rc = rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ? -EINVAL : mdb_errno(rc);
        goto fail;
    }
    if ((rc = mdb_errno(mdb_txn_begin(bl->env, NULL, MDB_RDONLY, &txn))) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        goto fail;
    }
    if (mdb_dbi_open(txn, "meta", 0, &bl->meta) != 0 ||
        mdb_dbi_open(txn, "names", 0, &bl->names) != 0 ||
        meta_get(txn, bl->meta, "version", 7, &v) < 0 || v.mv_size != 4) {
        snprintf(err, errlen, "%s: not a Gatehouse blocklist index", path);
        rc = -EINVAL;
        goto fail;
    }
    uint32_t version = get_be32(v.mv_data);
    if (version != BLOCKLIST_FORMAT_VERSION) {
        snprintf(err, errlen,
                 "%s: index format version %u, this build reads version %u: recompile it "
                 "(gatehousectl blocklists compile)",
                 path, version, BLOCKLIST_FORMAT_VERSION);
        rc = -EPROTO;
        goto fail;
    }
    if (meta_get(txn, bl->meta, "generation", 10, &v) < 0 || v.mv_size != 8)
        goto bad_meta;
    bl->generation = get_be64(v.mv_data);
    if (meta_get(txn, bl->meta, "built", 5, &v) < 0 || v.mv_size != 8)
        goto bad_meta;
    bl->built = (time_t)get_be64(v.mv_data);
    if (meta_get(txn, bl->meta, "names", 5, &v) < 0 || v.mv_size != 8)
        goto bad_meta;
    bl->nnames = get_be64(v.mv_data);
    for (unsigned id = 0; id < BLOCKLIST_MAX_CATEGORIES; id++) {
        uint8_t k[2] = {'c', (uint8_t)id};
        rc = meta_get(txn, bl->meta, k, 2, &v);
        if (rc == -ENOENT)
            break;
        if (rc < 0 || v.mv_size == 0 || v.mv_size > BLOCKLIST_CATEGORY_NAME_MAX)
            goto bad_meta;
        memcpy(bl->catname[id], v.mv_data, v.mv_size);
        bl->catname[id][v.mv_size] = '\0';
        k[0] = 'n';
        if (meta_get(txn, bl->meta, k, 2, &v) == 0 && v.mv_size == 8)
            bl->catcount[id] = get_be64(v.mv_data);
        bl->ncategories = id + 1;
    }
    {
        /* Sources are numbered densely from 0; the last key gives the count. */
        MDB_cursor *c;
        MDB_val key = {1, "t"};
        if (mdb_cursor_open(txn, bl->meta, &c) != 0)
            goto bad_meta;
        int r = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE); /* first key after "s..." */
        r = r == 0 ? mdb_cursor_get(c, &key, &v, MDB_PREV) : mdb_cursor_get(c, &key, &v, MDB_LAST);
        if (r == 0 && key.mv_size == 5 && ((uint8_t *)key.mv_data)[0] == 's')
            bl->nsources = get_be32((uint8_t *)key.mv_data + 1) + 1;
        mdb_cursor_close(c);
    }
    /* The dbi handles become usable by other transactions only after the
     * transaction that opened them commits. */
    rc = mdb_errno(mdb_txn_commit(txn));
    txn = NULL;
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        goto fail;
    }
    for (unsigned i = 0; i < BLOCKLIST_MAX_READERS; i++) {
        rc = mdb_errno(mdb_txn_begin(bl->env, NULL, MDB_RDONLY, &bl->slot[i].txn));
        if (rc < 0) {
            snprintf(err, errlen, "%s: read transaction: %s", path, strerror(-rc));
            goto fail;
        }
    }
    *out = bl;
    return 0;

bad_meta:
    snprintf(err, errlen, "%s: damaged blocklist index (meta data)", path);
    rc = -EBADMSG;
fail:
    if (txn)
        mdb_txn_abort(txn);
    blocklist_close(bl);
    return rc;
}

void blocklist_close(struct blocklist *bl)
{
    if (!bl)
        return;
    for (unsigned i = 0; i < BLOCKLIST_MAX_READERS; i++)
        if (bl->slot[i].txn)
            mdb_txn_abort(bl->slot[i].txn);
    if (bl->env)
        mdb_env_close(bl->env);
    free(bl);
}

/* Borrow a read transaction.  Each thread starts at its own slot, so with at
 * most BLOCKLIST_MAX_READERS threads the first try nearly always wins. */
static struct bl_slot *slot_get(struct blocklist *bl)
{
    static _Thread_local unsigned hint = UINT32_MAX;
    if (hint == UINT32_MAX)
        hint = atomic_fetch_add_explicit(&bl->next_slot, 1, memory_order_relaxed);
    for (unsigned i = 0; i < BLOCKLIST_MAX_READERS; i++) {
        struct bl_slot *s = &bl->slot[(hint + i) % BLOCKLIST_MAX_READERS];
        if (atomic_exchange_explicit(&s->busy, 1, memory_order_acquire) == 0)
            return s;
    }
    return NULL;
}

static void slot_put(struct bl_slot *s)
{
    atomic_store_explicit(&s->busy, 0, memory_order_release);
}

int blocklist_lookup(struct blocklist *bl, const uint8_t *qname, size_t len,
                     struct blocklist_match *m)
{
    size_t off[BL_MAX_LABELS], cut[BL_MAX_LABELS];
    uint8_t key[BL_KEY_MAX + 1];
    size_t nl = 0, i = 0, klen = 0, depth = 0;

    memset(m, 0, sizeof *m);
    if (len == 0 || len > 255)
        return -EINVAL;
    /* Bounds before bytes: every label length is checked against len. */
    while (i < len && qname[i] != 0) {
        uint8_t l = qname[i];
        if (l > 63 || i + 1 + l >= len || nl == BL_MAX_LABELS)
            return -EINVAL;
        off[nl++] = i;
        i += 1 + (size_t)l;
    }
    if (i + 1 != len)
        return -EINVAL;
    /* Reverse into a key, root side first.  A label with a byte no list
     * entry can hold ends the walk: neither it nor its subtree is listed,
     * but its parents may be. */
    while (depth < nl) {
        size_t o = off[nl - 1 - depth];
        uint8_t l = qname[o];
        const uint8_t *lab = qname + o + 1;
        bool ok = true;
        for (size_t j = 0; j < l; j++) {
            uint8_t c = lab[j];
            if (c >= 'A' && c <= 'Z')
                c = (uint8_t)(c - 'A' + 'a');
            else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                ok = false;
            key[klen + j] = c;
        }
        if (!ok)
            break;
        klen += l;
        key[klen++] = 0;
        cut[depth++] = klen;
    }

    struct bl_slot *s = slot_get(bl);
    if (!s)
        return -EBUSY;
    int rc = 0;
    while (depth > 0) {
        depth--;
        MDB_val k = {cut[depth], key}, v;
        int r = mdb_get(s->txn, bl->names, &k, &v);
        if (r == MDB_NOTFOUND)
            continue;
        if (r != 0) {
            rc = mdb_errno(r);
            break;
        }
        if (v.mv_size != sizeof(struct bl_rec)) {
            rc = -EBADMSG;
            break;
        }
        const struct bl_rec *rec = v.mv_data;
        m->categories = get_be64(rec->cats);
        m->own = get_be64(rec->own);
        m->source = get_be32(rec->source);
        m->line = get_be32(rec->line);
        m->match_offset = off[nl - 1 - depth];
        rc = 1;
        break;
    }
    slot_put(s);
    return rc;
}

int blocklist_category_id(const struct blocklist *bl, const char *name)
{
    for (unsigned i = 0; i < bl->ncategories; i++)
        if (bl->catname[i][0] && strcmp(bl->catname[i], name) == 0)
            return (int)i;
    return -ENOENT;
}

const char *blocklist_category_name(const struct blocklist *bl, unsigned id)
{
    return id < bl->ncategories && bl->catname[id][0] ? bl->catname[id] : NULL;
}

uint64_t blocklist_generation(const struct blocklist *bl)
{
    return bl->generation;
}

void blocklist_get_info(const struct blocklist *bl, struct blocklist_info *info)
{
    memset(info, 0, sizeof *info);
    info->generation = bl->generation;
    info->built = bl->built;
    info->names = bl->nnames;
    info->ncategories = bl->ncategories;
    info->nsources = bl->nsources;
    memcpy(info->category_names, bl->catcount, sizeof bl->catcount);
}

int blocklist_get_source(struct blocklist *bl, uint32_t id, struct blocklist_source_info *out)
{
    uint8_t k[5] = {'s'};
    MDB_val v;
    put_be32(k + 1, id);
    struct bl_slot *s = slot_get(bl);
    if (!s)
        return -EBUSY;
    int rc = meta_get(s->txn, bl->meta, k, sizeof k, &v);
    if (rc == 0 && v.mv_size < sizeof(struct bl_srcrec))
        rc = -EBADMSG;
    if (rc == 0) {
        const struct bl_srcrec *r = v.mv_data;
        size_t olen = v.mv_size - sizeof *r;
        memset(out, 0, sizeof *out);
        out->category = r->category;
        out->format = (enum listparse_format)r->format;
        out->lines = get_be32(r->lines);
        out->names = get_be32(r->names);
        out->duplicates = get_be32(r->duplicates);
        out->overlap = get_be32(r->overlap);
        out->bad = get_be32(r->bad);
        out->skipped_ip = get_be32(r->skipped_ip);
        out->unsupported = get_be32(r->unsupported);
        if (olen >= sizeof out->origin)
            olen = sizeof out->origin - 1;
        memcpy(out->origin, (const uint8_t *)v.mv_data + sizeof *r, olen);
        out->origin[olen] = '\0';
    }
    slot_put(s);
    return rc;
}

/* ---- compiler ---- */

/* Arena record: header then key bytes.  Records are appended in source and
 * line order, so a smaller offset means "listed first". */
struct bl_arec {
    uint8_t keylen;
    uint8_t category;
    uint8_t pad[2];
    uint32_t source;
    uint32_t line;
};

struct bl_sortent {
    uint64_t prefix; /* first 8 key bytes, big-endian, zero padded */
    uint64_t off;
};

struct bl_build {
    uint8_t *arena;
    size_t used, cap;
    struct bl_sortent *ents;
    size_t n, entcap;
    uint32_t source; /* current */
    uint8_t category;
    struct listparse *lp;
};

static int build_add_cb(const struct listparse_name *nm, void *arg)
{
    struct bl_build *b = arg;
    uint8_t key[BL_KEY_MAX + 1];
    size_t klen = text_to_key(nm->name, nm->len, key);
    /* Padded so every record header stays aligned. */
    size_t need = (sizeof(struct bl_arec) + klen + _Alignof(struct bl_arec) - 1) &
                  ~(_Alignof(struct bl_arec) - 1);

    if (b->used + need > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : (size_t)1 << 20;
        uint8_t *na = realloc(b->arena, ncap);
        if (!na)
            return -ENOMEM;
        b->arena = na;
        b->cap = ncap;
    }
    if (b->n == b->entcap) {
        size_t ncap = b->entcap ? b->entcap * 2 : 65536;
        struct bl_sortent *ne = realloc(b->ents, ncap * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        b->ents = ne;
        b->entcap = ncap;
    }
    struct bl_arec h = {.keylen = (uint8_t)klen,
                        .category = b->category,
                        .source = b->source,
                        .line = (uint32_t)b->lp->line};
    memcpy(b->arena + b->used, &h, sizeof h);
    memcpy(b->arena + b->used + sizeof h, key, klen);
    uint8_t pfx[8] = {0};
    memcpy(pfx, key, klen < 8 ? klen : 8);
    b->ents[b->n].prefix = get_be64(pfx);
    b->ents[b->n].off = b->used;
    b->n++;
    b->used += need;
    return 0;
}

static const uint8_t *ent_key(const uint8_t *arena, uint64_t off, size_t *len)
{
    const struct bl_arec *h = (const struct bl_arec *)(arena + off);
    *len = h->keylen;
    return arena + off + sizeof *h;
}

static _Thread_local const uint8_t *sort_arena; /* qsort has no user argument */

static int ent_cmp(const void *a, const void *b)
{
    const struct bl_sortent *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    size_t lx, ly;
    const uint8_t *kx = ent_key(sort_arena, x->off, &lx);
    const uint8_t *ky = ent_key(sort_arena, y->off, &ly);
    int c = memcmp(kx, ky, lx < ly ? lx : ly);
    if (c != 0)
        return c;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    /* Equal names: first listed first (stable). */
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Stream one source through the parser into the arena. */
static int read_source(struct bl_build *b, const struct blocklist_source *src,
                       struct blocklist_source_report *r, char *err, size_t errlen)
{
    FILE *f = fopen(src->path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", src->path, strerror(e));
        return -e;
    }
    struct listparse lp;
    listparse_init(&lp, src->format);
    b->lp = &lp;
    char buf[LISTPARSE_LINE_MAX + 2];
    int rc = 0;
    for (;;) {
        /* Bounded line reader: an overlong line is passed on truncated to
         * LINE_MAX + 1 bytes (which the parser rejects) and the rest skipped. */
        size_t n = 0;
        int c;
        bool eof = false;
        while ((c = getc_unlocked(f)) != EOF && c != '\n')
            if (n < sizeof buf)
                buf[n++] = (char)c;
        if (c == EOF) {
            if (ferror(f)) {
                rc = -EIO;
                snprintf(err, errlen, "%s: read error", src->path);
                break;
            }
            eof = true;
            if (n == 0)
                break;
        }
        size_t before = b->n;
        int kind = listparse_line(&lp, buf, n, build_add_cb, b);
        if (kind < 0) {
            rc = kind;
            snprintf(err, errlen, "%s:%lu: %s", src->path, lp.line, strerror(-kind));
            break;
        }
        r->lines++;
        r->names += b->n - before;
        if (kind == LISTPARSE_BAD)
            r->bad++;
        else if (kind == LISTPARSE_SKIPPED_IP)
            r->skipped_ip++;
        else if (kind == LISTPARSE_UNSUPPORTED)
            r->unsupported++;
        if (kind == LISTPARSE_BAD && r->nerrors < BLOCKLIST_REPORT_ERRORS)
            snprintf(r->errors[r->nerrors++], BLOCKLIST_ERROR_MAX, "%s:%lu: %s", src->path, lp.line,
                     lp.reason);
        if (eof)
            break;
    }
    b->lp = NULL;
    fclose(f);
    return rc;
}

static int random_u64(uint64_t *out)
{
    if (getrandom(out, sizeof *out, 0) == (ssize_t)sizeof *out)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec ^
           ((uint64_t)getpid() << 32);
    return 0;
}

struct bl_writer {
    const struct bl_build *b;
    const uint64_t *order; /* indices into b->ents of the first entry of each name */
    const uint64_t *bits;  /* own category bits per name */
    size_t nnames;
    const struct blocklist_source *sources;
    const struct blocklist_compile_report *rep;
    size_t nsources;
    char (*cats)[BLOCKLIST_CATEGORY_NAME_MAX + 1];
    unsigned ncats;
    const uint64_t *catcount;
    const uint8_t *srccat;
    uint64_t generation;
};

static int put_meta(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    return mdb_errno(mdb_put(txn, dbi, &key, &val, 0));
}

/* Write the whole index into a fresh file at tmp.  -ENOSPC means the map
 * was too small: the caller removes the file and retries with a bigger one. */
static int write_index(const struct bl_writer *w, const char *tmp, size_t mapsize, char *err,
                       size_t errlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dnames, dmeta;
    int rc;
    struct {
        const uint8_t *key;
        size_t len;
        uint64_t cum;
    } stack[BL_MAX_LABELS];
    size_t sp = 0;

    if ((rc = mdb_errno(mdb_env_create(&env))) < 0)
        goto out;
    if ((rc = mdb_errno(mdb_env_set_maxdbs(env, 2))) < 0 ||
        (rc = mdb_errno(mdb_env_set_mapsize(env, mapsize))) < 0)
        goto out;
    /* NOLOCK: the tmp name is private to this process.  NOSYNC: one
     * mdb_env_sync at the end instead of one per commit. */
    rc = mdb_errno(mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0644));
    if (rc < 0)
        goto out;
    if ((rc = mdb_errno(mdb_txn_begin(env, NULL, 0, &txn))) < 0 ||
        (rc = mdb_errno(mdb_dbi_open(txn, "names", MDB_CREATE, &dnames))) < 0 ||
        (rc = mdb_errno(mdb_dbi_open(txn, "meta", MDB_CREATE, &dmeta))) < 0)
        goto out;

    for (size_t i = 0; i < w->nnames; i++) {
        const struct bl_sortent *e = &w->b->ents[w->order[i]];
        const struct bl_arec *h = (const struct bl_arec *)(w->b->arena + e->off);
        size_t klen;
        const uint8_t *key = ent_key(w->b->arena, e->off, &klen);
        /* Parents sort before their subtree: keep the chain of listed
         * parents on a stack and fold their categories into this entry, so
         * a lookup can stop at the most specific hit. */
        while (sp > 0 && !(stack[sp - 1].len < klen &&
                           memcmp(stack[sp - 1].key, key, stack[sp - 1].len) == 0))
            sp--;
        uint64_t cum = w->bits[i] | (sp > 0 ? stack[sp - 1].cum : 0);
        if (sp < BL_MAX_LABELS)
            stack[sp++] = (typeof(stack[0])){key, klen, cum};
        struct bl_rec rec;
        put_be64(rec.cats, cum);
        put_be64(rec.own, w->bits[i]);
        put_be32(rec.source, h->source);
        put_be32(rec.line, h->line);
        MDB_val k = {klen, (void *)key}, v = {sizeof rec, &rec};
        if ((rc = mdb_errno(mdb_put(txn, dnames, &k, &v, MDB_APPEND))) < 0)
            goto out;
        if ((i + 1) % BL_COMMIT_EVERY == 0) {
            rc = mdb_errno(mdb_txn_commit(txn));
            txn = NULL;
            if (rc < 0 || (rc = mdb_errno(mdb_txn_begin(env, NULL, 0, &txn))) < 0)
                goto out;
        }
    }

    uint8_t v8[8];
    put_be32(v8, BLOCKLIST_FORMAT_VERSION);
    if ((rc = put_meta(txn, dmeta, "version", 7, v8, 4)) < 0)
        goto out;
    put_be64(v8, w->generation);
    if ((rc = put_meta(txn, dmeta, "generation", 10, v8, 8)) < 0)
        goto out;
    put_be64(v8, (uint64_t)time(NULL));
    if ((rc = put_meta(txn, dmeta, "built", 5, v8, 8)) < 0)
        goto out;
    put_be64(v8, w->nnames);
    if ((rc = put_meta(txn, dmeta, "names", 5, v8, 8)) < 0)
        goto out;
    for (unsigned id = 0; id < w->ncats; id++) {
        uint8_t k[2] = {'c', (uint8_t)id};
        if ((rc = put_meta(txn, dmeta, k, 2, w->cats[id], strlen(w->cats[id]))) < 0)
            goto out;
        k[0] = 'n';
        put_be64(v8, w->catcount[id]);
        if ((rc = put_meta(txn, dmeta, k, 2, v8, 8)) < 0)
            goto out;
    }
    for (size_t s = 0; s < w->nsources; s++) {
        const struct blocklist_source_report *r = &w->rep->sources[s];
        const char *origin = w->sources[s].origin ? w->sources[s].origin : w->sources[s].path;
        size_t olen = strnlen(origin, 1000);
        uint8_t buf[sizeof(struct bl_srcrec) + 1000];
        struct bl_srcrec sr = {.category = w->srccat[s], .format = (uint8_t)w->sources[s].format};
        put_be32(sr.lines, (uint32_t)r->lines);
        put_be32(sr.names, (uint32_t)r->names);
        put_be32(sr.duplicates, (uint32_t)r->duplicates);
        put_be32(sr.overlap, (uint32_t)r->overlap);
        put_be32(sr.bad, (uint32_t)r->bad);
        put_be32(sr.skipped_ip, (uint32_t)r->skipped_ip);
        put_be32(sr.unsupported, (uint32_t)r->unsupported);
        memcpy(buf, &sr, sizeof sr);
        memcpy(buf + sizeof sr, origin, olen);
        uint8_t k[5] = {'s'};
        put_be32(k + 1, (uint32_t)s);
        if ((rc = put_meta(txn, dmeta, k, 5, buf, sizeof sr + olen)) < 0)
            goto out;
    }
    rc = mdb_errno(mdb_txn_commit(txn));
    txn = NULL;
    if (rc < 0)
        goto out;
    rc = mdb_errno(mdb_env_sync(env, 1));
out:
    if (rc < 0 && rc != -ENOSPC)
        snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return rc;
}

static int fsync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

void blocklist_compile_report_free(struct blocklist_compile_report *rep)
{
    if (!rep)
        return;
    free(rep->sources);
    rep->sources = NULL;
    rep->nsources = 0;
}

int blocklist_compile(const struct blocklist_source *sources, size_t n, const char *out_path,
                      struct blocklist_compile_report *rep, char *err, size_t errlen)
{
    struct blocklist_compile_report local;
    struct bl_build b = {0};
    char cats[BLOCKLIST_MAX_CATEGORIES][BLOCKLIST_CATEGORY_NAME_MAX + 1] = {{0}};
    uint64_t catcount[BLOCKLIST_MAX_CATEGORIES] = {0};
    unsigned ncats = 1;
    uint8_t *srccat = NULL;
    uint64_t *order = NULL, *bits = NULL;
    char tmp[4096];
    int rc = 0;
    double t0 = now_seconds();

    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (n > BLOCKLIST_MAX_SOURCES) {
        snprintf(err, errlen, "too many sources (%zu, at most %d)", n, BLOCKLIST_MAX_SOURCES);
        return -E2BIG;
    }
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "output path too long");
        return -ENAMETOOLONG;
    }
    rep->sources = calloc(n ? n : 1, sizeof *rep->sources);
    srccat = calloc(n ? n : 1, 1);
    if (!rep->sources || !srccat) {
        rc = -ENOMEM;
        goto nomem;
    }
    rep->nsources = n;
    strcpy(cats[BLOCKLIST_CAT_STATUTORY], BLOCKLIST_STATUTORY_NAME);

    /* Category ids in order of first appearance, statutory fixed at 0. */
    for (size_t s = 0; s < n; s++) {
        const char *c = sources[s].category;
        unsigned id = 0;
        if (!c || !valid_category_name(c)) {
            snprintf(err, errlen, "%s: invalid category name '%s'", sources[s].path,
                     c ? c : "(null)");
            rc = -EINVAL;
            goto out;
        }
        while (id < ncats && strcmp(cats[id], c) != 0)
            id++;
        if (id == ncats) {
            if (ncats == BLOCKLIST_MAX_CATEGORIES) {
                snprintf(err, errlen, "more than %d categories", BLOCKLIST_MAX_CATEGORIES);
                rc = -E2BIG;
                goto out;
            }
            strcpy(cats[ncats++], c);
        }
        srccat[s] = (uint8_t)id;
    }

    for (size_t s = 0; s < n; s++) {
        b.source = (uint32_t)s;
        b.category = srccat[s];
        if ((rc = read_source(&b, &sources[s], &rep->sources[s], err, errlen)) < 0)
            goto out;
    }
    double t1 = now_seconds();
    rep->parse_seconds = t1 - t0;

    sort_arena = b.arena;
    if (b.n > 0)
        qsort(b.ents, b.n, sizeof *b.ents, ent_cmp);
    sort_arena = NULL;

    /* Merge equal keys: one name, union of category bits, first listing. */
    order = malloc((b.n ? b.n : 1) * sizeof *order);
    bits = malloc((b.n ? b.n : 1) * sizeof *bits);
    if (!order || !bits) {
        rc = -ENOMEM;
        goto nomem;
    }
    size_t nnames = 0;
    uint64_t raw_bytes = 0;
    for (size_t i = 0; i < b.n;) {
        size_t klen;
        const uint8_t *key = ent_key(b.arena, b.ents[i].off, &klen);
        const struct bl_arec *first = (const struct bl_arec *)(b.arena + b.ents[i].off);
        uint64_t own = (uint64_t)1 << first->category;
        size_t j = i + 1;
        for (; j < b.n; j++) {
            size_t l2;
            const uint8_t *k2 = ent_key(b.arena, b.ents[j].off, &l2);
            if (l2 != klen || b.ents[j].prefix != b.ents[i].prefix || memcmp(k2, key, klen) != 0)
                break;
            const struct bl_arec *h = (const struct bl_arec *)(b.arena + b.ents[j].off);
            const struct bl_arec *prev = (const struct bl_arec *)(b.arena + b.ents[j - 1].off);
            own |= (uint64_t)1 << h->category;
            if (h->source == prev->source)
                rep->sources[h->source].duplicates++;
            else
                rep->sources[h->source].overlap++;
        }
        for (unsigned c = 0; c < ncats; c++)
            if (own & ((uint64_t)1 << c))
                catcount[c]++;
        order[nnames] = i;
        bits[nnames] = own;
        nnames++;
        raw_bytes += klen + sizeof(struct bl_rec) + 16;
        i = j;
    }
    double t2 = now_seconds();
    rep->sort_seconds = t2 - t1;
    rep->names = nnames;
    rep->ncategories = ncats;
    random_u64(&rep->generation);

    struct bl_writer w = {.b = &b,
                          .order = order,
                          .bits = bits,
                          .nnames = nnames,
                          .sources = sources,
                          .rep = rep,
                          .nsources = n,
                          .cats = cats,
                          .ncats = ncats,
                          .catcount = catcount,
                          .srccat = srccat,
                          .generation = rep->generation};
    /* Sorted appends fill pages, so the raw size plus branch pages and meta
     * is close; start just above it and double on MDB_MAP_FULL. */
    size_t mapsize = (size_t)(raw_bytes + raw_bytes / 4) + ((size_t)4 << 20);
    for (;;) {
        unlink(tmp);
        rc = write_index(&w, tmp, mapsize, err, errlen);
        if (rc != -ENOSPC)
            break;
        if (++rep->map_grows > BL_MAX_GROWS) {
            snprintf(err, errlen, "%s: map still full at %zu bytes", tmp, mapsize);
            break;
        }
        mapsize *= 2;
    }
    if (rc < 0) {
        unlink(tmp);
        goto out;
    }
    struct stat st;
    if (stat(tmp, &st) == 0)
        rep->file_size = (uint64_t)st.st_size;
    if (rename(tmp, out_path) < 0) {
        rc = -errno;
        snprintf(err, errlen, "rename %s -> %s: %s", tmp, out_path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    fsync_parent(out_path); /* the rename itself must survive a power cut */
    rep->write_seconds = now_seconds() - t2;
    goto out;

nomem:
    snprintf(err, errlen, "out of memory");
out:
    free(order);
    free(bits);
    free(srccat);
    free(b.arena);
    free(b.ents);
    if (rep == &local)
        blocklist_compile_report_free(&local);
    return rc;
}
