/*
 * validator.h - DNSSEC checks on data already in hand (RFC 4033-4035, 5155,
 * 6840, 8624, 9276): signatures over an RRset, a DNSKEY set against its DS
 * set or trust anchors, and NSEC/NSEC3 proofs of non-existence.
 *
 * Pure functions over ldns objects: no cache, no network, no clock (the
 * caller passes `now`, wall-clock seconds, for RRSIG validity).  The
 * iterator decides what to fetch and in which order (the chain of trust
 * from a trust anchor down to the signer, iterator.c); this module only
 * judges.  Every RR examined came from outside: rdata fields are checked for
 * presence and size before use.
 *
 * Statuses are those of RFC 4035 section 4.3 (secure, insecure, bogus; the
 * caller maps "indeterminate" to bogus or insecure as the section says) and
 * carry the Extended DNS Error (RFC 8914) that explains a bogus result.
 */
#ifndef GATEHOUSE_VALIDATOR_H
#define GATEHOUSE_VALIDATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ldns/ldns.h>

/* Same values as enum cache_sec (cache.h), so statuses go into the cache
 * as they are. */
enum val_status {
    VAL_UNCHECKED = 0,
    VAL_INSECURE = 1,
    VAL_SECURE = 2,
    VAL_BOGUS = 3,
};

/* RFC 8914 section 4 info codes used here. */
#define VAL_EDE_NONE 0xffff
#define VAL_EDE_OTHER 0
#define VAL_EDE_UNSUPPORTED_DNSKEY_ALG 1
#define VAL_EDE_UNSUPPORTED_DS_DIGEST 2
#define VAL_EDE_BOGUS 6
#define VAL_EDE_SIG_EXPIRED 7
#define VAL_EDE_SIG_NOT_YET_VALID 8
#define VAL_EDE_DNSKEY_MISSING 9
#define VAL_EDE_RRSIGS_MISSING 10
#define VAL_EDE_NO_ZONE_KEY_BIT 11
#define VAL_EDE_NSEC_MISSING 12

/* RFC 9276 section 3.2: NSEC3 records with more iterations than this make
 * the answer insecure rather than costing us the hashing (Unbound's 150). */
#define VAL_NSEC3_MAX_ITERATIONS 150
/* Bounds on work per call: signatures tried per RRset, keys per set. */
#define VAL_MAX_SIGS 8
#define VAL_MAX_KEYS 16

struct val_result {
    enum val_status status;
    uint16_t ede;    /* VAL_EDE_NONE unless bogus (or insecure by algorithm) */
    char why[96];    /* for logs and the EDE text */
    unsigned labels; /* SECURE RRset: the Labels field of the RRSIG that
                      * verified it (fewer than the owner's: wildcard
                      * expansion, RFC 4035 section 5.3.4) */
    uint32_t ttl;    /* SECURE RRset: the most it may be cached (RFC 4035
                      * section 5.3.3: original TTL, signature expiry) */
};

/* RFC 8624 section 3.1/3.2: algorithms and digests we validate.  Others
 * (RSAMD5, DSA, GOST, private ones) make a zone insecure, never bogus. */
bool val_alg_supported(uint8_t alg);
bool val_digest_supported(uint8_t digest);

/* RFC 4035 section 5.3: is rrset (one RRset, any owner case) signed by one
 * of sigs (RRSIGs; those not covering rrset are ignored) made with a key of
 * keys (a trusted DNSKEY RRset whose owner is zone), valid at now?  Fills
 * out: SECURE or BOGUS with the EDE (RRSIGs missing, expired, not yet valid,
 * DNSKEY missing, bogus). */
void val_verify_rrset(const ldns_rr_list *rrset, const ldns_rr_list *sigs, const ldns_rdf *zone,
                      const ldns_rr_list *keys, time_t now, struct val_result *out);

/* RFC 4035 section 5.2: the DNSKEY RRset of zone against anchors (DS
 * records, or DNSKEY records from a trust anchor file).  SECURE when a key
 * matching a supported anchor signs the set (the set is then trusted);
 * INSECURE when no anchor has a supported algorithm and digest (RFC 6840
 * section 5.2, RFC 8624); BOGUS otherwise. */
void val_verify_dnskeys(const ldns_rr_list *dnskeys, const ldns_rr_list *sigs,
                        const ldns_rr_list *anchors, const ldns_rdf *zone, time_t now,
                        struct val_result *out);

/* What a negative answer has to prove. */
enum val_denial_kind {
    VAL_DENY_NXDOMAIN, /* qname does not exist, nor a wildcard that would match it */
    VAL_DENY_NODATA,   /* qname (or the wildcard matching it) has no qtype */
    VAL_DENY_WILDCARD, /* a wildcard answer: no name closer than the wildcard
                        * exists (RFC 4035 5.3.4, RFC 5155 8.8); ce_labels is
                        * the RRSIG Labels value */
};

struct val_denial {
    bool proven;     /* the denial holds */
    bool insecure;   /* NSEC3 we do not hash (unknown algorithm, too many
                      * iterations): the answer is insecure, not bogus */
    bool delegation; /* NODATA for DS: qname is a delegation without DS
                      * (NS set, no SOA), or covered by opt-out (RFC 5155 6):
                      * the child is insecure */
    bool not_cut;    /* NODATA for DS: qname exists in the zone and is no
                      * delegation (no NS bit): no zone cut there */
};

/* Checks the NSEC or NSEC3 records in nsecs (whose signatures the caller
 * has verified with zone's keys) for the denial asked.  qname is the name
 * denied, zone the signer. */
void val_check_denial(enum val_denial_kind kind, const ldns_rdf *qname, uint16_t qtype,
                      const ldns_rdf *zone, const ldns_rr_list *nsecs, unsigned ce_labels,
                      struct val_denial *out);

/* NSEC3 (RFC 5155 8.1, RFC 9276 3.2): rr is a well-formed NSEC3 record
 * directly below zone, of the SHA-1 hash with no more iterations than we
 * accept, i.e. one val_check_denial can hash names with. */
bool val_nsec3_hashable(const ldns_rr *rr, const ldns_rdf *zone);

/* Two NSEC3 records hash with the same parameters (algorithm, iterations,
 * salt; RFC 5155 7.2: one set per zone). */
bool val_nsec3_same_params(const ldns_rr *a, const ldns_rr *b);

/* H(name).zone under the parameters of the NSEC3 record params (one
 * val_nsec3_hashable accepts), or NULL.  The caller frees it. */
ldns_rdf *val_nsec3_hash(const ldns_rr *params, const ldns_rdf *zone, const ldns_rdf *name);

/* The signer name of the first RRSIG in sigs covering (owner, type), or
 * NULL.  Borrowed from sigs. */
const ldns_rdf *val_signer(const ldns_rr_list *sigs, const ldns_rdf *owner, uint16_t type);

/* The RRs of list with this owner and type (shallow: the caller frees the
 * list with ldns_rr_list_free, the RRs stay list's), or NULL if none. */
ldns_rr_list *val_rrset_of(const ldns_rr_list *list, const ldns_rdf *owner, uint16_t type);

/* The RRSIGs of list covering (owner, type), shallow; NULL if none. */
ldns_rr_list *val_sigs_for(const ldns_rr_list *list, const ldns_rdf *owner, uint16_t type);

#endif
