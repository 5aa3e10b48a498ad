/*
 * nsec_cache.h - validated NSEC and NSEC3 records, by zone and in order, so
 * that they can prove what they cover without asking again: aggressive
 * use of the DNSSEC-validated cache (RFC 8198) for NXDOMAIN and NODATA
 * answers, and cached "no DS" proofs for insecure delegations (RFC 4035
 * section 4.7).
 *
 * What goes in has been verified by the caller (the iterator's validator)
 * with the zone's trusted keys; this module trusts it and keeps it no
 * longer than the TTL it is given (the caller cuts it to the signatures'
 * expiry).  It never judges a proof: it hands back the few records that
 * could prove something about a name (those at or before the name, its
 * ancestors and their wildcards, in canonical or hash order), and
 * val_check_denial decides, exactly as for records a server sent.
 *
 * Each zone keeps its records in a red-black tree ordered by owner name
 * (RFC 4034 section 6.1 canonical order; for NSEC3 the owners are base32hex
 * hash labels, whose order is the order of the hashes).  A zone holds NSEC
 * or NSEC3 records of one parameter set, never both: a record of the other
 * kind or other parameters (the zone was re-signed) replaces what was there.
 * The whole cache is bounded in records; when full, the zone used least
 * recently goes.  One mutex: it is read on cache misses in signed zones only.
 *
 * Names are ldns dnames in any case.  Every function is safe from any
 * thread.
 */
#ifndef GATEHOUSE_NSEC_CACHE_H
#define GATEHOUSE_NSEC_CACHE_H

#include <ldns/ldns.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct nsec_cache;

/* max_records bounds the NSEC/NSEC3 RRsets held (0: a small default).
 * NULL on ENOMEM.  Free with nsec_cache_free. */
struct nsec_cache *nsec_cache_new(size_t max_records);
void nsec_cache_free(struct nsec_cache *nc);

/* Keeps the NSEC or NSEC3 RRset set (one owner; verified with zone's keys)
 * and its RRSIGs for ttl seconds from now.  Both lists are copied.  NSEC3
 * records not directly below zone, of an unknown hash algorithm or with
 * more iterations than the validator accepts are not kept.  0, -EINVAL,
 * -ENOMEM. */
int nsec_cache_put(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rr_list *set,
                   const ldns_rr_list *sigs, uint32_t ttl, time_t now);

/* Keeps zone's SOA RRset (verified) and its RRSIGs, which a negative answer
 * built from the records needs.  0, -EINVAL, -ENOMEM. */
int nsec_cache_put_soa(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rr_list *soa,
                       const ldns_rr_list *sigs, uint32_t ttl, time_t now);

/* Whether the cache holds set (an NSEC/NSEC3 RRset, or zone's SOA RRset)
 * unexpired with the same data, and each RRSIG in sigs among those kept
 * with it: then set is authentic without verifying it again (as Unbound
 * trusts an RRset its cache holds as validated). */
bool nsec_cache_holds(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rr_list *set,
                      const ldns_rr_list *sigs, time_t now);

/* The deepest zone at or above name with unexpired records here (a copy the
 * caller frees with ldns_rdf_deep_free), or NULL. */
ldns_rdf *nsec_cache_zone(struct nsec_cache *nc, const ldns_rdf *name, time_t now);

/* Appends to out (deep copies, TTLs counted down to now) zone's records
 * that could prove something about name, each followed by its RRSIGs: for
 * name and each of its ancestors down to zone, and for the wildcard below
 * each ancestor, the record at or before it in the zone's order (wrapping
 * round to the last).  Returns the number of records appended; *ttl (if
 * not NULL) gets the least TTL left among them. */
size_t nsec_cache_candidates(struct nsec_cache *nc, const ldns_rdf *zone, const ldns_rdf *name,
                             time_t now, ldns_rr_list *out, uint32_t *ttl);

/* Appends zone's SOA RRset to soa and its RRSIGs to sigs (deep copies,
 * TTLs counted down).  0, or -ENOENT when none is kept or it expired. */
int nsec_cache_soa(struct nsec_cache *nc, const ldns_rdf *zone, time_t now, ldns_rr_list *soa,
                   ldns_rr_list *sigs);

/* Drops every zone at or below name (every zone when name is NULL).
 * Returns the number of records dropped. */
size_t nsec_cache_flush(struct nsec_cache *nc, const ldns_rdf *name);

/* Counts a negative answer proven from the cache (for the metrics). */
void nsec_cache_count_answer(struct nsec_cache *nc);

struct nsec_cache_stats {
    size_t zones, records;
    uint64_t evicted_zones;
    uint64_t answers; /* nsec_cache_count_answer calls */
};
void nsec_cache_stats(struct nsec_cache *nc, struct nsec_cache_stats *out);

#endif
