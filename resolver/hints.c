/*
 * hints.c - root hints: where iteration starts before priming (RFC 8109).
 *
 * Reads a zone file of ". NS name" records and the A/AAAA records of those
 * names (the "named.root" format IANA publishes), or the built-in copy below.
 * Records are read one at a time with ldns_rr_new_frm_fp_l (the parser behind
 * ldns_zone_new_frm_fp) so every error names its line: "FILE:LINE: message".
 * Records of other types, and addresses of names that are not root servers,
 * are ignored; every NS must have at least one address.
 *
 * Not here: priming itself (iterator.c) and choosing among the addresses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hints.h"

/* The IANA root hints (named.root, "last update: April 18, 2024", root zone
 * 2024041801): https://www.internic.net/domain/named.root */
static const char hints_builtin[] = "; IANA root hints, built into gatehoused\n"
                                    ".                    3600000 NS   a.root-servers.net.\n"
                                    "a.root-servers.net.  3600000 A    198.41.0.4\n"
                                    "a.root-servers.net.  3600000 AAAA 2001:503:ba3e::2:30\n"
                                    ".                    3600000 NS   b.root-servers.net.\n"
                                    "b.root-servers.net.  3600000 A    170.247.170.2\n"
                                    "b.root-servers.net.  3600000 AAAA 2801:1b8:10::b\n"
                                    ".                    3600000 NS   c.root-servers.net.\n"
                                    "c.root-servers.net.  3600000 A    192.33.4.12\n"
                                    "c.root-servers.net.  3600000 AAAA 2001:500:2::c\n"
                                    ".                    3600000 NS   d.root-servers.net.\n"
                                    "d.root-servers.net.  3600000 A    199.7.91.13\n"
                                    "d.root-servers.net.  3600000 AAAA 2001:500:2d::d\n"
                                    ".                    3600000 NS   e.root-servers.net.\n"
                                    "e.root-servers.net.  3600000 A    192.203.230.10\n"
                                    "e.root-servers.net.  3600000 AAAA 2001:500:a8::e\n"
                                    ".                    3600000 NS   f.root-servers.net.\n"
                                    "f.root-servers.net.  3600000 A    192.5.5.241\n"
                                    "f.root-servers.net.  3600000 AAAA 2001:500:2f::f\n"
                                    ".                    3600000 NS   g.root-servers.net.\n"
                                    "g.root-servers.net.  3600000 A    192.112.36.4\n"
                                    "g.root-servers.net.  3600000 AAAA 2001:500:12::d0d\n"
                                    ".                    3600000 NS   h.root-servers.net.\n"
                                    "h.root-servers.net.  3600000 A    198.97.190.53\n"
                                    "h.root-servers.net.  3600000 AAAA 2001:500:1::53\n"
                                    ".                    3600000 NS   i.root-servers.net.\n"
                                    "i.root-servers.net.  3600000 A    192.36.148.17\n"
                                    "i.root-servers.net.  3600000 AAAA 2001:7fe::53\n"
                                    ".                    3600000 NS   j.root-servers.net.\n"
                                    "j.root-servers.net.  3600000 A    192.58.128.30\n"
                                    "j.root-servers.net.  3600000 AAAA 2001:503:c27::2:30\n"
                                    ".                    3600000 NS   k.root-servers.net.\n"
                                    "k.root-servers.net.  3600000 A    193.0.14.129\n"
                                    "k.root-servers.net.  3600000 AAAA 2001:7fd::1\n"
                                    ".                    3600000 NS   l.root-servers.net.\n"
                                    "l.root-servers.net.  3600000 A    199.7.83.42\n"
                                    "l.root-servers.net.  3600000 AAAA 2001:500:9f::42\n"
                                    ".                    3600000 NS   m.root-servers.net.\n"
                                    "m.root-servers.net.  3600000 A    202.12.27.33\n"
                                    "m.root-servers.net.  3600000 AAAA 2001:dc3::35\n";

#define HINTS_MAX_RECORDS 1024 /* a hints file is ~40 records */

static void hints_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void hints_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    int n = snprintf(err, errlen, "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

void hints_free(struct hints *h)
{
    if (!h)
        return;
    ldns_rr_list_deep_free(h->ns);
    ldns_rr_list_deep_free(h->addrs);
    free(h);
}

/* Reads every record of fp into *out (caller frees with
 * ldns_rr_list_deep_free), remembering each record's line in lines[].
 * 0 or -EINVAL with the message in err. */
static int hints_read(FILE *fp, const char *file, ldns_rr_list *out, int *lines, int *last_line,
                      char *err, size_t errlen)
{
    uint32_t ttl = 3600;
    ldns_rdf *origin = ldns_dname_new_frm_str(".");
    ldns_rdf *prev = NULL;
    int line = 1, rc = 0;
    if (!origin)
        return -ENOMEM;
    while (!feof(fp)) {
        ldns_rr *rr = NULL;
        int start = line;
        ldns_status s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line);
        if (s == LDNS_STATUS_SYNTAX_EMPTY || s == LDNS_STATUS_SYNTAX_TTL ||
            s == LDNS_STATUS_SYNTAX_ORIGIN)
            continue;
        if (s != LDNS_STATUS_OK) {
            hints_err(err, errlen, file, start, "%s", ldns_get_errorstr_by_id(s));
            rc = -EINVAL;
            break;
        }
        if (ldns_rr_list_rr_count(out) >= HINTS_MAX_RECORDS) {
            ldns_rr_free(rr);
            hints_err(err, errlen, file, start, "more than %d records", HINTS_MAX_RECORDS);
            rc = -EINVAL;
            break;
        }
        /* The parser reads one line per call (comments and blank lines come
         * back as SYNTAX_EMPTY), so the record began on "start". */
        lines[ldns_rr_list_rr_count(out)] = start;
        ldns_rr2canonical(rr); /* lower-case owner and names in RDATA */
        ldns_rr_list_push_rr(out, rr);
    }
    ldns_rdf_deep_free(origin);
    ldns_rdf_deep_free(prev);
    *last_line = line;
    return rc;
}

static bool hints_is_root(const ldns_rdf *name)
{
    return ldns_dname_label_count(name) == 0;
}

/* Sorts the records into h: root NS, then addresses of those NS names.
 * 0 or -EINVAL with the offending line in err. */
static int hints_sort(struct hints *h, const ldns_rr_list *all, const int *lines, int last_line,
                      const char *file, char *err, size_t errlen)
{
    size_t n = ldns_rr_list_rr_count(all);
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = ldns_rr_list_rr(all, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS)
            continue;
        if (!hints_is_root(ldns_rr_owner(rr))) {
            hints_err(err, errlen, file, lines[i], "NS record not at the root");
            return -EINVAL;
        }
        if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
            hints_err(err, errlen, file, lines[i], "root hints must be class IN");
            return -EINVAL;
        }
        ldns_rr *copy = ldns_rr_clone(rr);
        if (!copy || !ldns_rr_list_push_rr(h->ns, copy)) {
            ldns_rr_free(copy);
            hints_err(err, errlen, file, lines[i], "out of memory");
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = ldns_rr_list_rr(all, i);
        ldns_rr_type t = ldns_rr_get_type(rr);
        if (t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA)
            continue;
        for (size_t j = 0; j < ldns_rr_list_rr_count(h->ns); j++) {
            ldns_rdf *target = ldns_rr_rdf(ldns_rr_list_rr(h->ns, j), 0);
            if (target && ldns_dname_compare(target, ldns_rr_owner(rr)) == 0) {
                ldns_rr *copy = ldns_rr_clone(rr);
                if (!copy || !ldns_rr_list_push_rr(h->addrs, copy)) {
                    ldns_rr_free(copy);
                    hints_err(err, errlen, file, lines[i], "out of memory");
                    return -ENOMEM;
                }
                break;
            }
        }
    }
    if (ldns_rr_list_rr_count(h->ns) == 0) {
        hints_err(err, errlen, file, last_line, "no root NS records");
        return -EINVAL;
    }
    return 0;
}

/* Every NS name needs an address, or the hint is useless (and probably a
 * typo the operator wants to hear about). */
static int hints_check_addrs(const struct hints *h, const ldns_rr_list *all, const int *lines,
                             const char *file, char *err, size_t errlen)
{
    for (size_t i = 0; i < ldns_rr_list_rr_count(all); i++) {
        ldns_rr *rr = ldns_rr_list_rr(all, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || !ldns_rr_rdf(rr, 0))
            continue;
        bool found = false;
        for (size_t j = 0; j < ldns_rr_list_rr_count(h->addrs) && !found; j++)
            found = ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(h->addrs, j)),
                                       ldns_rr_rdf(rr, 0)) == 0;
        if (!found) {
            char *name = ldns_rdf2str(ldns_rr_rdf(rr, 0));
            hints_err(err, errlen, file, lines[i], "NS %s has no A or AAAA record",
                      name ? name : "?");
            free(name);
            return -EINVAL;
        }
    }
    return 0;
}

static struct hints *hints_parse(FILE *fp, const char *file, char *err, size_t errlen)
{
    struct hints *h = calloc(1, sizeof(*h));
    ldns_rr_list *all = ldns_rr_list_new();
    int *lines = calloc(HINTS_MAX_RECORDS, sizeof(*lines));
    int rc = -ENOMEM, last_line = 0;
    if (h) {
        h->ns = ldns_rr_list_new();
        h->addrs = ldns_rr_list_new();
    }
    if (!h || !h->ns || !h->addrs || !all || !lines) {
        hints_err(err, errlen, file, 0, "out of memory");
        goto out;
    }
    rc = hints_read(fp, file, all, lines, &last_line, err, errlen);
    if (rc == 0)
        rc = hints_sort(h, all, lines, last_line, file, err, errlen);
    if (rc == 0)
        rc = hints_check_addrs(h, all, lines, file, err, errlen);
out:
    ldns_rr_list_deep_free(all);
    free(lines);
    if (rc < 0) {
        hints_free(h);
        return NULL;
    }
    return h;
}

struct hints *hints_load(const char *path, char *err, size_t errlen)
{
    FILE *fp;
    const char *file = path ? path : "(built-in)";
    if (err && errlen)
        err[0] = '\0';
    if (path)
        fp = fopen(path, "r");
    else
        fp = fmemopen((void *)hints_builtin, sizeof(hints_builtin) - 1, "r");
    if (!fp) {
        hints_err(err, errlen, file, 0, "%s", strerror(errno));
        return NULL;
    }
    struct hints *h = hints_parse(fp, file, err, errlen);
    fclose(fp);
    return h;
}
