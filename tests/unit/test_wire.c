/*
 * test_wire.c - the hand-written client-side wire code: query parsing,
 * error answers, finishing cached answers, RFC 8482 ANY.
 */
#include <ldns/ldns.h>
#include <stdlib.h>

#include "unit.h"
#include "wire.h"

/* Builds a query with ldns, the independent implementation. */
static size_t make_query(const char *name, ldns_rr_type type, ldns_rr_class klass, bool edns,
                         uint16_t udp, bool do_bit, uint8_t *out, size_t cap)
{
    ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, klass, LDNS_RD);
    uint8_t *wire = NULL;
    size_t len = 0;

    ldns_pkt_set_id(p, 0x1234);
    if (edns) {
        ldns_pkt_set_edns_udp_size(p, udp);
        ldns_pkt_set_edns_do(p, do_bit);
        ldns_pkt_set_edns_data(p,
                               ldns_rdf_new_frm_str(LDNS_RDF_TYPE_HEX, "000a00080102030405060708"));
    }
    ldns_pkt2wire(&wire, p, &len);
    ldns_pkt_free(p);
    if (len > cap)
        len = 0;
    memcpy(out, wire, len);
    free(wire);
    return len;
}

static void test_parse_plain(void)
{
    uint8_t pkt[512];
    struct wire_query q;
    size_t len = make_query("WwW.Example.COM.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, false, 0,
                            false, pkt, sizeof pkt);

    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_OK);
    CHECK_EQ(q.id, 0x1234);
    CHECK_EQ(q.qtype, LDNS_RR_TYPE_AAAA);
    CHECK_EQ(q.qclass, LDNS_RR_CLASS_IN);
    CHECK_EQ(q.qname_len, 17);
    CHECK(memcmp(q.qname_lc, "\3www\7example\3com", 17) == 0);
    CHECK(!q.edns);
    CHECK_EQ(wire_udp_limit(&q, 1232), 512);
}

static void test_parse_edns(void)
{
    uint8_t pkt[512];
    struct wire_query q;
    size_t len =
        make_query("a.b.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, true, 4096, true, pkt, sizeof pkt);

    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_OK);
    CHECK(q.edns);
    CHECK(q.edns_do);
    CHECK_EQ(q.edns_udp_size, 4096);
    CHECK_EQ(wire_udp_limit(&q, 1232), 1232);
    q.edns_udp_size = 100; /* RFC 6891: below 512 means 512 */
    CHECK_EQ(wire_udp_limit(&q, 1232), 512);
}

static void test_parse_bad(void)
{
    uint8_t pkt[512];
    struct wire_query q;
    size_t len =
        make_query("a.b.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, false, 0, false, pkt, sizeof pkt);

    CHECK_EQ(wire_parse_query(pkt, 11, &q), WIRE_DROP);
    pkt[2] |= 0x80; /* QR: an answer, not a query */
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_DROP);
    pkt[2] &= 0x7f;
    wire_put16(pkt + 4, 2); /* two questions */
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_FORMAT);
    wire_put16(pkt + 4, 0);
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_FORMAT);
    wire_put16(pkt + 4, 1);
    CHECK_EQ(wire_parse_query(pkt, len - 1, &q), WIRE_BAD_FORMAT); /* short question */
    pkt[12] = 64;                                                  /* label too long */
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_FORMAT);
    pkt[12] = 0xc0; /* a pointer in a query's question */
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_FORMAT);
    pkt[12] = 1;
    pkt[2] = (uint8_t)(pkt[2] | (5 << 3)); /* opcode UPDATE */
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_OPCODE);
    CHECK_EQ(q.qtype, LDNS_RR_TYPE_A); /* parsed far enough to echo */
}

static void test_parse_badvers_and_two_opts(void)
{
    uint8_t pkt[512];
    struct wire_query q;
    size_t len =
        make_query("a.b.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, true, 1232, false, pkt, sizeof pkt);
    size_t opt = WIRE_HEADER_LEN + 5 + 4;

    pkt[opt + 6] = 1; /* EDNS version 1 */
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_VERSION);
    pkt[opt + 6] = 0;
    /* a second OPT record */
    uint8_t two[1024];
    memcpy(two, pkt, len);
    memcpy(two + len, pkt + opt, len - opt);
    wire_put16(two + 10, 2);
    CHECK_EQ(wire_parse_query(two, len + (len - opt), &q), WIRE_BAD_FORMAT);
    /* an option running past the record */
    wire_put16(pkt + opt + 13, 200);
    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_BAD_FORMAT);
}

static void test_reply_error(void)
{
    uint8_t pkt[512], out[512];
    struct wire_query q;
    size_t len =
        make_query("x.test.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, true, 1232, true, pkt, sizeof pkt);

    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_OK);
    size_t n =
        wire_reply_error(&q, WIRE_REFUSED, WIRE_EDE_PROHIBITED, "not here", 1232, out, sizeof out);
    ldns_pkt *p = NULL;
    CHECK(n > 0);
    CHECK_EQ(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
    if (p) {
        CHECK_EQ(ldns_pkt_id(p), 0x1234);
        CHECK_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
        CHECK(ldns_pkt_qr(p));
        CHECK(ldns_pkt_rd(p));
        CHECK(ldns_pkt_ra(p));
        CHECK_EQ(ldns_pkt_qdcount(p), 1);
        CHECK_EQ(ldns_pkt_edns_udp_size(p), 1232);
        CHECK(ldns_pkt_edns_do(p));
        ldns_pkt_free(p);
    }
    /* The EDE option: code 15, info 18, text. */
    const uint8_t ede[] = {0, 15, 0, 10, 0, 18, 'n', 'o', 't', ' ', 'h', 'e', 'r', 'e'};
    CHECK(n >= sizeof ede && memcmp(out + n - sizeof ede, ede, sizeof ede) == 0);

    /* BADVERS is 16: rcode 0 in the header, 1 in the OPT's extended rcode. */
    n = wire_reply_error(&q, WIRE_BADVERS, WIRE_EDE_NONE, NULL, 1232, out, sizeof out);
    CHECK_EQ(WIRE_RCODE(wire_get16(out + 2)), 0);
    CHECK_EQ(out[n - 11 + 5], 1);
}

/* A stored answer (cache form) for x.test A, with one A record. */
static size_t stored_answer(uint8_t *out, size_t cap, unsigned n_rrs)
{
    ldns_pkt *p = ldns_pkt_new();
    uint8_t *wire = NULL;
    size_t len = 0;

    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_ra(p, true);
    ldns_rr *q = NULL;
    ldns_rr_new_question_frm_str(&q, "x.test. IN A", NULL, NULL);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
    for (unsigned i = 0; i < n_rrs; i++) {
        char s[64];
        ldns_rr *rr = NULL;
        snprintf(s, sizeof s, "x.test. 300 IN A 192.0.2.%u", i + 1);
        ldns_rr_new_frm_str(&rr, s, 0, NULL, NULL);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    ldns_pkt2wire(&wire, p, &len);
    ldns_pkt_free(p);
    if (len > cap)
        len = 0;
    memcpy(out, wire, len);
    free(wire);
    return len;
}

static void test_finish_answer(void)
{
    uint8_t pkt[512], buf[4096];
    struct wire_query q;
    size_t len =
        make_query("X.TeSt.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, true, 1232, false, pkt, sizeof pkt);

    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_OK);
    size_t n = stored_answer(buf, sizeof buf, 2);
    size_t out = wire_finish_answer(&q, buf, n, sizeof buf, 1232, 1232, WIRE_EDE_NONE, NULL);
    ldns_pkt *p = NULL;
    CHECK(out > n);
    CHECK(memcmp(buf + WIRE_HEADER_LEN, "\1X\4TeSt", 7) == 0); /* the client's spelling */
    CHECK_EQ(ldns_wire2pkt(&p, buf, out), LDNS_STATUS_OK);
    if (p) {
        CHECK_EQ(ldns_pkt_id(p), 0x1234);
        CHECK(ldns_pkt_rd(p));
        CHECK(!ldns_pkt_tc(p));
        CHECK_EQ(ldns_pkt_ancount(p), 2);
        CHECK_EQ(ldns_pkt_edns_udp_size(p), 1232);
        ldns_pkt_free(p);
    }
}

static void test_finish_truncates(void)
{
    uint8_t pkt[512], buf[4096];
    struct wire_query q;
    size_t len =
        make_query("x.test.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, false, 0, false, pkt, sizeof pkt);

    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_OK);
    size_t n = stored_answer(buf, sizeof buf, 40); /* 40 * 16 bytes: over 512 */
    CHECK(n > 512);
    size_t out = wire_finish_answer(&q, buf, n, sizeof buf, 512, 1232, WIRE_EDE_NONE, NULL);
    CHECK_EQ(out, WIRE_HEADER_LEN + 8 + 4);
    CHECK(wire_get16(buf + 2) & WIRE_TC);
    CHECK_EQ(wire_get16(buf + 6), 0);
}

static void test_any(void)
{
    uint8_t pkt[512], buf[512];
    struct wire_query q;
    size_t len =
        make_query("x.test.", LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_IN, false, 0, false, pkt, sizeof pkt);
    ldns_pkt *p = NULL;

    CHECK_EQ(wire_parse_query(pkt, len, &q), WIRE_OK);
    size_t n = wire_any_answer(&q, buf, sizeof buf);
    n = wire_finish_answer(&q, buf, n, sizeof buf, 512, 1232, WIRE_EDE_NONE, NULL);
    CHECK_EQ(ldns_wire2pkt(&p, buf, n), LDNS_STATUS_OK);
    if (p) {
        CHECK_EQ(ldns_pkt_ancount(p), 1);
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
        CHECK(rr && ldns_rr_get_type(rr) == LDNS_RR_TYPE_HINFO);
        ldns_pkt_free(p);
    }
}

static void test_name_text(void)
{
    char out[1024];
    CHECK_STR(wire_name_to_text((const uint8_t *)"\3www\7example\0", 13, out, sizeof out),
              "www.example.");
    CHECK_STR(wire_name_to_text((const uint8_t *)"\0", 1, out, sizeof out), ".");
    CHECK_STR(wire_name_to_text((const uint8_t *)"\3a.b\0", 5, out, sizeof out), "a\\.b.");
    CHECK_EQ(wire_name_len((const uint8_t *)"\3www\0", 5, 0), 5);
    CHECK_EQ(wire_name_len((const uint8_t *)"\3www", 4, 0), 0);
}

int main(void)
{
    UNIT_RUN(test_parse_plain);
    UNIT_RUN(test_parse_edns);
    UNIT_RUN(test_parse_bad);
    UNIT_RUN(test_parse_badvers_and_two_opts);
    UNIT_RUN(test_reply_error);
    UNIT_RUN(test_finish_answer);
    UNIT_RUN(test_finish_truncates);
    UNIT_RUN(test_any);
    UNIT_RUN(test_name_text);
    return unit_done();
}
