/*
 * test_nsec_cache.c - the NSEC cache: what it hands back proves what
 * val_check_denial says it proves (NSEC and NSEC3 chains), expiry, one
 * chain per zone, the record bound, flushing, the deepest zone.
 */
#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nsec_cache.h"
#include "unit.h"
#include "validator.h"

static time_t now;

static ldns_rdf *dn(const char *s)
{
    ldns_rdf *d = NULL;
    CHECK(ldns_str2rdf_dname(&d, s) == LDNS_STATUS_OK);
    return d;
}

static ldns_rr *rr(const char *s)
{
    ldns_rr *r = NULL;
    CHECK(ldns_rr_new_frm_str(&r, s, 3600, NULL, NULL) == LDNS_STATUS_OK);
    return r;
}

static ldns_rr_list *set1(const char *s)
{
    ldns_rr_list *l = ldns_rr_list_new();
    ldns_rr_list_push_rr(l, rr(s));
    return l;
}

static void put(struct nsec_cache *nc, const char *zone, const char *text, uint32_t ttl)
{
    ldns_rdf *z = dn(zone);
    ldns_rr_list *s = set1(text);
    CHECK_EQ(nsec_cache_put(nc, z, s, NULL, ttl, now), 0);
    ldns_rr_list_deep_free(s);
    ldns_rdf_deep_free(z);
}

static void put_soa(struct nsec_cache *nc, const char *zone)
{
    char text[256];
    snprintf(text, sizeof(text), "%s 3600 IN SOA ns.%s host.%s 1 7200 900 1209600 300", zone, zone,
             zone);
    ldns_rdf *z = dn(zone);
    ldns_rr_list *s = set1(text);
    CHECK_EQ(nsec_cache_put_soa(nc, z, s, NULL, 300, now), 0);
    ldns_rr_list_deep_free(s);
    ldns_rdf_deep_free(z);
}

/* What the cached records prove about name. */
static bool proves(struct nsec_cache *nc, const char *zone, const char *name,
                   enum val_denial_kind kind, uint16_t qtype, struct val_denial *d, time_t at)
{
    ldns_rdf *z = dn(zone), *n = dn(name);
    ldns_rr_list *c = ldns_rr_list_new();
    nsec_cache_candidates(nc, z, n, at, c, NULL);
    val_check_denial(kind, n, qtype, z, c, 0, d);
    ldns_rr_list_deep_free(c);
    ldns_rdf_deep_free(z);
    ldns_rdf_deep_free(n);
    return d->proven;
}

static struct nsec_cache *nsec_zone(void)
{
    struct nsec_cache *nc = nsec_cache_new(100);
    put(nc, "example.", "example. 300 IN NSEC b.example. NS SOA RRSIG NSEC DNSKEY", 300);
    put(nc, "example.", "b.example. 300 IN NSEC d.example. A TXT RRSIG NSEC", 300);
    put(nc, "example.", "d.example. 300 IN NSEC example. A RRSIG NSEC", 300);
    put_soa(nc, "example.");
    return nc;
}

static void test_nsec_proofs(void)
{
    struct nsec_cache *nc = nsec_zone();
    struct val_denial d;
    CHECK(proves(nc, "example.", "c.example.", VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
    CHECK(proves(nc, "example.", "x.c.example.", VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
    /* After the last name: the last NSEC wraps round to the apex. */
    CHECK(proves(nc, "example.", "zzz.example.", VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
    CHECK(proves(nc, "example.", "b.example.", VAL_DENY_NODATA, LDNS_RR_TYPE_AAAA, &d, now));
    CHECK(!proves(nc, "example.", "b.example.", VAL_DENY_NODATA, LDNS_RR_TYPE_TXT, &d, now));
    CHECK(!proves(nc, "example.", "b.example.", VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
    /* TTLs count down; expired, nothing is handed back and the records go. */
    ldns_rr_list *c = ldns_rr_list_new();
    ldns_rdf *z = dn("example."), *n = dn("c.example.");
    uint32_t ttl = 0;
    CHECK(nsec_cache_candidates(nc, z, n, now + 10, c, &ttl) >= 2);
    CHECK_EQ(ttl, 290);
    for (size_t i = 0; i < ldns_rr_list_rr_count(c); i++)
        CHECK_EQ(ldns_rr_ttl(ldns_rr_list_rr(c, i)), 290);
    CHECK_EQ(nsec_cache_candidates(nc, z, n, now + 301, c, NULL), 0);
    struct nsec_cache_stats st;
    nsec_cache_stats(nc, &st);
    CHECK(st.records < 3);
    ldns_rr_list_deep_free(c);
    ldns_rdf_deep_free(z);
    ldns_rdf_deep_free(n);
    nsec_cache_free(nc);
}

static void test_zone_soa_and_flush(void)
{
    struct nsec_cache *nc = nsec_zone();
    ldns_rdf *n = dn("a.b.c.example."), *z = nsec_cache_zone(nc, n, now);
    ldns_rdf *want = dn("example.");
    CHECK(z && ldns_dname_compare(z, want) == 0);
    ldns_rdf_deep_free(z);
    ldns_rr_list *soa = ldns_rr_list_new(), *sigs = ldns_rr_list_new();
    CHECK_EQ(nsec_cache_soa(nc, want, now, soa, sigs), 0);
    CHECK_EQ(ldns_rr_list_rr_count(soa), 1);
    CHECK(ldns_rr_ttl(ldns_rr_list_rr(soa, 0)) <= 300);
    CHECK_EQ(nsec_cache_soa(nc, want, now + 400, soa, sigs), -ENOENT);
    /* Outside every zone held. */
    ldns_rdf *other = dn("www.other.");
    CHECK(nsec_cache_zone(nc, other, now) == NULL);
    CHECK_EQ(nsec_cache_flush(nc, want), 3);
    CHECK(nsec_cache_zone(nc, n, now) == NULL);
    ldns_rr_list_deep_free(soa);
    ldns_rr_list_deep_free(sigs);
    ldns_rdf_deep_free(other);
    ldns_rdf_deep_free(want);
    ldns_rdf_deep_free(n);
    nsec_cache_free(nc);
}

/* The NSEC3 owner label of name (salt ab12, 0 iterations) as text. */
static void hash_label(const char *name, char *out, size_t cap)
{
    static uint8_t salt[] = {0xab, 0x12};
    ldns_rdf *n = dn(name);
    ldns_rdf *h = ldns_nsec3_hash_name(n, 1, 0, 2, salt);
    char *s = ldns_rdf2str(h);
    snprintf(out, cap, "%s", s ? s : "");
    char *dot = strchr(out, '.');
    if (dot)
        *dot = 0;
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    free(s);
    ldns_rdf_deep_free(h);
    ldns_rdf_deep_free(n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An NSEC3 chain for example. with names example., b.example., d.example. */
static struct nsec_cache *nsec3_zone(const char *salt_text, const char *types_b)
{
    const char *names[] = {"example.", "b.example.", "d.example."};
    const char *types[] = {"NS SOA RRSIG DNSKEY NSEC3PARAM", types_b, "A RRSIG"};
    char h[3][64], *sorted[3];
    for (int i = 0; i < 3; i++) {
        hash_label(names[i], h[i], sizeof(h[i]));
        sorted[i] = h[i];
    }
    qsort(sorted, 3, sizeof(sorted[0]), cmp_str);
    struct nsec_cache *nc = nsec_cache_new(100);
    for (int i = 0; i < 3; i++) {
        int k = (int)((sorted[i] - h[0]) / (long)sizeof(h[0]));
        char text[512];
        snprintf(text, sizeof(text), "%s.example. 300 IN NSEC3 1 0 0 %s %s %s", sorted[i],
                 salt_text, sorted[(i + 1) % 3], types[k]);
        put(nc, "example.", text, 300);
    }
    put_soa(nc, "example.");
    return nc;
}

static void test_nsec3_proofs(void)
{
    struct nsec_cache *nc = nsec3_zone("AB12", "A TXT RRSIG");
    struct val_denial d;
    /* Every name not in the chain is provably absent (closest encloser
     * example., next closer covered, *.example. covered). */
    const char *absent[] = {"c.example.", "nope.example.", "x.y.b.example.", "0.example."};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        CHECK(proves(nc, "example.", absent[i], VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
        if (!d.proven)
            fprintf(stderr, "  not proven: %s\n", absent[i]);
    }
    CHECK(proves(nc, "example.", "b.example.", VAL_DENY_NODATA, LDNS_RR_TYPE_AAAA, &d, now));
    CHECK(!proves(nc, "example.", "d.example.", VAL_DENY_NODATA, LDNS_RR_TYPE_A, &d, now));
    /* Re-signed with another salt: the old chain goes. */
    char h[64], text[512];
    hash_label("b.example.", h, sizeof(h));
    snprintf(text, sizeof(text), "%s.example. 300 IN NSEC3 1 0 0 CD34 %s A RRSIG", h, h);
    put(nc, "example.", text, 300);
    struct nsec_cache_stats st;
    nsec_cache_stats(nc, &st);
    CHECK_EQ(st.records, 1);
    /* Too many iterations (RFC 9276) or an unknown hash: not kept. */
    ldns_rdf *z = dn("example.");
    snprintf(text, sizeof(text), "%s.example. 300 IN NSEC3 1 0 500 CD34 %s A RRSIG", h, h);
    ldns_rr_list *s = set1(text);
    CHECK_EQ(nsec_cache_put(nc, z, s, NULL, 300, now), -EINVAL);
    ldns_rr_list_deep_free(s);
    snprintf(text, sizeof(text), "%s.example. 300 IN NSEC3 7 0 0 CD34 %s A RRSIG", h, h);
    s = set1(text);
    CHECK_EQ(nsec_cache_put(nc, z, s, NULL, 300, now), -EINVAL);
    ldns_rr_list_deep_free(s);
    /* Not directly below the zone. */
    snprintf(text, sizeof(text), "%s.sub.example. 300 IN NSEC3 1 0 0 CD34 %s A RRSIG", h, h);
    s = set1(text);
    CHECK_EQ(nsec_cache_put(nc, z, s, NULL, 300, now), -EINVAL);
    ldns_rr_list_deep_free(s);
    ldns_rdf_deep_free(z);
    nsec_cache_free(nc);
}

static void test_bound_evicts_least_recent_zone(void)
{
    struct nsec_cache *nc = nsec_cache_new(4);
    put(nc, "a.", "a. 300 IN NSEC b.a. NS SOA RRSIG NSEC", 300);
    put(nc, "a.", "b.a. 300 IN NSEC c.a. A RRSIG NSEC", 300);
    put(nc, "a.", "c.a. 300 IN NSEC a. A RRSIG NSEC", 300);
    put(nc, "b.", "b. 300 IN NSEC x.b. NS SOA RRSIG NSEC", 300);
    put(nc, "b.", "x.b. 300 IN NSEC b. A RRSIG NSEC", 300);
    struct nsec_cache_stats st;
    nsec_cache_stats(nc, &st);
    CHECK(st.records <= 4);
    CHECK(st.evicted_zones >= 1);
    /* b. came last: it is whole. */
    struct val_denial d;
    CHECK(proves(nc, "b.", "y.b.", VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
    CHECK(!proves(nc, "a.", "bb.a.", VAL_DENY_NXDOMAIN, LDNS_RR_TYPE_A, &d, now));
    /* One zone larger than the bound starts its chain again, bounded. */
    for (int i = 0; i < 20; i++) {
        char text[128];
        snprintf(text, sizeof(text), "n%02d.b. 300 IN NSEC n%02d.b. A RRSIG NSEC", i, i + 1);
        put(nc, "b.", text, 300);
    }
    nsec_cache_stats(nc, &st);
    CHECK(st.records <= 4);
    /* Bad input is refused, not kept. */
    ldns_rdf *z = dn("b.");
    ldns_rr_list *s = set1("www.other. 300 IN NSEC zz.other. A");
    CHECK_EQ(nsec_cache_put(nc, z, s, NULL, 300, now), -EINVAL);
    ldns_rr_list_deep_free(s);
    s = set1("www.b. 300 IN A 192.0.2.1");
    CHECK_EQ(nsec_cache_put(nc, z, s, NULL, 300, now), -EINVAL);
    CHECK_EQ(nsec_cache_put(nc, z, NULL, NULL, 300, now), -EINVAL);
    CHECK_EQ(nsec_cache_put_soa(nc, z, s, NULL, 300, now), -EINVAL);
    ldns_rr_list_deep_free(s);
    ldns_rdf_deep_free(z);
    CHECK(nsec_cache_flush(nc, NULL) > 0);
    nsec_cache_stats(nc, &st);
    CHECK_EQ(st.records, 0);
    CHECK_EQ(st.zones, 0);
    nsec_cache_free(nc);
}

static void test_holds(void)
{
    struct nsec_cache *nc = nsec_cache_new(100);
    ldns_rdf *z = dn("example.");
    ldns_rr_list *set = set1("b.example. 300 IN NSEC d.example. A TXT RRSIG NSEC");
    ldns_rr_list *sigs = set1("b.example. 300 IN RRSIG NSEC 13 2 300 20300101000000 "
                              "20200101000000 12345 example. AAAA");
    ldns_rr_list *other = set1("b.example. 300 IN RRSIG NSEC 13 2 300 20300101000000 "
                               "20200101000000 12345 example. BBBB");
    CHECK(!nsec_cache_holds(nc, z, set, sigs, now));
    CHECK_EQ(nsec_cache_put(nc, z, set, sigs, 300, now), 0);
    CHECK(nsec_cache_holds(nc, z, set, sigs, now + 10));
    /* Another signature, other data, no signature, expired: not held. */
    CHECK(!nsec_cache_holds(nc, z, set, other, now));
    ldns_rr_list *changed = set1("b.example. 300 IN NSEC c.example. A TXT RRSIG NSEC");
    CHECK(!nsec_cache_holds(nc, z, changed, sigs, now));
    CHECK(!nsec_cache_holds(nc, z, set, NULL, now));
    CHECK(!nsec_cache_holds(nc, z, set, sigs, now + 301));
    /* The zone's SOA likewise. */
    put_soa(nc, "example.");
    ldns_rr_list *soa =
        set1("example. 300 IN SOA ns.example. host.example. 1 7200 900 1209600 300");
    ldns_rr_list *soa_sig = set1("example. 300 IN RRSIG SOA 13 1 300 20300101000000 "
                                 "20200101000000 12345 example. AAAA");
    CHECK(!nsec_cache_holds(nc, z, soa, soa_sig, now)); /* kept without that RRSIG */
    CHECK_EQ(nsec_cache_put_soa(nc, z, soa, soa_sig, 300, now), 0);
    CHECK(nsec_cache_holds(nc, z, soa, soa_sig, now));
    ldns_rr_list_deep_free(soa);
    ldns_rr_list_deep_free(soa_sig);
    ldns_rr_list_deep_free(changed);
    ldns_rr_list_deep_free(other);
    ldns_rr_list_deep_free(sigs);
    ldns_rr_list_deep_free(set);
    ldns_rdf_deep_free(z);
    nsec_cache_free(nc);
}

int main(void)
{
    now = time(NULL);
    UNIT_RUN(test_nsec_proofs);
    UNIT_RUN(test_zone_soa_and_flush);
    UNIT_RUN(test_nsec3_proofs);
    UNIT_RUN(test_bound_evicts_least_recent_zone);
    UNIT_RUN(test_holds);
    return unit_done();
}
