/*
 * test_cache.c - the answer cache: message and RRset tables, TTL rules,
 * serve-stale, prefetch, eviction, flush, malformed wire, threads; and the
 * SipHash it is keyed with.
 *
 * Responses are built with ldns (ldns_pkt2wire compresses names, so the walk
 * meets real compression pointers) and served copies are parsed back with
 * ldns_wire2pkt to check what a client would see.
 */
#include "cache.h"
#include "siphash.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define NOW 1000000

static const struct cache_limits LIMITS = {
    .max_bytes = 8 << 20,
    .min_ttl = 0,
    .max_ttl = 86400,
    .max_negative_ttl = 3600,
    .stale_max_age = 3600,
};

struct spec {
    const char *qname;
    ldns_rr_type qtype;
    ldns_pkt_rcode rcode;
    const char *an[4], *ns[4], *ar[4]; /* NULL-terminated */
    bool edns;
    bool rd;
};

static void push_all(ldns_pkt *p, ldns_pkt_section sec, const char *const *rrs)
{
    for (int i = 0; i < 4 && rrs[i]; i++) {
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK) {
            printf("# bad RR in test: %s\n", rrs[i]);
            abort();
        }
        ldns_pkt_push_rr(p, sec, rr);
    }
}

/* Builds the response described by sp into out; returns its length. */
static size_t build(const struct spec *sp, uint8_t *out, size_t cap)
{
    ldns_pkt *p = ldns_pkt_new();
    ldns_rr *q = NULL;
    char qs[300];
    snprintf(qs, sizeof(qs), "%s IN %s", sp->qname,
             sp->qtype == LDNS_RR_TYPE_A      ? "A"
             : sp->qtype == LDNS_RR_TYPE_AAAA ? "AAAA"
             : sp->qtype == LDNS_RR_TYPE_MX   ? "MX"
                                              : "TXT");
    if (ldns_rr_new_question_frm_str(&q, qs, NULL, NULL) != LDNS_STATUS_OK)
        abort();
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
    ldns_pkt_set_id(p, 0x4242);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, sp->rd);
    ldns_pkt_set_rcode(p, (uint8_t)sp->rcode);
    push_all(p, LDNS_SECTION_ANSWER, sp->an);
    push_all(p, LDNS_SECTION_AUTHORITY, sp->ns);
    push_all(p, LDNS_SECTION_ADDITIONAL, sp->ar);
    if (sp->edns)
        ldns_pkt_set_edns_udp_size(p, 1232);
    uint8_t *wire = NULL;
    size_t len = 0;
    if (ldns_pkt2wire(&wire, p, &len) != LDNS_STATUS_OK || len > cap)
        abort();
    memcpy(out, wire, len);
    free(wire);
    ldns_pkt_free(p);
    return len;
}

/* Presentation name to wire (case kept). */
static size_t wname(const char *s, uint8_t *out)
{
    ldns_rdf *d = ldns_dname_new_frm_str(s);
    size_t n = ldns_rdf_size(d);
    memcpy(out, ldns_rdf_data(d), n);
    ldns_rdf_deep_free(d);
    return n;
}

static int put(struct cache *c, const char *qname, uint16_t qtype, const uint8_t *w, size_t len,
               time_t now)
{
    uint8_t n[256];
    size_t nl = wname(qname, n);
    return cache_msg_put(c, n, nl, qtype, LDNS_RR_CLASS_IN, w, len, now);
}

static int get(struct cache *c, const char *qname, uint16_t qtype, time_t now, bool stale,
               uint8_t *out, size_t cap, struct cache_msg_hit *hit)
{
    uint8_t n[256];
    size_t nl = wname(qname, n);
    return cache_msg_get(c, n, nl, qtype, LDNS_RR_CLASS_IN, now, stale, out, cap, hit);
}

static ldns_pkt *parse(const uint8_t *w, int len)
{
    ldns_pkt *p = NULL;
    if (len <= 0 || ldns_wire2pkt(&p, w, (size_t)len) != LDNS_STATUS_OK)
        return NULL;
    return p;
}

static uint32_t ttl_of(ldns_rr_list *l, size_t i)
{
    return ldns_rr_list_rr_count(l) > i ? ldns_rr_ttl(ldns_rr_list_rr(l, i)) : 0xdeadbeef;
}

static const struct spec A_SPEC = {
    .qname = "www.example.com.",
    .qtype = LDNS_RR_TYPE_A,
    .an = {"www.example.com. 300 IN A 192.0.2.1"},
    .ns = {"example.com. 3600 IN NS ns1.example.com."},
    .ar = {"ns1.example.com. 3600 IN A 192.0.2.53"},
    .rd = true,
};

/* --- SipHash ---------------------------------------------------------------- */

static void test_siphash_vectors(void)
{
    /* Aumasson and Bernstein, "SipHash: a fast short-input PRF", appendix A:
     * key 00..0f, message 00..0e; and the reference vectors.c entries. */
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    CHECK(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
    CHECK(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    CHECK(siphash24(key, msg, 1) == 0x74f839c593dc67fdULL);
    /* SipHash-1-3, all-zero key: values from an independent implementation
     * (the Rust digest sip_hash tests). */
    uint8_t zero[16] = {0};
    CHECK(siphash13(zero, "", 0) == 0xd1fba762150c532cULL);
    CHECK(siphash13(zero, "siphash", 7) == 0x8264ceeccb16bcbeULL);
    CHECK(siphash13(zero, "digest-sip_hash", 15) == 0xce31007e34130c0aULL);
    /* And it depends on the key and the length. */
    CHECK(siphash13(key, msg, 15) == siphash13(key, msg, 15));
    CHECK(siphash13(key, msg, 15) != siphash24(key, msg, 15));
    CHECK(siphash13(key, msg, 15) != siphash13(key, msg, 14));
    CHECK(siphash13(key, msg, 15) != siphash13(zero, msg, 15));
}

/* --- Message cache ----------------------------------------------------------- */

static void test_hit_miss(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    size_t len = build(&A_SPEC, w, sizeof(w));

    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit), 0);
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    int n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(n, (int)len);
    CHECK_EQ(hit.rcode, 0);
    CHECK(!hit.stale);
    CHECK_EQ(hit.ttl_left, 300);
    CHECK_EQ(hit.ttl_orig, 300);
    /* Stored header: ID 0, QR and RA set, RD clear. */
    CHECK_EQ(out[0], 0);
    CHECK_EQ(out[1], 0);
    CHECK(out[2] & 0x80);
    CHECK(!(out[2] & 0x01));
    CHECK(out[3] & 0x80);
    CHECK(memcmp(out + 4, w + 4, 8) == 0);
    /* Other type, other name: misses. */
    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_AAAA, NOW, false, out, sizeof(out), &hit), 0);
    CHECK_EQ(get(c, "ww.example.com.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit), 0);

    ldns_pkt *p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 1);
        CHECK_EQ(ldns_rr_list_rr_count(ldns_pkt_authority(p)), 1);
        CHECK_EQ(ldns_rr_list_rr_count(ldns_pkt_additional(p)), 1);
        ldns_pkt_free(p);
    }
    struct cache_stats st;
    cache_stats(c, &st);
    CHECK_EQ(st.hits, 1);
    CHECK_EQ(st.misses, 3);
    CHECK_EQ(st.msg_entries, 1);
    cache_free(c);
}

static void test_case_insensitive(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    struct spec sp = A_SPEC;
    sp.qname = "WwW.ExAmPle.COM.";
    sp.an[0] = "WwW.ExAmPle.COM. 300 IN A 192.0.2.1";
    size_t len = build(&sp, w, sizeof(w));

    CHECK_EQ(put(c, "WwW.ExAmPle.COM.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    int n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(n, (int)len);
    CHECK(memcmp(out + 12, "\3www\7example\3com", 17) == 0); /* question lower-cased */
    CHECK_EQ(get(c, "WWW.EXAMPLE.COM.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit), n);
    /* A question that is not the key is refused. */
    CHECK_EQ(put(c, "other.example.com.", LDNS_RR_TYPE_A, w, len, NOW), -EINVAL);
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_AAAA, w, len, NOW), -EINVAL);
    cache_free(c);
}

static void test_ttl_countdown(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    size_t len = build(&A_SPEC, w, sizeof(w));
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);

    int n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 100, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_left, 200);
    CHECK_EQ(hit.ttl_orig, 300);
    ldns_pkt *p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(ttl_of(ldns_pkt_answer(p), 0), 200);
        CHECK_EQ(ttl_of(ldns_pkt_authority(p), 0), 3500); /* each RR its own */
        CHECK_EQ(ttl_of(ldns_pkt_additional(p), 0), 3500);
        ldns_pkt_free(p);
    }
    n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 299, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_left, 1);
    p = parse(out, n);
    if (p) {
        CHECK_EQ(ttl_of(ldns_pkt_answer(p), 0), 1);
        ldns_pkt_free(p);
    }
    /* Expired, and no stale wanted: a miss. */
    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 300, false, out, sizeof(out), &hit),
             0);
    /* Clock stepped back: TTLs are not inflated past what was stored. */
    n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW - 50, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_left, 300);
    p = parse(out, n);
    if (p) {
        CHECK_EQ(ttl_of(ldns_pkt_answer(p), 0), 300);
        ldns_pkt_free(p);
    }
    cache_free(c);
}

static void test_ttl_clamps(void)
{
    struct cache_limits l = LIMITS;
    l.min_ttl = 60;
    l.max_ttl = 600;
    struct cache *c = cache_new(&l);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    struct spec sp = {
        .qname = "a.example.",
        .qtype = LDNS_RR_TYPE_A,
        .an = {"a.example. 10 IN A 192.0.2.1", "a.example. 86400 IN A 192.0.2.2"},
    };
    size_t len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "a.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    int n = get(c, "a.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_orig, 60);
    ldns_pkt *p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(ttl_of(ldns_pkt_answer(p), 0), 60);
        CHECK_EQ(ttl_of(ldns_pkt_answer(p), 1), 600);
        ldns_pkt_free(p);
    }
    /* TTLs with the top bit set count as 0 (RFC 2181 section 8), then min-ttl. */
    sp.an[0] = "a.example. 4294967295 IN A 192.0.2.1";
    sp.an[1] = NULL;
    len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "a.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    get(c, "a.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_orig, 60);
    cache_free(c);
}

static void test_negative_ttl(void)
{
    struct cache_limits l = LIMITS;
    l.min_ttl = 120; /* must not lengthen negative answers */
    l.max_negative_ttl = 900;
    struct cache *c = cache_new(&l);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    struct spec sp = {
        .qname = "nx.example.",
        .qtype = LDNS_RR_TYPE_A,
        .rcode = LDNS_RCODE_NXDOMAIN,
        .ns = {"example. 3600 IN SOA ns.example. host.example. 1 7200 900 1209600 100"},
    };
    /* NXDOMAIN: min(SOA TTL 3600, MINIMUM 100) = 100. */
    size_t len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "nx.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    int n = get(c, "nx.example.", LDNS_RR_TYPE_A, NOW + 10, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK_EQ(hit.ttl_orig, 100);
    CHECK_EQ(hit.ttl_left, 90);
    ldns_pkt *p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(ttl_of(ldns_pkt_authority(p), 0), 90); /* the SOA carries the negative TTL */
        ldns_pkt_free(p);
    }
    /* SOA TTL below MINIMUM: the SOA TTL wins. */
    sp.ns[0] = "example. 50 IN SOA ns.example. host.example. 1 7200 900 1209600 300";
    len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "nx.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    get(c, "nx.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_orig, 50);
    /* Both large: max-negative-ttl caps it. */
    sp.ns[0] = "example. 86400 IN SOA ns.example. host.example. 1 7200 900 1209600 86400";
    len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "nx.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    get(c, "nx.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_orig, 900);
    /* NODATA (NOERROR, empty answer) follows the same rule. */
    sp.rcode = LDNS_RCODE_NOERROR;
    sp.ns[0] = "example. 3600 IN SOA ns.example. host.example. 1 7200 900 1209600 200";
    len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "nx.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    get(c, "nx.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.rcode, 0);
    CHECK_EQ(hit.ttl_orig, 200);
    /* No SOA: kept 5 s at most. */
    sp.rcode = LDNS_RCODE_NXDOMAIN;
    sp.ns[0] = NULL;
    len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, "nx.example.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    get(c, "nx.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(hit.ttl_orig, 5);
    cache_free(c);
}

/* Splices an OPT record in front of the last additional RR of w. */
static size_t splice_opt(uint8_t *w, size_t len, size_t last_rr_len)
{
    static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
    size_t at = len - last_rr_len;
    memmove(w + at + sizeof(opt), w + at, last_rr_len);
    memcpy(w + at, opt, sizeof(opt));
    w[11]++;
    return len + sizeof(opt);
}

static void test_opt_stripped(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    struct spec sp = A_SPEC;
    sp.edns = true;
    size_t len = build(&sp, w, sizeof(w));
    size_t plain = build(&A_SPEC, out, sizeof(out));
    CHECK_EQ(len, plain + 11);
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    int n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(n, (int)plain);
    CHECK_EQ(out[11], 1); /* ARCOUNT: the glue only */
    ldns_pkt *p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK(!ldns_pkt_edns(p));
        ldns_pkt_free(p);
    }

    /* OPT in the middle of the additional section: records after it move
     * and their TTL offsets with them. */
    struct spec no_glue = A_SPEC;
    no_glue.ar[0] = NULL;
    size_t without = build(&no_glue, out, sizeof(out));
    len = build(&A_SPEC, w, sizeof(w));
    len = splice_opt(w, len, len - without);
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    n = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 7, false, out, sizeof(out), &hit);
    CHECK_EQ(n, (int)plain);
    p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK(!ldns_pkt_edns(p));
        CHECK_EQ(ttl_of(ldns_pkt_additional(p), 0), 3593);
        CHECK_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_additional(p), 0)), LDNS_RR_TYPE_A);
        ldns_pkt_free(p);
    }
    /* Two OPT records: FORMERR (RFC 6891 section 6.1.1). */
    len = build(&sp, w, sizeof(w));
    len = splice_opt(w, len, 11);
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), -EINVAL);
    cache_free(c);
}

static void test_stale(void)
{
    struct cache *c = cache_new(&LIMITS); /* stale_max_age 3600 */
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    size_t len = build(&A_SPEC, w, sizeof(w));
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);

    time_t later = NOW + 300 + 100;
    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_A, later, false, out, sizeof(out), &hit), 0);
    int n = get(c, "www.example.com.", LDNS_RR_TYPE_A, later, true, out, sizeof(out), &hit);
    CHECK_EQ(n, (int)len);
    CHECK(hit.stale);
    CHECK_EQ(hit.ttl_left, 0);
    CHECK(!hit.prefetch_due);
    ldns_pkt *p = parse(out, n);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(ttl_of(ldns_pkt_answer(p), 0), 30);
        CHECK_EQ(ttl_of(ldns_pkt_authority(p), 0), 30);
        CHECK_EQ(ttl_of(ldns_pkt_additional(p), 0), 30);
        ldns_pkt_free(p);
    }
    /* The last second of the window, then past it. */
    CHECK_EQ(
        get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 300 + 3600, true, out, sizeof(out), &hit),
        n);
    CHECK_EQ(
        get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 300 + 3601, true, out, sizeof(out), &hit),
        0);
    struct cache_stats st;
    cache_stats(c, &st);
    CHECK_EQ(st.stale_hits, 2);
    CHECK_EQ(st.msg_entries, 0); /* dropped once past the window */

    /* stale_max_age 0: never served stale. */
    struct cache_limits l = LIMITS;
    l.stale_max_age = 0;
    cache_set_limits(c, &l);
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 301, true, out, sizeof(out), &hit),
             0);
    cache_free(c);
}

static void test_prefetch_once(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    size_t len = build(&A_SPEC, w, sizeof(w)); /* TTL 300: window 30 s */
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);

    /* Near expiry but not popular yet: not due. */
    get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 280, false, out, sizeof(out), &hit);
    CHECK(!hit.prefetch_due);
    get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 281, false, out, sizeof(out), &hit);
    CHECK(!hit.prefetch_due);
    /* Third hit, 19 s left: due, once. */
    get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 281, false, out, sizeof(out), &hit);
    CHECK(hit.prefetch_due);
    get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 282, false, out, sizeof(out), &hit);
    CHECK(!hit.prefetch_due);
    get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 299, false, out, sizeof(out), &hit);
    CHECK(!hit.prefetch_due);

    /* Stored again: a new version, reported again when due. */
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW + 10), 0);
    for (int i = 0; i < 5; i++) {
        get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 11, false, out, sizeof(out), &hit);
        CHECK(!hit.prefetch_due); /* popular but far from expiry */
    }
    get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW + 285, false, out, sizeof(out), &hit);
    CHECK(hit.prefetch_due);
    cache_free(c);
}

static void test_enospc(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    size_t len = build(&A_SPEC, w, sizeof(w));
    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, len - 1, &hit), -ENOSPC);
    CHECK_EQ(get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, len, &hit), (int)len);
    cache_free(c);
}

static void test_eviction(void)
{
    /* 64 shards per table, half of max_bytes to messages: about 2 KB per
     * shard, room for several of these ~150-byte entries in each. */
    struct cache_limits l = LIMITS;
    l.max_bytes = 2 * 64 * 2048;
    struct cache *c = cache_new(&l);
    uint8_t w[1024], out[1024];
    struct cache_msg_hit hit;
    char name[64], rr[128];
    int stored = 0, hot_hits = 0;

    struct spec hot = {.qname = "hot.example.",
                       .qtype = LDNS_RR_TYPE_A,
                       .an = {"hot.example. 300 IN A 192.0.2.7"}};
    size_t hot_len = build(&hot, w, sizeof(w));
    CHECK_EQ(put(c, "hot.example.", LDNS_RR_TYPE_A, w, hot_len, NOW), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "host%d.example.", i);
        snprintf(rr, sizeof(rr), "%s 300 IN A 192.0.2.1", name);
        struct spec sp = {.qname = name, .qtype = LDNS_RR_TYPE_A, .an = {rr}};
        size_t len = build(&sp, w, sizeof(w));
        stored += put(c, name, LDNS_RR_TYPE_A, w, len, NOW) == 0;
        /* An entry in steady use is never the one evicted. */
        hot_hits += get(c, "hot.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit) ==
                    (int)hot_len;
    }
    CHECK_EQ(stored, 5000);
    CHECK_EQ(hot_hits, 5000);
    struct cache_stats st;
    cache_stats(c, &st);
    CHECK(st.bytes <= l.max_bytes / 2);
    CHECK(st.msg_entries < 5000);
    CHECK(st.msg_entries > 100);
    CHECK_EQ(st.evictions, 5001 - st.msg_entries);
    /* The most recent survive; the first went. */
    for (int i = 4996; i < 5000; i++) {
        snprintf(name, sizeof(name), "host%d.example.", i);
        CHECK(get(c, name, LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit) > 0);
    }
    CHECK_EQ(get(c, "host0.example.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit), 0);

    /* Shrinking evicts at once. */
    l.max_bytes /= 4;
    cache_set_limits(c, &l);
    struct cache_stats st2;
    cache_stats(c, &st2);
    CHECK(st2.bytes <= l.max_bytes / 2);
    CHECK(st2.evictions > st.evictions);
    CHECK(st2.msg_entries < st.msg_entries);
    cache_free(c);
}

/* Builds a minimal response by hand: header, question "\1a\0" A IN, then
 * the given record bytes. */
static size_t raw(uint8_t *w, uint16_t ancount, const uint8_t *rrs, size_t rrs_len)
{
    static const uint8_t head[] = {0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
    memcpy(w, head, sizeof(head));
    w[7] = (uint8_t)ancount;
    memcpy(w + sizeof(head), rrs, rrs_len);
    return sizeof(head) + rrs_len;
}

/* Type A, class IN, the TTL's low byte, RDLENGTH 4, 192.0.2.last. */
#define A_TAIL(ttl, last) 0, 1, 0, 1, 0, 0, 0, ttl, 0, 4, 192, 0, 2, last

static int put_raw(struct cache *c, const uint8_t *w, size_t len)
{
    return cache_msg_put(c, (const uint8_t *)"\1a", 3, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, w, len,
                         NOW);
}

static void test_malformed(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024];
    /* A good one first, so the failures below are about the defect. */
    static const uint8_t good[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, good, sizeof(good))), 0);

    /* Every truncation of a real response. */
    uint8_t full[1024];
    size_t flen = build(&A_SPEC, full, sizeof(full));
    int bad = 0;
    for (size_t i = 0; i < flen; i++)
        bad += put(c, "www.example.com.", LDNS_RR_TYPE_A, full, i, NOW) == -EINVAL;
    CHECK_EQ(bad, (int)flen);

    /* Forward pointer (to offset 40, past the owner). */
    static const uint8_t fwd[] = {0xc0, 40, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, fwd, sizeof(fwd))), -EINVAL);
    /* Pointer to itself (offset 19 is where the owner starts). */
    static const uint8_t self[] = {0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, self, sizeof(self))), -EINVAL);
    /* Loop through a label: "x" then a pointer back to the "x" (19). */
    static const uint8_t loop[] = {1, 'x', 0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, loop, sizeof(loop))), -EINVAL);
    /* RDLENGTH past the end. */
    static const uint8_t over[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, over, sizeof(over))), -EINVAL);
    /* Counts not backed by data. */
    CHECK_EQ(put_raw(c, w, raw(w, 200, good, sizeof(good))), -EINVAL);
    /* Label type 0x40 (obsolete) and a label running off the end. */
    static const uint8_t ext[] = {0x41, 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, ext, sizeof(ext))), -EINVAL);
    static const uint8_t longlab[] = {63, 'a', 'b'};
    CHECK_EQ(put_raw(c, w, raw(w, 1, longlab, sizeof(longlab))), -EINVAL);
    /* A CNAME whose target runs past its RDLENGTH. */
    static const uint8_t cname[] = {0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 1, 'b', 0};
    CHECK_EQ(put_raw(c, w, raw(w, 1, cname, sizeof(cname))), -EINVAL);
    /* A name over 255 octets through a pointer: owner 1 is four 60-octet
     * labels (245 octets with the root), owner 2 a 15-octet label then a
     * pointer to owner 1 (16 + 245 = 261). */
    uint8_t big[600];
    size_t p = 0;
    for (int i = 0; i < 4; i++) {
        big[p++] = 60;
        memset(big + p, 'q', 60);
        p += 60;
    }
    big[p++] = 0;
    static const uint8_t tail1[] = {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    memcpy(big + p, tail1, sizeof(tail1));
    p += sizeof(tail1);
    big[p++] = 15;
    memset(big + p, 'z', 15);
    p += 15;
    big[p++] = 0xc0;
    big[p++] = 19;
    memcpy(big + p, tail1, sizeof(tail1));
    p += sizeof(tail1);
    CHECK_EQ(put_raw(c, w, raw(w, 2, big, p)), -EINVAL);
    CHECK_EQ(put_raw(c, w, raw(w, 1, big, p)), 0); /* the first alone is fine */
    /* Pointers into bytes that change when served: the header (ID, flags)
     * and a TTL field (here the first RR's TTL, at offset 19 + 6). */
    static const uint8_t hdr[] = {0xc0, 4, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
    CHECK_EQ(put_raw(c, w, raw(w, 1, hdr, sizeof(hdr))), -EINVAL);
    static const uint8_t ttlp[] = {0xc0, 12, A_TAIL(0, 1), 0xc0, 25, A_TAIL(60, 2)};
    CHECK_EQ(put_raw(c, w, raw(w, 2, ttlp, sizeof(ttlp))), -EINVAL);
    /* A pointer to the middle of an earlier name (its suffix) is fine, and
     * so is one to a name that is itself a pointer. */
    static const uint8_t sfx[] = {1,    'b', 0xc0,          12, A_TAIL(60, 1), /* b.a at 19 */
                                  0xc0, 21,  A_TAIL(60, 2),                    /* "a" via 21 */
                                  0xc0, 37,  A_TAIL(60, 3)};                   /* via 37 */
    CHECK_EQ(put_raw(c, w, raw(w, 3, sfx, sizeof(sfx))), 0);
    /* TC set: not a complete answer. */
    size_t n = raw(w, 1, good, sizeof(good));
    w[2] |= 0x02;
    CHECK_EQ(put_raw(c, w, n), -EINVAL);
    /* Arbitrary bytes never crash (the fuzz target does this properly). */
    srand(7);
    for (int i = 0; i < 20000; i++) {
        n = raw(w, (uint16_t)(rand() % 4), good, 0);
        size_t extra = (size_t)(rand() % 64);
        for (size_t j = 0; j < extra; j++)
            w[n + j] = (uint8_t)(rand() % 4 == 0 ? 0xc0 : rand());
        put_raw(c, w, n + extra);
    }
    cache_free(c);
}

/* --- RRset cache -------------------------------------------------------------- */

static ldns_rr_list *rrlist(const char *a, const char *b)
{
    ldns_rr_list *l = ldns_rr_list_new();
    const char *s[2] = {a, b};
    for (int i = 0; i < 2 && s[i]; i++) {
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, s[i], 0, NULL, NULL) != LDNS_STATUS_OK)
            abort();
        ldns_rr_list_push_rr(l, rr);
    }
    return l;
}

static char *first_rdata(ldns_rr_list *l)
{
    static char buf[128];
    char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(l, 0), 0));
    snprintf(buf, sizeof(buf), "%s", s ? s : "");
    free(s);
    return buf;
}

static void test_rrset_trust(void)
{
    struct cache *c = cache_new(&LIMITS);
    ldns_rdf *owner = ldns_dname_new_frm_str("NS1.Example.com.");
    enum cache_trust t = 0;

    ldns_rr_list *ans = rrlist("ns1.example.com. 600 IN A 192.0.2.1", NULL);
    ldns_rr_list *glue = rrlist("ns1.example.com. 600 IN A 192.0.2.99", NULL);
    ldns_rr_list *auth = rrlist("ns1.example.com. 600 IN A 192.0.2.2", NULL);
    CHECK_EQ(cache_rrset_put(c, ans, CACHE_TRUST_ANSWER, NOW), 0);
    CHECK_EQ(cache_rrset_put(c, glue, CACHE_TRUST_GLUE, NOW), 0); /* ignored */
    ldns_rr_list *got = cache_rrset_get(c, owner, LDNS_RR_TYPE_A, NOW + 10, &t);
    CHECK(got != NULL);
    if (got) {
        CHECK_STR(first_rdata(got), "192.0.2.1");
        CHECK_EQ(t, CACHE_TRUST_ANSWER);
        CHECK_EQ(ttl_of(got, 0), 590);
        ldns_rr_list_deep_free(got);
    }
    /* Same trust replaces; higher trust replaces. */
    CHECK_EQ(cache_rrset_put(c, auth, CACHE_TRUST_AUTH_ANSWER, NOW), 0);
    got = cache_rrset_get(c, owner, LDNS_RR_TYPE_A, NOW, &t);
    if (got) {
        CHECK_STR(first_rdata(got), "192.0.2.2");
        CHECK_EQ(t, CACHE_TRUST_AUTH_ANSWER);
        ldns_rr_list_deep_free(got);
    }
    /* Once expired, anything replaces it. */
    CHECK(cache_rrset_get(c, owner, LDNS_RR_TYPE_A, NOW + 600, &t) == NULL);
    CHECK_EQ(cache_rrset_put(c, glue, CACHE_TRUST_GLUE, NOW + 600), 0);
    got = cache_rrset_get(c, owner, LDNS_RR_TYPE_A, NOW + 601, &t);
    CHECK(got != NULL);
    if (got) {
        CHECK_STR(first_rdata(got), "192.0.2.99");
        CHECK_EQ(t, CACHE_TRUST_GLUE);
        CHECK_EQ(ttl_of(got, 0), 599);
        ldns_rr_list_deep_free(got);
    }
    got = cache_rrset_get(c, owner, LDNS_RR_TYPE_A, NOW + 500, &t); /* clock stepped back */
    if (got) {
        CHECK_EQ(ttl_of(got, 0), 600);
        ldns_rr_list_deep_free(got);
    }
    CHECK(cache_rrset_get(c, owner, LDNS_RR_TYPE_AAAA, NOW, &t) == NULL);
    ldns_rr_list_deep_free(ans);
    ldns_rr_list_deep_free(glue);
    ldns_rr_list_deep_free(auth);
    ldns_rdf_deep_free(owner);
    cache_free(c);
}

static void test_rrset_ttl(void)
{
    struct cache_limits l = LIMITS;
    l.min_ttl = 30;
    l.max_ttl = 1000;
    struct cache *c = cache_new(&l);
    ldns_rdf *owner = ldns_dname_new_frm_str("example.com.");

    /* One TTL per set, the lowest (RFC 2181 section 5.2), clamped. */
    ldns_rr_list *ns =
        rrlist("example.com. 86400 IN NS a.ns.example.", "example.com. 5000 IN NS b.ns.example.");
    CHECK_EQ(cache_rrset_put(c, ns, CACHE_TRUST_AUTHORITY, NOW), 0);
    CHECK_EQ(ldns_rr_ttl(ldns_rr_list_rr(ns, 0)), 86400); /* caller's list untouched */
    ldns_rr_list *got = cache_rrset_get(c, owner, LDNS_RR_TYPE_NS, NOW + 1, NULL);
    CHECK(got != NULL);
    if (got) {
        CHECK_EQ(ldns_rr_list_rr_count(got), 2);
        CHECK_EQ(ttl_of(got, 0), 999);
        CHECK_EQ(ttl_of(got, 1), 999);
        ldns_rr_list_deep_free(got);
    }
    ldns_rr_list *low = rrlist("low.example.com. 1 IN A 192.0.2.1", NULL);
    CHECK_EQ(cache_rrset_put(c, low, CACHE_TRUST_ANSWER, NOW), 0);
    ldns_rdf *lowner = ldns_dname_new_frm_str("low.example.com.");
    got = cache_rrset_get(c, lowner, LDNS_RR_TYPE_A, NOW, NULL);
    if (got) {
        CHECK_EQ(ttl_of(got, 0), 30);
        ldns_rr_list_deep_free(got);
    }
    /* Mixed owners or types are not an RRset. */
    ldns_rr_list *mixed =
        rrlist("a.example.com. 60 IN A 192.0.2.1", "b.example.com. 60 IN A 192.0.2.2");
    CHECK_EQ(cache_rrset_put(c, mixed, CACHE_TRUST_ANSWER, NOW), -EINVAL);
    ldns_rr_list *empty = ldns_rr_list_new();
    CHECK_EQ(cache_rrset_put(c, empty, CACHE_TRUST_ANSWER, NOW), -EINVAL);

    ldns_rr_list_deep_free(ns);
    ldns_rr_list_deep_free(low);
    ldns_rr_list_deep_free(mixed);
    ldns_rr_list_free(empty);
    ldns_rdf_deep_free(owner);
    ldns_rdf_deep_free(lowner);
    cache_free(c);
}

/* --- Flush and stats ------------------------------------------------------------ */

static void put_a(struct cache *c, const char *name)
{
    uint8_t w[512];
    char rr[300];
    snprintf(rr, sizeof(rr), "%s 300 IN A 192.0.2.1", name);
    struct spec sp = {.qname = name, .qtype = LDNS_RR_TYPE_A, .an = {rr}};
    size_t len = build(&sp, w, sizeof(w));
    CHECK_EQ(put(c, name, LDNS_RR_TYPE_A, w, len, NOW), 0);
    ldns_rr_list *l = rrlist(rr, NULL);
    CHECK_EQ(cache_rrset_put(c, l, CACHE_TRUST_ANSWER, NOW), 0);
    ldns_rr_list_deep_free(l);
}

static bool cached(struct cache *c, const char *name)
{
    uint8_t out[512];
    struct cache_msg_hit hit;
    return get(c, name, LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit) > 0;
}

static void test_flush_and_stats(void)
{
    struct cache *c = cache_new(&LIMITS);
    uint8_t n[256];
    size_t nl;
    put_a(c, "example.com.");
    put_a(c, "a.example.com.");
    put_a(c, "b.a.example.com.");
    put_a(c, "xexample.com.");
    put_a(c, "other.org.");

    struct cache_stats st;
    cache_stats(c, &st);
    CHECK_EQ(st.msg_entries, 5);
    CHECK_EQ(st.rrset_entries, 5);
    CHECK(st.bytes > 5 * 100);

    nl = wname("A.Example.COM.", n);
    CHECK_EQ(cache_flush(c, n, nl, false), 2); /* its message and its RRset */
    CHECK(!cached(c, "a.example.com."));
    CHECK(cached(c, "b.a.example.com."));
    CHECK(cached(c, "example.com."));

    nl = wname("example.com.", n);
    CHECK_EQ(cache_flush(c, n, nl, true), 4);
    CHECK(!cached(c, "example.com."));
    CHECK(!cached(c, "b.a.example.com."));
    CHECK(cached(c, "xexample.com.")); /* not below example.com: label boundary */
    CHECK(cached(c, "other.org."));

    cache_stats(c, &st);
    CHECK_EQ(st.msg_entries, 2);
    CHECK_EQ(st.rrset_entries, 2);
    nl = wname(".", n);
    CHECK_EQ(cache_flush(c, n, nl, true), 4);
    cache_stats(c, &st);
    CHECK_EQ(st.msg_entries + st.rrset_entries, 0);
    CHECK_EQ(st.bytes, 0);
    cache_free(c);
}

/* --- Threads ---------------------------------------------------------------------- */

#define THREAD_NAMES 64
#define THREAD_OPS 20000

struct thread_arg {
    struct cache *c;
    unsigned seed;
    int bad;
};

/* RFC 4035 3.2.1: the DNSSEC form of an answer is its own entry, found
 * only by a look-up for that form; the plain form is unaffected; a flush
 * removes both. */
static void test_dnssec_form(void)
{
    static const struct spec DO_SPEC = {
        .qname = "www.example.com.",
        .qtype = LDNS_RR_TYPE_A,
        .an = {"www.example.com. 300 IN A 192.0.2.1",
               "www.example.com. 300 IN RRSIG A 13 3 300 20300101000000 20200101000000 1 "
               "example.com. AAAA"},
    };
    struct cache *c = cache_new(&LIMITS);
    uint8_t w[1024], wd[1024], out[1024], n[256];
    struct cache_msg_hit hit;
    size_t len = build(&A_SPEC, w, sizeof(w)), dlen = build(&DO_SPEC, wd, sizeof(wd));
    size_t nl = wname("WWW.example.com.", n);

    CHECK_EQ(put(c, "www.example.com.", LDNS_RR_TYPE_A, w, len, NOW), 0);
    CHECK_EQ(cache_msg_get_form(c, n, nl, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, CACHE_MSG_DNSSEC, NOW,
                                false, out, sizeof(out), &hit),
             0);
    CHECK_EQ(cache_msg_put_form(c, n, nl, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, CACHE_MSG_DNSSEC, wd,
                                dlen, NOW),
             0);
    CHECK_EQ(cache_msg_put_form(c, n, nl, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, (enum cache_msg_form)7,
                                wd, dlen, NOW),
             -EINVAL);
    int got = cache_msg_get_form(c, n, nl, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, CACHE_MSG_DNSSEC,
                                 NOW + 10, false, out, sizeof(out), &hit);
    CHECK_EQ(got, (int)dlen);
    ldns_pkt *p = parse(out, got);
    CHECK(p && ldns_rr_list_rr_count(ldns_pkt_answer(p)) == 2);
    /* The question is stored in lower case, and TTLs count down. */
    CHECK(p && ldns_rr_list_rr_count(ldns_pkt_question(p)) == 1 && out[13] == 'w');
    CHECK(p && ttl_of(ldns_pkt_answer(p), 1) == 290);
    ldns_pkt_free(p);
    got = get(c, "www.example.com.", LDNS_RR_TYPE_A, NOW, false, out, sizeof(out), &hit);
    CHECK_EQ(got, (int)len);
    p = parse(out, got);
    CHECK(p && ldns_rr_list_rr_count(ldns_pkt_answer(p)) == 1);
    ldns_pkt_free(p);
    struct cache_stats st;
    cache_stats(c, &st);
    CHECK_EQ(st.msg_entries, 2);
    CHECK_EQ(cache_flush(c, n, nl, false), 2);
    CHECK_EQ(cache_msg_get_form(c, n, nl, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, CACHE_MSG_DNSSEC, NOW,
                                false, out, sizeof(out), &hit),
             0);
    /* Subtree flush finds DNSSEC-form keys by their name too. */
    CHECK_EQ(cache_msg_put_form(c, n, nl, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, CACHE_MSG_DNSSEC, wd,
                                dlen, NOW),
             0);
    uint8_t apex[256];
    size_t al = wname("example.com.", apex);
    CHECK_EQ(cache_flush(c, apex, al, true), 1);
    cache_free(c);
}

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    uint8_t w[512], out[512];
    char name[64], rr[128];
    struct cache_msg_hit hit;

    for (int i = 0; i < THREAD_OPS; i++) {
        int k = rand_r(&a->seed) % THREAD_NAMES, op = rand_r(&a->seed) % 100;
        snprintf(name, sizeof(name), "h%d.t.example.", k);
        if (op < 70) {
            int n = get(a->c, name, LDNS_RR_TYPE_A, NOW, true, out, sizeof(out), &hit);
            if (n > 0) {
                /* The address encodes the name: a torn copy would show. */
                ldns_pkt *pk = parse(out, n);
                ldns_rr_list *an = pk ? ldns_pkt_answer(pk) : NULL;
                if (!an || ldns_rr_list_rr_count(an) != 1 ||
                    ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(an, 0), 0)) !=
                        0xc0000200u + (unsigned)k)
                    a->bad++;
                ldns_pkt_free(pk);
            }
        } else if (op < 95) {
            snprintf(rr, sizeof(rr), "%s 300 IN A 192.0.2.%d", name, k);
            struct spec sp = {.qname = name, .qtype = LDNS_RR_TYPE_A, .an = {rr}};
            size_t len = build(&sp, w, sizeof(w));
            if (put(a->c, name, LDNS_RR_TYPE_A, w, len, NOW) != 0)
                a->bad++;
            ldns_rr_list *l = rrlist(rr, NULL);
            if (cache_rrset_put(a->c, l, CACHE_TRUST_ANSWER, NOW) != 0)
                a->bad++;
            ldns_rr_list_deep_free(l);
        } else if (op < 99) {
            uint8_t n[256];
            size_t nl = wname(name, n);
            cache_flush(a->c, n, nl, op & 1);
        } else {
            struct cache_stats st;
            cache_stats(a->c, &st);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct cache_limits l = LIMITS;
    l.max_bytes = 2 * 64 * 1024; /* small enough that eviction runs too */
    struct cache *c = cache_new(&l);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.c = c, .seed = (unsigned)i + 1};
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    /* Change the limits while they run. */
    cache_set_limits(c, &LIMITS);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].bad, 0);
    }
    struct cache_stats st;
    cache_stats(c, &st);
    CHECK(st.msg_entries <= THREAD_NAMES);
    CHECK(st.rrset_entries <= THREAD_NAMES);
    CHECK(st.hits > 0);
    cache_free(c);
}

int main(void)
{
    UNIT_RUN(test_siphash_vectors);
    UNIT_RUN(test_hit_miss);
    UNIT_RUN(test_case_insensitive);
    UNIT_RUN(test_ttl_countdown);
    UNIT_RUN(test_ttl_clamps);
    UNIT_RUN(test_negative_ttl);
    UNIT_RUN(test_opt_stripped);
    UNIT_RUN(test_stale);
    UNIT_RUN(test_prefetch_once);
    UNIT_RUN(test_enospc);
    UNIT_RUN(test_eviction);
    UNIT_RUN(test_malformed);
    UNIT_RUN(test_rrset_trust);
    UNIT_RUN(test_rrset_ttl);
    UNIT_RUN(test_flush_and_stats);
    UNIT_RUN(test_dnssec_form);
    UNIT_RUN(test_threads);
    return unit_done();
}
