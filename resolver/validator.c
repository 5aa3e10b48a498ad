/*
 * validator.c - DNSSEC judgements on data in hand (see validator.h).
 *
 * What it does: RRSIG verification through ldns (ldns_verify_rrsig_keylist_
 * time, which also undoes wildcard expansion and restores the original TTL,
 * RFC 4035 section 5.3.2), with the checks ldns leaves to its caller (RFC
 * 4035 section 5.3.1: signer is the zone, zone key bit, protocol 3, Labels
 * not above the owner's); DS and trust anchor matching (RFC 4035 section
 * 5.2, ldns_key_rr2ds); and NSEC (RFC 4035 section 5.4, RFC 6840 section 4)
 * and NSEC3 (RFC 5155 section 8) denial, written here because ldns's own
 * helpers accept the owner itself as "covered" and skip the delegation and
 * opt-out rules.
 *
 * What it does not: fetch anything, walk the chain of trust (iterator.c),
 * cache (cache.c), or keep state between calls.
 */
#include "validator.h"

#include <string.h>

#define DNSKEY_FLAG_ZONE 0x0100   /* RFC 4034 section 2.1.1 */
#define DNSKEY_FLAG_REVOKE 0x0080 /* RFC 5011 section 3 */
#define DNSKEY_PROTOCOL 3
#define NSEC3_HASH_SHA1 1
#define NSEC3_FLAG_OPTOUT 0x01
#define MAX_LABELS 128

/* --- Names ----------------------------------------------------------------- */

static bool name_eq(const ldns_rdf *a, const ldns_rdf *b)
{
    return a && b && ldns_dname_compare(a, b) == 0;
}

static bool name_at_or_below(const ldns_rdf *name, const ldns_rdf *zone)
{
    return name && zone && (name_eq(name, zone) || ldns_dname_is_subdomain(name, zone));
}

/* Offsets of the labels of a wire name (root label excluded); the count, or
 * -1 if the name is malformed. */
static int label_offsets(const ldns_rdf *name, size_t *offs)
{
    const uint8_t *d = ldns_rdf_data(name);
    size_t n = ldns_rdf_size(name), off = 0;
    int count = 0;
    while (off < n) {
        uint8_t l = d[off];
        if (l == 0)
            return off + 1 == n ? count : -1;
        if (l > 63 || off + 1 + l >= n || count >= MAX_LABELS)
            return -1;
        offs[count++] = off;
        off += 1u + l;
    }
    return -1;
}

static bool label_eq(const uint8_t *a, const uint8_t *b)
{
    if (a[0] != b[0])
        return false;
    for (size_t i = 1; i <= a[0]; i++) {
        uint8_t x = a[i], y = b[i];
        x = (x >= 'A' && x <= 'Z') ? (uint8_t)(x + 32) : x;
        y = (y >= 'A' && y <= 'Z') ? (uint8_t)(y + 32) : y;
        if (x != y)
            return false;
    }
    return true;
}

/* How many labels, counted from the root, a and b share. */
static int common_labels(const ldns_rdf *a, const ldns_rdf *b)
{
    size_t oa[MAX_LABELS], ob[MAX_LABELS];
    int na = label_offsets(a, oa), nb = label_offsets(b, ob), k = 0;
    if (na < 0 || nb < 0)
        return 0;
    while (k < na && k < nb &&
           label_eq(ldns_rdf_data(a) + oa[na - 1 - k], ldns_rdf_data(b) + ob[nb - 1 - k]))
        k++;
    return k;
}

static int label_count(const ldns_rdf *name)
{
    size_t offs[MAX_LABELS];
    return label_offsets(name, offs);
}

/* The last `labels` labels of name (a new rdf), or NULL. */
static ldns_rdf *name_suffix(const ldns_rdf *name, int labels)
{
    int n = label_count(name);
    if (n < 0 || labels > n || labels < 0)
        return NULL;
    return ldns_dname_clone_from(name, (uint16_t)(n - labels));
}

/* "*." + name, or NULL. */
static ldns_rdf *name_wildcard(const ldns_rdf *name)
{
    ldns_rdf *w = ldns_dname_new_frm_str("*");
    if (w && ldns_dname_cat(w, name) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(w);
        w = NULL;
    }
    return w;
}

/* RFC 4034 section 6.1 order; "covers" is strictly between, with the last
 * record of the chain wrapping round to the apex. */
static bool span_covers(const ldns_rdf *owner, const ldns_rdf *next, const ldns_rdf *name)
{
    int c1 = ldns_dname_compare(owner, name), c2 = ldns_dname_compare(name, next);
    if (ldns_dname_compare(owner, next) < 0)
        return c1 < 0 && c2 < 0;
    return c1 < 0 || c2 < 0; /* wrapped */
}

/* --- Type bitmaps (RFC 4034 section 4.1.2), bounds checked ------------------ */

static bool bitmap_has(const ldns_rdf *bm, uint16_t type)
{
    if (!bm)
        return false;
    const uint8_t *d = ldns_rdf_data(bm);
    size_t n = ldns_rdf_size(bm), off = 0;
    uint8_t win = (uint8_t)(type >> 8), bit = (uint8_t)(type & 0xff);
    while (off + 2 <= n) {
        uint8_t w = d[off], len = d[off + 1];
        if (len == 0 || len > 32 || off + 2 + len > n)
            return false;
        if (w == win)
            return bit / 8 < len && (d[off + 2 + bit / 8] & (0x80 >> (bit % 8)));
        off += 2u + len;
    }
    return false;
}

/* --- Algorithms (RFC 8624) -------------------------------------------------- */

bool val_alg_supported(uint8_t alg)
{
    switch (alg) {
    case LDNS_RSASHA1:         /* 5: MUST validate (RFC 8624 3.1) */
    case LDNS_RSASHA1_NSEC3:   /* 7 */
    case LDNS_RSASHA256:       /* 8 */
    case LDNS_RSASHA512:       /* 10 */
    case LDNS_ECDSAP256SHA256: /* 13 */
    case LDNS_ECDSAP384SHA384: /* 14 */
    case LDNS_ED25519:         /* 15 */
    case LDNS_ED448:           /* 16 */
        return true;
    default: /* 1 RSAMD5, 3/6 DSA, 12 GOST: MUST NOT / MAY; 253/254 private */
        return false;
    }
}

bool val_digest_supported(uint8_t digest)
{
    /* RFC 8624 3.3: SHA-1 MUST (validation), SHA-256 MUST, SHA-384 MAY
     * (ldns has it); GOST (3) and 0 are not. */
    return digest == LDNS_SHA1 || digest == LDNS_SHA256 || digest == LDNS_SHA384;
}

/* --- Field access with bounds ------------------------------------------------ */

static bool rdf_u8(const ldns_rr *rr, size_t i, uint8_t *v)
{
    const ldns_rdf *f = i < ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, i) : NULL;
    if (!f || ldns_rdf_size(f) != 1)
        return false;
    *v = ldns_rdf_data(f)[0];
    return true;
}

static bool rdf_u16(const ldns_rr *rr, size_t i, uint16_t *v)
{
    const ldns_rdf *f = i < ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, i) : NULL;
    if (!f || ldns_rdf_size(f) != 2)
        return false;
    *v = (uint16_t)(ldns_rdf_data(f)[0] << 8 | ldns_rdf_data(f)[1]);
    return true;
}

static bool rdf_u32(const ldns_rr *rr, size_t i, uint32_t *v)
{
    const ldns_rdf *f = i < ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, i) : NULL;
    if (!f || ldns_rdf_size(f) != 4)
        return false;
    const uint8_t *d = ldns_rdf_data(f);
    *v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    return true;
}

/* A usable zone key of zone (RFC 4035 5.3.1: owner is the signer, Zone Key
 * flag set, protocol 3; RFC 5011: not revoked). */
static bool zone_key(const ldns_rr *k, const ldns_rdf *zone)
{
    uint16_t flags;
    uint8_t proto, alg;
    return ldns_rr_get_type(k) == LDNS_RR_TYPE_DNSKEY && ldns_rr_rd_count(k) == 4 &&
           rdf_u16(k, 0, &flags) && rdf_u8(k, 1, &proto) && rdf_u8(k, 2, &alg) &&
           (flags & DNSKEY_FLAG_ZONE) && !(flags & DNSKEY_FLAG_REVOKE) &&
           proto == DNSKEY_PROTOCOL && name_eq(ldns_rr_owner(k), zone) &&
           ldns_rdf_size(ldns_rr_rdf(k, 3)) > 0;
}

static void set_result(struct val_result *out, enum val_status st, uint16_t ede, const char *why)
{
    out->status = st;
    out->ede = ede;
    snprintf(out->why, sizeof(out->why), "%s", why ? why : "");
}

/* --- Lists -------------------------------------------------------------------- */

ldns_rr_list *val_rrset_of(const ldns_rr_list *list, const ldns_rdf *owner, uint16_t type)
{
    ldns_rr_list *out = NULL;
    for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); i++) {
        ldns_rr *rr = ldns_rr_list_rr(list, i);
        if (ldns_rr_get_type(rr) != type || !name_eq(ldns_rr_owner(rr), owner))
            continue;
        if (!out && !(out = ldns_rr_list_new()))
            return NULL;
        ldns_rr_list_push_rr(out, rr);
    }
    return out;
}

static bool sig_covers(const ldns_rr *sig, const ldns_rdf *owner, uint16_t type)
{
    uint16_t covered;
    return ldns_rr_get_type(sig) == LDNS_RR_TYPE_RRSIG && ldns_rr_rd_count(sig) == 9 &&
           rdf_u16(sig, 0, &covered) && covered == type && name_eq(ldns_rr_owner(sig), owner);
}

ldns_rr_list *val_sigs_for(const ldns_rr_list *list, const ldns_rdf *owner, uint16_t type)
{
    ldns_rr_list *out = NULL;
    for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); i++) {
        ldns_rr *rr = ldns_rr_list_rr(list, i);
        if (!sig_covers(rr, owner, type))
            continue;
        if (!out && !(out = ldns_rr_list_new()))
            return NULL;
        ldns_rr_list_push_rr(out, rr);
    }
    return out;
}

const ldns_rdf *val_signer(const ldns_rr_list *sigs, const ldns_rdf *owner, uint16_t type)
{
    for (size_t i = 0; sigs && i < ldns_rr_list_rr_count(sigs); i++) {
        const ldns_rr *s = ldns_rr_list_rr(sigs, i);
        const ldns_rdf *signer = sig_covers(s, owner, type) ? ldns_rr_rdf(s, 7) : NULL;
        if (signer && ldns_rdf_get_type(signer) == LDNS_RDF_TYPE_DNAME)
            return signer;
    }
    return NULL;
}

/* --- Signatures (RFC 4035 section 5.3) ---------------------------------------- */

/* How telling a failure is, to report the best one when every signature
 * fails: a time problem says more than "bogus", which says more than "no
 * key with that tag". */
static int ede_rank(uint16_t ede)
{
    switch (ede) {
    case VAL_EDE_SIG_EXPIRED:
    case VAL_EDE_SIG_NOT_YET_VALID:
        return 3;
    case VAL_EDE_BOGUS:
        return 2;
    default:
        return 1;
    }
}

static uint16_t ede_of_status(ldns_status s, const char **why)
{
    switch (s) {
    case LDNS_STATUS_CRYPTO_SIG_EXPIRED:
        *why = "signature expired";
        return VAL_EDE_SIG_EXPIRED;
    case LDNS_STATUS_CRYPTO_SIG_NOT_INCEPTED:
        *why = "signature not yet valid";
        return VAL_EDE_SIG_NOT_YET_VALID;
    case LDNS_STATUS_CRYPTO_NO_MATCHING_KEYTAG_DNSKEY:
        *why = "no DNSKEY matches the RRSIG";
        return VAL_EDE_DNSKEY_MISSING;
    default:
        *why = "signature does not verify";
        return VAL_EDE_BOGUS;
    }
}

void val_verify_rrset(const ldns_rr_list *rrset, const ldns_rr_list *sigs, const ldns_rdf *zone,
                      const ldns_rr_list *keys, time_t now, struct val_result *out)
{
    memset(out, 0, sizeof(*out));
    set_result(out, VAL_BOGUS, VAL_EDE_BOGUS, "empty RRset");
    size_t n = rrset ? ldns_rr_list_rr_count(rrset) : 0;
    if (n == 0 || !zone)
        return;
    const ldns_rr *first = ldns_rr_list_rr(rrset, 0);
    const ldns_rdf *owner = ldns_rr_owner(first);
    uint16_t type = (uint16_t)ldns_rr_get_type(first);
    int owner_labels = label_count(owner);
    uint32_t ttl = ldns_rr_ttl(first);
    for (size_t i = 1; i < n; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(rrset, i);
        if (ldns_rr_get_type(rr) != type || !name_eq(ldns_rr_owner(rr), owner) ||
            ldns_rr_get_class(rr) != ldns_rr_get_class(first)) {
            set_result(out, VAL_BOGUS, VAL_EDE_BOGUS, "not one RRset");
            return;
        }
        if (ldns_rr_ttl(rr) < ttl)
            ttl = ldns_rr_ttl(rr);
    }
    if (owner_labels < 0 || !name_at_or_below(owner, zone)) {
        set_result(out, VAL_BOGUS, VAL_EDE_BOGUS, "RRset outside the signer's zone");
        return;
    }
    ldns_rr_list *usable = ldns_rr_list_new(), *good = ldns_rr_list_new();
    if (!usable || !good) {
        set_result(out, VAL_BOGUS, VAL_EDE_OTHER, "out of memory");
        goto done;
    }
    for (size_t i = 0; keys && i < ldns_rr_list_rr_count(keys) && i < VAL_MAX_KEYS; i++) {
        ldns_rr *k = ldns_rr_list_rr(keys, i);
        uint8_t alg;
        if (zone_key(k, zone) && rdf_u8(k, 2, &alg) && val_alg_supported(alg))
            ldns_rr_list_push_rr(usable, k);
    }
    uint16_t best = VAL_EDE_RRSIGS_MISSING;
    const char *best_why = "no RRSIG covers the RRset";
    size_t tried = 0;
    for (size_t i = 0; sigs && i < ldns_rr_list_rr_count(sigs) && tried < VAL_MAX_SIGS; i++) {
        ldns_rr *sig = ldns_rr_list_rr(sigs, i);
        uint8_t alg, labels;
        uint32_t orig_ttl, expiry;
        if (!sig_covers(sig, owner, type) || ldns_rr_get_class(sig) != ldns_rr_get_class(first))
            continue;
        const ldns_rdf *signer = ldns_rr_rdf(sig, 7);
        if (!rdf_u8(sig, 1, &alg) || !rdf_u8(sig, 2, &labels) || !rdf_u32(sig, 3, &orig_ttl) ||
            !rdf_u32(sig, 4, &expiry) || ldns_rdf_get_type(signer) != LDNS_RDF_TYPE_DNAME)
            continue;
        if (best == VAL_EDE_RRSIGS_MISSING) {
            best = VAL_EDE_DNSKEY_MISSING;
            best_why = "no usable DNSKEY for the RRSIG";
        }
        /* RFC 4035 5.3.1: signer is the zone; Labels not above the owner's
         * (a "*" label does not count, RFC 4034 3.1.3). */
        if (!name_eq(signer, zone) || labels > owner_labels || !val_alg_supported(alg))
            continue;
        tried++;
        ldns_status s = ldns_verify_rrsig_keylist_time(rrset, sig, usable, now, good);
        if (s == LDNS_STATUS_OK) {
            /* RFC 4035 5.3.3: no longer than the original TTL, nor past the
             * signature's expiry (serial arithmetic, RFC 4034 3.1.5). */
            uint32_t left = expiry - (uint32_t)now;
            if (orig_ttl < ttl)
                ttl = orig_ttl;
            if (left < ttl && left <= 0x7fffffffu)
                ttl = left;
            out->labels = labels;
            out->ttl = ttl;
            set_result(out, VAL_SECURE, VAL_EDE_NONE, "");
            goto done;
        }
        const char *why;
        uint16_t ede = ede_of_status(s, &why);
        if (ede_rank(ede) >= ede_rank(best)) {
            best = ede;
            best_why = why;
        }
    }
    set_result(out, VAL_BOGUS, best, best_why);
done:
    ldns_rr_list_free(usable);
    ldns_rr_list_free(good);
}

/* --- DNSKEY against DS or anchors (RFC 4035 section 5.2) --------------------- */

static bool anchor_supported(const ldns_rr *a, uint16_t *ede)
{
    uint8_t alg, digest;
    if (ldns_rr_get_type(a) == LDNS_RR_TYPE_DS) {
        if (ldns_rr_rd_count(a) != 4 || !rdf_u8(a, 1, &alg) || !rdf_u8(a, 2, &digest))
            return false;
        if (!val_alg_supported(alg)) {
            *ede = VAL_EDE_UNSUPPORTED_DNSKEY_ALG;
            return false;
        }
        if (!val_digest_supported(digest)) {
            if (*ede == VAL_EDE_NONE)
                *ede = VAL_EDE_UNSUPPORTED_DS_DIGEST;
            return false;
        }
        return true;
    }
    if (ldns_rr_get_type(a) == LDNS_RR_TYPE_DNSKEY) {
        if (ldns_rr_rd_count(a) != 4 || !rdf_u8(a, 2, &alg))
            return false;
        if (!val_alg_supported(alg)) {
            *ede = VAL_EDE_UNSUPPORTED_DNSKEY_ALG;
            return false;
        }
        return true;
    }
    return false;
}

static bool key_matches_anchor(const ldns_rr *key, const ldns_rr *a)
{
    uint8_t kalg, aalg, digest;
    if (!rdf_u8(key, 2, &kalg))
        return false;
    if (ldns_rr_get_type(a) == LDNS_RR_TYPE_DNSKEY) {
        for (size_t i = 0; i < 4; i++)
            if (ldns_rdf_compare(ldns_rr_rdf(key, i), ldns_rr_rdf(a, i)) != 0)
                return false;
        return true;
    }
    uint16_t tag;
    if (!rdf_u16(a, 0, &tag) || !rdf_u8(a, 1, &aalg) || !rdf_u8(a, 2, &digest) || aalg != kalg ||
        ldns_calc_keytag(key) != tag)
        return false;
    ldns_rr *ds = ldns_key_rr2ds(key, (ldns_hash)digest);
    bool eq = ds && ldns_rr_rd_count(ds) == 4 &&
              ldns_rdf_compare(ldns_rr_rdf(ds, 3), ldns_rr_rdf(a, 3)) == 0;
    ldns_rr_free(ds);
    return eq;
}

void val_verify_dnskeys(const ldns_rr_list *dnskeys, const ldns_rr_list *sigs,
                        const ldns_rr_list *anchors, const ldns_rdf *zone, time_t now,
                        struct val_result *out)
{
    memset(out, 0, sizeof(*out));
    uint16_t unsupported = VAL_EDE_NONE;
    size_t nsupported = 0;
    for (size_t i = 0; anchors && i < ldns_rr_list_rr_count(anchors); i++)
        if (anchor_supported(ldns_rr_list_rr(anchors, i), &unsupported))
            nsupported++;
    if (nsupported == 0) {
        /* RFC 4035 5.2: no DS we can use means an insecure zone. */
        set_result(out, VAL_INSECURE, unsupported == VAL_EDE_NONE ? VAL_EDE_OTHER : unsupported,
                   "no supported DS algorithm or digest");
        return;
    }
    ldns_rr_list *matched = ldns_rr_list_new();
    if (!matched) {
        set_result(out, VAL_BOGUS, VAL_EDE_OTHER, "out of memory");
        return;
    }
    for (size_t i = 0; dnskeys && i < ldns_rr_list_rr_count(dnskeys) && i < VAL_MAX_KEYS; i++) {
        ldns_rr *k = ldns_rr_list_rr(dnskeys, i);
        if (!zone_key(k, zone))
            continue;
        for (size_t j = 0; j < ldns_rr_list_rr_count(anchors); j++) {
            const ldns_rr *a = ldns_rr_list_rr(anchors, j);
            uint16_t ignore = VAL_EDE_NONE;
            if (anchor_supported(a, &ignore) && name_eq(ldns_rr_owner(a), zone) &&
                key_matches_anchor(k, a)) {
                ldns_rr_list_push_rr(matched, k);
                break;
            }
        }
    }
    if (ldns_rr_list_rr_count(matched) == 0) {
        set_result(out, VAL_BOGUS, VAL_EDE_DNSKEY_MISSING, "no DNSKEY matches the DS");
    } else {
        /* The set must be signed by a key the parent vouches for. */
        val_verify_rrset(dnskeys, sigs, zone, matched, now, out);
        if (out->status == VAL_BOGUS && out->ede == VAL_EDE_RRSIGS_MISSING)
            snprintf(out->why, sizeof(out->why), "DNSKEY set not signed by a DS key");
    }
    ldns_rr_list_free(matched);
}

/* --- NSEC (RFC 4035 section 5.4, RFC 6840 section 4) ------------------------- */

static const ldns_rdf *nsec_next(const ldns_rr *rr)
{
    const ldns_rdf *n = ldns_rr_rd_count(rr) >= 1 ? ldns_rr_rdf(rr, 0) : NULL;
    return n && ldns_rdf_get_type(n) == LDNS_RDF_TYPE_DNAME ? n : NULL;
}

static const ldns_rdf *nsec_bitmap(const ldns_rr *rr)
{
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NSEC)
        return ldns_rr_rd_count(rr) >= 2 ? ldns_rr_rdf(rr, 1) : NULL;
    return ldns_rr_rd_count(rr) >= 6 ? ldns_rr_rdf(rr, 5) : NULL;
}

static bool rr_has(const ldns_rr *rr, uint16_t type)
{
    return bitmap_has(nsec_bitmap(rr), type);
}

/* RFC 6840 4.1: an NSEC at a proper ancestor of name that is a delegation
 * (NS without SOA) or a DNAME says nothing about names below it. */
static bool nsec_usable_below(const ldns_rr *rr, const ldns_rdf *name)
{
    if (!ldns_dname_is_subdomain(name, ldns_rr_owner(rr)))
        return true;
    if (rr_has(rr, LDNS_RR_TYPE_DNAME))
        return false;
    return !(rr_has(rr, LDNS_RR_TYPE_NS) && !rr_has(rr, LDNS_RR_TYPE_SOA));
}

static const ldns_rr *nsec_covering(const ldns_rr_list *nsecs, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(nsecs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(nsecs, i);
        const ldns_rdf *next = nsec_next(rr);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NSEC && next &&
            span_covers(ldns_rr_owner(rr), next, name) && nsec_usable_below(rr, name))
            return rr;
    }
    return NULL;
}

static const ldns_rr *nsec_matching(const ldns_rr_list *nsecs, const ldns_rdf *name)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(nsecs); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(nsecs, i);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NSEC && nsec_next(rr) &&
            name_eq(ldns_rr_owner(rr), name))
            return rr;
    }
    return NULL;
}

/* The closest encloser shown by an NSEC covering name: the deepest
 * ancestor of name that is also an ancestor of (or equal to) the owner or
 * the next name, both of which exist. */
static int nsec_ce_labels(const ldns_rr *cover, const ldns_rdf *name)
{
    int a = common_labels(name, ldns_rr_owner(cover)), b = common_labels(name, nsec_next(cover));
    return a > b ? a : b;
}

/* A NODATA proof at an existing name: no qtype, no CNAME (RFC 4035 3.1.3.1).
 * For other types than DS, an NSEC from the parent side of a delegation
 * proves nothing about the child (RFC 6840 4.4). */
static bool nodata_at(const ldns_rr *rr, uint16_t qtype)
{
    if (rr_has(rr, qtype) || rr_has(rr, LDNS_RR_TYPE_CNAME))
        return false;
    if (qtype == LDNS_RR_TYPE_DS)
        return !rr_has(rr, LDNS_RR_TYPE_SOA); /* the child's apex NSEC is no DS proof */
    return !(rr_has(rr, LDNS_RR_TYPE_NS) && !rr_has(rr, LDNS_RR_TYPE_SOA));
}

static void nsec_denial(enum val_denial_kind kind, const ldns_rdf *qname, uint16_t qtype,
                        const ldns_rr_list *nsecs, unsigned ce_labels, struct val_denial *out)
{
    const ldns_rr *m, *cover;
    if (kind == VAL_DENY_WILDCARD) {
        /* RFC 4035 5.3.4: qname does not exist and no name between it and
         * the wildcard's parent does either. */
        cover = nsec_covering(nsecs, qname);
        out->proven = cover && nsec_ce_labels(cover, qname) <= (int)ce_labels;
        return;
    }
    if (kind == VAL_DENY_NODATA && (m = nsec_matching(nsecs, qname))) {
        out->proven = nodata_at(m, qtype);
        if (out->proven && qtype == LDNS_RR_TYPE_DS) {
            out->delegation = rr_has(m, LDNS_RR_TYPE_NS);
            out->not_cut = !out->delegation;
        }
        return;
    }
    cover = nsec_covering(nsecs, qname);
    if (!cover)
        return;
    const ldns_rdf *next = nsec_next(cover);
    if (kind == VAL_DENY_NODATA && ldns_dname_is_subdomain(next, qname)) {
        /* An empty non-terminal: it exists with no types (RFC 5155 7.2.3
         * says the same for NSEC3); no zone cut there. */
        out->proven = true;
        out->not_cut = qtype == LDNS_RR_TYPE_DS;
        return;
    }
    int ce = nsec_ce_labels(cover, qname);
    ldns_rdf *cen = name_suffix(qname, ce);
    ldns_rdf *wc = cen ? name_wildcard(cen) : NULL;
    if (wc) {
        if (kind == VAL_DENY_NXDOMAIN) {
            /* RFC 4035 3.1.3.2: and no wildcard could have matched. */
            out->proven = nsec_covering(nsecs, wc) != NULL;
        } else {
            /* RFC 4035 3.1.3.4: the wildcard matches, without the type. */
            const ldns_rr *w = nsec_matching(nsecs, wc);
            out->proven = w && nodata_at(w, qtype);
        }
    }
    ldns_rdf_deep_free(cen);
    ldns_rdf_deep_free(wc);
}

/* --- NSEC3 (RFC 5155 section 8) ---------------------------------------------- */

struct n3 {
    const ldns_rr_list *all; /* NSEC3 records usable for hashing */
    const ldns_rdf *zone;
    const ldns_rr *params; /* the record whose parameters hash names */
};

/* RFC 5155 8.2: records of a known hash algorithm whose owner is a hash
 * label directly below the zone.  Parameters must agree (RFC 5155 7.2: one
 * set per zone). */
static bool n3_usable(const ldns_rr *rr, const ldns_rdf *zone)
{
    uint8_t alg, flags, saltlen;
    uint16_t iter;
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NSEC3 || ldns_rr_rd_count(rr) < 5 ||
        !rdf_u8(rr, 0, &alg) || !rdf_u8(rr, 1, &flags) || !rdf_u16(rr, 2, &iter))
        return false;
    const ldns_rdf *salt = ldns_rr_rdf(rr, 3), *next = ldns_rr_rdf(rr, 4);
    if (ldns_rdf_size(salt) < 1 || (saltlen = ldns_rdf_data(salt)[0]) + 1u != ldns_rdf_size(salt))
        return false;
    if (ldns_rdf_size(next) < 2 || ldns_rdf_data(next)[0] + 1u != ldns_rdf_size(next) ||
        ldns_rdf_data(next)[0] > 64)
        return false;
    ldns_rdf *parent = ldns_dname_left_chop(ldns_rr_owner(rr));
    bool ok = parent && name_eq(parent, zone);
    ldns_rdf_deep_free(parent);
    return ok;
}

bool val_nsec3_hashable(const ldns_rr *rr, const ldns_rdf *zone)
{
    uint8_t alg;
    uint16_t iter;
    return n3_usable(rr, zone) && rdf_u8(rr, 0, &alg) && alg == NSEC3_HASH_SHA1 &&
           rdf_u16(rr, 2, &iter) && iter <= VAL_NSEC3_MAX_ITERATIONS;
}

bool val_nsec3_same_params(const ldns_rr *a, const ldns_rr *b)
{
    for (size_t i = 0; i < 4; i++)
        if (i != 1 && ldns_rdf_compare(ldns_rr_rdf(a, i), ldns_rr_rdf(b, i)) != 0)
            return false;
    return true;
}

ldns_rdf *val_nsec3_hash(const ldns_rr *params, const ldns_rdf *zone, const ldns_rdf *name)
{
    ldns_rdf *canon = ldns_rdf_clone(name);
    if (!canon)
        return NULL;
    ldns_dname2canonical(canon);
    const ldns_rdf *salt = ldns_rr_rdf(params, 3);
    uint8_t alg = ldns_rdf_data(ldns_rr_rdf(params, 0))[0];
    uint16_t iter = (uint16_t)(ldns_rdf_data(ldns_rr_rdf(params, 2))[0] << 8 |
                               ldns_rdf_data(ldns_rr_rdf(params, 2))[1]);
    ldns_rdf *h =
        ldns_nsec3_hash_name(canon, alg, iter, ldns_rdf_data(salt)[0], ldns_rdf_data(salt) + 1);
    ldns_rdf_deep_free(canon);
    if (h && ldns_dname_cat(h, zone) != LDNS_STATUS_OK) {
        ldns_rdf_deep_free(h);
        h = NULL;
    }
    return h;
}

/* The hashed owner name H(name).zone, or NULL. */
static ldns_rdf *n3_hash(const struct n3 *s, const ldns_rdf *name)
{
    return val_nsec3_hash(s->params, s->zone, name);
}

/* The next hashed owner of rr as a name below the zone, or NULL. */
static ldns_rdf *n3_next(const struct n3 *s, const ldns_rr *rr)
{
    static const char b32[] = "0123456789abcdefghijklmnopqrstuv"; /* base32hex, RFC 4648 7 */
    const ldns_rdf *next = ldns_rr_rdf(rr, 4);
    const uint8_t *d = ldns_rdf_data(next) + 1;
    size_t n = ldns_rdf_data(next)[0], o = 0;
    uint8_t label[1 + 110];
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | d[i];
        bits += 8;
        while (bits >= 5 && o < 103) {
            label[1 + o++] = (uint8_t)b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0 && o < 103)
        label[1 + o++] = (uint8_t)b32[(acc << (5 - bits)) & 31];
    if (o == 0 || o > 63)
        return NULL;
    label[0] = (uint8_t)o;
    size_t zl = ldns_rdf_size(s->zone);
    uint8_t wire[256];
    if (1 + o + zl > 255)
        return NULL;
    memcpy(wire, label, 1 + o);
    memcpy(wire + 1 + o, ldns_rdf_data(s->zone), zl);
    return ldns_dname_new_frm_data((uint16_t)(1 + o + zl), wire);
}

static const ldns_rr *n3_match(const struct n3 *s, const ldns_rdf *name)
{
    ldns_rdf *h = n3_hash(s, name);
    const ldns_rr *found = NULL;
    for (size_t i = 0; h && !found && i < ldns_rr_list_rr_count(s->all); i++)
        if (name_eq(ldns_rr_owner(ldns_rr_list_rr(s->all, i)), h))
            found = ldns_rr_list_rr(s->all, i);
    ldns_rdf_deep_free(h);
    return found;
}

static const ldns_rr *n3_cover(const struct n3 *s, const ldns_rdf *name)
{
    ldns_rdf *h = n3_hash(s, name);
    const ldns_rr *found = NULL;
    for (size_t i = 0; h && !found && i < ldns_rr_list_rr_count(s->all); i++) {
        const ldns_rr *rr = ldns_rr_list_rr(s->all, i);
        ldns_rdf *next = n3_next(s, rr);
        if (next && span_covers(ldns_rr_owner(rr), next, h))
            found = rr;
        ldns_rdf_deep_free(next);
    }
    ldns_rdf_deep_free(h);
    return found;
}

static bool n3_optout(const ldns_rr *rr)
{
    uint8_t flags;
    return rdf_u8(rr, 1, &flags) && (flags & NSEC3_FLAG_OPTOUT);
}

/* RFC 5155 8.3: the closest encloser proof.  Returns CE's label count (and
 * the record covering the next closer name), or -1. */
static int n3_closest_encloser(const struct n3 *s, const ldns_rdf *qname, const ldns_rr **nc_cover)
{
    int qlabels = label_count(qname), zlabels = label_count(s->zone);
    for (int l = qlabels - 1; l >= zlabels && l >= 0; l--) {
        ldns_rdf *ce = name_suffix(qname, l);
        const ldns_rr *m = ce ? n3_match(s, ce) : NULL;
        ldns_rdf_deep_free(ce);
        if (!m)
            continue;
        /* RFC 5155 8.3: not a delegation point seen from the parent, no DNAME. */
        if (rr_has(m, LDNS_RR_TYPE_DNAME) ||
            (rr_has(m, LDNS_RR_TYPE_NS) && !rr_has(m, LDNS_RR_TYPE_SOA)))
            return -1;
        ldns_rdf *nc = name_suffix(qname, l + 1);
        *nc_cover = nc ? n3_cover(s, nc) : NULL;
        ldns_rdf_deep_free(nc);
        return *nc_cover ? l : -1;
    }
    return -1;
}

static void nsec3_denial(enum val_denial_kind kind, const ldns_rdf *qname, uint16_t qtype,
                         const ldns_rdf *zone, const ldns_rr_list *nsecs, unsigned ce_labels,
                         struct val_denial *out)
{
    ldns_rr_list *usable = ldns_rr_list_new();
    struct n3 s = {.all = usable, .zone = zone};
    bool skipped = false;
    if (!usable)
        return;
    for (size_t i = 0; i < ldns_rr_list_rr_count(nsecs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(nsecs, i);
        uint8_t alg;
        uint16_t iter;
        if (!n3_usable(rr, zone))
            continue;
        rdf_u8(rr, 0, &alg);
        rdf_u16(rr, 2, &iter);
        if (alg != NSEC3_HASH_SHA1 || iter > VAL_NSEC3_MAX_ITERATIONS) {
            skipped = true; /* RFC 5155 8.1, RFC 9276 3.2 */
            continue;
        }
        if (s.params && !val_nsec3_same_params(s.params, rr))
            continue;
        s.params = s.params ? s.params : rr;
        ldns_rr_list_push_rr(usable, rr);
    }
    if (!s.params) {
        out->insecure = skipped;
        goto done;
    }
    const ldns_rr *m, *cover = NULL;
    if (kind == VAL_DENY_WILDCARD) {
        /* RFC 5155 8.8: the next closer name is covered. */
        ldns_rdf *nc = name_suffix(qname, (int)ce_labels + 1);
        out->proven = nc && n3_cover(&s, nc) != NULL;
        ldns_rdf_deep_free(nc);
        goto done;
    }
    if (kind == VAL_DENY_NODATA && (m = n3_match(&s, qname))) {
        /* RFC 5155 8.5, 8.6 */
        out->proven = nodata_at(m, qtype);
        if (out->proven && qtype == LDNS_RR_TYPE_DS) {
            out->delegation = rr_has(m, LDNS_RR_TYPE_NS);
            out->not_cut = !out->delegation;
        }
        goto done;
    }
    int ce = n3_closest_encloser(&s, qname, &cover);
    if (ce < 0)
        goto done;
    if (kind == VAL_DENY_NODATA && qtype == LDNS_RR_TYPE_DS) {
        /* RFC 5155 8.6: no match, but the next closer is covered by an
         * opt-out span: an unsigned delegation may be there. */
        out->proven = out->delegation = n3_optout(cover);
        goto done;
    }
    ldns_rdf *cen = name_suffix(qname, ce);
    ldns_rdf *wc = cen ? name_wildcard(cen) : NULL;
    if (wc && kind == VAL_DENY_NXDOMAIN) {
        /* RFC 5155 8.4; with opt-out the name may exist unsigned (RFC 5155
         * 9.2: such an answer is not secure). */
        out->proven = n3_cover(&s, wc) != NULL;
        out->insecure = out->proven && n3_optout(cover);
    } else if (wc) {
        /* RFC 5155 8.7: wildcard NODATA. */
        const ldns_rr *w = n3_match(&s, wc);
        out->proven = w && nodata_at(w, qtype);
    }
    ldns_rdf_deep_free(cen);
    ldns_rdf_deep_free(wc);
done:
    ldns_rr_list_free(usable);
}

void val_check_denial(enum val_denial_kind kind, const ldns_rdf *qname, uint16_t qtype,
                      const ldns_rdf *zone, const ldns_rr_list *nsecs, unsigned ce_labels,
                      struct val_denial *out)
{
    memset(out, 0, sizeof(*out));
    if (!qname || !zone || !nsecs || !name_at_or_below(qname, zone) || label_count(qname) < 0)
        return;
    bool have_nsec = false, have_nsec3 = false;
    for (size_t i = 0; i < ldns_rr_list_rr_count(nsecs); i++) {
        ldns_rr_type t = ldns_rr_get_type(ldns_rr_list_rr(nsecs, i));
        have_nsec |= t == LDNS_RR_TYPE_NSEC;
        have_nsec3 |= t == LDNS_RR_TYPE_NSEC3;
    }
    if (have_nsec)
        nsec_denial(kind, qname, qtype, nsecs, ce_labels, out);
    if (!out->proven && have_nsec3)
        nsec3_denial(kind, qname, qtype, zone, nsecs, ce_labels, out);
}
