/*
 * ctl_resolve.c - one resolution from gatehousectl, on a loop of its own.
 * See ctl_resolve.h.
 *
 * The driving is worker.c's request_run/upstream_cb without the mesh, the
 * waiters and the cache writes: step the iterator; send what it asks for
 * with outbound_start (from resolver.outgoing-address when set); hand back
 * the reply or the failure; step again, until ITER_DONE or the deadline.
 * Bounds: resolver.deadline for the whole resolution (a timer on the loop),
 * the iterator's own bounds on steps and queries, and at most
 * CTL_RESOLVE_MAX_SEND_FAILURES sends that fail to leave at all.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "ctl_resolve.h"
#include "hints.h"
#include "infra.h"
#include "outbound.h"
#include "wire.h"

#define CTL_RESOLVE_MAX_SEND_FAILURES 32   /* as worker.c: then give up */
#define CTL_RESOLVE_CACHE_BYTES (8u << 20) /* one question's chain needs far less */

struct ctl_resolver {
    const struct config *cfg;
    struct cache *cache;
    struct infra *infra;
    struct hints *hints;
    struct iter_env env;
    uv_loop_t loop;
    bool loop_ok;
};

/* One resolution under way; lives on ctl_resolve's stack while the loop
 * runs. */
struct run {
    struct ctl_resolver *r;
    struct iter_query *q;
    struct iter_send send;
    struct outbound *out;
    uv_timer_t deadline;
    struct outbound_stats stats;
    struct ctl_resolve_info *info;
    uint64_t start_ms;
    unsigned send_failures;
    bool ended;
};

int ctl_resolver_new(const struct config *cfg, struct ctl_resolver **out, char *err, size_t errlen)
{
    struct ctl_resolver *r = calloc(1, sizeof *r);
    int rc = -ENOMEM;

    *out = NULL;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->cfg = cfg;
    struct cache_limits limits = {
        .max_bytes =
            cfg->cache_size < CTL_RESOLVE_CACHE_BYTES ? cfg->cache_size : CTL_RESOLVE_CACHE_BYTES,
        .min_ttl = cfg->cache_min_ttl,
        .max_ttl = cfg->cache_max_ttl,
        .max_negative_ttl = cfg->cache_max_negative_ttl,
    };
    if (!(r->hints = hints_load(cfg->root_hints, err, errlen))) {
        rc = -EINVAL;
        goto fail;
    }
    if (!(r->cache = cache_new(&limits)) || !(r->infra = infra_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = uv_loop_init(&r->loop)) < 0) {
        snprintf(err, errlen, "cannot make an event loop: %s", uv_strerror(rc));
        goto fail;
    }
    r->loop_ok = true;
    /* A server that resets a TCP connection as we write must give EPIPE to
     * the exchange, not end gatehousectl (main.c does the same). */
    signal(SIGPIPE, SIG_IGN);
    r->env.cache = r->cache;
    r->env.infra = r->infra;
    r->env.hints = r->hints;
    r->env.cfg = cfg;
    *out = r;
    return 0;
fail:
    ctl_resolver_free(r);
    return rc;
}

void ctl_resolver_free(struct ctl_resolver *r)
{
    if (!r)
        return;
    if (r->loop_ok) {
        uv_run(&r->loop, UV_RUN_DEFAULT); /* close callbacks still due */
        uv_loop_close(&r->loop);
    }
    infra_free(r->infra);
    cache_free(r->cache);
    hints_free(r->hints);
    free(r);
}

struct cache *ctl_resolver_cache(const struct ctl_resolver *r)
{
    return r->cache;
}

/* Stops the run: no more sends, the deadline timer closed.  The loop then
 * runs out of handles once the cancelled exchange has closed its own. */
static void run_end(struct run *run, enum ctl_resolve_end end)
{
    if (run->ended)
        return;
    run->ended = true;
    run->info->end = end;
    outbound_cancel(run->out);
    run->out = NULL;
    uv_timer_stop(&run->deadline);
    uv_close((uv_handle_t *)&run->deadline, NULL);
    uv_update_time(&run->r->loop);
    uint64_t now = uv_now(&run->r->loop);
    run->info->elapsed_ms = now > run->start_ms ? (unsigned)(now - run->start_ms) : 0;
}

static void run_step(struct run *run);

static void upstream_cb(void *arg, int status, const uint8_t *pkt, size_t len, unsigned rtt_ms)
{
    struct run *run = arg;

    run->out = NULL;
    if (status == 0)
        iter_answer(run->q, pkt, len, rtt_ms, time(NULL));
    else
        iter_fail(run->q, status == -ETIMEDOUT ? ITER_FAIL_TIMEOUT : ITER_FAIL_NETWORK, time(NULL));
    run_step(run);
}

static void deadline_cb(uv_timer_t *t)
{
    run_end(t->data, CTL_RESOLVE_DEADLINE);
}

/* Steps the iterator until a query is in flight or it is done. */
static void run_step(struct run *run)
{
    const struct config *cfg = run->r->cfg;

    while (!run->ended) {
        if (iter_step(run->q, time(NULL), &run->send) != ITER_SEND) {
            run_end(run, CTL_RESOLVE_DONE);
            return;
        }
        int err = 0;
        const struct sockaddr *bind = config_outgoing_for(cfg, run->send.server.ss_family);
        run->out =
            outbound_start(&run->r->loop, &run->send, bind, &run->stats, upstream_cb, run, &err);
        if (run->out)
            return;
        /* No socket at all (no route for that family, a bad
         * outgoing-address): the iterator chooses again, a bounded number
         * of times. */
        run->info->last_error = err;
        if (++run->send_failures > CTL_RESOLVE_MAX_SEND_FAILURES) {
            run_end(run, CTL_RESOLVE_NO_SOCKET);
            return;
        }
        iter_fail(run->q, ITER_FAIL_NETWORK, time(NULL));
    }
}

int ctl_resolve(struct ctl_resolver *r, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                struct iter_query **out, struct ctl_resolve_info *info)
{
    struct run run = {.r = r, .info = info};

    memset(info, 0, sizeof *info);
    *out = NULL;
    run.q = iter_new(&r->env, qname, qname_len, qtype, WIRE_CLASS_IN, time(NULL));
    if (!run.q)
        return qname_len == 0 || qname_len > 255 ? -EINVAL : -ENOMEM;
    info->deadline_ms = r->cfg->query_deadline_ms;
    uv_update_time(&r->loop);
    run.start_ms = uv_now(&r->loop);
    uv_timer_init(&r->loop, &run.deadline);
    run.deadline.data = &run;
    uv_timer_start(&run.deadline, deadline_cb, info->deadline_ms, 0);
    run_step(&run);
    /* Returns once the run has ended and its handles are closed: the
     * deadline timer bounds it. */
    uv_run(&r->loop, UV_RUN_DEFAULT);
    info->sent = run.stats.sent_udp + run.stats.sent_tcp;
    info->replies = run.stats.replies;
    info->timeouts = run.stats.timeouts;
    info->errors = run.stats.errors;
    *out = run.q;
    return 0;
}

/* --- record types ----------------------------------------------------------*/

int ctl_type_parse(const char *text, uint16_t *type)
{
    unsigned long v;
    char canon[32];

    if (!text || !*text || strlen(text) > 20)
        return -EINVAL;
    if (strncasecmp(text, "TYPE", 4) == 0 && isdigit((unsigned char)text[4])) {
        /* RFC 3597 section 5: TYPE and the number in decimal, nothing more. */
        char *end;
        errno = 0;
        v = strtoul(text + 4, &end, 10);
        if (*end || errno || v > 65535)
            return -EINVAL;
    } else {
        v = ldns_get_rr_type_by_name(text);
        /* ldns matches loosely in places: keep only an exact (any case)
         * spelling of the name it gives back. */
        if (v == 0 || strcasecmp(ctl_type_text((uint16_t)v, canon, sizeof canon), text) != 0)
            return -EINVAL;
    }
    /* 0 is reserved; OPT is EDNS; 128-255 are meta and query types
     * (RFC 6895 section 3.1: TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY). */
    if (v == 0 || v == LDNS_RR_TYPE_OPT || (v >= 128 && v <= 255))
        return -EPERM;
    *type = (uint16_t)v;
    return 0;
}

char *ctl_type_text(uint16_t type, char *out, size_t cap)
{
    char *s = ldns_rr_type2str((ldns_rr_type)type);

    snprintf(out, cap, "%s", s ? s : "");
    if (!s)
        snprintf(out, cap, "TYPE%u", type);
    free(s);
    return out;
}
