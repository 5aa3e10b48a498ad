/*
 * fuzz_validator.c - validator.c on arbitrary packets.
 *
 * The input is parsed as a DNS message (as the iterator would receive it);
 * the zone is the question name's parent.  Every answer RRset goes through
 * val_verify_rrset against a fixed key set made of the packet's own DNSKEY
 * records (so signature paths with matching tags are reached), DNSKEY sets
 * through val_verify_dnskeys with the packet's DS records as anchors, and
 * the authority section through every kind of denial check.  Then the
 * authority's NSEC/NSEC3 and SOA records go into an NSEC cache (as if they
 * had verified: a hostile signed zone can make them say anything), and
 * what the cache hands back for the question name is checked again.
 * Nothing may crash, leak or read out of bounds, and a result is always one
 * of the statuses.
 */
#include "nsec_cache.h"
#include "validator.h"

#include <stdlib.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, data, size) != LDNS_STATUS_OK)
        return 0;
    const ldns_rr_list *qd = ldns_pkt_question(p);
    if (ldns_rr_list_rr_count(qd) != 1) {
        ldns_pkt_free(p);
        return 0;
    }
    const ldns_rr *q = ldns_rr_list_rr(qd, 0);
    const ldns_rdf *qname = ldns_rr_owner(q);
    ldns_rdf *zone =
        ldns_dname_label_count(qname) > 0 ? ldns_dname_left_chop(qname) : ldns_rdf_clone(qname);
    ldns_rr_list *an = ldns_pkt_answer(p), *ns = ldns_pkt_authority(p);
    ldns_rr_list *keys = ldns_rr_list_new(), *ds = ldns_rr_list_new();
    time_t now = 1700000000;
    for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNSKEY)
            ldns_rr_list_push_rr(keys, rr);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DS)
            ldns_rr_list_push_rr(ds, rr);
    }
    for (size_t i = 0; zone && i < ldns_rr_list_rr_count(an) && i < 16; i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG)
            continue;
        ldns_rr_list *set = val_rrset_of(an, ldns_rr_owner(rr), (uint16_t)ldns_rr_get_type(rr));
        ldns_rr_list *sigs = val_sigs_for(an, ldns_rr_owner(rr), (uint16_t)ldns_rr_get_type(rr));
        struct val_result r;
        val_verify_rrset(set, sigs, zone, keys, now, &r);
        if (r.status != VAL_SECURE && r.status != VAL_BOGUS)
            abort();
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNSKEY) {
            val_verify_dnskeys(set, sigs, ds, ldns_rr_owner(rr), now, &r);
            if (r.status != VAL_SECURE && r.status != VAL_BOGUS && r.status != VAL_INSECURE)
                abort();
        }
        (void)val_signer(sigs, ldns_rr_owner(rr), (uint16_t)ldns_rr_get_type(rr));
        ldns_rr_list_free(set);
        ldns_rr_list_free(sigs);
    }
    static const enum val_denial_kind kinds[] = {VAL_DENY_NXDOMAIN, VAL_DENY_NODATA,
                                                 VAL_DENY_WILDCARD};
    for (size_t k = 0; zone && k < 3; k++) {
        struct val_denial d;
        val_check_denial(kinds[k], qname, (uint16_t)ldns_rr_get_type(q), zone, ns,
                         ldns_dname_label_count(zone), &d);
        val_check_denial(kinds[k], qname, LDNS_RR_TYPE_DS, zone, ns, 0, &d);
    }
    struct nsec_cache *nc = zone ? nsec_cache_new(8) : NULL;
    for (size_t i = 0; nc && i < ldns_rr_list_rr_count(ns) && i < 32; i++) {
        ldns_rr *rr = ldns_rr_list_rr(ns, i);
        uint16_t t = (uint16_t)ldns_rr_get_type(rr);
        if (t != LDNS_RR_TYPE_NSEC && t != LDNS_RR_TYPE_NSEC3 && t != LDNS_RR_TYPE_SOA)
            continue;
        ldns_rr_list *set = val_rrset_of(ns, ldns_rr_owner(rr), t);
        ldns_rr_list *sigs = val_sigs_for(ns, ldns_rr_owner(rr), t);
        if (t == LDNS_RR_TYPE_SOA)
            nsec_cache_put_soa(nc, zone, set, sigs, ldns_rr_ttl(rr), now);
        else
            nsec_cache_put(nc, zone, set, sigs, ldns_rr_ttl(rr), now);
        ldns_rr_list_free(set);
        ldns_rr_list_free(sigs);
    }
    if (nc) {
        ldns_rdf *z = nsec_cache_zone(nc, qname, now);
        ldns_rr_list *c = ldns_rr_list_new(), *soa = ldns_rr_list_new();
        uint32_t ttl;
        if (c && soa && nsec_cache_candidates(nc, zone, qname, now, c, &ttl) > 0) {
            struct val_denial d;
            val_check_denial(VAL_DENY_NXDOMAIN, qname, (uint16_t)ldns_rr_get_type(q), zone, c, 0,
                             &d);
            val_check_denial(VAL_DENY_NODATA, qname, LDNS_RR_TYPE_DS, zone, c, 0, &d);
        }
        if (soa && c)
            nsec_cache_soa(nc, zone, now, soa, c);
        nsec_cache_flush(nc, z);
        ldns_rr_list_deep_free(c);
        ldns_rr_list_deep_free(soa);
        ldns_rdf_deep_free(z);
        nsec_cache_free(nc);
    }
    ldns_rr_list_free(keys);
    ldns_rr_list_free(ds);
    ldns_rdf_deep_free(zone);
    ldns_pkt_free(p);
    return 0;
}
