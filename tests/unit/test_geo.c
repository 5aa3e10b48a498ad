/*
 * test_geo.c - geo.c against MaxMind's test databases (every network of
 * their JSON sources, see tests/data/geo/README.md), the broken ones, a
 * database built here with build-test-mmdb.pl, truncated and random files,
 * the rules and their config keys, and reopening a replaced file.  Prints the
 * cost of a check (measured, never asserted).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "geo.h"
#include "unit.h"

#define GEO "tests/data/geo/"
#define MAXMIND_ASN GEO "GeoLite2-ASN-Test.mmdb"
#define MAXMIND_CC GEO "GeoIP2-Country-Test.mmdb"

static char err[1024];
static char tmpdir[] = "/tmp/gatehouse-test-geo-XXXXXX";
static char built_asn[300], built_cc[300];

/* A config with just the geo keys set (paths may be NULL). */
static struct config *geo_cfg(const char *asn, const char *cc, bool required)
{
    struct config *c = config_default();
    if (!c)
        return NULL;
    free(c->geo_asn_db);
    free(c->geo_country_db);
    c->geo_asn_db = asn ? strdup(asn) : NULL;
    c->geo_country_db = cc ? strdup(cc) : NULL;
    c->geo_required = required;
    return c;
}

static int parse_addr(const char *s, uint8_t *a)
{
    if (inet_pton(AF_INET, s, a) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, a) == 1)
        return 6;
    return 0;
}

static struct geo *open_ok(const char *asn, const char *cc)
{
    struct config *c = geo_cfg(asn, cc, true);
    struct geo *g = NULL;
    CHECK(c != NULL);
    if (!c)
        return NULL;
    int rc = geo_open(c, &g, err, sizeof(err));
    if (rc)
        printf("#   geo_open: %d %s\n", rc, err);
    CHECK_EQ(rc, 0);
    config_free(c);
    return g;
}

/* Every network of GeoLite2-ASN-Test.json: number and owner as written. */
static void test_asn_matches_source(void)
{
    struct geo *g = open_ok(MAXMIND_ASN, NULL);
    struct geo_reader *r = g ? geo_reader_new(g) : NULL;
    FILE *f = fopen(GEO "GeoLite2-ASN-Test.expect", "r");
    char line[512];
    unsigned n = 0, bad = 0;

    CHECK(r != NULL);
    CHECK(f != NULL);
    while (r && f && fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *addr = strtok(line, "\t"), *asn = strtok(NULL, "\t"), *org = strtok(NULL, "");
        uint8_t a[16];
        struct geo_info info;
        int fam = addr ? parse_addr(addr, a) : 0;
        if (!fam || !asn) {
            bad++;
            continue;
        }
        n++;
        if (geo_lookup(r, fam, a, &info) != 0 || info.asn != strtoul(asn, NULL, 10) ||
            strncmp(info.org, org ? org : "", GEO_ORG_MAX - 1) != 0) {
            if (bad++ < 5)
                printf("#   %s: want AS%s %s, got AS%u %s\n", addr, asn, org ? org : "", info.asn,
                       info.org);
        }
    }
    CHECK(n > 700);
    CHECK_EQ(bad, 0);
    if (f)
        fclose(f);
    geo_reader_free(r);
    geo_close(g);
}

/* Every network of GeoIP2-Country-Test.json: country.iso_code. */
static void test_country_matches_source(void)
{
    struct geo *g = open_ok(NULL, MAXMIND_CC);
    struct geo_reader *r = g ? geo_reader_new(g) : NULL;
    FILE *f = fopen(GEO "GeoIP2-Country-Test.expect", "r");
    char line[256];
    unsigned n = 0, bad = 0;

    CHECK(f != NULL);
    while (r && f && fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *addr = strtok(line, "\t"), *cc = strtok(NULL, "\t");
        uint8_t a[16];
        struct geo_info info;
        int fam = addr ? parse_addr(addr, a) : 0;
        if (!fam || !cc) {
            bad++;
            continue;
        }
        n++;
        if (geo_lookup(r, fam, a, &info) != 0 || strcmp(info.country, cc[0] == '-' ? "" : cc)) {
            if (bad++ < 5)
                printf("#   %s: want %s, got '%s'\n", addr, cc, info.country);
        }
    }
    CHECK(n > 300);
    CHECK_EQ(bad, 0);
    /* The example MaxMind documents, and an address in no network. */
    struct geo_info info;
    uint8_t a[16];
    CHECK_EQ(geo_lookup(r, parse_addr("2.125.160.216", a), a, &info), 0);
    CHECK_STR(info.country, "GB");
    CHECK_EQ(geo_lookup(r, parse_addr("192.0.2.1", a), a, &info), 0);
    CHECK_STR(info.country, "");
    CHECK_EQ(info.asn, 0);
    CHECK_EQ(geo_lookup(r, 5, a, &info), -EINVAL);
    if (f)
        fclose(f);
    geo_reader_free(r);
    geo_close(g);
}

/* Broken files: a clear error with geo.required, a warning and the
 * database off without. */
static void test_broken_databases(void)
{
    static const char *const broken[] = {GEO "MaxMind-DB-test-broken-search-tree-24.mmdb",
                                         GEO "GeoIP2-City-Test-Invalid-Node-Count.mmdb"};
    char status[512];
    for (size_t i = 0; i < 2; i++) {
        struct config *c = geo_cfg(NULL, broken[i], true);
        struct geo *g = NULL;
        int rc = geo_open(c, &g, err, sizeof(err));
        CHECK_EQ(rc, -EINVAL);
        CHECK(g == NULL);
        CHECK(strstr(err, "geo.country-database") != NULL);
        CHECK(strstr(err, broken[i]) != NULL);
        printf("#   %s\n", err);
        c->geo_required = false;
        rc = geo_open(c, &g, err, sizeof(err));
        CHECK_EQ(rc, 0);
        CHECK(err[0] != '\0'); /* the warning to log */
        CHECK(!geo_enabled(g));
        geo_status(g, status, sizeof(status));
        CHECK(strstr(status, "country off (") != NULL);
        struct geo_reader *r = geo_reader_new(g);
        uint8_t a[16];
        struct geo_info info;
        CHECK_EQ(geo_lookup(r, parse_addr("1.1.1.1", a), a, &info), -ENOENT);
        geo_reader_free(r);
        geo_close(g);
        config_free(c);
    }
    /* Missing: -ENOENT, named. */
    struct config *c = geo_cfg("/nonexistent/asn.mmdb", NULL, true);
    struct geo *g = NULL;
    CHECK_EQ(geo_open(c, &g, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "geo.asn-database: /nonexistent/asn.mmdb: No such file") != NULL);
    config_free(c);
    /* Swapped settings: a country database where the ASN one goes. */
    c = geo_cfg(MAXMIND_CC, MAXMIND_ASN, true);
    CHECK_EQ(geo_open(c, &g, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "is a country database") != NULL);
    config_free(c);
    /* Nothing configured: on, with nothing to say. */
    c = geo_cfg(NULL, NULL, true);
    CHECK_EQ(geo_open(c, &g, err, sizeof(err)), 0);
    CHECK(!geo_enabled(g));
    CHECK_STR(geo_status(g, status, sizeof(status)),
              "asn off (not configured); country off (not configured)");
    geo_close(g);
    config_free(c);
}

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, data, len);
    close(fd);
    return w == (ssize_t)len ? 0 : -EIO;
}

static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Opens path as both kinds, not required, and looks a few addresses up:
 * whatever the bytes, no crash (ASan/UBSan builds check the rest). */
static void open_and_probe(const char *path)
{
    static const char *const addrs[] = {"1.128.0.0", "81.2.69.160", "::1", "2001:218::1",
                                        "255.255.255.255"};
    struct config *c = geo_cfg(path, NULL, false);
    struct geo *g = NULL;
    if (geo_open(c, &g, err, sizeof(err)) == 0) {
        struct geo_reader *r = geo_reader_new(g);
        for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
            uint8_t a[16];
            struct geo_info info;
            int fam = parse_addr(addrs[i], a);
            geo_lookup(r, fam, a, &info);
            CHECK(strlen(info.org) < GEO_ORG_MAX);
        }
        geo_reader_free(r);
        geo_close(g);
    }
    config_free(c);
}

static void test_truncated_and_random(void)
{
    char path[300];
    size_t len = 0;
    uint8_t *db = read_all(MAXMIND_ASN, &len);
    unsigned tried = 0;

    CHECK(db != NULL);
    snprintf(path, sizeof(path), "%s/cut.mmdb", tmpdir);
    for (size_t cut = 0; db && cut < len; cut += 97, tried++) {
        CHECK_EQ(write_file(path, db, cut), 0);
        open_and_probe(path);
    }
    /* Flipped bytes through the tree, the data and the metadata. */
    srand(42);
    for (unsigned i = 0; db && i < 200; i++, tried++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, db, len);
        for (unsigned k = 0; k < 8; k++)
            copy[(size_t)rand() % len] ^= (uint8_t)(1 + rand() % 255);
        CHECK_EQ(write_file(path, copy, len), 0);
        open_and_probe(path);
        free(copy);
    }
    /* Random bytes ending in a valid metadata marker. */
    static const uint8_t marker[] = "\xab\xcd\xefMaxMind.com";
    for (unsigned i = 0; i < 50; i++, tried++) {
        uint8_t buf[2048];
        for (size_t k = 0; k < sizeof(buf); k++)
            buf[k] = (uint8_t)rand();
        memcpy(buf + 1000, marker, sizeof(marker) - 1);
        CHECK_EQ(write_file(path, buf, sizeof(buf)), 0);
        open_and_probe(path);
    }
    printf("#   %u damaged files opened without a crash\n", tried);
    free(db);
}

/* The database the tests build: the test internet's addresses. */
static void test_built_database(void)
{
    struct geo *g = open_ok(built_asn, built_cc);
    struct geo_reader *r = g ? geo_reader_new(g) : NULL;
    struct geo_info info;
    uint8_t a[16];

    CHECK_EQ(geo_lookup(r, parse_addr("127.61.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);
    CHECK_STR(info.org, "M247 Europe SRL");
    CHECK_STR(info.country, "RO");
    CHECK_EQ(geo_lookup(r, parse_addr("127.61.13.200", a), a, &info), 0);
    CHECK_EQ(info.asn, 64501);
    CHECK_STR(info.country, "RU");
    CHECK_EQ(geo_lookup(r, parse_addr("fd61:10::53", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);
    CHECK_EQ(geo_lookup(r, parse_addr("127.61.99.1", a), a, &info), 0);
    CHECK_EQ(info.asn, 0);
    CHECK_STR(info.country, "");
    /* The org with a quote comes back as written. */
    CHECK_EQ(geo_lookup(r, parse_addr("127.61.14.1", a), a, &info), 0);
    CHECK_STR(info.org, "Gatehouse \"Quoted\" Org");
    geo_reader_free(r);
    geo_close(g);
}

/* A config with geo rules, loaded through config.c. */
static struct config *rules_cfg(const char *extra_policy)
{
    char text[2048];
    struct config *c = NULL;
    snprintf(text, sizeof(text),
             "geo:\n"
             "  asn-database: %s\n"
             "  country-database: %s\n"
             "  asn-lists: %s/blocklists/vpn_networks.yaml\n"
             "policies:\n"
             "  pupil:\n"
             "    block-asn: [vpn_providers, AS64501, 64500]\n"
             "    block-countries: [RU]\n"
             "    block-networks: [9.9.9.0/24, \"2620:fe::/48\"]\n"
             "  staff:\n"
             "    block: []\n"
             "%s"
             "segments:\n"
             "  - name: pupil\n"
             "    networks: [10.20.0.0/16]\n"
             "    policy: pupil\n"
             "  - name: staff\n"
             "    networks: [10.10.0.0/16]\n"
             "    policy: staff\n",
             built_asn, built_cc, getenv("PWD") ? getenv("PWD") : ".",
             extra_policy ? extra_policy : "");
    int rc = config_load_buffer("geo.yaml", text, strlen(text), &c, err, sizeof(err));
    if (rc)
        printf("#   %s\n", err);
    return c;
}

/* A DNS answer: question name.test A, then the given A/AAAA records. */
static size_t answer_msg(uint8_t *m, const char *const *addrs, size_t n)
{
    static const uint8_t q[] = {4, 'n', 'a', 'm', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    size_t off = 12;
    memset(m, 0, 12);
    m[2] = 0x81;
    m[3] = 0x80;
    m[5] = 1;
    m[7] = (uint8_t)n;
    memcpy(m + off, q, sizeof(q));
    off += sizeof(q);
    for (size_t i = 0; i < n; i++) {
        uint8_t a[16];
        int fam = parse_addr(addrs[i], a);
        size_t rl = fam == 4 ? 4 : 16;
        uint8_t rr[] = {0xc0, 12, 0, fam == 4 ? 1 : 28, 0, 1, 0, 0, 1, 0, 0, (uint8_t)rl};
        memcpy(m + off, rr, sizeof(rr));
        off += sizeof(rr);
        memcpy(m + off, a, rl);
        off += rl;
    }
    return off;
}

static void test_rules(void)
{
    struct config *c = rules_cfg(NULL);
    struct geo *g = NULL;
    struct geo_ruleset *rs = NULL;
    struct geo_match m;
    char text[256];
    uint8_t msg[512];

    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_EQ(c->policies[0].nblock_asn, 3);
    CHECK(c->policies[0].nasns >= 10); /* the list expanded, plus two numbers */
    for (size_t i = 1; i < c->policies[0].nasns; i++)
        CHECK(c->policies[0].asns[i - 1] < c->policies[0].asns[i]);
    CHECK_EQ(geo_open(c, &g, err, sizeof(err)), 0);
    CHECK_EQ(geo_ruleset_build(c, &rs), 0);
    struct geo_reader *r = geo_reader_new(g);
    const struct geo_rules *pupil = geo_rules_of_segment(rs, 0);
    CHECK(pupil != NULL);
    CHECK(geo_rules_of_segment(rs, 1) == NULL); /* staff: no geo rules, one branch */
    CHECK(geo_rules_of_segment(rs, 2) == NULL);
    CHECK(geo_rules_of_segment(rs, -1) == NULL);
    CHECK_STR(geo_rules_policy(pupil), "pupil");

    /* By network owner, from the list. */
    const char *const vpn[] = {"127.61.12.1", "127.61.10.5"};
    size_t len = answer_msg(msg, vpn, 2);
    /* 127.61.12.1 is AS64500: listed too, so the first address decides. */
    CHECK(geo_check_answer(r, pupil, msg, len, &m));
    CHECK_EQ(m.by, GEO_BY_ASN);
    CHECK_EQ(m.info.asn, 64500);
    const char *const m247[] = {"127.61.99.1", "127.61.10.5"};
    len = answer_msg(msg, m247, 2);
    CHECK(geo_check_answer(r, pupil, msg, len, &m));
    CHECK_EQ(m.info.asn, 9009);
    CHECK_STR(m.info.country, "RO");
    CHECK_STR(geo_match_text(&m, "pupil", text, sizeof(text)),
              "network AS9009 (M247 Europe SRL) blocked (policy pupil)");
    /* By country. */
    const char *const ru[] = {"127.61.13.7"};
    len = answer_msg(msg, ru, 1);
    CHECK(geo_check_answer(r, pupil, msg, len, &m));
    /* AS64501 is listed as a number, so ASN wins over country. */
    CHECK_EQ(m.by, GEO_BY_ASN);
    /* By network, IPv6 too. */
    const char *const doh[] = {"2620:fe::fe"};
    len = answer_msg(msg, doh, 1);
    CHECK(geo_check_answer(r, pupil, msg, len, &m));
    CHECK_EQ(m.by, GEO_BY_NETWORK);
    CHECK_STR(geo_match_text(&m, "pupil", text, sizeof(text)),
              "network 2620:fe::/48 blocked (policy pupil)");
    /* Not blocked: unknown networks, a GB school ISP not listed. */
    const char *const fine[] = {"127.61.99.1", "192.0.2.1", "9.9.8.9"};
    len = answer_msg(msg, fine, 3);
    CHECK(!geo_check_answer(r, pupil, msg, len, &m));
    /* Malformed and truncated messages match nothing. */
    for (size_t cut = 0; cut < len; cut++)
        CHECK(!geo_check_answer(r, pupil, msg, cut, &m));
    CHECK(!geo_check_answer(r, NULL, msg, len, &m));

    /* Country alone: a policy with only block-countries. */
    geo_ruleset_free(rs);
    geo_reader_free(r);
    geo_close(g);
    config_free(c);
    c = rules_cfg("  ru:\n    block-countries: [RU, NL]\n");
    CHECK(c != NULL);
    if (c && geo_open(c, &g, err, sizeof(err)) == 0 && geo_ruleset_build(c, &rs) == 0) {
        r = geo_reader_new(g);
        const struct geo_rules *gr = geo_rules_of_policy(rs, 2);
        uint8_t a[16];
        CHECK(gr != NULL);
        CHECK(geo_check_address(r, gr, parse_addr("127.61.13.7", a), a, &m));
        CHECK_EQ(m.by, GEO_BY_COUNTRY);
        CHECK_STR(geo_match_text(&m, "ru", text, sizeof(text)), "country RU blocked (policy ru)");
        CHECK(!geo_check_address(r, gr, parse_addr("127.61.10.5", a), a, &m)); /* RO */
        geo_reader_free(r);
        geo_ruleset_free(rs);
        geo_close(g);
    }
    config_free(c);
}

/* Config errors: each at its line and column. */
static void test_config_errors(void)
{
    static const struct {
        const char *yaml;
        const char *want;
    } cases[] = {
        {"policies:\n  p:\n    block-asn: [AS0]\n",
         "geo.yaml:3:17: policies.p.block-asn[0]: expected an AS number"},
        {"policies:\n  p:\n    block-asn: [23456]\n",
         "geo.yaml:3:17: policies.p.block-asn[0]: expected an AS number"},
        {"policies:\n  p:\n    block-asn: [AS99999999999]\n",
         "geo.yaml:3:17: policies.p.block-asn[0]: expected an AS number"},
        {"policies:\n  p:\n    block-asn: [AS9009, 9009]\n",
         "geo.yaml:3:25: policies.p.block-asn[1]: duplicate entry"},
        {"policies:\n  p:\n    block-asn: [Bad_List]\n",
         "geo.yaml:3:17: policies.p.block-asn[0]: expected an AS number (e.g. AS9009) or the name"},
        {"policies:\n  p:\n    block-asn:\n      - 9009\n      - vpn_providers\n",
         "geo.yaml:5:9: policies.p.block-asn[1]: 'vpn_providers' names a list, but geo.asn-lists "
         "is not set"},
        {"geo:\n  asn-lists: @LISTS@\npolicies:\n  p:\n    block-asn: [9009, no_such]\n",
         "geo.yaml:5:23: policies.p.block-asn[1]: no list 'no_such' in"},
        {"geo:\n  asn-lists: /nonexistent.yaml\npolicies:\n  p:\n    block-asn: [vpn]\n",
         "geo.yaml:2:14: geo.asn-lists: /nonexistent.yaml: No such file"},
        {"policies:\n  p:\n    block-countries: [ru]\n",
         "geo.yaml:3:23: policies.p.block-countries[0]: expected an ISO 3166-1"},
        {"policies:\n  p:\n    block-countries: [GBR]\n",
         "geo.yaml:3:23: policies.p.block-countries[0]: expected an ISO"},
        {"policies:\n  p:\n    block-networks: [9.9.9.9/24]\n",
         "geo.yaml:3:22: policies.p.block-networks[0]: expected ADDR/PREFIX"},
        {"policies:\n  p:\n    block-networks: 9.9.9.0/24\n",
         "geo.yaml:3:21: policies.p.block-networks: expected a list"},
        {"geo:\n  required: maybe\n", "geo.yaml:2:13: geo.required: expected true or false"},
        {"geo:\n  asn-databse: /x\n", "geo.yaml:2:3: unknown key 'geo.asn-databse'"},
    };
    char lists[512], text[1024];
    snprintf(lists, sizeof(lists), "%s/blocklists/vpn_networks.yaml",
             getenv("PWD") ? getenv("PWD") : ".");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *c = NULL;
        const char *at = strstr(cases[i].yaml, "@LISTS@");
        if (at)
            snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - cases[i].yaml), cases[i].yaml,
                     lists, at + 7);
        else
            snprintf(text, sizeof(text), "%s", cases[i].yaml);
        int rc = config_load_buffer("geo.yaml", text, strlen(text), &c, err, sizeof(err));
        CHECK(rc < 0);
        CHECK(c == NULL);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0) {
            unit_failed_checks++;
            printf("#   case %zu: want '%s...'\n#          got '%s'\n", i, cases[i].want, err);
        }
        config_free(c);
    }
    /* And a good one prints and reloads the same. */
    struct config *c = rules_cfg(NULL);
    CHECK(c != NULL);
    if (c) {
        char *buf = NULL;
        size_t blen = 0;
        FILE *f = open_memstream(&buf, &blen);
        config_print(f, c);
        fclose(f);
        struct config *again = NULL;
        CHECK_EQ(config_load_buffer("again", buf, blen, &again, err, sizeof(err)), 0);
        CHECK(strstr(buf, "    block-asn:\n      - \"vpn_providers\"\n      - \"AS64501\"\n      - "
                          "\"AS64500\"\n") != NULL);
        CHECK(strstr(buf, "    block-countries:\n      - \"RU\"\n") != NULL);
        CHECK(again && again->policies[0].nasns == c->policies[0].nasns);
        CHECK_EQ(config_reloadable(c, again, err, sizeof(err)), 0);
        config_free(again);
        free(buf);
        config_free(c);
    }
}

/* geo.asn-lists format errors. */
static void test_lists_errors(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"version: 2\nlists: {}\n", ":1:10: version: expected 1"},
        {"version: 1\nlists:\n  a:\n    entries:\n      - {asn: 9009, name: x}\n",
         ":5:9: lists.a.entries[0]: every entry needs a source"},
        {"version: 1\nlists:\n  a:\n    entries:\n      - {asn: x, source: s}\n",
         ":5:15: lists.a.entries[0].asn: expected an AS number"},
        {"version: 1\nlists:\n  a:\n    entries:\n      - {asn: 1, source: s, colour: red}\n",
         ":5:29: lists.a.entries[0]: unknown key 'colour'"},
        {"version: 1\nlists:\n  a:\n    entries:\n      - {asn: 1, source: s, confidence: sure}\n",
         ":5:41: lists.a.entries[0].confidence: expected high, medium or low"},
        {"version: 1\nlists:\n  A:\n    entries: []\n", ":3:3: lists: a name must be"},
        {"version: 1\nlists:\n  a:\n    entries: []\n", ":4:14: lists.a.entries: expected 1 to"},
        {"version: 1\nlists: [\n", ": YAML error"},
    };
    char path[300];
    snprintf(path, sizeof(path), "%s/lists.yaml", tmpdir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct geo_lists *l = NULL;
        CHECK_EQ(write_file(path, cases[i].text, strlen(cases[i].text)), 0);
        CHECK(geo_lists_load(path, &l, err, sizeof(err)) < 0);
        CHECK(l == NULL);
        if (strncmp(err, path, strlen(path)) || !strstr(err, cases[i].want)) {
            unit_failed_checks++;
            printf("#   case %zu: want '%s', got '%s'\n", i, cases[i].want, err);
        }
    }
    /* The shipped file loads, and its lists are what the README says. */
    struct geo_lists *l = NULL;
    size_t n = 0;
    CHECK_EQ(geo_lists_load("blocklists/vpn_networks.yaml", &l, err, sizeof(err)), 0);
    const uint32_t *v = geo_lists_find(l, "vpn_providers", &n);
    CHECK(v != NULL && n >= 5);
    bool m247 = false;
    for (size_t i = 0; v && i < n; i++)
        m247 = m247 || v[i] == 9009;
    CHECK(m247);
    CHECK(geo_lists_find(l, "tor_exits", &n) != NULL);
    CHECK(geo_lists_find(l, "anonymising_proxies", &n) != NULL);
    CHECK(geo_lists_find(l, "nope", &n) == NULL);
    geo_lists_free(l);
}

static int run_builder(const char *outdir, const char *prefix)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "perl " GEO "build-test-mmdb.pl %s %s", outdir, prefix);
    return system(cmd);
}

/* A replaced file is picked up by geo_maybe_reopen and, after a refresh,
 * by readers; a corrupt replacement is reported once and the old file kept. */
static void test_reopen(void)
{
    char dir[300], asn[400], status[1024];
    struct geo_info info;
    uint8_t a[16];

    snprintf(dir, sizeof(dir), "%s/reopen", tmpdir);
    mkdir(dir, 0755);
    CHECK_EQ(run_builder(dir, "127.61"), 0);
    snprintf(asn, sizeof(asn), "%s/gatehouse-test-asn.mmdb", dir);
    struct geo *g = open_ok(asn, NULL);
    struct geo_reader *r = geo_reader_new(g);
    CHECK_EQ(geo_lookup(r, parse_addr("127.61.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);
    CHECK_EQ(geo_maybe_reopen(g, err, sizeof(err)), 0);

    /* Replace it (the builder renames over it) with another world. */
    CHECK_EQ(run_builder(dir, "127.62"), 0);
    CHECK_EQ(geo_maybe_reopen(g, err, sizeof(err)), 1);
    CHECK_EQ(geo_maybe_reopen(g, err, sizeof(err)), 0);
    /* The reader keeps its snapshot until its refresh. */
    CHECK_EQ(geo_lookup(r, parse_addr("127.61.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);
    geo_reader_refresh(r);
    CHECK_EQ(geo_lookup(r, parse_addr("127.61.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 0);
    CHECK_EQ(geo_lookup(r, parse_addr("127.62.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);

    /* A corrupt replacement: an error once, the old database kept. */
    char tmp[420];
    snprintf(tmp, sizeof(tmp), "%s.new", asn);
    CHECK_EQ(write_file(tmp, "garbage", 7), 0);
    CHECK_EQ(rename(tmp, asn), 0);
    CHECK(geo_maybe_reopen(g, err, sizeof(err)) < 0);
    CHECK(strstr(err, asn) != NULL);
    CHECK_EQ(geo_maybe_reopen(g, err, sizeof(err)), 0);
    geo_reader_refresh(r);
    CHECK_EQ(geo_lookup(r, parse_addr("127.62.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);
    geo_status(g, status, sizeof(status));
    CHECK(strstr(status, "asn Gatehouse-Test-ASN (built ") != NULL);
    CHECK(strstr(status, "kept the old files") != NULL);
    /* A deleted file keeps serving from its mapping. */
    unlink(asn);
    CHECK_EQ(geo_maybe_reopen(g, err, sizeof(err)), 0);
    CHECK_EQ(geo_lookup(r, parse_addr("127.62.10.5", a), a, &info), 0);
    CHECK_EQ(info.asn, 9009);
    /* SIGHUP with the file gone and geo.required: keeps the old state. */
    struct config *c = geo_cfg(asn, NULL, true);
    CHECK_EQ(geo_configure(g, c, err, sizeof(err)), -ENOENT);
    c->geo_required = false;
    CHECK_EQ(geo_configure(g, c, err, sizeof(err)), 0); /* now off, with a warning */
    CHECK(err[0] != '\0');
    geo_reader_refresh(r);
    CHECK_EQ(geo_lookup(r, parse_addr("127.62.10.5", a), a, &info), -ENOENT);
    config_free(c);
    geo_reader_free(r);
    geo_close(g);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The cost of one answer checked (PERFORMANCE.md: measure, never assert):
 * a one-address answer that is not blocked, against the pupil rules (ASN
 * list + country + networks), median of 5 runs. */
static void bench_check(void)
{
    struct config *c = rules_cfg(NULL);
    struct geo *g = NULL;
    struct geo_ruleset *rs = NULL;
    uint8_t msg[512];
    struct geo_match m;
    static const char *const cases[][2] = {{"127.61.99.1", "built db, address in no network"},
                                           {"127.61.12.77", "built db, AS64500 (blocked)"},
                                           {"81.2.69.160", "built db, outside the test world"}};
    if (!c || geo_open(c, &g, err, sizeof(err)) || geo_ruleset_build(c, &rs)) {
        CHECK(0);
        config_free(c);
        return;
    }
    struct geo_reader *r = geo_reader_new(g);
    const struct geo_rules *pupil = geo_rules_of_segment(rs, 0);
    for (size_t k = 0; k < 3; k++) {
        const char *addr[] = {cases[k][0]};
        size_t len = answer_msg(msg, addr, 1);
        uint64_t runs[5];
        unsigned hits = 0;
        for (int run = 0; run < 5; run++) {
            uint64_t t0 = now_ns();
            for (int i = 0; i < 200000; i++)
                hits += geo_check_answer(r, pupil, msg, len, &m);
            runs[run] = (now_ns() - t0) / 200000;
        }
        for (int i = 1; i < 5; i++)
            for (int j = i; j > 0 && runs[j - 1] > runs[j]; j--) {
                uint64_t t = runs[j];
                runs[j] = runs[j - 1];
                runs[j - 1] = t;
            }
        printf("#   bench: geo_check_answer %s: %llu ns per answer (hits %u)\n", cases[k][1],
               (unsigned long long)runs[2], hits);
    }
    /* And the MaxMind test ASN file, a plain lookup. */
    geo_reader_free(r);
    geo_ruleset_free(rs);
    geo_close(g);
    config_free(c);
    g = open_ok(MAXMIND_ASN, MAXMIND_CC);
    r = g ? geo_reader_new(g) : NULL;
    uint8_t a[16];
    struct geo_info info;
    int fam = parse_addr("1.128.0.0", a);
    uint64_t t0 = now_ns();
    for (int i = 0; r && i < 200000; i++)
        geo_lookup(r, fam, a, &info);
    printf("#   bench: geo_lookup (ASN+org+country, MaxMind test files): %llu ns\n",
           (unsigned long long)((now_ns() - t0) / 200000));
    geo_reader_free(r);
    geo_close(g);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(built_asn, sizeof(built_asn), "%s/gatehouse-test-asn.mmdb", tmpdir);
    snprintf(built_cc, sizeof(built_cc), "%s/gatehouse-test-country.mmdb", tmpdir);
    if (run_builder(tmpdir, "127.61") != 0)
        printf("#   build-test-mmdb.pl failed: is libmaxmind-db-writer-perl installed?\n");
    UNIT_RUN(test_asn_matches_source);
    UNIT_RUN(test_country_matches_source);
    UNIT_RUN(test_broken_databases);
    UNIT_RUN(test_truncated_and_random);
    UNIT_RUN(test_built_database);
    UNIT_RUN(test_rules);
    UNIT_RUN(test_config_errors);
    UNIT_RUN(test_lists_errors);
    UNIT_RUN(test_reopen);
    UNIT_RUN(bench_check);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        printf("#   could not remove %s\n", tmpdir);
    return unit_done();
}
