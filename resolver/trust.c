/*
 * trust.c - trust anchors and negative trust anchors (see trust.h).
 *
 * Files are read whole (bounded by TRUST_MAX_FILE) and parsed one record at
 * a time with ldns_rr_new_frm_fp_l, which handles $ORIGIN/$TTL, comments
 * and parentheses.  Only DS and DNSKEY records of class IN are accepted;
 * anything else is an error naming the line, so a typo cannot silently
 * leave a zone without its anchor.
 *
 * Not here: validation (validator.c), RFC 5011 key rollover tracking.
 */
#include "trust.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct trust_anchors {
    struct trust_anchor anchors[TRUST_MAX_ANCHORS];
    size_t n;
    ldns_rdf **nta;
    size_t nnta;
};

/* IANA root anchors (https://data.iana.org/root-anchors/root-anchors.xml). */
static const char *const builtin_root[] = {
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
};

static bool name_eq(const ldns_rdf *a, const ldns_rdf *b)
{
    return a && b && ldns_dname_compare(a, b) == 0;
}

static bool at_or_below(const ldns_rdf *name, const ldns_rdf *zone)
{
    return name_eq(name, zone) || ldns_dname_is_subdomain(name, zone);
}

static struct trust_anchor *anchor_for(struct trust_anchors *t, const ldns_rdf *zone, bool create)
{
    for (size_t i = 0; i < t->n; i++)
        if (name_eq(t->anchors[i].zone, zone))
            return &t->anchors[i];
    if (!create || t->n >= TRUST_MAX_ANCHORS)
        return NULL;
    struct trust_anchor *a = &t->anchors[t->n];
    a->zone = ldns_rdf_clone(zone);
    a->rrs = ldns_rr_list_new();
    if (!a->zone || !a->rrs) {
        ldns_rdf_deep_free(a->zone);
        ldns_rr_list_free(a->rrs);
        a->zone = NULL;
        a->rrs = NULL;
        return NULL;
    }
    ldns_dname2canonical(a->zone);
    t->n++;
    return a;
}

/* Adds rr (taken) to its zone's anchor.  -ENOSPC when full. */
static int anchor_add(struct trust_anchors *t, ldns_rr *rr)
{
    struct trust_anchor *a = anchor_for(t, ldns_rr_owner(rr), true);
    if (!a)
        return -ENOSPC;
    if (ldns_rr_list_rr_count(a->rrs) >= TRUST_MAX_RRS)
        return -ENOSPC;
    ldns_rr2canonical(rr);
    return ldns_rr_list_push_rr(a->rrs, rr) ? 0 : -ENOMEM;
}

static int load_file(struct trust_anchors *t, const char *path, bool *seen_zone_root, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open trust anchor file: %s", path, strerror(e));
        return -e;
    }
    int rc = 0, line = 1, count = 0;
    uint32_t ttl = 3600;
    ldns_rdf *origin = ldns_dname_new_frm_str("."), *prev = NULL;
    /* Bounded: the file size, then the record count. */
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > TRUST_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, TRUST_MAX_FILE);
        rc = -EFBIG;
        goto out;
    }
    rewind(f);
    while (!feof(f) && rc == 0) {
        ldns_rr *rr = NULL;
        ldns_status s = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
        if (s == LDNS_STATUS_SYNTAX_EMPTY || s == LDNS_STATUS_SYNTAX_TTL ||
            s == LDNS_STATUS_SYNTAX_ORIGIN || s == LDNS_STATUS_SYNTAX_INCLUDE)
            continue;
        if (s != LDNS_STATUS_OK) {
            snprintf(err, errlen, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(s));
            rc = -EINVAL;
            break;
        }
        ldns_rr_type type = ldns_rr_get_type(rr);
        if ((type != LDNS_RR_TYPE_DS && type != LDNS_RR_TYPE_DNSKEY) ||
            ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rr_rd_count(rr) != 4) {
            snprintf(err, errlen, "%s:%d: expected a DS or DNSKEY record of class IN", path, line);
            ldns_rr_free(rr);
            rc = -EINVAL;
            break;
        }
        if (++count > TRUST_MAX_RRS) {
            snprintf(err, errlen, "%s:%d: more than %d records", path, line, TRUST_MAX_RRS);
            ldns_rr_free(rr);
            rc = -EINVAL;
            break;
        }
        if (ldns_dname_label_count(ldns_rr_owner(rr)) == 0)
            *seen_zone_root = true;
        if ((rc = anchor_add(t, rr)) < 0) {
            snprintf(err, errlen, "%s:%d: too many anchored zones", path, line);
            ldns_rr_free(rr);
        }
    }
    if (rc == 0 && count == 0) {
        snprintf(err, errlen, "%s: no DS or DNSKEY records", path);
        rc = -EINVAL;
    }
out:
    ldns_rdf_deep_free(origin);
    ldns_rdf_deep_free(prev);
    fclose(f);
    return rc;
}

int trust_load(char *const *files, size_t nfiles, const struct config_name *nta, size_t nnta,
               struct trust_anchors **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    *out = NULL;
    struct trust_anchors *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    bool root_from_file = false;
    int rc = 0;
    for (size_t i = 0; i < nfiles && rc == 0; i++)
        rc = load_file(t, files[i], &root_from_file, err, errlen);
    for (size_t i = 0;
         rc == 0 && !root_from_file && i < sizeof(builtin_root) / sizeof(*builtin_root); i++) {
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, builtin_root[i], 172800, NULL, NULL) != LDNS_STATUS_OK)
            rc = -EINVAL;
        else if ((rc = anchor_add(t, rr)) < 0)
            ldns_rr_free(rr);
    }
    if (rc == 0 && nnta) {
        if (!(t->nta = calloc(nnta, sizeof(*t->nta))))
            rc = -ENOMEM;
        for (size_t i = 0; rc == 0 && i < nnta; i++) {
            t->nta[i] = ldns_dname_new_frm_data((uint16_t)nta[i].len, nta[i].wire);
            if (!t->nta[i])
                rc = -ENOMEM;
            else
                ldns_dname2canonical(t->nta[i]);
            t->nnta = i + 1;
        }
    }
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "trust anchors: %s", strerror(-rc));
        trust_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void trust_free(struct trust_anchors *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        ldns_rdf_deep_free(t->anchors[i].zone);
        ldns_rr_list_deep_free(t->anchors[i].rrs);
    }
    for (size_t i = 0; i < t->nnta; i++)
        ldns_rdf_deep_free(t->nta[i]);
    free(t->nta);
    free(t);
}

const struct trust_anchor *trust_find(const struct trust_anchors *t, const ldns_rdf *name)
{
    const struct trust_anchor *best = NULL;
    for (size_t i = 0; t && name && i < t->n; i++) {
        const struct trust_anchor *a = &t->anchors[i];
        if (at_or_below(name, a->zone) &&
            (!best || ldns_dname_label_count(a->zone) > ldns_dname_label_count(best->zone)))
            best = a;
    }
    return best;
}

bool trust_nta(const struct trust_anchors *t, const ldns_rdf *name)
{
    for (size_t i = 0; t && name && i < t->nnta; i++)
        if (at_or_below(name, t->nta[i]))
            return true;
    return false;
}

size_t trust_count(const struct trust_anchors *t)
{
    return t ? t->n : 0;
}
