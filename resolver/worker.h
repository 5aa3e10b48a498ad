/*
 * worker.h - one worker thread: its own libuv loop, its own listening
 * sockets (SO_REUSEPORT), and the resolutions its clients started.
 *
 * The path of a query: listener -> worker_query() -> parse (wire.c) -> access
 * control -> the shared message cache (a hit is answered at once, in the
 * listener's send batch) -> on a miss, join the resolution already under way
 * for the same question, or start one (iterator.c driven over outbound.c).
 * When it finishes, the answer goes into the cache and to every waiting client.
 *
 * Duplicate questions are joined per worker: two workers may each resolve
 * the same cold name once.
 */
#ifndef GATEHOUSE_WORKER_H
#define GATEHOUSE_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "listener.h"

struct worker;

/* Counters; each written only by its worker, read by anyone (relaxed). */
struct worker_stats {
    uint64_t queries;  /* packets that reached worker_query */
    uint64_t answered; /* answers sent, of any rcode */
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t joined;          /* misses that joined a resolution under way */
    uint64_t upstream_joined; /* upstream replies that also answered other resolutions' queries */
    uint64_t stale;           /* answered from expired data (RFC 8767) */
    uint64_t prefetches;
    uint64_t blocked;   /* answered by policy: NXDOMAIN, NODATA, sinkhole */
    uint64_t rewritten; /* safe-search rewrites */
    uint64_t refused;
    uint64_t formerr;
    uint64_t notimp;
    uint64_t servfail;
    uint64_t dropped; /* malformed beyond answering, over a limit, truncated */
    uint64_t send_errors;
    uint64_t upstream_sent, upstream_timeouts, upstream_errors;
    uint64_t requests_now; /* resolutions in flight */
};

/* Makes a worker with its loop, not yet running.  d must outlive it. */
struct worker *worker_new(struct daemon *d, unsigned id);
/* Serves a pair of bound sockets (listener_bind); before worker_start.
 * The worker owns the fds from here on, also on failure. */
int worker_add_listener(struct worker *w, int udp_fd, int tcp_fd);
int worker_start(struct worker *w);
/* From any thread: pick up the daemon's current configuration generation. */
void worker_reload(struct worker *w);
/* From any thread: stop listening, finish (or after a short grace, fail) the
 * resolutions under way, and end the thread. */
void worker_stop(struct worker *w);
/* Waits for the thread to end and frees the worker. */
void worker_join_free(struct worker *w);
void worker_get_stats(const struct worker *w, struct worker_stats *out);
/* A counter the worker's loop bumps every second: if it stops moving, the
 * loop is stuck (main's systemd watchdog checks it). */
uint64_t worker_heartbeat(const struct worker *w);

/* For the listeners.  Handles one query from client c.  Returns the length
 * of an answer written to out (at most cap) to send now, or 0: nothing to
 * send now (dropped, or the answer comes later through listener_send). */
size_t worker_query(struct worker *w, const uint8_t *pkt, size_t len, const struct client *c,
                    uint8_t *out, size_t cap);
void worker_count_drop(struct worker *w);
void worker_count_send_error(struct worker *w);

#endif
