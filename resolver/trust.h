/*
 * trust.h - DNSSEC trust anchors and negative trust anchors.
 *
 * Anchors are DS or DNSKEY records in presentation format, one file per
 * dnssec.trust-anchor-file entry (RFC 4033 section 2: "a preconfigured
 * public key or public key hash"), plus the IANA root anchors built in
 * (KSK-2017, key tag 20326, and KSK-2024, key tag 38696, as DS records).
 * Files replace the built-in anchor for any zone they name; they add zones
 * of their own.  No RFC 5011 tracking: nothing is fetched at start-up.
 *
 * Negative trust anchors (RFC 7646) are names at and below which answers
 * are treated as insecure: validation is skipped, never failed.
 *
 * A struct trust_anchors is immutable once built; the config that built it
 * owns it (config.h: dnssec_anchors), so a reload swaps anchors with the
 * rest of the configuration.
 */
#ifndef GATEHOUSE_TRUST_H
#define GATEHOUSE_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include <ldns/ldns.h>

#include "config.h"

#define TRUST_MAX_ANCHORS 64       /* zones with anchors */
#define TRUST_MAX_RRS 64           /* records per file */
#define TRUST_MAX_FILE (64 * 1024) /* bytes per file */

struct trust_anchors;

/* One anchored zone: its name and records (DS and/or DNSKEY), borrowed
 * from the trust_anchors. */
struct trust_anchor {
    ldns_rdf *zone;
    ldns_rr_list *rrs;
};

/* Builds anchors from files (absolute paths; nfiles may be 0 for the
 * built-in root anchor only) and negative trust anchors (names as the
 * config parsed them; subtree is implied).  Returns 0 and *out (free with
 * trust_free), or a negative errno with "FILE:LINE: message" in err. */
int trust_load(char *const *files, size_t nfiles, const struct config_name *nta, size_t nnta,
               struct trust_anchors **out, char *err, size_t errlen);
void trust_free(struct trust_anchors *t);

/* The anchor of the deepest anchored zone at or above name, or NULL. */
const struct trust_anchor *trust_find(const struct trust_anchors *t, const ldns_rdf *name);

/* Whether name is at or below a negative trust anchor. */
bool trust_nta(const struct trust_anchors *t, const ldns_rdf *name);

/* Number of anchored zones (for tests and status). */
size_t trust_count(const struct trust_anchors *t);

#endif
