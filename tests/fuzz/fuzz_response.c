/*
 * fuzz_response.c - arbitrary bytes as the upstream answer to an iterator in
 * each of its states: to the priming query, after priming (the root asked),
 * after a referral (a TLD asked), when forwarding, with and without QNAME
 * minimisation.  The iterator must never crash, never leak, and always end.
 *
 * Input: byte 0 picks the scenario (bits 0-1: how many scripted answers come
 * first, 0..2; bit 2: QNAME minimisation off; bit 3: forward everything);
 * then packets, each a 2-byte big-endian length and that many bytes.  The
 * driver's checks are simulated: each packet gets the ID of the query it
 * answers.  Once the packets run out, queries time out.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "config.h"
#include "hints.h"
#include "infra.h"
#include "iterator.h"

#define FUZZ_NOW ((time_t)1700000000)
#define FUZZ_MAX_STEPS 256

static ldns_rr *fuzz_rr(const char *text)
{
    ldns_rr *rr = NULL;
    if (ldns_rr_new_frm_str(&rr, text, 3600, NULL, NULL) != LDNS_STATUS_OK)
        abort();
    return rr;
}

/* A scripted answer to the query in send: priming answer (n 0) or the
 * root's referral to test. (n 1). */
static int scripted(const struct iter_send *send, int n, uint8_t **wire, size_t *len)
{
    ldns_pkt *q = NULL, *p = ldns_pkt_new();
    if (ldns_wire2pkt(&q, send->pkt, send->len) != LDNS_STATUS_OK)
        abort();
    ldns_pkt_set_id(p, ldns_pkt_id(q));
    ldns_pkt_set_qr(p, true);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION,
                     ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
    if (n == 0) {
        ldns_pkt_set_aa(p, true);
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, fuzz_rr(". 518400 IN NS a.root.test."));
        ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL,
                         fuzz_rr("a.root.test. 518400 IN A 127.53.0.1"));
    } else {
        ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, fuzz_rr("test. 172800 IN NS ns1.nic.test."));
        ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL,
                         fuzz_rr("ns1.nic.test. 172800 IN A 127.53.1.1"));
    }
    int rc = ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK ? 0 : -1;
    ldns_pkt_free(p);
    ldns_pkt_free(q);
    return rc;
}

static struct hints *fuzz_hints(void)
{
    static struct hints h;
    if (!h.ns) {
        h.ns = ldns_rr_list_new();
        h.addrs = ldns_rr_list_new();
        ldns_rr_list_push_rr(h.ns, fuzz_rr(". 3600000 IN NS a.root.test."));
        ldns_rr_list_push_rr(h.addrs, fuzz_rr("a.root.test. 3600000 IN A 127.53.0.1"));
    }
    return &h;
}

static void fuzz_config(struct config *cfg, struct config_forward *fwd, struct config_sockaddr *srv,
                        uint8_t mode)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->qname_minimisation = !(mode & 4);
    cfg->ipv4 = cfg->ipv6 = true;
    cfg->query_loopback = true;
    cfg->upstream_timeout_ms = 400;
    cfg->max_referrals = 30;
    cfg->max_cname = 12;
    cfg->max_work = 64;
    if (mode & 8) {
        memset(fwd, 0, sizeof(*fwd));
        fwd->zone = (char *)".";
        fwd->zone_wire[0] = 0;
        fwd->zone_wire_len = 1;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&srv->ss;
        memset(srv, 0, sizeof(*srv));
        s4->sin_family = AF_INET;
        s4->sin_port = htons(5300);
        s4->sin_addr.s_addr = htonl(0x7f351e01);
        srv->len = sizeof(*s4);
        fwd->servers = srv;
        fwd->nservers = 1;
        cfg->forwards = fwd;
        cfg->nforwards = 1;
    }
}

/* The next fuzzed packet, or NULL when the input is used up. */
static const uint8_t *next_packet(const uint8_t **data, size_t *size, size_t *len)
{
    if (*size < 2)
        return NULL;
    size_t n = ((size_t)(*data)[0] << 8) | (*data)[1];
    if (n > *size - 2)
        n = *size - 2;
    const uint8_t *p = *data + 2;
    *data += 2 + n;
    *size -= 2 + n;
    *len = n;
    return p;
}

static void answer_fuzzed(struct iter_query *q, const struct iter_send *send, const uint8_t *pkt,
                          size_t len)
{
    uint8_t buf[65535];
    if (len == 0) {
        iter_fail(q, ITER_FAIL_NETWORK, FUZZ_NOW);
        return;
    }
    memcpy(buf, pkt, len);
    if (len >= 2) {
        buf[0] = (uint8_t)(send->id >> 8);
        buf[1] = (uint8_t)send->id;
    }
    iter_answer(q, buf, len, 5, FUZZ_NOW);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    struct config cfg;
    struct config_forward fwd;
    struct config_sockaddr srv;
    fuzz_config(&cfg, &fwd, &srv, mode);
    struct cache_limits lim = {1 << 20, 0, 86400, 3600, 0};
    struct iter_env env = {cache_new(&lim), infra_new(), fuzz_hints(), &cfg};
    static const uint8_t qname[] = "\3www\7example\4test";
    struct iter_query *q =
        env.cache && env.infra
            ? iter_new(&env, qname, sizeof(qname), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, FUZZ_NOW)
            : NULL;
    int nscripted = (mode & 8) ? 0 : (mode & 3) % 3;
    struct iter_send send;
    for (int step = 0; q && step < FUZZ_MAX_STEPS; step++) {
        if (iter_step(q, FUZZ_NOW, &send) != ITER_SEND)
            break;
        size_t len = 0;
        const uint8_t *pkt = NULL;
        if (step < nscripted) {
            uint8_t *wire = NULL;
            if (scripted(&send, step, &wire, &len) == 0)
                iter_answer(q, wire, len, 5, FUZZ_NOW);
            free(wire);
        } else if ((pkt = next_packet(&data, &size, &len))) {
            answer_fuzzed(q, &send, pkt, len);
        } else {
            iter_fail(q, ITER_FAIL_TIMEOUT, FUZZ_NOW);
        }
    }
    if (q) {
        struct iter_result res;
        struct iter_stats st;
        iter_result(q, &res);
        iter_get_stats(q, &st);
        if (res.len > 0 && !res.wire)
            abort();
        iter_free(q);
    }
    cache_free(env.cache);
    infra_free(env.infra);
    return 0;
}
