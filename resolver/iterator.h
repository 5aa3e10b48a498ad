/*
 * iterator.h - iterative resolution from the root, as a state machine that
 * does no I/O (the Knot Resolver shape: new -> step -> answer -> step ... ->
 * result).
 *
 * The driver (worker.c) owns the sockets and timers.  It calls iter_step();
 * the iterator either says "send this query to this server" (ITER_SEND) or
 * that it has finished (ITER_DONE).  The driver sends, waits, and hands back
 * the response with iter_answer() or the failure with iter_fail(), then
 * steps again.  At most one upstream query is outstanding per iter_query.
 *
 * The iterator reads and fills the shared cache (RRsets for delegations and
 * addresses; whole messages for its own sub-queries), and the shared
 * infrastructure cache (server RTT and lameness, infra.h).  Tests drive it
 * with scripted packets and no sockets (tests/unit/test_iterator.c).
 *
 * With dnssec.enabled, goal 0 is validated once resolved (RFC 4035 section
 * 5): the chain of trust is walked from the closest trust anchor down to
 * each signer with DS and DNSKEY sub-queries on the same goal stack, and the
 * outcome (secure, insecure, bogus) goes into iter_result.
 *
 * The state machine follows RFC 1034 section 5.3.3: find the closest known
 * delegation (SNAME in cache, else the deepest cached NS set, else the root
 * hints), send to the best server, and on the reply: answer (done, or follow
 * CNAME/DNAME), referral (descend, checking bailiwick), NXDOMAIN/NODATA
 * (done), or a server error (mark it, try another).
 */
#ifndef GATEHOUSE_ITERATOR_H
#define GATEHOUSE_ITERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "cache.h"
#include "config.h"
#include "hints.h"
#include "infra.h"

/* What an iterator needs from its surroundings.  Every pointer must stay
 * valid until every iter_query made with this env is freed. */
struct iter_env {
    struct cache *cache;
    struct infra *infra;
    const struct hints *hints; /* root server names and addresses */
    const struct config *cfg;  /* qname-minimisation, ipv4/ipv6, query-loopback,
                                * forward-zones, limits, timeouts */
};

struct iter_query;

/* Starts resolving (qname, qtype, qclass); qname is uncompressed wire format,
 * lower case.  Returns NULL on ENOMEM.  Free with iter_free. */
struct iter_query *iter_new(const struct iter_env *env, const uint8_t *qname, size_t qname_len,
                            uint16_t qtype, uint16_t qclass, time_t now);

/* The client set CD (RFC 4035 section 3.2.2): resolve with DNSSEC records
 * but do not validate.  Call before the first iter_step.  The result is then
 * never cacheable (the message cache holds validated answers only). */
void iter_set_cd(struct iter_query *q, bool cd);
void iter_free(struct iter_query *q);

enum iter_status {
    ITER_SEND = 1, /* send iter_send.pkt to iter_send.server, then iter_answer/iter_fail */
    ITER_DONE = 2, /* finished: read iter_result */
};

#define ITER_MAX_QUERY 512

/* One upstream query to make.  The iterator has chosen the server, the
 * transport, the ID (random), and the timeout (from the server's smoothed RTT,
 * backed off on retries). */
struct iter_send {
    struct sockaddr_storage server; /* port 53 or a forwarder's port */
    socklen_t server_len;
    bool tcp;
    uint16_t id;
    unsigned timeout_ms;
    uint8_t pkt[ITER_MAX_QUERY];
    size_t len;
};

/* Advances the state machine.  Never blocks.  Returns ITER_SEND (fills *send)
 * or ITER_DONE.  now is wall-clock seconds. */
int iter_step(struct iter_query *q, time_t now, struct iter_send *send);

/* The reply to the last ITER_SEND.  The driver has already checked that it
 * came from the server and port it was sent to, over the same transport, with
 * the same ID and question; the iterator checks everything inside it.
 * rtt_ms is measured by the driver.  pkt is borrowed for the call. */
void iter_answer(struct iter_query *q, const uint8_t *pkt, size_t len, unsigned rtt_ms, time_t now);

enum iter_failure {
    ITER_FAIL_TIMEOUT = 1, /* no reply within timeout_ms */
    ITER_FAIL_NETWORK = 2, /* send failed, ICMP unreachable, TCP reset */
};
/* The last ITER_SEND got no usable reply. */
void iter_fail(struct iter_query *q, enum iter_failure why, time_t now);

/* The outcome once iter_step returned ITER_DONE.  wire is a complete response
 * in the form cache_msg_put stores (ID 0, QR|RA, question in lower case, no
 * OPT), owned by q until iter_free.  cacheable is set for NOERROR and NXDOMAIN
 * answers that may go into the message cache.  upstream_failed is set when
 * the SERVFAIL came from every server failing (the driver may then serve
 * stale).  ede_code/ede_text: an Extended DNS Error (RFC 8914) to attach, or
 * ede_code 0xffff for none. */
struct iter_result {
    const uint8_t *wire;
    size_t len;
    uint8_t rcode;
    bool cacheable;
    bool upstream_failed;
    uint16_t ede_code;
    const char *ede_text;
    /* DNSSEC (dnssec.enabled, RFC 4035 section 4.3): secure when every
     * RRset and denial in the answer validated from a trust anchor (the
     * wire then has AD set); bogus when one failed (rcode SERVFAIL, ede_code
     * says why: 6 bogus, 7 signature expired, 9 DNSKEY missing, 10 RRSIGs
     * missing, 12 NSEC missing...).  Neither: insecure or not validated. */
    bool secure;
    bool bogus;
    /* With dnssec.enabled, the same answer in the form for clients that
     * set DO (RFC 4035 section 3.2.1): each answer RRset followed by its
     * RRSIGs; for NXDOMAIN/NODATA the SOA, the NSEC/NSEC3 records proving
     * it and their RRSIGs (section 3.1.3); NSEC/NSEC3 proofs of a wildcard
     * expansion (section 3.1.3.3).  Also for CD answers (unchecked, with
     * whatever RRSIGs came).  NULL (len_do 0) when validation is off or the
     * result is a SERVFAIL: then every client gets wire.  Owned like wire. */
    const uint8_t *wire_do;
    size_t len_do;
};
void iter_result(const struct iter_query *q, struct iter_result *out);

/* Counters for status and tests. */
struct iter_stats {
    unsigned upstream_queries; /* sent for this query, sub-queries included */
    unsigned referrals;
    unsigned cname_followed;
    unsigned nsec_cache_answers; /* negative answers proven from the NSEC cache (RFC 8198) */
};
void iter_get_stats(const struct iter_query *q, struct iter_stats *out);

/* What validation found, step by step, for the answer of a finished query
 * (gatehousectl check): each RRset of the answer chain in order, then, for
 * NXDOMAIN or NODATA, the denial (type 0).  owner and zone are ldns dnames
 * borrowed from q until iter_free; zone is the zone whose keys judged the
 * step (the signer when secure, where the chain of trust ended when
 * insecure or bogus), NULL when unknown.  status is an enum val_status:
 * unchecked when validation was off, CD was set, or validation stopped
 * before this step.  aggressive: the denial came from cached NSEC/NSEC3
 * records (RFC 8198), not from a server.  Returns how many steps there
 * are; fills at most max. */
struct iter_vstep {
    const ldns_rdf *owner, *zone;
    uint16_t type;
    uint8_t status;
    bool aggressive;
};
size_t iter_vtrace(const struct iter_query *q, struct iter_vstep *out, size_t max);

#endif
