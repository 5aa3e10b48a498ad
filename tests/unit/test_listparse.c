/*
 * test_listparse.c - the blocklist line parser: every format, the files in
 * tests/data/blocklists/ (real UT1 and hagezi subsets, synthetic format
 * samples, a deliberately malformed file) with exact line numbers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listparse.h"
#include "unit.h"

#ifndef TEST_DATA
#define TEST_DATA "tests/data/blocklists"
#endif

#define MAXN 64

struct got {
    char names[MAXN][LISTPARSE_NAME_MAX + 1];
    bool wild[MAXN];
    int n;
};

static int collect_cb(const struct listparse_name *n, void *arg)
{
    struct got *g = arg;
    if (g->n < MAXN) {
        memcpy(g->names[g->n], n->name, n->len);
        g->names[g->n][n->len] = '\0';
        g->wild[g->n] = n->wildcard;
        g->n++;
    }
    return 0;
}

/* Parse one line in a fresh parser; returns the kind. */
static int one(enum listparse_format f, const char *line, struct got *g, char *reason)
{
    struct listparse p;
    listparse_init(&p, f);
    memset(g, 0, sizeof *g);
    int k = listparse_line(&p, line, strlen(line), collect_cb, g);
    if (reason)
        memcpy(reason, p.reason, sizeof p.reason);
    return k;
}

/* A whole file: names joined with ' ', and "LINE: reason" for every
 * non-name line, joined with '\n'. */
struct filerun {
    char names[8192];
    char notes[8192];
    unsigned long lines;
    int kinds[5];
};

static int file_cb(const struct listparse_name *n, void *arg)
{
    struct filerun *r = arg;
    size_t l = strlen(r->names);
    snprintf(r->names + l, sizeof r->names - l, "%s%s%.*s", l ? " " : "", n->wildcard ? "*." : "",
             (int)n->len, n->name);
    return 0;
}

static int run_file(const char *file, enum listparse_format f, struct filerun *r)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TEST_DATA, file);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return -errno;
    memset(r, 0, sizeof *r);
    struct listparse p;
    listparse_init(&p, f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        int k = listparse_line(&p, line, (size_t)n, file_cb, r);
        if (k < 0)
            break;
        r->kinds[k]++;
        if (k >= LISTPARSE_SKIPPED_IP) {
            size_t l = strlen(r->notes);
            snprintf(r->notes + l, sizeof r->notes - l, "%s%s:%lu: %s", l ? "\n" : "", file, p.line,
                     p.reason);
        }
    }
    r->lines = p.line;
    free(line);
    fclose(fp);
    return 0;
}

static void test_domains_plain(void)
{
    struct got g;
    CHECK_EQ(one(LISTPARSE_AUTO, "example.com\n", &g, NULL), LISTPARSE_NAMES);
    CHECK_EQ(g.n, 1);
    CHECK_STR(g.names[0], "example.com");
    CHECK(!g.wild[0]);
    CHECK_EQ(one(LISTPARSE_DOMAINS, "*.Example.COM.\r\n", &g, NULL), LISTPARSE_NAMES);
    CHECK_STR(g.names[0], "example.com");
    CHECK(g.wild[0]);
    CHECK_EQ(one(LISTPARSE_AUTO, "  spaced.example  # why\n", &g, NULL), LISTPARSE_NAMES);
    CHECK_STR(g.names[0], "spaced.example");
    CHECK_EQ(one(LISTPARSE_AUTO, "_video-bagarre.com", &g, NULL), LISTPARSE_NAMES);
    CHECK_EQ(one(LISTPARSE_AUTO, "# comment", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(one(LISTPARSE_AUTO, "! comment", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(one(LISTPARSE_AUTO, "; comment", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(one(LISTPARSE_AUTO, "\r\n", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(one(LISTPARSE_AUTO, "\xEF\xBB\xBF", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(g.n, 0);
}

static void test_name_limits(void)
{
    char out[LISTPARSE_NAME_MAX + 1], reason[LISTPARSE_REASON_MAX], in[400];
    bool w;
    /* 63-character label is fine, 64 is not. */
    memset(in, 'a', 63);
    strcpy(in + 63, ".example");
    CHECK_EQ(listparse_name(in, strlen(in), out, &w, reason), 63 + 8);
    memset(in, 'a', 64);
    strcpy(in + 64, ".example");
    CHECK_EQ(listparse_name(in, strlen(in), out, &w, reason), -EINVAL);
    CHECK_STR(reason, "label longer than 63 characters");
    /* 253 characters in all is fine, 254 is not (trailing dot not counted). */
    size_t o = 0;
    while (o + 4 <= 252) {
        memcpy(in + o, "abc.", 4);
        o += 4;
    }
    memcpy(in + o, "com", 3); /* 252 + ... */
    o += 3;
    in[o] = '\0';
    size_t len = strlen(in);
    CHECK(len >= 253);
    in[253] = '\0';
    if (in[252] == '.')
        in[252] = 'x';
    CHECK_EQ(listparse_name(in, 253, out, &w, reason), 253);
    in[253] = '.';
    CHECK_EQ(listparse_name(in, 254, out, &w, reason), 253); /* trailing dot */
    in[253] = 'x';
    in[254] = '\0';
    CHECK_EQ(listparse_name(in, 254, out, &w, reason), -EINVAL);
    CHECK_STR(reason, "name longer than 253 characters");
    CHECK_EQ(listparse_name("a.-b_c.d", 8, out, &w, reason), 8); /* seen in real lists */
    CHECK_EQ(listparse_name("a.b.", 4, out, &w, reason), 3);
    CHECK_EQ(listparse_name(".", 1, out, &w, reason), -EINVAL);
    CHECK_EQ(listparse_name(".a", 2, out, &w, reason), -EINVAL);
    CHECK_STR(reason, "empty label");
    CHECK_EQ(listparse_name("a..", 3, out, &w, reason), -EINVAL);
}

static void test_idn(void)
{
    struct got g;
    char reason[LISTPARSE_REASON_MAX];
    CHECK_EQ(one(LISTPARSE_AUTO,
                 "b\xc3\xbc"
                 "cher.example",
                 &g, NULL),
             LISTPARSE_NAMES);
    CHECK_STR(g.names[0], "xn--bcher-kva.example");
    /* UTS #46 folds case: BÜCHER -> bücher. */
    CHECK_EQ(one(LISTPARSE_AUTO,
                 "B\xc3\x9c"
                 "CHER.Example",
                 &g, NULL),
             LISTPARSE_NAMES);
    CHECK_STR(g.names[0], "xn--bcher-kva.example");
    CHECK_EQ(one(LISTPARSE_AUTO, "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
                 &g, NULL),
             LISTPARSE_NAMES); /* 例え.テスト */
    CHECK_STR(g.names[0], "xn--r8jz45g.xn--zckzah");
    CHECK_EQ(one(LISTPARSE_AUTO, "bad\xff.example", &g, reason), LISTPARSE_BAD);
    CHECK(strncmp(reason, "invalid internationalised name", 30) == 0);
}

static void test_hosts(void)
{
    struct got g;
    CHECK_EQ(one(LISTPARSE_AUTO, "0.0.0.0 ads.example", &g, NULL), LISTPARSE_NAMES);
    CHECK_STR(g.names[0], "ads.example");
    CHECK_EQ(one(LISTPARSE_HOSTS, "127.0.0.1\ta.example\tB.example # c", &g, NULL),
             LISTPARSE_NAMES);
    CHECK_EQ(g.n, 2);
    CHECK_STR(g.names[1], "b.example");
    CHECK_EQ(one(LISTPARSE_AUTO, "127.0.0.1 localhost", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(one(LISTPARSE_AUTO, "::1 localhost ip6-localhost", &g, NULL), LISTPARSE_EMPTY);
    CHECK_EQ(one(LISTPARSE_AUTO, ":: ads6.example", &g, NULL), LISTPARSE_NAMES);
    CHECK_EQ(one(LISTPARSE_HOSTS, "ads.example", &g, NULL), LISTPARSE_BAD);
    CHECK_EQ(one(LISTPARSE_DOMAINS, "0.0.0.0 ads.example", &g, NULL), LISTPARSE_BAD);
}

static void test_ip_skipped(void)
{
    struct got g;
    char reason[LISTPARSE_REASON_MAX];
    CHECK_EQ(one(LISTPARSE_AUTO, "128.121.123.198", &g, reason), LISTPARSE_SKIPPED_IP);
    CHECK_STR(reason, "address 128.121.123.198 is not a name");
    CHECK_EQ(one(LISTPARSE_DOMAINS, "10.0.0.0/8", &g, NULL), LISTPARSE_SKIPPED_IP);
    CHECK_EQ(one(LISTPARSE_AUTO, "2001:db8::1", &g, NULL), LISTPARSE_SKIPPED_IP);
    CHECK_EQ(g.n, 0);
}

static void test_adblock(void)
{
    struct got g;
    char reason[LISTPARSE_REASON_MAX];
    CHECK_EQ(one(LISTPARSE_AUTO, "||Ads.Example.com^", &g, NULL), LISTPARSE_NAMES);
    CHECK_STR(g.names[0], "ads.example.com");
    CHECK_EQ(one(LISTPARSE_ADBLOCK, "||x.example^$important,third-party", &g, NULL),
             LISTPARSE_NAMES);
    CHECK_EQ(one(LISTPARSE_AUTO, "||x.example^|", &g, NULL), LISTPARSE_NAMES);
    CHECK_EQ(one(LISTPARSE_AUTO, "@@||x.example^", &g, reason), LISTPARSE_UNSUPPORTED);
    CHECK_STR(reason, "adblock exception (@@) not supported");
    CHECK_EQ(one(LISTPARSE_AUTO, "||x.example^$dnstype=AAAA", &g, reason), LISTPARSE_UNSUPPORTED);
    CHECK_STR(reason, "adblock option $dnstype=AAAA not supported");
    CHECK_EQ(one(LISTPARSE_AUTO, "||x.example/path", &g, NULL), LISTPARSE_UNSUPPORTED);
    CHECK_EQ(one(LISTPARSE_AUTO, "|https://x.example/", &g, NULL), LISTPARSE_UNSUPPORTED);
    CHECK_EQ(one(LISTPARSE_AUTO, "x.example##.banner", &g, NULL), LISTPARSE_UNSUPPORTED);
    CHECK_EQ(one(LISTPARSE_AUTO, "||^", &g, NULL), LISTPARSE_BAD);
    CHECK_EQ(one(LISTPARSE_RPZ, "||x.example^", &g, NULL), LISTPARSE_BAD);
    CHECK_EQ(g.n, 0);
}

static void test_rpz_lines(void)
{
    struct listparse p;
    struct got g = {0};
    const char *lines[] = {"$ORIGIN rpz.test.",       "@ SOA ns.rpz.test. h.rpz.test. 1 2 3 4 5",
                           "@ NS ns.rpz.test.",       "bad.example CNAME .",
                           "*.bad.example CNAME .",   "x.example.rpz.test. CNAME .",
                           "y.example 60 IN CNAME *."};
    listparse_init(&p, LISTPARSE_RPZ);
    int expect[] = {LISTPARSE_EMPTY, LISTPARSE_EMPTY, LISTPARSE_EMPTY, LISTPARSE_NAMES,
                    LISTPARSE_NAMES, LISTPARSE_NAMES, LISTPARSE_NAMES};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        CHECK_EQ(listparse_line(&p, lines[i], strlen(lines[i]), collect_cb, &g), expect[i]);
    CHECK_EQ(g.n, 4);
    CHECK_STR(g.names[0], "bad.example");
    CHECK(!g.wild[0]);
    CHECK_STR(g.names[1], "bad.example");
    CHECK(g.wild[1]);
    CHECK_STR(g.names[2], "x.example");
    CHECK_STR(g.names[3], "y.example");
    CHECK_EQ(p.line, 7);
    /* A plain domain line is not RPZ syntax. */
    CHECK_EQ(listparse_line(&p, "z.example", 9, collect_cb, &g), LISTPARSE_BAD);
    CHECK_STR(p.reason, "domains line in a rpz list");
}

static void test_file_ut1(void)
{
    struct filerun r;
    CHECK_EQ(run_file("ut1_drogue_sample.txt", LISTPARSE_DOMAINS, &r), 0);
    CHECK_EQ(r.lines, 30);
    CHECK_EQ(r.kinds[LISTPARSE_NAMES], 4);
    CHECK_EQ(r.kinds[LISTPARSE_SKIPPED_IP], 26);
    CHECK_EQ(r.kinds[LISTPARSE_BAD], 0);
    CHECK(strncmp(r.names,
                  "0-24bpautomentes.hu 05231997.tumblr.com 1000.members0703.kci.org "
                  "123zip.com",
                  80) == 0);
    CHECK(strncmp(r.notes, "ut1_drogue_sample.txt:5: address 128.121.123.198 is not a name", 62) ==
          0);

    CHECK_EQ(run_file("hagezi_doh_sample.txt", LISTPARSE_AUTO, &r), 0);
    CHECK_EQ(r.lines, 40);
    CHECK_EQ(r.kinds[LISTPARSE_EMPTY], 13); /* the "# Title:" header block */
    CHECK_EQ(r.kinds[LISTPARSE_NAMES], 27);
    CHECK_EQ(r.kinds[LISTPARSE_BAD], 0);
}

static void test_file_hosts(void)
{
    struct filerun r;
    CHECK_EQ(run_file("hosts_sample.txt", LISTPARSE_HOSTS, &r), 0);
    CHECK_STR(r.names, "bet365.com www.bet365.com 0-casino.info casino-two.example "
                       "big-casino.example good-one.example");
    CHECK_STR(r.notes, "hosts_sample.txt:8: address 0.0.0.0 is not a name\n"
                       "hosts_sample.txt:9: empty label");
}

static void test_file_adblock(void)
{
    struct filerun r;
    CHECK_EQ(run_file("adblock_sample.txt", LISTPARSE_ADBLOCK, &r), 0);
    CHECK_STR(r.names, "ads.example.com tracker.example.net *.wild.example.org "
                       "xn--bcher-kva.example plain-anchor.example");
    CHECK_STR(r.notes, "adblock_sample.txt:6: adblock exception (@@) not supported\n"
                       "adblock_sample.txt:7: adblock URL rule not supported\n"
                       "adblock_sample.txt:8: adblock option $dnstype=AAAA not supported\n"
                       "adblock_sample.txt:9: adblock cosmetic rule not supported");
}

static void test_file_rpz(void)
{
    struct filerun r;
    CHECK_EQ(run_file("rpz_sample.rpz", LISTPARSE_AUTO, &r), 0);
    CHECK_STR(r.names, "bad.example *.bad.example drop.example walled.example localdata.example");
    CHECK_STR(r.notes, "rpz_sample.rpz:12: RPZ passthru (exception) not supported\n"
                       "rpz_sample.rpz:13: RPZ rpz-ip trigger not supported\n"
                       "rpz_sample.rpz:14: owner outside.example.com. is outside $ORIGIN "
                       "rpz.gatehouse.test");
    CHECK_EQ(r.lines, 15);
}

static void test_file_malformed(void)
{
    struct filerun r;
    CHECK_EQ(run_file("malformed.txt", LISTPARSE_AUTO, &r), 0);
    CHECK_EQ(r.lines, 20);
    CHECK_STR(r.names, "good.example under_score_ok.example xn--bcher-kva.example "
                       "upper.example.com xn--caf-dma.example last.example");
    CHECK_STR(r.notes, "malformed.txt:2: unexpected text after name: mple.com\n"
                       "malformed.txt:3: empty label\n"
                       "malformed.txt:4: label longer than 63 characters\n"
                       "malformed.txt:6: invalid character '!' in name\n"
                       "malformed.txt:7: wildcard '*' only allowed as \"*.\" prefix\n"
                       "malformed.txt:8: numeric top-level label\n"
                       "malformed.txt:9: name longer than 253 characters\n"
                       "malformed.txt:11: wildcard '*' only allowed as \"*.\" prefix\n"
                       "malformed.txt:13: NUL byte in line\n"
                       "malformed.txt:14: line longer than 4096 bytes\n"
                       "malformed.txt:17: address 192.0.2.7 is not a name\n"
                       "malformed.txt:19: invalid internationalised name: string encoding error");
}

static int stop_cb(const struct listparse_name *n, void *arg)
{
    return -ECANCELED;
}

static void test_callback_stops(void)
{
    struct listparse p;
    listparse_init(&p, LISTPARSE_AUTO);
    CHECK_EQ(listparse_line(&p, "a.example", 9, stop_cb, NULL), -ECANCELED);
    CHECK_EQ(listparse_line(&p, "0.0.0.0 a.example b.example", 27, stop_cb, NULL), -ECANCELED);
}

static void test_format_names(void)
{
    enum listparse_format f;
    CHECK_EQ(listparse_format_parse("rpz", &f), 0);
    CHECK_EQ(f, LISTPARSE_RPZ);
    CHECK_EQ(listparse_format_parse("hosts", &f), 0);
    CHECK_EQ(f, LISTPARSE_HOSTS);
    CHECK_EQ(listparse_format_parse("csv", &f), -EINVAL);
    CHECK_STR(listparse_format_name(LISTPARSE_ADBLOCK), "adblock");
}

int main(void)
{
    UNIT_RUN(test_domains_plain);
    UNIT_RUN(test_name_limits);
    UNIT_RUN(test_idn);
    UNIT_RUN(test_hosts);
    UNIT_RUN(test_ip_skipped);
    UNIT_RUN(test_adblock);
    UNIT_RUN(test_rpz_lines);
    UNIT_RUN(test_file_ut1);
    UNIT_RUN(test_file_hosts);
    UNIT_RUN(test_file_adblock);
    UNIT_RUN(test_file_rpz);
    UNIT_RUN(test_file_malformed);
    UNIT_RUN(test_callback_stops);
    UNIT_RUN(test_format_names);
    return unit_done();
}
