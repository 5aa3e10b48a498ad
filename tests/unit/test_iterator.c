/*
 * test_iterator.c - scenario tests for the iterator, in the manner of
 * Unbound's replay tests: a small in-memory internet (root, TLDs, zones;
 * each server an address with zone data and a misbehaviour) answers the
 * queries the iterator asks for, through a driver loop that stands in for
 * worker.c.  No sockets.
 *
 * Every scenario asserts the outcome (rcode, answer), the queries sent
 * (count, and for QNAME minimisation the exact names), and what went into
 * the cache (poison must not).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "hints.h"
#include "infra.h"
#include "iterator.h"
#include "trust.h"
#include "unit.h"

#define NOW ((time_t)1700000000)
#define MAX_LOG 128
#define MAX_DRIVE 200

enum {
    F_TIMEOUT = 1 << 0,   /* never answers */
    F_SERVFAIL = 1 << 1,  /* SERVFAIL to everything */
    F_LAME = 1 << 2,      /* no authority: upward referral to the root */
    F_TC = 1 << 3,        /* truncated over UDP, fine over TCP */
    F_POISON = 1 << 4,    /* adds out-of-bailiwick records */
    F_QMIN_NX = 1 << 5,   /* NXDOMAIN for empty non-terminals (broken) */
    F_QMIN_FAIL = 1 << 6, /* SERVFAIL for names without records (broken) */
    F_FORWARDER = 1 << 7, /* a recursive resolver: answers from its data, RA, no AA */
};

struct server {
    const char *addr;
    uint16_t port;
    const char *zones; /* apexes it serves, space separated */
    unsigned flags;
    const char *data; /* zone file lines */
    ldns_rr_list *rrs;
    ldns_rr_list *apexes;
    unsigned queries;
};

/* clang-format off */
static struct server world[] = {
    {"127.53.0.1", 53, ".", 0,
     ". 86400 IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 86400\n"
     ". 1000 IN NS a.root.test.\n"
     "a.root.test. 1000 IN A 127.53.0.1\n"
     "test. 172800 IN NS ns1.nic.test.\n"
     "test. 172800 IN NS ns2.nic.test.\n"
     "ns1.nic.test. 172800 IN A 127.53.1.1\n"
     "ns2.nic.test. 172800 IN A 127.53.1.2\n"
     "net. 172800 IN NS ns.nic.net.\n"
     "ns.nic.net. 172800 IN A 127.53.2.1\n", NULL, NULL, 0},
    {"127.53.1.1", 53, "test.", 0, NULL, NULL, NULL, 0},
    {"127.53.1.2", 53, "test.", 0, NULL, NULL, NULL, 0},
    {"127.53.2.1", 53, "net.", 0,
     "net. 3600 IN SOA ns.nic.net. h.nic.net. 1 1800 900 604800 300\n"
     "net. 3600 IN NS ns.nic.net.\n"
     "ns.nic.net. 3600 IN A 127.53.2.1\n"
     "hoster.net. 3600 IN NS ns.hoster.net.\n"
     "ns.hoster.net. 3600 IN A 127.53.21.1\n"
     "other.net. 3600 IN NS ns.other.net.\n"
     "ns.other.net. 3600 IN A 127.53.20.1\n", NULL, NULL, 0},
    {"127.53.10.1", 53, "example.test. dname.test.", 0, NULL, NULL, NULL, 0},
    {"127.53.10.2", 53, "example.test. dname.test.", 0, NULL, NULL, NULL, 0},
    {"127.53.11.1", 53, "lame.test.", F_LAME, NULL, NULL, NULL, 0},
    {"127.53.11.2", 53, "lame.test.", 0,
     "lame.test. 3600 IN SOA ns2.lame.test. h.lame.test. 1 1800 900 604800 300\n"
     "www.lame.test. 3600 IN A 192.0.2.11\n"
     "www2.lame.test. 3600 IN A 192.0.2.12\n", NULL, NULL, 0},
    {"127.53.12.1", 53, "slow.test.", F_TIMEOUT, "", NULL, NULL, 0},
    {"127.53.12.2", 53, "slow.test.", 0,
     "slow.test. 3600 IN SOA ns2.slow.test. h.slow.test. 1 1800 900 604800 300\n"
     "www.slow.test. 3600 IN A 192.0.2.12\n", NULL, NULL, 0},
    {"127.53.13.1", 53, "dead.test.", F_TIMEOUT, "", NULL, NULL, 0},
    {"127.53.13.2", 53, "dead.test.", F_TIMEOUT, "", NULL, NULL, 0},
    {"127.53.14.1", 53, "tc.test.", F_TC,
     "tc.test. 3600 IN SOA ns.tc.test. h.tc.test. 1 1800 900 604800 300\n"
     "www.tc.test. 3600 IN A 192.0.2.14\n", NULL, NULL, 0},
    {"127.53.15.1", 53, "poison.test.", F_POISON,
     "poison.test. 3600 IN SOA ns.poison.test. h.poison.test. 1 1800 900 604800 300\n"
     "www.poison.test. 3600 IN A 192.0.2.15\n"
     "cname.poison.test. 3600 IN CNAME www.other.net.\n", NULL, NULL, 0},
    {"127.53.16.1", 53, "broken.test.", F_QMIN_NX,
     "broken.test. 3600 IN SOA ns.broken.test. h.broken.test. 1 1800 900 604800 300\n"
     "a.b.broken.test. 3600 IN A 192.0.2.16\n", NULL, NULL, 0},
    {"127.53.17.1", 53, "fragile.test.", F_QMIN_FAIL,
     "fragile.test. 3600 IN SOA ns.fragile.test. h.fragile.test. 1 1800 900 604800 300\n"
     "a.b.fragile.test. 3600 IN A 192.0.2.17\n", NULL, NULL, 0},
    {"127.53.20.1", 53, "other.net. evilglue.test.", 0,
     "other.net. 3600 IN SOA ns.other.net. h.other.net. 1 1800 900 604800 300\n"
     "other.net. 3600 IN NS ns.other.net.\n"
     "ns.other.net. 3600 IN A 127.53.20.1\n"
     "www.other.net. 3600 IN A 192.0.2.20\n"
     "evilglue.test. 3600 IN SOA ns.other.net. h.other.net. 1 1800 900 604800 300\n"
     "www.evilglue.test. 3600 IN A 192.0.2.66\n", NULL, NULL, 0},
    {"127.53.21.1", 53, "hoster.net. glueless.test.", 0,
     "hoster.net. 3600 IN SOA ns.hoster.net. h.hoster.net. 1 1800 900 604800 300\n"
     "hoster.net. 3600 IN NS ns.hoster.net.\n"
     "ns.hoster.net. 3600 IN A 127.53.21.1\n"
     "glueless.test. 3600 IN SOA ns.hoster.net. h.hoster.net. 1 1800 900 604800 300\n"
     "glueless.test. 3600 IN NS ns.hoster.net.\n"
     "www.glueless.test. 3600 IN A 192.0.2.21\n", NULL, NULL, 0},
    {"127.53.30.1", 5300, "", F_FORWARDER,
     "fwd.test. 3600 IN SOA ns.fwd.test. h.fwd.test. 1 1800 900 604800 300\n"
     "www.fwd.test. 3600 IN A 10.0.0.1\n"
     "www.example.test. 3600 IN A 10.9.9.9\n", NULL, NULL, 0},
    {"127.53.30.2", 5300, "", F_FORWARDER | F_SERVFAIL, "", NULL, NULL, 0},
    /* DNSSEC (signed at start-up by dnssec_world_init; anchor at sec.test.). */
    {"127.53.40.1", 53, "sec.test.", 0, "", NULL, NULL, 0},
    {"127.53.40.2", 53, "child.sec.test.", 0, "", NULL, NULL, 0},
    {"127.53.40.3", 53, "plain.sec.test.", 0,
     "plain.sec.test. 3600 IN SOA ns.plain.sec.test. h.sec.test. 1 3600 600 86400 300\n"
     "plain.sec.test. 3600 IN NS ns.plain.sec.test.\n"
     "www.plain.sec.test. 3600 IN A 192.0.2.44\n", NULL, NULL, 0},
};
/* clang-format on */

#define NSERVERS (sizeof(world) / sizeof(world[0]))

static const char test_zone[] =
    "test. 3600 IN SOA ns1.nic.test. h.nic.test. 1 1800 900 604800 300\n"
    "test. 3600 IN NS ns1.nic.test.\n"
    "test. 3600 IN NS ns2.nic.test.\n"
    "ns1.nic.test. 3600 IN A 127.53.1.1\n"
    "ns2.nic.test. 3600 IN A 127.53.1.2\n"
    "example.test. 3600 IN NS ns1.example.test.\n"
    "example.test. 3600 IN NS ns2.example.test.\n"
    "ns1.example.test. 3600 IN A 127.53.10.1\n"
    "ns2.example.test. 3600 IN A 127.53.10.2\n"
    "dname.test. 3600 IN NS ns1.example.test.\n"
    "glueless.test. 3600 IN NS ns.hoster.net.\n"
    "lame.test. 3600 IN NS ns1.lame.test.\n"
    "lame.test. 3600 IN NS ns2.lame.test.\n"
    "ns1.lame.test. 3600 IN A 127.53.11.1\n"
    "ns2.lame.test. 3600 IN A 127.53.11.2\n"
    "slow.test. 3600 IN NS ns1.slow.test.\n"
    "slow.test. 3600 IN NS ns2.slow.test.\n"
    "ns1.slow.test. 3600 IN A 127.53.12.1\n"
    "ns2.slow.test. 3600 IN A 127.53.12.2\n"
    "dead.test. 3600 IN NS ns1.dead.test.\n"
    "dead.test. 3600 IN NS ns2.dead.test.\n"
    "ns1.dead.test. 3600 IN A 127.53.13.1\n"
    "ns2.dead.test. 3600 IN A 127.53.13.2\n"
    "tc.test. 3600 IN NS ns.tc.test.\n"
    "ns.tc.test. 3600 IN A 127.53.14.1\n"
    "poison.test. 3600 IN NS ns.poison.test.\n"
    "ns.poison.test. 3600 IN A 127.53.15.1\n"
    "broken.test. 3600 IN NS ns.broken.test.\n"
    "ns.broken.test. 3600 IN A 127.53.16.1\n"
    "fragile.test. 3600 IN NS ns.fragile.test.\n"
    "ns.fragile.test. 3600 IN A 127.53.17.1\n"
    "loop.test. 3600 IN NS ns.loop2.test.\n"
    "loop2.test. 3600 IN NS ns.loop.test.\n"
    "inzone.test. 3600 IN NS ns.inzone.test.\n"
    "evilglue.test. 3600 IN NS ns.other.net.\n"
    "sec.test. 3600 IN NS ns.sec.test.\n"
    "ns.sec.test. 3600 IN A 127.53.40.1\n"
    "ns.other.net. 3600 IN A 6.6.6.6\n"; /* out-of-bailiwick glue: poison */

static const char example_zone[] =
    "example.test. 3600 IN SOA ns1.example.test. h.example.test. 1 3600 600 86400 300\n"
    "example.test. 3600 IN NS ns1.example.test.\n"
    "example.test. 3600 IN NS ns2.example.test.\n"
    "ns1.example.test. 3600 IN A 127.53.10.1\n"
    "ns2.example.test. 3600 IN A 127.53.10.2\n"
    "www.example.test. 3600 IN A 192.0.2.1\n"
    "alias.example.test. 3600 IN CNAME www.example.test.\n"
    "cname.example.test. 3600 IN CNAME www.other.net.\n"
    "a.b.c.d.example.test. 3600 IN TXT \"deep\"\n"
    "c1.example.test. 3600 IN CNAME c2.example.test.\n"
    "c2.example.test. 3600 IN CNAME c3.example.test.\n"
    "c3.example.test. 3600 IN CNAME c4.example.test.\n"
    "c4.example.test. 3600 IN CNAME c5.example.test.\n"
    "c5.example.test. 3600 IN A 192.0.2.5\n"
    "dangling.example.test. 3600 IN CNAME nothere.example.test.\n"
    "a.b.c.d.e.f.g.h.i.j.k.l.m.example.test. 3600 IN TXT \"long\"\n"
    "dname.test. 3600 IN SOA ns1.example.test. h.example.test. 1 3600 600 86400 300\n"
    "dname.test. 3600 IN NS ns1.example.test.\n"
    "dname.test. 3600 IN DNAME example.test.\n";

/* --- The world ------------------------------------------------------------ */

static ldns_rr *rr(const char *text)
{
    ldns_rr *r = NULL;
    if (ldns_rr_new_frm_str(&r, text, 3600, NULL, NULL) != LDNS_STATUS_OK) {
        printf("# bad test record: %s\n", text);
        abort();
    }
    return r;
}

static ldns_rdf *dn(const char *s)
{
    ldns_rdf *d = ldns_dname_new_frm_str(s);
    ldns_dname2canonical(d);
    return d;
}

static ldns_rr_list *parse_lines(const char *text)
{
    ldns_rr_list *l = ldns_rr_list_new();
    char line[512];
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        if (n > 0 && n < sizeof(line)) {
            memcpy(line, text, n);
            line[n] = '\0';
            ldns_rr_list_push_rr(l, rr(line));
        }
        text += n + (nl ? 1 : 0);
    }
    return l;
}

static void world_init(void)
{
    for (size_t i = 0; i < NSERVERS; i++) {
        struct server *s = &world[i];
        const char *data = s->data;
        if (!data && strstr(s->zones, "example.test"))
            data = example_zone;
        if (!data && strcmp(s->zones, "test.") == 0)
            data = test_zone;
        s->rrs = parse_lines(data);
        s->apexes = ldns_rr_list_new();
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", s->zones);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            ldns_rr *apex = ldns_rr_new();
            ldns_rr_set_owner(apex, dn(t));
            ldns_rr_list_push_rr(s->apexes, apex);
        }
    }
}

static void world_free(void)
{
    for (size_t i = 0; i < NSERVERS; i++) {
        ldns_rr_list_deep_free(world[i].rrs);
        ldns_rr_list_deep_free(world[i].apexes);
    }
}

static void world_reset_counts(void)
{
    for (size_t i = 0; i < NSERVERS; i++)
        world[i].queries = 0;
}

static bool at_or_below(const ldns_rdf *name, const ldns_rdf *zone)
{
    return ldns_dname_compare(name, zone) == 0 || ldns_dname_is_subdomain(name, zone);
}

static struct server *world_find(const struct sockaddr_storage *ss)
{
    char buf[64];
    uint16_t port;
    if (ss->ss_family != AF_INET)
        return NULL;
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
    port = ntohs(s4->sin_port);
    for (size_t i = 0; i < NSERVERS; i++)
        if (strcmp(world[i].addr, buf) == 0 && world[i].port == port)
            return &world[i];
    return NULL;
}

static void push_matching(ldns_pkt *p, ldns_pkt_section sec, const ldns_rr_list *rrs,
                          const ldns_rdf *owner, ldns_rr_type type)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *r = ldns_rr_list_rr(rrs, i);
        if (ldns_dname_compare(ldns_rr_owner(r), owner) == 0 &&
            (type == 0 || ldns_rr_get_type(r) == type))
            ldns_pkt_push_rr(p, sec, ldns_rr_clone(r));
    }
}

static bool has_rrs(const ldns_rr_list *rrs, const ldns_rdf *owner, ldns_rr_type type)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
        ldns_rr *r = ldns_rr_list_rr(rrs, i);
        if (ldns_dname_compare(ldns_rr_owner(r), owner) == 0 &&
            (type == 0 || ldns_rr_get_type(r) == type))
            return true;
    }
    return false;
}

/* The name exists (has records, or records below it: an empty non-terminal). */
static bool name_exists(const ldns_rr_list *rrs, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++)
        if (at_or_below(ldns_rr_owner(ldns_rr_list_rr(rrs, i)), name))
            return true;
    return false;
}

static const ldns_rdf *deepest_apex(const struct server *s, const ldns_rdf *qname)
{
    const ldns_rdf *best = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->apexes); i++) {
        const ldns_rdf *a = ldns_rr_owner(ldns_rr_list_rr(s->apexes, i));
        if (at_or_below(qname, a) &&
            (!best || ldns_dname_label_count(a) > ldns_dname_label_count(best)))
            best = a;
    }
    return best;
}

static const ldns_rdf *find_delegation(const struct server *s, const ldns_rdf *zone,
                                       const ldns_rdf *qname, ldns_rr_type qtype)
{
    const ldns_rdf *best = NULL;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++) {
        ldns_rr *r = ldns_rr_list_rr(s->rrs, i);
        const ldns_rdf *o = ldns_rr_owner(r);
        if (ldns_rr_get_type(r) != LDNS_RR_TYPE_NS || !ldns_dname_is_subdomain(o, zone) ||
            !at_or_below(qname, o))
            continue;
        /* DS is the parent's own data (RFC 4035 section 3.1.4.1). */
        if (qtype == LDNS_RR_TYPE_DS && ldns_dname_compare(qname, o) == 0)
            continue;
        if (!best || ldns_dname_label_count(o) < ldns_dname_label_count(best))
            best = o;
    }
    return best;
}

static void add_ns_addresses(ldns_pkt *p, const struct server *s, const ldns_rdf *owner)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++) {
        ldns_rr *r = ldns_rr_list_rr(s->rrs, i);
        if (ldns_rr_get_type(r) != LDNS_RR_TYPE_NS ||
            ldns_dname_compare(ldns_rr_owner(r), owner) != 0)
            continue;
        push_matching(p, LDNS_SECTION_ADDITIONAL, s->rrs, ldns_rr_rdf(r, 0), LDNS_RR_TYPE_A);
        push_matching(p, LDNS_SECTION_ADDITIONAL, s->rrs, ldns_rr_rdf(r, 0), LDNS_RR_TYPE_AAAA);
    }
}

static ldns_rr *find_dname(const struct server *s, const ldns_rdf *zone, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++) {
        ldns_rr *r = ldns_rr_list_rr(s->rrs, i);
        if (ldns_rr_get_type(r) == LDNS_RR_TYPE_DNAME && at_or_below(ldns_rr_owner(r), zone) &&
            ldns_dname_is_subdomain(name, ldns_rr_owner(r)))
            return r;
    }
    return NULL;
}

static ldns_rdf *dname_subst(const ldns_rdf *name, const ldns_rr *dname)
{
    size_t prefix = ldns_rdf_size(name) - ldns_rdf_size(ldns_rr_owner(dname));
    uint8_t buf[300];
    const ldns_rdf *t = ldns_rr_rdf(dname, 0);
    memcpy(buf, ldns_rdf_data(name), prefix);
    memcpy(buf + prefix, ldns_rdf_data(t), ldns_rdf_size(t));
    return ldns_dname_new_frm_data((uint16_t)(prefix + ldns_rdf_size(t)), buf);
}

/* An authoritative server's answer (RFC 1034 4.3.2), simplified. */
static void auth_answer(const struct server *s, const ldns_rdf *qname, ldns_rr_type qtype,
                        ldns_pkt *p)
{
    const ldns_rdf *zone = deepest_apex(s, qname);
    if (!zone) {
        ldns_pkt_set_rcode(p, LDNS_RCODE_REFUSED);
        return;
    }
    const ldns_rdf *deleg = find_delegation(s, zone, qname, qtype);
    if (deleg) {
        push_matching(p, LDNS_SECTION_AUTHORITY, s->rrs, deleg, LDNS_RR_TYPE_NS);
        add_ns_addresses(p, s, deleg);
        return;
    }
    ldns_pkt_set_aa(p, true);
    ldns_rdf *cur = ldns_rdf_clone(qname);
    for (int steps = 0; steps < 10; steps++) {
        if (has_rrs(s->rrs, cur, qtype)) {
            push_matching(p, LDNS_SECTION_ANSWER, s->rrs, cur, qtype);
            if (qtype == LDNS_RR_TYPE_NS)
                add_ns_addresses(p, s, cur);
            goto out;
        }
        ldns_rr *dname = find_dname(s, zone, cur);
        if (dname) {
            ldns_rdf *next = dname_subst(cur, dname);
            ldns_rr *cname = ldns_rr_new_frm_type(LDNS_RR_TYPE_CNAME);
            ldns_rr_set_owner(cname, ldns_rdf_clone(cur));
            ldns_rr_set_ttl(cname, ldns_rr_ttl(dname));
            ldns_rr_set_rdf(cname, ldns_rdf_clone(next), 0);
            ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, ldns_rr_clone(dname));
            ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, cname);
            ldns_rdf_deep_free(cur);
            cur = next;
            if (!at_or_below(cur, zone))
                goto out;
            continue;
        }
        if (has_rrs(s->rrs, cur, LDNS_RR_TYPE_CNAME)) {
            push_matching(p, LDNS_SECTION_ANSWER, s->rrs, cur, LDNS_RR_TYPE_CNAME);
            for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++) {
                ldns_rr *r = ldns_rr_list_rr(s->rrs, i);
                if (ldns_rr_get_type(r) == LDNS_RR_TYPE_CNAME &&
                    ldns_dname_compare(ldns_rr_owner(r), cur) == 0) {
                    ldns_rdf_deep_free(cur);
                    cur = ldns_rdf_clone(ldns_rr_rdf(r, 0));
                    break;
                }
            }
            if (!at_or_below(cur, zone))
                goto out;
            continue;
        }
        break;
    }
    if (!name_exists(s->rrs, cur))
        ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
    push_matching(p, LDNS_SECTION_AUTHORITY, s->rrs, zone, LDNS_RR_TYPE_SOA);
out:
    ldns_rdf_deep_free(cur);
}

/* A recursive server: its data is what it resolved. */
static void fwd_answer(const struct server *s, const ldns_rdf *qname, ldns_rr_type qtype,
                       ldns_pkt *p)
{
    ldns_pkt_set_ra(p, true);
    if (has_rrs(s->rrs, qname, qtype)) {
        push_matching(p, LDNS_SECTION_ANSWER, s->rrs, qname, qtype);
        return;
    }
    ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++)
        if (ldns_rr_get_type(ldns_rr_list_rr(s->rrs, i)) == LDNS_RR_TYPE_SOA)
            ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(ldns_rr_list_rr(s->rrs, i)));
}

static void add_poison(ldns_pkt *p)
{
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr("www.other.net. 3600 IN A 6.6.6.6"));
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr("victim.test. 3600 IN A 6.6.6.6"));
    ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr("bank.test. 3600 IN NS ns.evil.test."));
    ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr("www.bank.test. 3600 IN A 6.6.6.6"));
    ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr("ns.evil.test. 3600 IN A 6.6.6.6"));
}

/* Pushes the RRSIGs of s covering each RRset of sec in p (RFC 4035 3.1.1). */
static void add_sigs(const struct server *s, ldns_pkt *p, ldns_pkt_section sec)
{
    ldns_rr_list *l = ldns_pkt_get_section_clone(p, sec);
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++) {
        ldns_rr *sig = ldns_rr_list_rr(s->rrs, i);
        if (ldns_rr_get_type(sig) != LDNS_RR_TYPE_RRSIG)
            continue;
        ldns_rr_type covered = ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(sig));
        for (size_t j = 0; j < ldns_rr_list_rr_count(l); j++) {
            ldns_rr *r = ldns_rr_list_rr(l, j);
            if (ldns_rr_get_type(r) == covered &&
                ldns_dname_compare(ldns_rr_owner(r), ldns_rr_owner(sig)) == 0) {
                ldns_pkt_push_rr(p, sec, ldns_rr_clone(sig));
                break;
            }
        }
    }
    ldns_rr_list_deep_free(l);
}

/* A signed zone's server, asked with DO: RRSIGs with every signed RRset;
 * the DS of a referral, or for a referral without DS and for NXDOMAIN and
 * NODATA every NSEC/NSEC3 of the zone (a superset of the proof: the
 * validator must pick what proves the case).  No wildcards here (auth_answer
 * has none): tests/integration/test_dnssec.py covers them. */
static void add_dnssec(const struct server *s, ldns_pkt *p)
{
    bool sig = false, nsec = false;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++)
        sig |= ldns_rr_get_type(ldns_rr_list_rr(s->rrs, i)) == LDNS_RR_TYPE_RRSIG;
    if (!sig)
        return;
    ldns_rr_list *ns = ldns_pkt_authority(p);
    bool referral = !ldns_pkt_aa(p) && ldns_rr_list_rr_count(ns) > 0 &&
                    ldns_rr_get_type(ldns_rr_list_rr(ns, 0)) == LDNS_RR_TYPE_NS;
    if (referral) {
        const ldns_rdf *cut = ldns_rr_owner(ldns_rr_list_rr(ns, 0));
        if (has_rrs(s->rrs, cut, LDNS_RR_TYPE_DS))
            push_matching(p, LDNS_SECTION_AUTHORITY, s->rrs, cut, LDNS_RR_TYPE_DS);
        else
            nsec = true;
    } else if (ldns_rr_list_rr_count(ldns_pkt_answer(p)) == 0 ||
               ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN) {
        nsec = true;
    }
    add_sigs(s, p, LDNS_SECTION_ANSWER);
    add_sigs(s, p, LDNS_SECTION_AUTHORITY);
    if (!nsec)
        return;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s->rrs); i++) {
        ldns_rr *r = ldns_rr_list_rr(s->rrs, i);
        ldns_rr_type t = ldns_rr_get_type(r);
        bool covers = t == LDNS_RR_TYPE_RRSIG &&
                      (ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(r)) == LDNS_RR_TYPE_NSEC ||
                       ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(r)) == LDNS_RR_TYPE_NSEC3);
        if (t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3 || covers)
            ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(r));
    }
}

/* Builds the reply of s to the query in send; false for no reply. */
static bool server_reply(struct server *s, const struct iter_send *send, uint8_t **wire,
                         size_t *len)
{
    ldns_pkt *qp = NULL;
    if (ldns_wire2pkt(&qp, send->pkt, send->len) != LDNS_STATUS_OK)
        return false;
    s->queries++;
    ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(qp), 0);
    const ldns_rdf *qname = ldns_rr_owner(question);
    ldns_rr_type qtype = ldns_rr_get_type(question);
    ldns_pkt *p = ldns_pkt_new();
    ldns_pkt_set_id(p, ldns_pkt_id(qp));
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, ldns_pkt_rd(qp));
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    bool reply = true;
    if (s->flags & F_TIMEOUT) {
        reply = false;
    } else if (s->flags & F_SERVFAIL) {
        ldns_pkt_set_rcode(p, LDNS_RCODE_SERVFAIL);
    } else if (s->flags & F_LAME) {
        ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr(". 3600 IN NS a.root.test."));
    } else if ((s->flags & F_TC) && !send->tcp) {
        ldns_pkt_set_tc(p, true);
    } else if ((s->flags & (F_QMIN_NX | F_QMIN_FAIL)) && !has_rrs(s->rrs, qname, 0) &&
               name_exists(s->rrs, qname) && deepest_apex(s, qname) &&
               ldns_dname_compare(deepest_apex(s, qname), qname) != 0) {
        ldns_pkt_set_rcode(p, (s->flags & F_QMIN_NX) ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_SERVFAIL);
        ldns_pkt_set_aa(p, true);
    } else if (s->flags & F_FORWARDER) {
        fwd_answer(s, qname, qtype, p);
    } else {
        auth_answer(s, qname, qtype, p);
        if (s->flags & F_POISON)
            add_poison(p);
        if (ldns_pkt_edns_do(qp))
            add_dnssec(s, p);
    }
    if (ldns_pkt_edns(qp))
        ldns_pkt_set_edns_udp_size(p, 4096); /* a signed reply may exceed 512 */
    bool ok = reply && ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK;
    ldns_pkt_free(p);
    ldns_pkt_free(qp);
    return ok;
}

/* --- The driver ----------------------------------------------------------- */

struct sent {
    char qname[256];
    uint16_t qtype;
    char server[64];
    uint16_t port;
    bool tcp, rd, edns_ok;
    uint16_t id;
};

static struct sent sent_log[MAX_LOG];
static size_t nsent;

static void log_send(const struct iter_send *send)
{
    ldns_pkt *qp = NULL;
    if (nsent >= MAX_LOG || ldns_wire2pkt(&qp, send->pkt, send->len) != LDNS_STATUS_OK)
        return;
    struct sent *e = &sent_log[nsent++];
    memset(e, 0, sizeof(*e));
    ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(qp), 0);
    char *name = ldns_rdf2str(ldns_rr_owner(question));
    snprintf(e->qname, sizeof(e->qname), "%s", name);
    free(name);
    e->qtype = ldns_rr_get_type(question);
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&send->server;
    if (send->server.ss_family == AF_INET)
        inet_ntop(AF_INET, &s4->sin_addr, e->server, sizeof(e->server));
    else
        snprintf(e->server, sizeof(e->server), "v6");
    e->port = ntohs(s4->sin_port);
    e->tcp = send->tcp;
    e->rd = ldns_pkt_rd(qp);
    e->edns_ok = ldns_pkt_edns(qp) && ldns_pkt_edns_udp_size(qp) == 1232 && !ldns_pkt_edns_do(qp);
    e->id = ldns_pkt_id(qp);
    if (e->id != send->id)
        e->edns_ok = false;
    ldns_pkt_free(qp);
}

struct env {
    bool cd; /* resolve with iter_set_cd */
    struct config cfg;
    struct config_forward fwd[2];
    struct config_sockaddr fwd_servers[2];
    struct hints hints;
    struct cache *cache;
    struct infra *infra;
    struct iter_env ienv;
};

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    e->cfg.qname_minimisation = true;
    e->cfg.ipv4 = true;
    e->cfg.ipv6 = false;
    e->cfg.query_loopback = true;
    e->cfg.upstream_timeout_ms = 400;
    e->cfg.max_referrals = 30;
    e->cfg.max_cname = 12;
    e->cfg.max_work = 64;
    e->hints.ns = ldns_rr_list_new();
    e->hints.addrs = ldns_rr_list_new();
    ldns_rr_list_push_rr(e->hints.ns, rr(". 3600000 IN NS a.root.test."));
    ldns_rr_list_push_rr(e->hints.addrs, rr("a.root.test. 3600000 IN A 127.53.0.1"));
    struct cache_limits lim = {1 << 22, 0, 86400, 3600, 0};
    e->cache = cache_new(&lim);
    e->infra = infra_new();
    e->ienv.cache = e->cache;
    e->ienv.infra = e->infra;
    e->ienv.hints = &e->hints;
    e->ienv.cfg = &e->cfg;
    world_reset_counts();
}

static void env_free(struct env *e)
{
    ldns_rr_list_deep_free(e->hints.ns);
    ldns_rr_list_deep_free(e->hints.addrs);
    cache_free(e->cache);
    infra_free(e->infra);
}

static void sockaddr4(struct sockaddr_storage *ss, socklen_t *len, const char *a, uint16_t port)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    inet_pton(AF_INET, a, &s4->sin_addr);
    *len = sizeof(*s4);
}

static void add_forward(struct env *e, const char *zone, const char *const *servers, size_t n)
{
    struct config_forward *f = &e->fwd[e->cfg.nforwards];
    ldns_rdf *z = dn(zone);
    f->zone = (char *)zone;
    memcpy(f->zone_wire, ldns_rdf_data(z), ldns_rdf_size(z));
    f->zone_wire_len = ldns_rdf_size(z);
    ldns_rdf_deep_free(z);
    for (size_t i = 0; i < n; i++)
        sockaddr4(&e->fwd_servers[i].ss, &e->fwd_servers[i].len, servers[i], 5300);
    f->servers = e->fwd_servers;
    f->nservers = n;
    e->cfg.forwards = e->fwd;
    e->cfg.nforwards++;
}

static void prefer(struct env *e, const char *addr, unsigned rtt)
{
    struct sockaddr_storage ss;
    socklen_t len;
    sockaddr4(&ss, &len, addr, 53);
    infra_rtt_update(e->infra, (struct sockaddr *)&ss, rtt, NOW);
}

struct outcome {
    int rcode;
    bool cacheable, upstream_failed;
    uint16_t ede;
    char ede_text[96];
    unsigned queries;
    ldns_pkt *pkt; /* the result, parsed */
    bool header_ok;
    bool secure, bogus;
    ldns_pkt *pkt_do; /* the DNSSEC form (iter_result.wire_do), parsed, or NULL */
};

static void outcome_free(struct outcome *o)
{
    ldns_pkt_free(o->pkt);
    ldns_pkt_free(o->pkt_do);
}

/* Resolves name/type through the world; the log of queries is in sent_log. */
static struct outcome resolve_at(struct env *e, const char *name, ldns_rr_type type, time_t now)
{
    struct outcome o;
    memset(&o, 0, sizeof(o));
    nsent = 0;
    ldns_rdf *qn = ldns_dname_new_frm_str(name);
    struct iter_query *q =
        iter_new(&e->ienv, ldns_rdf_data(qn), ldns_rdf_size(qn), type, LDNS_RR_CLASS_IN, now);
    ldns_rdf_deep_free(qn);
    if (!q) {
        o.rcode = -1;
        return o;
    }
    iter_set_cd(q, e->cd);
    struct iter_send send;
    int steps;
    for (steps = 0; steps < MAX_DRIVE; steps++) {
        if (iter_step(q, now, &send) == ITER_DONE)
            break;
        log_send(&send);
        struct server *s = world_find(&send.server);
        uint8_t *wire = NULL;
        size_t len = 0;
        if (!s)
            iter_fail(q, ITER_FAIL_NETWORK, now);
        else if (!server_reply(s, &send, &wire, &len))
            iter_fail(q, ITER_FAIL_TIMEOUT, now);
        else
            iter_answer(q, wire, len, 10, now);
        free(wire);
    }
    CHECK(steps < MAX_DRIVE);
    struct iter_result res;
    struct iter_stats st;
    iter_result(q, &res);
    iter_get_stats(q, &st);
    o.rcode = res.rcode;
    o.cacheable = res.cacheable;
    o.upstream_failed = res.upstream_failed;
    o.ede = res.ede_code;
    if (res.ede_text)
        snprintf(o.ede_text, sizeof(o.ede_text), "%s", res.ede_text);
    o.queries = st.upstream_queries;
    o.secure = res.secure;
    o.bogus = res.bogus;
    CHECK_EQ(o.queries, nsent);
    if (res.wire_do)
        CHECK(ldns_wire2pkt(&o.pkt_do, res.wire_do, res.len_do) == LDNS_STATUS_OK);
    if (res.wire && ldns_wire2pkt(&o.pkt, res.wire, res.len) == LDNS_STATUS_OK) {
        o.header_ok =
            ldns_pkt_id(o.pkt) == 0 && ldns_pkt_qr(o.pkt) && ldns_pkt_ra(o.pkt) &&
            !ldns_pkt_rd(o.pkt) && !ldns_pkt_aa(o.pkt) && ldns_pkt_get_rcode(o.pkt) == res.rcode &&
            ldns_rr_list_rr_count(ldns_pkt_additional(o.pkt)) == 0 && ldns_pkt_qdcount(o.pkt) == 1;
        if (res.cacheable)
            cache_msg_put(
                e->cache,
                ldns_rdf_data(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(o.pkt), 0))),
                ldns_rdf_size(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(o.pkt), 0))), type,
                LDNS_RR_CLASS_IN, res.wire, res.len, now);
    }
    iter_free(q);
    return o;
}

static struct outcome resolve(struct env *e, const char *name, ldns_rr_type type)
{
    return resolve_at(e, name, type, NOW);
}

/* The answer section as "owner TYPE rdata" lines joined by "; ". */
static void answer_str(const struct outcome *o, ldns_pkt_section sec, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!o->pkt)
        return;
    ldns_rr_list *l = ldns_pkt_get_section_clone(o->pkt, sec);
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
        ldns_rr *r = ldns_rr_list_rr(l, i);
        char *owner = ldns_rdf2str(ldns_rr_owner(r));
        char *type = ldns_rr_type2str(ldns_rr_get_type(r));
        char *rd = ldns_rr_rd_count(r) ? ldns_rdf2str(ldns_rr_rdf(r, 0)) : strdup("");
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s %s %s", i ? "; " : "", owner, type, rd);
        free(owner);
        free(type);
        free(rd);
    }
    ldns_rr_list_deep_free(l);
}

static bool cached(struct env *e, const char *name, ldns_rr_type type)
{
    ldns_rdf *d = dn(name);
    ldns_rr_list *l = cache_rrset_get(e->cache, d, type, NOW, NULL);
    ldns_rdf_deep_free(d);
    bool found = l != NULL;
    ldns_rr_list_deep_free(l);
    return found;
}

static bool cached_addr_is(struct env *e, const char *name, const char *addr)
{
    ldns_rdf *d = dn(name);
    ldns_rr_list *l = cache_rrset_get(e->cache, d, LDNS_RR_TYPE_A, NOW, NULL);
    ldns_rdf_deep_free(d);
    bool found = false;
    for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
        char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(l, i), 0));
        found |= strcmp(s, addr) == 0;
        free(s);
    }
    ldns_rr_list_deep_free(l);
    return found;
}

static bool sent_to(const char *server)
{
    for (size_t i = 0; i < nsent; i++)
        if (strcmp(sent_log[i].server, server) == 0)
            return true;
    return false;
}

static bool sent_name(const char *qname, uint16_t qtype)
{
    for (size_t i = 0; i < nsent; i++)
        if (strcmp(sent_log[i].qname, qname) == 0 && sent_log[i].qtype == qtype)
            return true;
    return false;
}

/* --- Scenarios ------------------------------------------------------------ */

static void test_priming_then_answer(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    char buf[1024];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.header_ok);
    CHECK(o.cacheable);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.example.test. A 192.0.2.1");
    answer_str(&o, LDNS_SECTION_AUTHORITY, buf, sizeof(buf));
    CHECK_STR(buf, "");
    CHECK(nsent >= 1);
    CHECK_STR(sent_log[0].qname, ".");
    CHECK_EQ(sent_log[0].qtype, LDNS_RR_TYPE_NS);
    CHECK_STR(sent_log[0].server, "127.53.0.1");
    /* ". NS", "test.", "example.test.", then the full name. */
    CHECK_EQ(o.queries, 4);
    CHECK(cached(&e, ".", LDNS_RR_TYPE_NS));
    CHECK(cached(&e, "a.root.test.", LDNS_RR_TYPE_A));
    CHECK(cached(&e, "example.test.", LDNS_RR_TYPE_NS));
    CHECK(cached(&e, "ns1.example.test.", LDNS_RR_TYPE_A));
    outcome_free(&o);
    env_free(&e);
}

static void test_second_resolution_uses_cache(void)
{
    struct env e;
    env_init(&e);
    struct outcome o1 = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    struct outcome o2 = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    char b1[512], b2[512];
    CHECK_EQ(o2.rcode, LDNS_RCODE_NOERROR);
    CHECK_EQ(o2.queries, 0);
    answer_str(&o1, LDNS_SECTION_ANSWER, b1, sizeof(b1));
    answer_str(&o2, LDNS_SECTION_ANSWER, b2, sizeof(b2));
    CHECK_STR(b2, b1);
    /* A sibling name needs only the example.test servers. */
    struct outcome o3 = resolve(&e, "nope.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o3.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK_EQ(o3.queries, 1);
    CHECK(!sent_name(".", LDNS_RR_TYPE_NS));
    outcome_free(&o1);
    outcome_free(&o2);
    outcome_free(&o3);
    env_free(&e);
}

static void test_hints_used_only_when_root_expired(void)
{
    struct env e;
    env_init(&e);
    struct outcome o1 = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o1.rcode, LDNS_RCODE_NOERROR);
    struct outcome o2 = resolve(&e, "www.other.net.", LDNS_RR_TYPE_A);
    CHECK_EQ(o2.rcode, LDNS_RCODE_NOERROR);
    CHECK(!sent_name(".", LDNS_RR_TYPE_NS));
    CHECK(nsent > 0 && strcmp(sent_log[0].server, "127.53.0.1") == 0);
    /* The root NS set had TTL 1000: after that, prime again. */
    struct outcome o3 = resolve_at(&e, "www.glueless.test.", LDNS_RR_TYPE_A, NOW + 200000);
    CHECK_EQ(o3.rcode, LDNS_RCODE_NOERROR);
    CHECK(nsent > 0 && strcmp(sent_log[0].qname, ".") == 0 && sent_log[0].qtype == LDNS_RR_TYPE_NS);
    outcome_free(&o1);
    outcome_free(&o2);
    outcome_free(&o3);
    env_free(&e);
}

static void test_qname_minimisation_sequence(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "a.b.c.d.example.test.", LDNS_RR_TYPE_TXT);
    static const char *const want[] = {".",
                                       "test.",
                                       "example.test.",
                                       "d.example.test.",
                                       "c.d.example.test.",
                                       "b.c.d.example.test.",
                                       "a.b.c.d.example.test."};
    static const uint16_t types[] = {LDNS_RR_TYPE_NS, LDNS_RR_TYPE_A, LDNS_RR_TYPE_A,
                                     LDNS_RR_TYPE_A,  LDNS_RR_TYPE_A, LDNS_RR_TYPE_A,
                                     LDNS_RR_TYPE_TXT};
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK_EQ(nsent, 7);
    for (size_t i = 0; i < 7 && i < nsent; i++) {
        CHECK_STR(sent_log[i].qname, want[i]);
        CHECK_EQ(sent_log[i].qtype, types[i]);
    }
    char buf[256];
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "a.b.c.d.example.test. TXT \"deep\"");
    outcome_free(&o);
    env_free(&e);
}

static void test_qname_minimisation_off(void)
{
    struct env e;
    env_init(&e);
    e.cfg.qname_minimisation = false;
    struct outcome o = resolve(&e, "a.b.c.d.example.test.", LDNS_RR_TYPE_TXT);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK_EQ(nsent, 4); /* prime, root, test., example.test. */
    for (size_t i = 1; i < nsent; i++) {
        CHECK_STR(sent_log[i].qname, "a.b.c.d.example.test.");
        CHECK_EQ(sent_log[i].qtype, LDNS_RR_TYPE_TXT);
    }
    outcome_free(&o);
    env_free(&e);
}

static void test_outgoing_query_format(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    bool ids_differ = false;
    for (size_t i = 0; i < nsent; i++) {
        CHECK(!sent_log[i].rd);
        CHECK(sent_log[i].edns_ok);
        CHECK(!sent_log[i].tcp);
        CHECK_EQ(sent_log[i].port, 53);
        if (i > 0 && sent_log[i].id != sent_log[0].id)
            ids_differ = true;
    }
    CHECK(nsent >= 3 && ids_differ);
    outcome_free(&o);
    env_free(&e);
}

static void test_result_wire_format(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "WWW.Example.TEST.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.header_ok);
    CHECK(o.pkt != NULL);
    if (o.pkt) {
        char *q = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(o.pkt), 0)));
        CHECK_STR(q, "www.example.test.");
        free(q);
        CHECK_EQ(ldns_pkt_ancount(o.pkt), 1);
        CHECK_EQ(ldns_pkt_nscount(o.pkt), 0);
        CHECK_EQ(ldns_pkt_arcount(o.pkt), 0);
        CHECK(!ldns_pkt_edns(o.pkt)); /* no OPT in the cache form */
    }
    outcome_free(&o);
    env_free(&e);
}

static void test_nxdomain_with_soa(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "nope.example.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK(o.cacheable);
    CHECK(o.header_ok);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "");
    answer_str(&o, LDNS_SECTION_AUTHORITY, buf, sizeof(buf));
    CHECK_STR(buf, "example.test. SOA ns1.example.test.");
    outcome_free(&o);
    env_free(&e);
}

static void test_nodata_with_soa(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_AAAA);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.cacheable);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "");
    answer_str(&o, LDNS_SECTION_AUTHORITY, buf, sizeof(buf));
    CHECK_STR(buf, "example.test. SOA ns1.example.test.");
    /* The driver cached it: the second time is free. */
    struct outcome o2 = resolve(&e, "www.example.test.", LDNS_RR_TYPE_AAAA);
    CHECK_EQ(o2.rcode, LDNS_RCODE_NOERROR);
    CHECK_EQ(o2.queries, 0);
    outcome_free(&o);
    outcome_free(&o2);
    env_free(&e);
}

static void test_cname_in_zone(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "alias.example.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "alias.example.test. CNAME www.example.test.; www.example.test. A 192.0.2.1");
    CHECK_EQ(o.queries, 4); /* the target came in the same answer */
    outcome_free(&o);
    env_free(&e);
}

static void test_cname_across_zones(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "cname.example.test.", LDNS_RR_TYPE_A);
    char buf[512];
    struct iter_stats dummy;
    (void)dummy;
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "cname.example.test. CNAME www.other.net.; www.other.net. A 192.0.2.20");
    CHECK(sent_to("127.53.20.1"));
    CHECK(sent_to("127.53.2.1"));
    outcome_free(&o);
    env_free(&e);
}

static void test_cname_target_from_wrong_zone_ignored(void)
{
    struct env e;
    env_init(&e);
    /* poison.test's server adds "www.other.net A 6.6.6.6" to its CNAME
     * answer; only other.net's servers may say where www.other.net is. */
    struct outcome o = resolve(&e, "cname.poison.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "cname.poison.test. CNAME www.other.net.; www.other.net. A 192.0.2.20");
    CHECK(sent_to("127.53.20.1"));
    CHECK(!cached_addr_is(&e, "www.other.net.", "6.6.6.6"));
    outcome_free(&o);
    env_free(&e);
}

static void test_poison_not_cached(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.poison.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.poison.test. A 192.0.2.15");
    CHECK(cached(&e, "www.poison.test.", LDNS_RR_TYPE_A));
    CHECK(!cached(&e, "victim.test.", LDNS_RR_TYPE_A));
    CHECK(!cached(&e, "www.other.net.", LDNS_RR_TYPE_A));
    CHECK(!cached(&e, "bank.test.", LDNS_RR_TYPE_NS));
    CHECK(!cached(&e, "www.bank.test.", LDNS_RR_TYPE_A));
    CHECK(!cached(&e, "ns.evil.test.", LDNS_RR_TYPE_A));
    outcome_free(&o);
    env_free(&e);
}

static void test_out_of_bailiwick_glue_dropped(void)
{
    struct env e;
    env_init(&e);
    /* test.'s referral for evilglue.test carries "ns.other.net A 6.6.6.6":
     * not test.'s to say.  The iterator must find ns.other.net itself. */
    struct outcome o = resolve(&e, "www.evilglue.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.evilglue.test. A 192.0.2.66");
    CHECK(!sent_to("6.6.6.6"));
    CHECK(!cached_addr_is(&e, "ns.other.net.", "6.6.6.6"));
    CHECK(cached_addr_is(&e, "ns.other.net.", "127.53.20.1"));
    outcome_free(&o);
    env_free(&e);
}

static void test_glueless_delegation(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.glueless.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.glueless.test. A 192.0.2.21");
    CHECK(sent_name("ns.hoster.net.", LDNS_RR_TYPE_A));
    CHECK(sent_to("127.53.21.1"));
    CHECK(cached(&e, "ns.hoster.net.", LDNS_RR_TYPE_A));
    outcome_free(&o);
    env_free(&e);
}

static void test_glueless_loop_fails(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.loop.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(o.upstream_failed);
    CHECK(!o.cacheable);
    CHECK(o.queries < 20);
    outcome_free(&o);
    env_free(&e);
}

static void test_in_zone_ns_without_glue_fails(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.inzone.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(o.upstream_failed);
    CHECK(!sent_name("ns.inzone.test.", LDNS_RR_TYPE_A));
    outcome_free(&o);
    env_free(&e);
}

static void test_dname(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.dname.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "dname.test. DNAME example.test.; www.dname.test. CNAME www.example.test.; "
                   "www.example.test. A 192.0.2.1");
    outcome_free(&o);
    env_free(&e);
}

static void test_lame_server_skipped(void)
{
    struct env e;
    env_init(&e);
    prefer(&e, "127.53.11.1", 1); /* the lame one looks fastest */
    prefer(&e, "127.53.11.2", 50);
    struct outcome o = resolve(&e, "www.lame.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.lame.test. A 192.0.2.11");
    CHECK(sent_to("127.53.11.1"));
    struct sockaddr_storage ss;
    socklen_t len;
    sockaddr4(&ss, &len, "127.53.11.1", 53);
    ldns_rdf *zone = dn("lame.test.");
    CHECK(infra_is_lame(e.infra, (struct sockaddr *)&ss, ldns_rdf_data(zone), ldns_rdf_size(zone),
                        NOW));
    ldns_rdf_deep_free(zone);
    /* Next time the lame server is not asked. */
    struct outcome o2 = resolve(&e, "www2.lame.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o2.rcode, LDNS_RCODE_NOERROR);
    CHECK(!sent_to("127.53.11.1"));
    CHECK_EQ(o2.queries, 1);
    outcome_free(&o);
    outcome_free(&o2);
    env_free(&e);
}

static void test_timeout_then_other_server(void)
{
    struct env e;
    env_init(&e);
    prefer(&e, "127.53.12.1", 1);
    prefer(&e, "127.53.12.2", 50);
    struct sockaddr_storage ss;
    socklen_t len;
    sockaddr4(&ss, &len, "127.53.12.1", 53);
    unsigned before = infra_timeout_ms(e.infra, (struct sockaddr *)&ss, 400);
    struct outcome o = resolve(&e, "www.slow.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.slow.test. A 192.0.2.12");
    CHECK(sent_to("127.53.12.1"));
    CHECK(sent_to("127.53.12.2"));
    CHECK(infra_timeout_ms(e.infra, (struct sockaddr *)&ss, 400) > before);
    outcome_free(&o);
    env_free(&e);
}

static void test_all_servers_down(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.dead.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(o.upstream_failed);
    CHECK(!o.cacheable);
    CHECK_EQ(o.ede, 22);
    CHECK(o.header_ok);
    CHECK(sent_to("127.53.13.1"));
    CHECK(sent_to("127.53.13.2"));
    outcome_free(&o);
    env_free(&e);
}

static void test_down_servers_not_asked(void)
{
    struct env e;
    env_init(&e);
    struct sockaddr_storage ss1, ss2;
    socklen_t len;
    sockaddr4(&ss1, &len, "127.53.13.1", 53);
    sockaddr4(&ss2, &len, "127.53.13.2", 53);
    for (int i = 0; i < 3; i++) {
        infra_timeout(e.infra, (struct sockaddr *)&ss1, NOW);
        infra_timeout(e.infra, (struct sockaddr *)&ss2, NOW);
    }
    struct outcome o = resolve(&e, "www.dead.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(o.upstream_failed);
    CHECK(!sent_to("127.53.13.1"));
    CHECK(!sent_to("127.53.13.2"));
    outcome_free(&o);
    env_free(&e);
}

static void test_tcp_retry_on_truncation(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.tc.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.tc.test. A 192.0.2.14");
    CHECK(nsent >= 2);
    if (nsent >= 2) {
        CHECK_STR(sent_log[nsent - 2].server, "127.53.14.1");
        CHECK(!sent_log[nsent - 2].tcp);
        CHECK_STR(sent_log[nsent - 1].server, "127.53.14.1");
        CHECK(sent_log[nsent - 1].tcp);
        CHECK_STR(sent_log[nsent - 1].qname, sent_log[nsent - 2].qname);
    }
    outcome_free(&o);
    env_free(&e);
}

static void test_forward_zone(void)
{
    struct env e;
    env_init(&e);
    static const char *const fw[] = {"127.53.30.1"};
    add_forward(&e, "fwd.test.", fw, 1);
    struct outcome o = resolve(&e, "www.fwd.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.fwd.test. A 10.0.0.1");
    CHECK_EQ(nsent, 1);
    CHECK(nsent == 1 && sent_log[0].rd && sent_log[0].port == 5300);
    CHECK(nsent == 1 && strcmp(sent_log[0].qname, "www.fwd.test.") == 0);
    ldns_rdf *d = dn("www.fwd.test.");
    enum cache_trust trust = 0;
    ldns_rr_list *l = cache_rrset_get(e.cache, d, LDNS_RR_TYPE_A, NOW, &trust);
    CHECK(l != NULL);
    CHECK_EQ(trust, CACHE_TRUST_AUTH_ANSWER);
    ldns_rr_list_deep_free(l);
    ldns_rdf_deep_free(d);
    /* Names outside the forward zone are iterated. */
    struct outcome o2 = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o2.rcode, LDNS_RCODE_NOERROR);
    CHECK(!sent_to("127.53.30.1"));
    outcome_free(&o);
    outcome_free(&o2);
    env_free(&e);
}

static void test_forward_everything(void)
{
    struct env e;
    env_init(&e);
    static const char *const fw[] = {"127.53.30.1"};
    add_forward(&e, ".", fw, 1);
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "www.example.test. A 10.9.9.9");
    CHECK_EQ(nsent, 1);
    CHECK(!sent_to("127.53.0.1"));
    struct outcome o2 = resolve(&e, "nothing.fwd.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o2.rcode, LDNS_RCODE_NXDOMAIN);
    answer_str(&o2, LDNS_SECTION_AUTHORITY, buf, sizeof(buf));
    CHECK_STR(buf, "fwd.test. SOA ns.fwd.test.");
    outcome_free(&o);
    outcome_free(&o2);
    env_free(&e);
}

static void test_forward_servfail_tries_next(void)
{
    struct env e;
    env_init(&e);
    static const char *const fw[] = {"127.53.30.2", "127.53.30.1"};
    add_forward(&e, "fwd.test.", fw, 2);
    struct sockaddr_storage ss;
    socklen_t len;
    sockaddr4(&ss, &len, "127.53.30.2", 5300);
    infra_rtt_update(e.infra, (struct sockaddr *)&ss, 1, NOW); /* the failing one first */
    sockaddr4(&ss, &len, "127.53.30.1", 5300);
    infra_rtt_update(e.infra, (struct sockaddr *)&ss, 50, NOW);
    struct outcome o = resolve(&e, "www.fwd.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK_EQ(nsent, 2);
    CHECK(nsent == 2 && strcmp(sent_log[0].server, "127.53.30.2") == 0 &&
          strcmp(sent_log[1].server, "127.53.30.1") == 0);
    outcome_free(&o);
    env_free(&e);
}

static void test_limit_max_cname(void)
{
    struct env e;
    env_init(&e);
    e.cfg.max_cname = 3;
    struct outcome o = resolve(&e, "c1.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK_EQ(o.ede, 0);
    CHECK(strstr(o.ede_text, "max-cname-chain") != NULL);
    CHECK(!o.cacheable);
    /* Within the limit it works: 4 steps. */
    e.cfg.max_cname = 4;
    struct outcome o2 = resolve(&e, "c1.example.test.", LDNS_RR_TYPE_A);
    char buf[1024];
    CHECK_EQ(o2.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o2, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "c1.example.test. CNAME c2.example.test.; c2.example.test. CNAME "
                   "c3.example.test.; c3.example.test. CNAME c4.example.test.; c4.example.test. "
                   "CNAME c5.example.test.; c5.example.test. A 192.0.2.5");
    outcome_free(&o);
    outcome_free(&o2);
    env_free(&e);
}

static void test_limit_max_referrals(void)
{
    struct env e;
    env_init(&e);
    e.cfg.max_referrals = 1;
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK_EQ(o.ede, 0);
    CHECK(strstr(o.ede_text, "max-referrals") != NULL);
    CHECK(!o.upstream_failed);
    outcome_free(&o);
    env_free(&e);
}

static void test_limit_max_work(void)
{
    struct env e;
    env_init(&e);
    e.cfg.max_work = 2;
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK_EQ(o.ede, 0);
    CHECK(strstr(o.ede_text, "max-upstream-queries") != NULL);
    CHECK_EQ(o.queries, 2);
    outcome_free(&o);
    env_free(&e);
}

static void test_limit_max_work_counts_subgoals(void)
{
    struct env e;
    env_init(&e);
    e.cfg.max_work = 5; /* prime, test., glueless.test. referral, then the sub-goal... */
    struct outcome o = resolve(&e, "www.glueless.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK_EQ(o.queries, 5);
    CHECK(sent_name("net.", LDNS_RR_TYPE_A) || sent_name("hoster.net.", LDNS_RR_TYPE_A));
    outcome_free(&o);
    env_free(&e);
}

static void test_qmin_nxdomain_relaxed(void)
{
    struct env e;
    env_init(&e);
    /* broken.test says NXDOMAIN for the empty non-terminal b.broken.test. */
    struct outcome o = resolve(&e, "a.b.broken.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "a.b.broken.test. A 192.0.2.16");
    CHECK(nsent >= 2);
    if (nsent >= 2) {
        CHECK_STR(sent_log[nsent - 2].qname, "b.broken.test.");
        CHECK_STR(sent_log[nsent - 1].qname, "a.b.broken.test.");
        CHECK_STR(sent_log[nsent - 1].server, sent_log[nsent - 2].server);
    }
    outcome_free(&o);
    env_free(&e);
}

static void test_qmin_servfail_falls_back(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "a.b.fragile.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "a.b.fragile.test. A 192.0.2.17");
    CHECK(sent_name("b.fragile.test.", LDNS_RR_TYPE_A));
    outcome_free(&o);
    env_free(&e);
}

static void test_loopback_refused_without_option(void)
{
    struct env e;
    env_init(&e);
    e.cfg.query_loopback = false;
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK_EQ(nsent, 0);
    CHECK(o.upstream_failed);
    outcome_free(&o);
    env_free(&e);
}

static void test_ipv6_disabled_not_used(void)
{
    struct env e;
    env_init(&e);
    /* A v6 hint that does not exist in the world, listed first. */
    ldns_rr_list_push_rr(e.hints.addrs, rr("a.root.test. 3600000 IN AAAA 2001:db8::53"));
    struct outcome o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    for (size_t i = 0; i < nsent; i++)
        CHECK(strcmp(sent_log[i].server, "v6") != 0);
    outcome_free(&o);
    env_free(&e);
}

static void test_garbage_reply_tries_next(void)
{
    struct env e;
    env_init(&e);
    ldns_rdf *qn = dn("www.example.test.");
    struct iter_query *q = iter_new(&e.ienv, ldns_rdf_data(qn), ldns_rdf_size(qn), LDNS_RR_TYPE_A,
                                    LDNS_RR_CLASS_IN, NOW);
    ldns_rdf_deep_free(qn);
    struct iter_send send;
    CHECK_EQ(iter_step(q, NOW, &send), ITER_SEND);
    static const uint8_t junk[] = {0x12, 0x34, 0x81, 0x80, 0, 5, 0, 0};
    iter_answer(q, junk, sizeof(junk), 5, NOW);
    /* The only hint failed: SERVFAIL, upstream failed. */
    CHECK_EQ(iter_step(q, NOW, &send), ITER_DONE);
    struct iter_result res;
    iter_result(q, &res);
    CHECK_EQ(res.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(res.upstream_failed);
    iter_free(q);
    env_free(&e);
}

static void test_mismatched_question_rejected(void)
{
    struct env e;
    env_init(&e);
    ldns_rdf *qn = dn("www.example.test.");
    struct iter_query *q = iter_new(&e.ienv, ldns_rdf_data(qn), ldns_rdf_size(qn), LDNS_RR_TYPE_A,
                                    LDNS_RR_CLASS_IN, NOW);
    ldns_rdf_deep_free(qn);
    struct iter_send send;
    CHECK_EQ(iter_step(q, NOW, &send), ITER_SEND);
    /* A well-formed answer to a different question ("com. NS"). */
    ldns_pkt *p = ldns_pkt_query_new(dn("com."), LDNS_RR_TYPE_NS, LDNS_RR_CLASS_IN, 0);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_aa(p, true);
    ldns_pkt_set_id(p, send.id);
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr("com. 3600 IN NS evil.example."));
    uint8_t *wire = NULL;
    size_t len = 0;
    CHECK(ldns_pkt2wire(&wire, p, &len) == LDNS_STATUS_OK);
    iter_answer(q, wire, len, 5, NOW);
    free(wire);
    ldns_pkt_free(p);
    CHECK_EQ(iter_step(q, NOW, &send), ITER_DONE);
    CHECK(!cached(&e, "com.", LDNS_RR_TYPE_NS));
    iter_free(q);
    env_free(&e);
}

static void test_ds_asked_at_parent(void)
{
    struct env e;
    env_init(&e);
    struct outcome o1 = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    /* DS example.test lives in test.: the example.test servers are not asked. */
    struct outcome o = resolve(&e, "example.test.", LDNS_RR_TYPE_DS);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(nsent == 1 && (strcmp(sent_log[0].server, "127.53.1.1") == 0 ||
                         strcmp(sent_log[0].server, "127.53.1.2") == 0));
    outcome_free(&o1);
    outcome_free(&o);
    env_free(&e);
}

static void test_cname_to_nxdomain(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "dangling.example.test.", LDNS_RR_TYPE_A);
    char buf[512];
    CHECK_EQ(o.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK(o.cacheable);
    answer_str(&o, LDNS_SECTION_ANSWER, buf, sizeof(buf));
    CHECK_STR(buf, "dangling.example.test. CNAME nothere.example.test.");
    answer_str(&o, LDNS_SECTION_AUTHORITY, buf, sizeof(buf));
    CHECK_STR(buf, "example.test. SOA ns1.example.test.");
    CHECK_EQ(o.queries, 4); /* the same server was authoritative for the target */
    outcome_free(&o);
    env_free(&e);
}

static void test_glueless_address_reused(void)
{
    struct env e;
    env_init(&e);
    struct outcome o1 = resolve(&e, "www.glueless.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o1.rcode, LDNS_RCODE_NOERROR);
    /* ns.hoster.net's address is cached now: one query, to it. */
    struct outcome o2 = resolve(&e, "nope.glueless.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o2.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK_EQ(o2.queries, 1);
    CHECK(nsent == 1 && strcmp(sent_log[0].server, "127.53.21.1") == 0);
    outcome_free(&o1);
    outcome_free(&o2);
    env_free(&e);
}

static void test_qname_minimisation_step_limit(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "a.b.c.d.e.f.g.h.i.j.k.l.m.example.test.", LDNS_RR_TYPE_TXT);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    /* prime, test., example.test., 10 minimised names, then the full name. */
    CHECK_EQ(nsent, 14);
    if (nsent == 14) {
        CHECK_STR(sent_log[3].qname, "m.example.test.");
        CHECK_STR(sent_log[12].qname, "d.e.f.g.h.i.j.k.l.m.example.test.");
        CHECK_STR(sent_log[13].qname, "a.b.c.d.e.f.g.h.i.j.k.l.m.example.test.");
        CHECK_EQ(sent_log[13].qtype, LDNS_RR_TYPE_TXT);
    }
    outcome_free(&o);
    env_free(&e);
}

/* --- DNSSEC ----------------------------------------------------------------
 *
 * sec.test. (NSEC, trust anchor) delegates child.sec.test. (NSEC3, with a
 * DS) and plain.sec.test. (unsigned, no DS); bad.sec.test's A is changed
 * after signing.  Signatures are valid around NOW. */

static const char sec_zone[] =
    "sec.test. 3600 IN SOA ns.sec.test. h.sec.test. 1 3600 600 86400 300\n"
    "sec.test. 3600 IN NS ns.sec.test.\n"
    "ns.sec.test. 3600 IN A 127.53.40.1\n"
    "www.sec.test. 3600 IN A 192.0.2.40\n"
    "alias.sec.test. 3600 IN CNAME www.sec.test.\n"
    "text.sec.test. 3600 IN TXT \"t\"\n"
    "bad.sec.test. 3600 IN A 192.0.2.42\n"
    "child.sec.test. 3600 IN NS ns.child.sec.test.\n"
    "ns.child.sec.test. 3600 IN A 127.53.40.2\n"
    "plain.sec.test. 3600 IN NS ns.plain.sec.test.\n"
    "ns.plain.sec.test. 3600 IN A 127.53.40.3\n";

static const char child_zone[] =
    "child.sec.test. 3600 IN SOA ns.child.sec.test. h.sec.test. 1 3600 600 86400 300\n"
    "child.sec.test. 3600 IN NS ns.child.sec.test.\n"
    "ns.child.sec.test. 3600 IN A 127.53.40.2\n"
    "www.child.sec.test. 3600 IN A 192.0.2.43\n";

static struct trust_anchors *sec_anchors;
static char anchor_path[64];

/* Signs zone text with a new key for apex (NSEC3 if asked) into the server
 * at addr; returns the zone's DS record (caller frees). */
static ldns_rr *sign_into(const char *addr, const char *apex, const char *text, bool nsec3)
{
    ldns_rr_list *rrs = parse_lines(text);
    ldns_zone *z = ldns_zone_new();
    ldns_zone_set_soa(z, ldns_rr_clone(ldns_rr_list_rr(rrs, 0)));
    for (size_t i = 1; i < ldns_rr_list_rr_count(rrs); i++)
        ldns_zone_push_rr(z, ldns_rr_clone(ldns_rr_list_rr(rrs, i)));
    ldns_rr_list_deep_free(rrs);
    ldns_key_list *keys = ldns_key_list_new();
    ldns_key *k = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
    CHECK(k != NULL);
    ldns_key_set_pubkey_owner(k, dn(apex));
    ldns_key_set_flags(k, 257);
    ldns_key_set_inception(k, (uint32_t)(NOW - 3600));
    ldns_key_set_expiration(k, (uint32_t)(NOW + 30 * 86400));
    ldns_rr *pub = ldns_key2rr(k);
    ldns_key_set_keytag(k, ldns_calc_keytag(pub));
    ldns_key_list_push_key(keys, k);
    ldns_zone_push_rr(z, ldns_rr_clone(pub));
    ldns_zone *signed_z =
        nsec3 ? ldns_zone_sign_nsec3(z, keys, 1, 0, 0, 0, NULL) : ldns_zone_sign(z, keys);
    CHECK(signed_z != NULL);
    ldns_rr *ds = ldns_key_rr2ds(pub, LDNS_SHA256);
    ldns_rr_free(pub);
    struct server *srv = NULL;
    for (size_t i = 0; i < NSERVERS; i++)
        if (strcmp(world[i].addr, addr) == 0)
            srv = &world[i];
    CHECK(srv != NULL);
    ldns_rr_list_deep_free(srv->rrs);
    srv->rrs = ldns_rr_list_clone(ldns_zone_rrs(signed_z));
    ldns_rr_list_push_rr(srv->rrs, ldns_rr_clone(ldns_zone_soa(signed_z)));
    ldns_zone_deep_free(signed_z);
    ldns_zone_deep_free(z);
    ldns_key_list_free(keys);
    return ds;
}

static void dnssec_world_init(void)
{
    ldns_rr *child_ds = sign_into("127.53.40.2", "child.sec.test.", child_zone, true);
    char *ds_text = ldns_rr2str(child_ds);
    char parent[2048];
    snprintf(parent, sizeof(parent), "%s%s", sec_zone, ds_text);
    free(ds_text);
    ldns_rr_free(child_ds);
    ldns_rr *anchor = sign_into("127.53.40.1", "sec.test.", parent, false);
    /* Tamper with bad.sec.test's A after signing: its RRSIG fails. */
    for (size_t i = 0; i < NSERVERS; i++) {
        if (strcmp(world[i].addr, "127.53.40.1") != 0)
            continue;
        for (size_t j = 0; j < ldns_rr_list_rr_count(world[i].rrs); j++) {
            ldns_rr *r = ldns_rr_list_rr(world[i].rrs, j);
            ldns_rdf *bad = dn("bad.sec.test.");
            if (ldns_rr_get_type(r) == LDNS_RR_TYPE_A &&
                ldns_dname_compare(ldns_rr_owner(r), bad) == 0)
                ldns_rdf_deep_free(
                    ldns_rr_set_rdf(r, ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, "192.0.2.66"), 0));
            ldns_rdf_deep_free(bad);
        }
    }
    snprintf(anchor_path, sizeof(anchor_path), "/tmp/test_iterator_anchor_XXXXXX");
    int fd = mkstemp(anchor_path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    char *text = ldns_rr2str(anchor);
    fprintf(f, "%s", text);
    free(text);
    fclose(f);
    ldns_rr_free(anchor);
    char err[256] = "";
    char *files[] = {anchor_path};
    CHECK(trust_load(files, 1, NULL, 0, &sec_anchors, err, sizeof(err)) == 0);
    unlink(anchor_path);
}

static void env_init_dnssec(struct env *e)
{
    env_init(e);
    e->cfg.dnssec_enabled = true;
    e->cfg.dnssec_anchors = sec_anchors;
}

/* Count of RRs of type t in section sec of p (RRSIGs: those covering
 * `covered`, or all when it is 0). */
static size_t count_type(const ldns_pkt *p, ldns_pkt_section sec, ldns_rr_type t,
                         ldns_rr_type covered)
{
    size_t n = 0;
    ldns_rr_list *l = p ? ldns_pkt_get_section_clone(p, sec) : NULL;
    for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
        ldns_rr *r = ldns_rr_list_rr(l, i);
        if (ldns_rr_get_type(r) != t)
            continue;
        if (t == LDNS_RR_TYPE_RRSIG && covered &&
            ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(r)) != covered)
            continue;
        n++;
    }
    ldns_rr_list_deep_free(l);
    return n;
}

/* The plain form carries no DNSSEC records (RFC 4035 3.2.1, DO clear). */
static bool plain_form_clean(const struct outcome *o)
{
    static const ldns_pkt_section secs[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY};
    for (size_t s = 0; s < 2; s++)
        if (count_type(o->pkt, secs[s], LDNS_RR_TYPE_RRSIG, 0) ||
            count_type(o->pkt, secs[s], LDNS_RR_TYPE_NSEC, 0) ||
            count_type(o->pkt, secs[s], LDNS_RR_TYPE_NSEC3, 0))
            return false;
    return o->pkt != NULL;
}

static void test_dnssec_secure_answer_both_forms(void)
{
    struct env e;
    env_init_dnssec(&e);
    struct outcome o = resolve(&e, "www.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.secure && !o.bogus && o.cacheable);
    CHECK(ldns_pkt_ad(o.pkt));
    CHECK(plain_form_clean(&o));
    CHECK_EQ(count_type(o.pkt, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A, 0), 1);
    CHECK(o.pkt_do != NULL && ldns_pkt_ad(o.pkt_do));
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A, 0), 1);
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_A), 1);
    /* Every upstream query asked for the DNSSEC records. */
    for (size_t i = 0; i < nsent; i++)
        CHECK(!sent_log[i].edns_ok); /* edns_ok means DO clear */
    CHECK(sent_name("sec.test.", LDNS_RR_TYPE_DNSKEY));
    outcome_free(&o);
    /* Again: from the validated RRset cache, no upstream query, same forms. */
    o = resolve(&e, "www.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.queries, 0);
    CHECK(o.secure);
    CHECK(plain_form_clean(&o));
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_A), 1);
    outcome_free(&o);
    env_free(&e);
}

static void test_dnssec_cname_sigs_follow_each_rrset(void)
{
    struct env e;
    env_init_dnssec(&e);
    struct outcome o = resolve(&e, "alias.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.secure);
    ldns_rr_list *an = o.pkt_do ? ldns_pkt_answer(o.pkt_do) : NULL;
    /* CNAME, RRSIG(CNAME), A, RRSIG(A): each signature right after its set. */
    CHECK_EQ(ldns_rr_list_rr_count(an), 4);
    if (ldns_rr_list_rr_count(an) == 4) {
        CHECK_EQ(ldns_rr_get_type(ldns_rr_list_rr(an, 0)), LDNS_RR_TYPE_CNAME);
        CHECK_EQ(ldns_rr_get_type(ldns_rr_list_rr(an, 1)), LDNS_RR_TYPE_RRSIG);
        CHECK_EQ(ldns_rr_get_type(ldns_rr_list_rr(an, 2)), LDNS_RR_TYPE_A);
        CHECK_EQ(ldns_rr_get_type(ldns_rr_list_rr(an, 3)), LDNS_RR_TYPE_RRSIG);
    }
    CHECK(plain_form_clean(&o));
    CHECK_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(o.pkt)), 2);
    outcome_free(&o);
    env_free(&e);
}

static void test_dnssec_nsec_denials(void)
{
    struct env e;
    env_init_dnssec(&e);
    struct outcome o = resolve(&e, "nope.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK(o.secure && o.cacheable);
    CHECK(plain_form_clean(&o));
    CHECK_EQ(count_type(o.pkt, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_SOA, 0), 1);
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_SOA, 0), 1);
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_SOA), 1);
    size_t nsecs = count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_NSEC, 0);
    CHECK(nsecs >= 1);
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_NSEC),
             nsecs);
    outcome_free(&o);
    o = resolve(&e, "text.sec.test.", LDNS_RR_TYPE_A); /* NODATA */
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.secure);
    CHECK_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(o.pkt_do)), 0);
    CHECK(count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_NSEC, 0) >= 1);
    CHECK(plain_form_clean(&o));
    outcome_free(&o);
    env_free(&e);
}

static void test_dnssec_ds_chain_to_nsec3_child(void)
{
    struct env e;
    env_init_dnssec(&e);
    struct outcome o = resolve(&e, "www.child.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.secure);
    CHECK(sent_name("child.sec.test.", LDNS_RR_TYPE_DS) ||
          sent_name("child.sec.test.", LDNS_RR_TYPE_DNSKEY));
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_A), 1);
    outcome_free(&o);
    o = resolve(&e, "nope.child.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NXDOMAIN);
    CHECK(o.secure);
    CHECK(count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_NSEC3, 0) >= 1);
    CHECK(count_type(o.pkt_do, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_NSEC3) >=
          1);
    CHECK(plain_form_clean(&o));
    outcome_free(&o);
    env_free(&e);
}

static void test_dnssec_insecure_delegation_and_root_anchor(void)
{
    struct env e;
    env_init_dnssec(&e);
    struct outcome o = resolve(&e, "www.plain.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(!o.secure && !o.bogus && o.cacheable);
    CHECK(!ldns_pkt_ad(o.pkt) && o.pkt_do && !ldns_pkt_ad(o.pkt_do));
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A, 0), 1);
    outcome_free(&o);
    /* Outside sec.test. the built-in IANA root anchor applies (trust.h):
     * this world's root is unsigned, so its answers are bogus, DNSKEY
     * missing (RFC 8914 code 9), never silently insecure. */
    o = resolve(&e, "www.example.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(o.bogus && !o.cacheable);
    CHECK_EQ(o.ede, 9);
    outcome_free(&o);
    env_free(&e);
}

static void test_dnssec_bogus_and_cd(void)
{
    struct env e;
    env_init_dnssec(&e);
    struct outcome o = resolve(&e, "bad.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    CHECK(o.bogus && !o.cacheable);
    CHECK_EQ(o.ede, 6); /* RFC 8914 DNSSEC Bogus */
    CHECK(o.pkt_do == NULL);
    outcome_free(&o);
    /* RFC 4035 3.2.2: CD gets the data unchecked, with its (bad) RRSIG,
     * never cached as a checked answer. */
    e.cd = true;
    o = resolve(&e, "bad.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(!o.secure && !o.bogus && !o.cacheable);
    CHECK_EQ(count_type(o.pkt_do, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_A), 1);
    CHECK(plain_form_clean(&o));
    outcome_free(&o);
    e.cd = false;
    o = resolve(&e, "bad.sec.test.", LDNS_RR_TYPE_A); /* still bogus without CD */
    CHECK_EQ(o.rcode, LDNS_RCODE_SERVFAIL);
    outcome_free(&o);
    env_free(&e);
}

static void test_dnssec_off_has_no_dnssec_form(void)
{
    struct env e;
    env_init(&e);
    struct outcome o = resolve(&e, "www.sec.test.", LDNS_RR_TYPE_A);
    CHECK_EQ(o.rcode, LDNS_RCODE_NOERROR);
    CHECK(o.pkt_do == NULL && !o.secure);
    CHECK(!ldns_pkt_ad(o.pkt));
    for (size_t i = 0; i < nsent; i++)
        CHECK(sent_log[i].edns_ok); /* no DO upstream */
    outcome_free(&o);
    env_free(&e);
}

int main(void)
{
    world_init();
    dnssec_world_init();
    UNIT_RUN(test_priming_then_answer);
    UNIT_RUN(test_second_resolution_uses_cache);
    UNIT_RUN(test_hints_used_only_when_root_expired);
    UNIT_RUN(test_qname_minimisation_sequence);
    UNIT_RUN(test_qname_minimisation_off);
    UNIT_RUN(test_outgoing_query_format);
    UNIT_RUN(test_result_wire_format);
    UNIT_RUN(test_nxdomain_with_soa);
    UNIT_RUN(test_nodata_with_soa);
    UNIT_RUN(test_cname_in_zone);
    UNIT_RUN(test_cname_across_zones);
    UNIT_RUN(test_cname_target_from_wrong_zone_ignored);
    UNIT_RUN(test_poison_not_cached);
    UNIT_RUN(test_out_of_bailiwick_glue_dropped);
    UNIT_RUN(test_glueless_delegation);
    UNIT_RUN(test_glueless_loop_fails);
    UNIT_RUN(test_in_zone_ns_without_glue_fails);
    UNIT_RUN(test_dname);
    UNIT_RUN(test_lame_server_skipped);
    UNIT_RUN(test_timeout_then_other_server);
    UNIT_RUN(test_all_servers_down);
    UNIT_RUN(test_down_servers_not_asked);
    UNIT_RUN(test_tcp_retry_on_truncation);
    UNIT_RUN(test_forward_zone);
    UNIT_RUN(test_forward_everything);
    UNIT_RUN(test_forward_servfail_tries_next);
    UNIT_RUN(test_limit_max_cname);
    UNIT_RUN(test_limit_max_referrals);
    UNIT_RUN(test_limit_max_work);
    UNIT_RUN(test_limit_max_work_counts_subgoals);
    UNIT_RUN(test_qmin_nxdomain_relaxed);
    UNIT_RUN(test_qmin_servfail_falls_back);
    UNIT_RUN(test_loopback_refused_without_option);
    UNIT_RUN(test_ipv6_disabled_not_used);
    UNIT_RUN(test_garbage_reply_tries_next);
    UNIT_RUN(test_mismatched_question_rejected);
    UNIT_RUN(test_ds_asked_at_parent);
    UNIT_RUN(test_cname_to_nxdomain);
    UNIT_RUN(test_glueless_address_reused);
    UNIT_RUN(test_qname_minimisation_step_limit);
    UNIT_RUN(test_dnssec_secure_answer_both_forms);
    UNIT_RUN(test_dnssec_cname_sigs_follow_each_rrset);
    UNIT_RUN(test_dnssec_nsec_denials);
    UNIT_RUN(test_dnssec_ds_chain_to_nsec3_child);
    UNIT_RUN(test_dnssec_insecure_delegation_and_root_anchor);
    UNIT_RUN(test_dnssec_bogus_and_cd);
    UNIT_RUN(test_dnssec_off_has_no_dnssec_form);
    trust_free(sec_anchors);
    world_free();
    return unit_done();
}
