/*
 * ctl_resolve.h - resolve a question from gatehousectl the way the daemon
 * would, with no daemon: what `gatehousectl check` uses to show the chain it
 * followed and what DNSSEC validation made of each step (like delv or
 * unbound-host -v).
 *
 * A ctl_resolver is the daemon's resolving machinery on its own: the
 * configuration gatehousectl loaded (root hints, forward zones, dnssec.*,
 * outgoing addresses, timeouts, qname minimisation), a private in-memory
 * cache and infra cache (empty at start: every resolution goes to the
 * servers, as for a cold daemon), and a libuv loop of its own.
 * ctl_resolve drives one iterator (iterator.h) with outbound.h until
 * ITER_DONE or resolver.deadline, as worker.c's request_run does; the caller
 * then reads the finished query with iter_result and iter_vtrace.
 *
 * It does not talk to the running daemon or look at its cache, and applies
 * no filtering policy (ctl_check.c does that, offline).  Like main.c and
 * worker.c it includes <uv.h>: with it gatehousectl is an I/O program.
 */
#ifndef GATEHOUSE_CTL_RESOLVE_H
#define GATEHOUSE_CTL_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "config.h"
#include "iterator.h"

struct ctl_resolver;

/* Builds a resolver from cfg, which must outlive it.  Returns 0, or a
 * negative errno with a message in err (root hints that do not load, no
 * memory, no event loop).  Free with ctl_resolver_free. */
int ctl_resolver_new(const struct config *cfg, struct ctl_resolver **out, char *err, size_t errlen);
void ctl_resolver_free(struct ctl_resolver *r);

/* The private cache (borrowed until ctl_resolver_free): what the
 * resolutions so far learnt, with DNSSEC statuses (cache_rrset_get_sec). */
struct cache *ctl_resolver_cache(const struct ctl_resolver *r);

/* How a resolution ended. */
enum ctl_resolve_end {
    CTL_RESOLVE_DONE = 0,  /* ITER_DONE: iter_result says how it went */
    CTL_RESOLVE_DEADLINE,  /* resolver.deadline passed first: the query is unfinished */
    CTL_RESOLVE_NO_SOCKET, /* no upstream query could be sent at all (last_error) */
};

struct ctl_resolve_info {
    enum ctl_resolve_end end;
    unsigned deadline_ms;                     /* the bound it ran under (resolver.deadline) */
    unsigned elapsed_ms;                      /* loop time from start to end */
    uint64_t sent, replies, timeouts, errors; /* upstream exchanges (outbound.h) */
    int last_error;                           /* negative errno of the last failed send, or 0 */
};

/* Resolves (qname, qtype, class IN): qname is uncompressed wire format, lower
 * case.  Blocks, running the loop, for at most resolver.deadline.  Returns 0
 * with *out set (free with iter_free before ctl_resolver_free; with info->end
 * other than CTL_RESOLVE_DONE it is unfinished, and iter_result reports
 * SERVFAIL), or -EINVAL (not a name) / -ENOMEM with *out NULL. */
int ctl_resolve(struct ctl_resolver *r, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                struct iter_query **out, struct ctl_resolve_info *info);

/* Record types as people type them: a mnemonic known to ldns ("A", "mx")
 * or RFC 3597's "TYPE65".  Meta and query types (OPT, TSIG, AXFR, ANY, ...,
 * RFC 6895 section 3.1) and 0 are refused: they are not data a resolver
 * looks up.  Returns 0 with *type, -EINVAL for text that is no type, or
 * -EPERM for a type that cannot be resolved. */
int ctl_type_parse(const char *text, uint16_t *type);
/* The mnemonic of type ("AAAA", or "TYPE65" when ldns knows no name), into
 * out (cap >= 16).  Returns out. */
char *ctl_type_text(uint16_t type, char *out, size_t cap);

#endif
