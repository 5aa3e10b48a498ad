/*
 * cache.h - the shared answer cache: whole messages for the fast path, RRsets
 * for the iterator.
 *
 * One cache serves every worker thread and every segment.  It is split into
 * shards, each with its own lock and its own LRU list, keyed by a hash seeded
 * with a secret at start-up (names come from outside).  cache.size bounds the
 * bytes held; the least recently used entries go first.
 *
 * Expiry is absolute wall-clock time (seconds since the epoch), as in Unbound
 * and Knot Resolver, so it agrees with RRSIG validity later.  TTLs are clamped
 * to [min-ttl, max-ttl] (negative answers to max-negative-ttl, RFC 2308) when
 * stored and counted down when served.
 *
 * Names passed in are uncompressed wire format in lower case.  Every function
 * here is safe to call from any thread.
 */
#ifndef GATEHOUSE_CACHE_H
#define GATEHOUSE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ldns/ldns.h>

struct nsec_cache;

struct cache;

struct cache_limits {
    size_t max_bytes; /* whole cache, both tables */
    uint32_t min_ttl; /* clamp on store */
    uint32_t max_ttl;
    uint32_t max_negative_ttl; /* NXDOMAIN/NODATA: min(SOA TTL, SOA MINIMUM) clamped to this */
    uint32_t stale_max_age;    /* keep expired messages this long for serve-stale; 0 = never */
};

/* Returns NULL on ENOMEM.  Free with cache_free. */
struct cache *cache_new(const struct cache_limits *limits);
void cache_free(struct cache *c);

/* Changes the bounds in place (reload).  Shrinking evicts as needed. */
void cache_set_limits(struct cache *c, const struct cache_limits *limits);

/* --- Message cache: complete answers, kept in wire form ---------------------
 *
 * A stored message is a full DNS response: a 12-byte header (ID 0, QR and RA
 * set, RD clear, the rcode), the question with the lower-case name, then the
 * answer, authority and additional sections.  It carries no OPT record: the
 * server adds its own for each client.  Compression pointers may point at the
 * question name (offset 12) because every client's question name has the same
 * length.
 */

struct cache_msg_hit {
    uint8_t rcode;     /* from the stored header */
    bool stale;        /* served past expiry (serve-stale); TTLs in out are 30 */
    uint32_t ttl_left; /* seconds until expiry (0 when stale) */
    uint32_t ttl_orig; /* the smallest TTL when stored */
    bool prefetch_due; /* popular and near expiry: refresh it now.  Reported
                        * to exactly one caller per entry until it is stored again. */
};

/* Looks up (qname, qtype, qclass), plain form.  On a fresh hit copies the message into
 * out with every TTL counted down to now and returns its length.  On an
 * expired entry within stale-max-age, returns it only if allow_stale (TTLs set
 * to 30 s, RFC 8767 section 4), else 0.  Returns 0 on a miss and -ENOSPC when
 * cap is too small.  Takes no allocation. */
int cache_msg_get(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                  uint16_t qclass, time_t now, bool allow_stale, uint8_t *out, size_t cap,
                  struct cache_msg_hit *hit);

/* Stores a message in the form above (the header's ID, RD and counts as
 * given; an OPT record, if present, is dropped).  TTLs are clamped in the
 * stored copy; expiry = now + the smallest TTL (negative answers: the SOA rule
 * of RFC 2308 section 5).  Returns 0, -EINVAL for a message it cannot walk,
 * -ENOMEM.  Replaces any entry for the same key. */
int cache_msg_put(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                  uint16_t qclass, const uint8_t *wire, size_t len, time_t now);

/* The two forms of one answer.  RFC 4035 section 3.2.1: a client that set
 * DO gets the RRSIGs of the answer's RRsets and, for NXDOMAIN and NODATA,
 * the NSEC/NSEC3 records that prove it with their RRSIGs (section 3.1.3);
 * a client that did not gets neither.  The form is part of the message key
 * (its last byte; none for the plain form), so each form is its own entry:
 * a look-up of either is one hash, one lock, one copy. */
enum cache_msg_form {
    CACHE_MSG_PLAIN = 0,  /* as cache_msg_get/cache_msg_put */
    CACHE_MSG_DNSSEC = 1, /* with the DNSSEC records, for DO clients */
};

/* cache_msg_get and cache_msg_put for one form of the answer. */
int cache_msg_get_form(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                       uint16_t qclass, enum cache_msg_form form, time_t now, bool allow_stale,
                       uint8_t *out, size_t cap, struct cache_msg_hit *hit);
int cache_msg_put_form(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                       uint16_t qclass, enum cache_msg_form form, const uint8_t *wire, size_t len,
                       time_t now);

/* --- RRset cache: what the iterator learns ----------------------------------*/

/* RFC 2181 section 5.4.1 ranking, lowest first.  Data of lower trust never
 * replaces unexpired data of higher trust. */
enum cache_trust {
    CACHE_TRUST_GLUE = 1,        /* additional section of a referral */
    CACHE_TRUST_AUTHORITY = 2,   /* NS in the authority section of a referral */
    CACHE_TRUST_ANSWER = 3,      /* answer section, non-authoritative */
    CACHE_TRUST_AUTH_ANSWER = 4, /* answer section with AA set, or from a forwarder */
};

/* Stores one RRset (all RRs share owner, type and class; TTL = the lowest).
 * The list is copied; the caller keeps it.  0, -EINVAL or -ENOMEM. */
int cache_rrset_put(struct cache *c, const ldns_rr_list *rrset, enum cache_trust trust, time_t now);

/* DNSSEC status of a cached RRset (RFC 4035 section 4.3), set only by the
 * validator (iterator.c).  Same values as enum val_status (validator.h). */
enum cache_sec {
    CACHE_SEC_UNCHECKED = 0, /* not validated (validation off, CD, or not yet) */
    CACHE_SEC_INSECURE = 1,  /* validated: provably unsigned, or under an NTA */
    CACHE_SEC_SECURE = 2,    /* validated: signatures verified from a trust anchor */
};

/* cache_rrset_put with the RRSIGs covering the set (sigs may be NULL;
 * copied) and its status.  RFC 4035 section 4.5: an unexpired validated
 * entry is not replaced by an unchecked one of the same or lower trust.
 * 0, -EINVAL or -ENOMEM. */
int cache_rrset_put_sec(struct cache *c, const ldns_rr_list *rrset, const ldns_rr_list *sigs,
                        enum cache_trust trust, enum cache_sec sec, time_t now);

/* Returns a deep copy of the unexpired RRset with TTLs counted down (caller
 * frees with ldns_rr_list_deep_free), or NULL.  *trust (if not NULL) gets its
 * rank.  owner is an ldns dname (any case). */
ldns_rr_list *cache_rrset_get(struct cache *c, const ldns_rdf *owner, ldns_rr_type type, time_t now,
                              enum cache_trust *trust);

/* cache_rrset_get that also reports the status (*sec, if not NULL) and
 * returns the stored RRSIGs in *sigs (if not NULL: a deep copy with TTLs
 * counted down, or NULL when none; caller frees). */
ldns_rr_list *cache_rrset_get_sec(struct cache *c, const ldns_rdf *owner, ldns_rr_type type,
                                  time_t now, enum cache_trust *trust, enum cache_sec *sec,
                                  ldns_rr_list **sigs);

/* --- Maintenance ------------------------------------------------------------*/

/* Removes every message (both forms) and RRset whose owner is name, or (subtree) at or
 * below it.  Returns the number of entries removed. */
size_t cache_flush(struct cache *c, const uint8_t *name, size_t name_len, bool subtree);

/* The cache's validated NSEC/NSEC3 records (nsec_cache.h), which live and
 * are flushed with it.  Borrowed until cache_free. */
struct nsec_cache *cache_nsec(struct cache *c);

struct cache_stats {
    uint64_t msg_entries, rrset_entries;
    uint64_t bytes;
    uint64_t hits, misses, stale_hits, evictions;
    uint64_t nsec_records, nsec_answers; /* the NSEC cache (nsec_cache_stats) */
};
void cache_stats(struct cache *c, struct cache_stats *out);

#endif
