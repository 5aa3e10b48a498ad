/*
 * test_synth.c - block answers, safe-search rewrites (with names copied out
 * of a compressed message) and CNAME chain walking.  ldns checks the output.
 */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdlib.h>

#include "synth.h"
#include "unit.h"

static struct wire_query query(const char *name, ldns_rr_type type, uint8_t *buf, size_t cap)
{
    ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
    uint8_t *w = NULL;
    size_t len = 0;
    struct wire_query q;
    ldns_pkt2wire(&w, p, &len);
    ldns_pkt_free(p);
    memcpy(buf, w, len < cap ? len : 0);
    free(w);
    wire_parse_query(buf, len, &q);
    return q;
}

static ldns_pkt *parse(const uint8_t *msg, size_t len)
{
    ldns_pkt *p = NULL;
    return ldns_wire2pkt(&p, msg, len) == LDNS_STATUS_OK ? p : NULL;
}

static char *rr_text(ldns_pkt *p, size_t i)
{
    return ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p), i));
}

static void test_block_kinds(void)
{
    uint8_t qb[512], out[512];
    struct config_action nx = {.kind = CONFIG_ACTION_NXDOMAIN}, nul = {.kind = CONFIG_ACTION_NULL},
                         page = {
                             .kind = CONFIG_ACTION_ADDRESS, .have_a4 = true, .a4 = {192, 0, 2, 80}};
    struct wire_query q = query("Bad.Example.", LDNS_RR_TYPE_A, qb, sizeof qb);
    ldns_pkt *p;

    size_t n = synth_block(&q, &nx, 60, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        CHECK_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
        CHECK_EQ(ldns_pkt_ancount(p), 0);
        /* RFC 2308: the SOA carries the negative TTL */
        CHECK_EQ(ldns_pkt_nscount(p), 1);
        char *soa = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_authority(p), 0));
        CHECK_STR(soa, "bad.example.\t60\tIN\tSOA\tgatehouse.invalid. hostmaster.invalid. 1 "
                       "3600 600 86400 60\n");
        free(soa);
        ldns_pkt_free(p);
    }
    n = synth_block(&q, &nul, 60, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        char *s = rr_text(p, 0);
        CHECK_STR(s, "bad.example.\t60\tIN\tA\t0.0.0.0\n");
        free(s);
        ldns_pkt_free(p);
    }
    n = synth_block(&q, &page, 30, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        char *s = rr_text(p, 0);
        CHECK_STR(s, "bad.example.\t30\tIN\tA\t192.0.2.80\n");
        free(s);
        ldns_pkt_free(p);
    }
    /* AAAA with only an IPv4 block page: NODATA */
    q = query("bad.example.", LDNS_RR_TYPE_AAAA, qb, sizeof qb);
    n = synth_block(&q, &page, 30, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        CHECK_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        CHECK_EQ(ldns_pkt_ancount(p), 0);
        ldns_pkt_free(p);
    }
    n = synth_block(&q, &nul, 60, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        char *s = rr_text(p, 0);
        CHECK_STR(s, "bad.example.\t60\tIN\tAAAA\t::\n");
        free(s);
        ldns_pkt_free(p);
    }
    CHECK_EQ(synth_block(&q, &nul, 60, out, 20), 0); /* too small */
}

/* A compressed answer for strict.bing.com: a CNAME chain to an A record. */
static size_t target_answer(uint8_t *out, size_t cap)
{
    ldns_pkt *p = ldns_pkt_new();
    const char *rrs[] = {"strict.bing.com. 300 IN CNAME strict.bing.com.edgekey.net.",
                         "strict.bing.com.edgekey.net. 300 IN CNAME e1.a.akamaiedge.net.",
                         "e1.a.akamaiedge.net. 20 IN A 192.0.2.7"};
    ldns_rr *q = NULL;
    uint8_t *w = NULL;
    size_t len = 0;
    ldns_rr_new_question_frm_str(&q, "strict.bing.com. IN A", NULL, NULL);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
    for (size_t i = 0; i < 3; i++) {
        ldns_rr *rr = NULL;
        ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    ldns_pkt_set_qr(p, true);
    ldns_pkt2wire(&w, p, &len);
    ldns_pkt_free(p);
    memcpy(out, w, len <= cap ? len : 0);
    free(w);
    return len;
}

static void test_rewrite(void)
{
    uint8_t qb[512], tm[512], out[1024];
    struct wire_query q = query("www.bing.com.", LDNS_RR_TYPE_A, qb, sizeof qb);
    size_t tlen = target_answer(tm, sizeof tm);
    const uint8_t target[] = "\6strict\4bing\3com";
    ldns_pkt *p;

    size_t n = synth_rewrite(&q, target, sizeof target, 60, tm, tlen, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        CHECK_EQ(ldns_pkt_ancount(p), 4);
        char *s0 = rr_text(p, 0), *s1 = rr_text(p, 1), *s3 = rr_text(p, 3);
        CHECK_STR(s0, "www.bing.com.\t60\tIN\tCNAME\tstrict.bing.com.\n");
        CHECK_STR(s1, "strict.bing.com.\t300\tIN\tCNAME\tstrict.bing.com.edgekey.net.\n");
        CHECK_STR(s3, "e1.a.akamaiedge.net.\t20\tIN\tA\t192.0.2.7\n");
        free(s0);
        free(s1);
        free(s3);
        ldns_pkt_free(p);
    }
    /* without the target's answer: the CNAME alone */
    n = synth_rewrite(&q, target, sizeof target, 60, NULL, 0, out, sizeof out);
    CHECK((p = parse(out, n)) != NULL);
    if (p) {
        CHECK_EQ(ldns_pkt_ancount(p), 1);
        ldns_pkt_free(p);
    }
}

struct collected {
    int n;
    char names[4][256];
};

static int collect(void *arg, const uint8_t *name, size_t len)
{
    struct collected *c = arg;
    if (c->n < 4)
        wire_name_to_text(name, len, c->names[c->n++], 256);
    return 0;
}

static void test_cname_targets(void)
{
    uint8_t tm[512];
    size_t tlen = target_answer(tm, sizeof tm);
    struct collected c = {0};

    CHECK_EQ(synth_cname_targets(tm, tlen, collect, &c), 0);
    CHECK_EQ(c.n, 2);
    CHECK_STR(c.names[0], "strict.bing.com.edgekey.net.");
    CHECK_STR(c.names[1], "e1.a.akamaiedge.net.");
    CHECK_EQ(synth_cname_targets(tm, tlen - 3, collect, &c), -EINVAL); /* truncated */
    tm[tlen - 1 - 4 - 2 - 10] = 0xff;                                  /* damage a name */
    CHECK(synth_cname_targets(tm, 11, collect, &c) == -EINVAL);
}

int main(void)
{
    UNIT_RUN(test_block_kinds);
    UNIT_RUN(test_rewrite);
    UNIT_RUN(test_cname_targets);
    return unit_done();
}
