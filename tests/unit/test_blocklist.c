/*
 * test_blocklist.c - the compiled index: compile real list subsets from
 * tests/data/blocklists/, look names up (exact, parent, miss, suffix that is
 * not a parent), explain (source and line), atomic replace under an open
 * handle, version check at open.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocklist.h"
#include "unit.h"

#ifndef TEST_DATA
#define TEST_DATA "tests/data/blocklists"
#endif

static char dir[256];

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static const char *dpath(const char *name)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", TEST_DATA, name);
    return buf[i];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Text name to lower-case wire form. */
static size_t wire(const char *name, uint8_t *out)
{
    size_t o = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        out[o++] = (uint8_t)l;
        memcpy(out + o, p, l);
        o += l;
        p += l + (dot ? 1 : 0);
    }
    out[o++] = 0;
    return o;
}

static int lookup(struct blocklist *bl, const char *name, struct blocklist_match *m)
{
    uint8_t w[256];
    return blocklist_lookup(bl, w, wire(name, w), m);
}

static uint64_t bit(struct blocklist *bl, const char *cat)
{
    int id = blocklist_category_id(bl, cat);
    return id < 0 ? 0 : (uint64_t)1 << id;
}

/* gambling: UT1 subset (domains) + a hosts file overlapping it;
 * drugs: UT1 subset (with IP lines); adult: hagezi subset; a synthetic
 * "social" list sharing a name with gambling. */
static int compile_fixture(const char *out, struct blocklist_compile_report *rep, char *err)
{
    write_file(tpath("social.txt"), "bet365.com\nexample.com\nsocial.example\n");
    struct blocklist_source src[] = {
        {"gambling", dpath("ut1_gambling_sample.txt"), "https://ut1.example/gambling",
         LISTPARSE_DOMAINS},
        {"gambling", dpath("hosts_sample.txt"), NULL, LISTPARSE_HOSTS},
        {"drugs", dpath("ut1_drogue_sample.txt"), NULL, LISTPARSE_AUTO},
        {"adult", dpath("hagezi_nsfw_sample.txt"), NULL, LISTPARSE_AUTO},
        {"social_networks", tpath("social.txt"), NULL, LISTPARSE_AUTO},
        {"malware", dpath("malformed.txt"), NULL, LISTPARSE_AUTO},
    };
    return blocklist_compile(src, sizeof src / sizeof src[0], out, rep, err, 512);
}

static void test_compile_report(void)
{
    struct blocklist_compile_report rep;
    char err[512] = "";
    int rc = compile_fixture(tpath("a.mdb"), &rep, err);
    CHECK_EQ(rc, 0);
    if (rc < 0) {
        printf("# %s\n", err);
        return;
    }
    CHECK_EQ(rep.nsources, 6);
    CHECK_EQ(rep.ncategories, 6); /* statutory + 5 */
    /* ut1 gambling: 40 names, none repeated, none earlier. */
    CHECK_EQ(rep.sources[0].lines, 40);
    CHECK_EQ(rep.sources[0].names, 40);
    CHECK_EQ(rep.sources[0].bad, 0);
    /* hosts: 6 names, 0-casino.info already in ut1 gambling; one bad name. */
    CHECK_EQ(rep.sources[1].names, 6);
    CHECK_EQ(rep.sources[1].overlap, 1);
    CHECK_EQ(rep.sources[1].bad, 1);
    CHECK_EQ(rep.sources[1].skipped_ip, 1);
    CHECK_EQ(rep.sources[1].nerrors, 1);
    char expect[600];
    snprintf(expect, sizeof expect, "%s:9: empty label", dpath("hosts_sample.txt"));
    CHECK_STR(rep.sources[1].errors[0], expect);
    CHECK_EQ(rep.sources[2].names, 4);
    CHECK_EQ(rep.sources[2].skipped_ip, 26);
    CHECK_EQ(rep.sources[3].names, 28);
    /* social: bet365.com is in gambling (hosts) already. */
    CHECK_EQ(rep.sources[4].overlap, 1);
    /* malformed.txt: 11 bad lines, only the first 10 messages kept. */
    CHECK_EQ(rep.sources[5].bad, 11);
    CHECK_EQ(rep.sources[5].nerrors, BLOCKLIST_REPORT_ERRORS);
    snprintf(expect, sizeof expect, "%s:2: unexpected text after name: mple.com",
             dpath("malformed.txt"));
    CHECK_STR(rep.sources[5].errors[0], expect);
    /* 40 + 5 new hosts + 4 + 28 + 2 new social + 6 malformed-file names. */
    CHECK_EQ(rep.names, 40 + 5 + 4 + 28 + 2 + 6);
    CHECK(rep.file_size > 0);
    blocklist_compile_report_free(&rep);
}

static void test_lookup(void)
{
    struct blocklist *bl = NULL;
    struct blocklist_match m;
    char err[512] = "";
    CHECK_EQ(compile_fixture(tpath("b.mdb"), NULL, err), 0);
    CHECK_EQ(blocklist_open(tpath("b.mdb"), &bl, err, sizeof err), 0);
    if (!bl) {
        printf("# %s\n", err);
        return;
    }
    CHECK_STR(blocklist_category_name(bl, 0), "statutory");
    CHECK_EQ(blocklist_category_id(bl, "statutory"), BLOCKLIST_CAT_STATUTORY);
    CHECK_EQ(blocklist_category_id(bl, "gambling"), 1);
    CHECK_EQ(blocklist_category_id(bl, "nope"), -ENOENT);
    CHECK(blocklist_category_name(bl, 40) == NULL);

    /* Exact, from UT1 line 4. */
    CHECK_EQ(lookup(bl, "00000onlinecasino.com", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "gambling"));
    CHECK_EQ(m.source, 0);
    CHECK_EQ(m.line, 4);
    CHECK_EQ(m.match_offset, 0);
    /* Parent match: a subdomain of a listed name; match_offset points at
     * the listed parent inside the query. */
    CHECK_EQ(lookup(bl, "a.b.00000onlinecasino.com", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "gambling"));
    CHECK_EQ(m.match_offset, 4);
    /* Non-match and a suffix that is not a parent. */
    CHECK_EQ(lookup(bl, "www.wikipedia.org", &m), 0);
    CHECK_EQ(m.categories, 0);
    CHECK_EQ(lookup(bl, "x00000onlinecasino.com", &m), 0);
    CHECK_EQ(lookup(bl, "com", &m), 0);
    /* Two categories share a name: union; first listing is the hosts file. */
    CHECK_EQ(lookup(bl, "bet365.com", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "gambling") | bit(bl, "social_networks"));
    CHECK_EQ(m.own, m.categories);
    CHECK_EQ(m.source, 1);
    CHECK_EQ(m.line, 4);
    /* www.bet365.com is listed itself (gambling) and inherits social. */
    CHECK_EQ(lookup(bl, "WWW.Bet365.COM", &m), 1);
    CHECK_EQ(m.own, bit(bl, "gambling"));
    CHECK_EQ(m.categories, bit(bl, "gambling") | bit(bl, "social_networks"));
    CHECK_EQ(m.line, 5);
    /* example.com (social) is a parent of big-casino.example? no: .example */
    CHECK_EQ(lookup(bl, "deep.big-casino.example", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "gambling"));
    /* Nested listings: example.com (social) and upper.example.com (malware). */
    CHECK_EQ(lookup(bl, "x.upper.example.com", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "social_networks") | bit(bl, "malware"));
    CHECK_EQ(m.own, bit(bl, "malware"));
    CHECK_EQ(lookup(bl, "other.example.com", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "social_networks"));
    /* IDN from the malformed file, looked up in punycode; and adult. */
    CHECK_EQ(lookup(bl, "www.xn--caf-dma.example", &m), 1);
    CHECK_EQ(lookup(bl, "en.academic.ru", &m), 1);
    CHECK_EQ(m.categories, bit(bl, "adult"));
    CHECK_EQ(lookup(bl, "academic.ru", &m), 0);
    /* IP lines were not turned into names. */
    CHECK_EQ(lookup(bl, "128.121.123.198", &m), 0);

    /* A label with a byte no list can hold: only its parents are probed. */
    uint8_t w[64] = {3, 'a', 0, 'b', 6, 'b', 'e', 't', '3', '6', '5', 3, 'c', 'o', 'm', 0};
    CHECK_EQ(blocklist_lookup(bl, w, 16, &m), 1);
    CHECK_EQ(m.match_offset, 4);
    /* Malformed wire names. */
    CHECK_EQ(blocklist_lookup(bl, w, 15, &m), -EINVAL); /* no root label */
    uint8_t bad1[] = {64, 'a'};
    CHECK_EQ(blocklist_lookup(bl, bad1, sizeof bad1, &m), -EINVAL);
    uint8_t bad2[] = {3, 'c', 'o', 'm', 0, 0}; /* trailing garbage */
    CHECK_EQ(blocklist_lookup(bl, bad2, sizeof bad2, &m), -EINVAL);
    uint8_t root[] = {0};
    CHECK_EQ(blocklist_lookup(bl, root, 1, &m), 0);
    CHECK_EQ(blocklist_lookup(bl, root, 0, &m), -EINVAL);

    /* Explain: the source record. */
    struct blocklist_source_info si;
    CHECK_EQ(blocklist_get_source(bl, 0, &si), 0);
    CHECK_STR(si.origin, "https://ut1.example/gambling");
    CHECK_EQ(si.category, 1);
    CHECK_EQ(si.lines, 40);
    CHECK_EQ(blocklist_get_source(bl, 99, &si), -ENOENT);
    struct blocklist_info info;
    blocklist_get_info(bl, &info);
    CHECK_EQ(info.nsources, 6);
    CHECK_EQ(info.names, 85);
    CHECK_EQ(info.category_names[1], 45);
    blocklist_close(bl);
}

static void test_atomic_replace(void)
{
    struct blocklist *old = NULL, *new = NULL;
    struct blocklist_match m;
    char err[512];
    char p[512];
    snprintf(p, sizeof p, "%s", tpath("r.mdb"));
    write_file(tpath("one.txt"), "first.example\n");
    write_file(tpath("two.txt"), "second.example\n");
    struct blocklist_source s1 = {"adult", tpath("one.txt"), NULL, LISTPARSE_AUTO};
    struct blocklist_source s2 = {"adult", tpath("two.txt"), NULL, LISTPARSE_AUTO};
    struct blocklist_compile_report r1, r2;
    CHECK_EQ(blocklist_compile(&s1, 1, p, &r1, err, sizeof err), 0);
    CHECK_EQ(blocklist_open(p, &old, err, sizeof err), 0);
    if (!old)
        return;
    CHECK_EQ(blocklist_compile(&s2, 1, p, &r2, err, sizeof err), 0);
    CHECK(r1.generation != r2.generation);
    /* The old handle keeps its (now unlinked) file. */
    CHECK_EQ(lookup(old, "first.example", &m), 1);
    CHECK_EQ(lookup(old, "second.example", &m), 0);
    CHECK_EQ(blocklist_generation(old), r1.generation);
    CHECK_EQ(blocklist_open(p, &new, err, sizeof err), 0);
    if (new) {
        CHECK_EQ(blocklist_generation(new), r2.generation);
        CHECK_EQ(lookup(new, "first.example", &m), 0);
        CHECK_EQ(lookup(new, "www.second.example", &m), 1);
    }
    blocklist_close(old);
    blocklist_close(new);
    /* No temporary left behind, no lock file (MDB_NOLOCK). */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    snprintf(tmp, sizeof tmp, "%s-lock", p);
    CHECK(access(tmp, F_OK) != 0);
    blocklist_compile_report_free(&r1);
    blocklist_compile_report_free(&r2);
}

static void test_open_errors(void)
{
    struct blocklist *bl = NULL;
    char err[512];
    CHECK_EQ(blocklist_open(tpath("missing.mdb"), &bl, err, sizeof err), -ENOENT);
    CHECK(bl == NULL);
    write_file(tpath("junk.mdb"), "this is not an LMDB file at all, just text\n");
    CHECK_EQ(blocklist_open(tpath("junk.mdb"), &bl, err, sizeof err), -EINVAL);

    /* Rewrite the version key of a real index: a clear error, no handle. */
    write_file(tpath("v.txt"), "v.example\n");
    struct blocklist_source s = {"adult", tpath("v.txt"), NULL, LISTPARSE_AUTO};
    CHECK_EQ(blocklist_compile(&s, 1, tpath("v.mdb"), NULL, err, sizeof err), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CHECK_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 2);
    CHECK_EQ(mdb_env_open(env, tpath("v.mdb"), MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
    CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CHECK_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t v[4] = {0, 0, 0, 99};
    MDB_val k = {7, "version"}, val = {4, v};
    CHECK_EQ(mdb_put(txn, dbi, &k, &val, 0), 0);
    CHECK_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    CHECK_EQ(blocklist_open(tpath("v.mdb"), &bl, err, sizeof err), -EPROTO);
    CHECK(strstr(err, "index format version 99, this build reads version 1") != NULL);
    CHECK(bl == NULL);
}

static void test_compile_errors(void)
{
    char err[512];
    struct blocklist_compile_report rep;
    struct blocklist_source s = {"adult", tpath("does-not-exist.txt"), NULL, LISTPARSE_AUTO};
    const char *out = tpath("e.mdb");
    unlink(out);
    CHECK_EQ(blocklist_compile(&s, 1, out, &rep, err, sizeof err), -ENOENT);
    CHECK(strstr(err, "does-not-exist.txt: No such file or directory") != NULL);
    CHECK(access(out, F_OK) != 0);
    blocklist_compile_report_free(&rep);
    struct blocklist_source bad = {"Bad Name", dpath("hosts_sample.txt"), NULL, LISTPARSE_AUTO};
    CHECK_EQ(blocklist_compile(&bad, 1, out, NULL, err, sizeof err), -EINVAL);
    /* 64 categories including statutory fit, 65 do not. */
    struct blocklist_source many[64];
    char names[64][16];
    write_file(tpath("m.txt"), "m.example\n");
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "cat%d", i);
        many[i] = (struct blocklist_source){names[i], tpath("m.txt"), NULL, LISTPARSE_AUTO};
    }
    CHECK_EQ(blocklist_compile(many, 63, out, NULL, err, sizeof err), 0);
    CHECK_EQ(blocklist_compile(many, 64, out, NULL, err, sizeof err), -E2BIG);
    struct blocklist *bl = NULL;
    CHECK_EQ(blocklist_open(out, &bl, err, sizeof err), 0);
    if (bl) {
        struct blocklist_match m;
        CHECK_EQ(lookup(bl, "m.example", &m), 1);
        CHECK_EQ(m.categories, ~(uint64_t)1); /* every bit but statutory */
        blocklist_close(bl);
    }
    /* No sources at all: a valid, empty index. */
    CHECK_EQ(blocklist_compile(NULL, 0, out, NULL, err, sizeof err), 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/gatehouse-test-blocklist.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    UNIT_RUN(test_compile_report);
    UNIT_RUN(test_lookup);
    UNIT_RUN(test_atomic_replace);
    UNIT_RUN(test_open_errors);
    UNIT_RUN(test_compile_errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return unit_done();
}
