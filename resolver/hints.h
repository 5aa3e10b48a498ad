/*
 * hints.h - root hints: the names and addresses of the root servers, from a
 * zone file (resolver.root-hints) or the built-in IANA copy.
 *
 * Hints only say where to start.  Priming (RFC 8109) asks one of them for the
 * root NS set on the first client query and caches the answer; the hints
 * are used again only when that cache entry has expired.
 */
#ifndef GATEHOUSE_HINTS_H
#define GATEHOUSE_HINTS_H

#include <stddef.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

struct hints {
    ldns_rr_list *ns;    /* ". NS name" records */
    ldns_rr_list *addrs; /* A and AAAA of those names */
};

/* Loads hints from a zone file, or the built-in IANA hints when path is NULL.
 * Returns NULL with "FILE:LINE: message" in err on a bad file (no NS, an NS
 * without any address, a record that does not parse). */
struct hints *hints_load(const char *path, char *err, size_t errlen);
void hints_free(struct hints *h);

#endif
