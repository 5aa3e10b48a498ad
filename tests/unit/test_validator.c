/*
 * test_validator.c - validator.c on data signed at test time with ldns (an
 * ECDSA P-256 key made per run, zones signed with ldns_zone_sign and
 * ldns_zone_sign_nsec3), so no fixture can go stale: RRSIG checks and their
 * EDEs, DS/anchor matching with RFC 8624 algorithm rules, NSEC and NSEC3
 * denial (NXDOMAIN, NODATA, empty non-terminal, wildcard, DS at a
 * delegation, opt-out).
 */
#include "unit.h"
#include "validator.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char ZONE[] = "$ORIGIN example.\n"
                           "$TTL 3600\n"
                           "@ IN SOA ns.example. host.example. 1 3600 600 86400 300\n"
                           "@ IN NS ns.example.\n"
                           "ns IN A 192.0.2.53\n"
                           "www IN A 192.0.2.1\n"
                           "*.wild IN A 192.0.2.2\n"
                           "a.ent IN A 192.0.2.3\n"
                           "deleg IN NS ns.other.\n"
                           "signed IN NS ns.other.\n"
                           "signed IN DS 12345 13 2 "
                           "0000000000000000000000000000000000000000000000000000000000000000\n";

static ldns_key_list *keys;
static ldns_rr_list *dnskeys; /* the public key as a DNSKEY RRset */
static ldns_rdf *origin;
static time_t now;

static ldns_rdf *dn(const char *s)
{
    ldns_rdf *r = ldns_dname_new_frm_str(s);
    CHECK(r != NULL);
    return r;
}

static ldns_rr *rr(const char *s)
{
    ldns_rr *r = NULL;
    CHECK(ldns_rr_new_frm_str(&r, s, 3600, NULL, NULL) == LDNS_STATUS_OK);
    return r;
}

static void setup(void)
{
    now = time(NULL);
    origin = dn("example.");
    keys = ldns_key_list_new();
    ldns_key *k = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
    ldns_key_set_pubkey_owner(k, ldns_rdf_clone(origin));
    ldns_key_set_flags(k, 257);
    ldns_key_set_inception(k, (uint32_t)(now - 3600));
    ldns_key_set_expiration(k, (uint32_t)(now + 86400));
    ldns_key_list_push_key(keys, k);
    dnskeys = ldns_rr_list_new();
    ldns_rr *pub = ldns_key2rr(k);
    ldns_key_set_keytag(k, ldns_calc_keytag(pub)); /* the tag the RRSIGs carry */
    ldns_rr_list_push_rr(dnskeys, pub);
}

/* Signs set with the test key, inception/expiration relative to now. */
static ldns_rr_list *sign(ldns_rr_list *set, long from, long to)
{
    ldns_key *k = ldns_key_list_key(keys, 0);
    ldns_key_set_inception(k, (uint32_t)(now + from));
    ldns_key_set_expiration(k, (uint32_t)(now + to));
    ldns_rr_list *sigs = ldns_sign_public(set, keys);
    ldns_key_set_inception(k, (uint32_t)(now - 3600));
    ldns_key_set_expiration(k, (uint32_t)(now + 86400));
    CHECK(sigs != NULL && ldns_rr_list_rr_count(sigs) == 1);
    return sigs;
}

static ldns_rr_list *a_set(const char *addr)
{
    char text[128];
    snprintf(text, sizeof(text), "www.example. 3600 IN A %s", addr);
    ldns_rr_list *l = ldns_rr_list_new();
    ldns_rr_list_push_rr(l, rr(text));
    return l;
}

static void test_rrset_secure_and_ttl(void)
{
    ldns_rr_list *set = a_set("192.0.2.1"), *sigs = sign(set, -3600, 600);
    struct val_result r;
    val_verify_rrset(set, sigs, origin, dnskeys, now, &r);
    CHECK_EQ(r.status, VAL_SECURE);
    CHECK_EQ(r.labels, 2);
    CHECK(r.ttl <= 600 && r.ttl >= 590); /* RFC 4035 5.3.3: capped by expiry */
    ldns_rr_list_deep_free(set);
    ldns_rr_list_deep_free(sigs);
}

static void test_rrset_bogus_cases(void)
{
    ldns_rr_list *set = a_set("192.0.2.1"), *sigs = sign(set, -3600, 86400);
    ldns_rr_list *other = a_set("192.0.2.66");
    struct val_result r;
    val_verify_rrset(other, sigs, origin, dnskeys, now, &r); /* tampered data */
    CHECK_EQ(r.status, VAL_BOGUS);
    CHECK_EQ(r.ede, VAL_EDE_BOGUS);
    val_verify_rrset(set, NULL, origin, dnskeys, now, &r); /* stripped RRSIGs */
    CHECK_EQ(r.ede, VAL_EDE_RRSIGS_MISSING);
    val_verify_rrset(set, sigs, origin, NULL, now, &r); /* no keys */
    CHECK_EQ(r.ede, VAL_EDE_DNSKEY_MISSING);
    ldns_rdf *wrong = dn("other.");
    val_verify_rrset(set, sigs, wrong, dnskeys, now, &r); /* signer is not the zone */
    CHECK_EQ(r.status, VAL_BOGUS);
    ldns_rdf_deep_free(wrong);
    ldns_rr_list *expired = sign(set, -7200, -3600);
    val_verify_rrset(set, expired, origin, dnskeys, now, &r);
    CHECK_EQ(r.ede, VAL_EDE_SIG_EXPIRED);
    ldns_rr_list *future = sign(set, 3600, 7200);
    val_verify_rrset(set, future, origin, dnskeys, now, &r);
    CHECK_EQ(r.ede, VAL_EDE_SIG_NOT_YET_VALID);
    /* A key without the Zone Key flag never validates (RFC 4035 5.3.1). */
    ldns_rr_list *nozone = ldns_rr_list_clone(dnskeys);
    ldns_rdf *flags = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0);
    ldns_rdf_deep_free(ldns_rr_set_rdf(ldns_rr_list_rr(nozone, 0), flags, 0));
    val_verify_rrset(set, sigs, origin, nozone, now, &r);
    CHECK_EQ(r.status, VAL_BOGUS);
    ldns_rr_list_deep_free(nozone);
    ldns_rr_list_deep_free(expired);
    ldns_rr_list_deep_free(future);
    ldns_rr_list_deep_free(other);
    ldns_rr_list_deep_free(set);
    ldns_rr_list_deep_free(sigs);
}

static void test_dnskey_against_ds(void)
{
    ldns_rr_list *ksigs = sign(dnskeys, -3600, 86400), *ds = ldns_rr_list_new();
    ldns_rr *d = ldns_key_rr2ds(ldns_rr_list_rr(dnskeys, 0), LDNS_SHA256);
    ldns_rr_list_push_rr(ds, d);
    struct val_result r;
    val_verify_dnskeys(dnskeys, ksigs, ds, origin, now, &r);
    CHECK_EQ(r.status, VAL_SECURE);
    /* A DNSKEY trust anchor works the same. */
    val_verify_dnskeys(dnskeys, ksigs, dnskeys, origin, now, &r);
    CHECK_EQ(r.status, VAL_SECURE);
    /* Wrong digest: bogus, DNSKEY missing. */
    ldns_rr_list *bad = ldns_rr_list_clone(ds);
    ldns_rdf *digest = ldns_rr_rdf(ldns_rr_list_rr(bad, 0), 3);
    ldns_rdf_data(digest)[0] ^= 0xff;
    val_verify_dnskeys(dnskeys, ksigs, bad, origin, now, &r);
    CHECK_EQ(r.status, VAL_BOGUS);
    CHECK_EQ(r.ede, VAL_EDE_DNSKEY_MISSING);
    /* No signatures over the set. */
    val_verify_dnskeys(dnskeys, NULL, ds, origin, now, &r);
    CHECK_EQ(r.status, VAL_BOGUS);
    /* RFC 8624: a DS of an unsupported algorithm or digest: insecure. */
    ldns_rr_list *priv = ldns_rr_list_new();
    ldns_rr_list_push_rr(priv,
                         rr("example. IN DS 1 253 2 "
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    val_verify_dnskeys(dnskeys, ksigs, priv, origin, now, &r);
    CHECK_EQ(r.status, VAL_INSECURE);
    CHECK_EQ(r.ede, VAL_EDE_UNSUPPORTED_DNSKEY_ALG);
    ldns_rr_list *gost = ldns_rr_list_new();
    ldns_rr_list_push_rr(gost,
                         rr("example. IN DS 1 13 3 "
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    val_verify_dnskeys(dnskeys, ksigs, gost, origin, now, &r);
    CHECK_EQ(r.status, VAL_INSECURE);
    CHECK_EQ(r.ede, VAL_EDE_UNSUPPORTED_DS_DIGEST);
    ldns_rr_list_deep_free(gost);
    ldns_rr_list_deep_free(priv);
    ldns_rr_list_deep_free(bad);
    ldns_rr_list_deep_free(ds);
    ldns_rr_list_deep_free(ksigs);
}

static void test_algorithms(void)
{
    CHECK(val_alg_supported(8) && val_alg_supported(13) && val_alg_supported(15));
    CHECK(!val_alg_supported(1) && !val_alg_supported(3) && !val_alg_supported(12));
    CHECK(!val_alg_supported(253) && !val_alg_supported(0));
    CHECK(val_digest_supported(1) && val_digest_supported(2) && val_digest_supported(4));
    CHECK(!val_digest_supported(0) && !val_digest_supported(3));
}

/* The NSEC or NSEC3 records of the zone signed with nsec3 or not. */
static ldns_rr_list *denial_records(bool nsec3, bool optout)
{
    ldns_zone *z = NULL;
    FILE *f = fmemopen((void *)ZONE, sizeof(ZONE) - 1, "r");
    CHECK(ldns_zone_new_frm_fp(&z, f, NULL, 3600, LDNS_RR_CLASS_IN) == LDNS_STATUS_OK);
    fclose(f);
    ldns_zone *s = nsec3 ? ldns_zone_sign_nsec3(z, keys, 1, optout ? 1 : 0, 0, 0, NULL)
                         : ldns_zone_sign(z, keys);
    CHECK(s != NULL);
    ldns_rr_list *out = ldns_rr_list_new();
    ldns_rr_type want = nsec3 ? LDNS_RR_TYPE_NSEC3 : LDNS_RR_TYPE_NSEC;
    for (size_t i = 0; s && i < ldns_rr_list_rr_count(ldns_zone_rrs(s)); i++) {
        ldns_rr *x = ldns_rr_list_rr(ldns_zone_rrs(s), i);
        if (ldns_rr_get_type(x) == want)
            ldns_rr_list_push_rr(out, ldns_rr_clone(x));
    }
    CHECK(ldns_rr_list_rr_count(out) > 0);
    ldns_zone_deep_free(s);
    ldns_zone_deep_free(z);
    return out;
}

static bool denied(const ldns_rr_list *n, enum val_denial_kind kind, const char *name,
                   uint16_t type, unsigned ce, struct val_denial *d)
{
    ldns_rdf *q = dn(name);
    val_check_denial(kind, q, type, origin, n, ce, d);
    ldns_rdf_deep_free(q);
    return d->proven;
}

static void check_denials(const ldns_rr_list *n)
{
    struct val_denial d;
    CHECK(denied(n, VAL_DENY_NXDOMAIN, "nope.example.", LDNS_RR_TYPE_A, 0, &d));
    CHECK(denied(n, VAL_DENY_NXDOMAIN, "x.y.nope.example.", LDNS_RR_TYPE_A, 0, &d));
    CHECK(!denied(n, VAL_DENY_NXDOMAIN, "www.example.", LDNS_RR_TYPE_A, 0, &d));
    /* A wildcard would match: no NXDOMAIN below wild. */
    CHECK(!denied(n, VAL_DENY_NXDOMAIN, "x.wild.example.", LDNS_RR_TYPE_A, 0, &d));
    CHECK(denied(n, VAL_DENY_NODATA, "www.example.", LDNS_RR_TYPE_TXT, 0, &d));
    CHECK(!denied(n, VAL_DENY_NODATA, "www.example.", LDNS_RR_TYPE_A, 0, &d));
    CHECK(denied(n, VAL_DENY_NODATA, "ent.example.", LDNS_RR_TYPE_A, 0, &d)); /* ENT */
    /* Wildcard expansion of x.wild.example from *.wild.example (Labels 2). */
    CHECK(denied(n, VAL_DENY_WILDCARD, "x.wild.example.", LDNS_RR_TYPE_A, 2, &d));
    CHECK(!denied(n, VAL_DENY_WILDCARD, "www.example.", LDNS_RR_TYPE_A, 1, &d));
    /* Wildcard NODATA: *.wild has A only. */
    CHECK(denied(n, VAL_DENY_NODATA, "x.wild.example.", LDNS_RR_TYPE_TXT, 0, &d));
    /* DS: an unsigned delegation, a name that is no cut, a signed one. */
    CHECK(denied(n, VAL_DENY_NODATA, "deleg.example.", LDNS_RR_TYPE_DS, 0, &d));
    CHECK(d.delegation && !d.not_cut);
    CHECK(denied(n, VAL_DENY_NODATA, "www.example.", LDNS_RR_TYPE_DS, 0, &d));
    CHECK(d.not_cut && !d.delegation);
    CHECK(!denied(n, VAL_DENY_NODATA, "signed.example.", LDNS_RR_TYPE_DS, 0, &d));
    /* RFC 6840 4.4: the parent's NSEC at a delegation proves nothing about
     * the child's other types. */
    CHECK(!denied(n, VAL_DENY_NODATA, "deleg.example.", LDNS_RR_TYPE_A, 0, &d));
    /* Nothing proves anything outside the zone. */
    CHECK(!denied(n, VAL_DENY_NXDOMAIN, "nope.other.", LDNS_RR_TYPE_A, 0, &d));
    /* No records, no proof. */
    ldns_rr_list *none = ldns_rr_list_new();
    CHECK(!denied(none, VAL_DENY_NXDOMAIN, "nope.example.", LDNS_RR_TYPE_A, 0, &d));
    ldns_rr_list_free(none);
}

static void test_nsec_denial(void)
{
    ldns_rr_list *n = denial_records(false, false);
    check_denials(n);
    ldns_rr_list_deep_free(n);
}

static void test_nsec3_denial(void)
{
    ldns_rr_list *n = denial_records(true, false);
    check_denials(n);
    ldns_rr_list_deep_free(n);
}

static void test_nsec3_optout_and_iterations(void)
{
    ldns_rr_list *n = denial_records(true, true);
    struct val_denial d;
    /* deleg has no NSEC3 of its own under opt-out: covered, opt-out. */
    CHECK(denied(n, VAL_DENY_NODATA, "deleg.example.", LDNS_RR_TYPE_DS, 0, &d));
    CHECK(d.delegation);
    /* RFC 9276: too many iterations make the answer insecure, not bogus. */
    for (size_t i = 0; i < ldns_rr_list_rr_count(n); i++) {
        ldns_rr *x = ldns_rr_list_rr(n, i);
        ldns_rdf *it = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 500);
        ldns_rdf_deep_free(ldns_rr_set_rdf(x, it, 2));
    }
    CHECK(!denied(n, VAL_DENY_NXDOMAIN, "nope.example.", LDNS_RR_TYPE_A, 0, &d));
    CHECK(d.insecure);
    ldns_rr_list_deep_free(n);
}

int main(void)
{
    setup();
    UNIT_RUN(test_rrset_secure_and_ttl);
    UNIT_RUN(test_rrset_bogus_cases);
    UNIT_RUN(test_dnskey_against_ds);
    UNIT_RUN(test_algorithms);
    UNIT_RUN(test_nsec_denial);
    UNIT_RUN(test_nsec3_denial);
    UNIT_RUN(test_nsec3_optout_and_iterations);
    ldns_key_list_free(keys);
    ldns_rr_list_deep_free(dnskeys);
    ldns_rdf_deep_free(origin);
    return unit_done();
}
