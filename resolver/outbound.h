/*
 * outbound.h - one query to an upstream server and its reply, over UDP or TCP.
 *
 * Each UDP exchange uses its own socket, bound to a port the kernel picks at
 * random and connected to the server, so only datagrams from that address
 * and port are seen at all; the reply must also carry the query's ID and
 * question (RFC 5452 section 9.1).  TCP (RFC 7766) is used when the iterator
 * asks for it, e.g. after a truncated UDP answer.
 *
 * This module knows nothing of DNS beyond matching a reply to its query.
 */
#ifndef GATEHOUSE_OUTBOUND_H
#define GATEHOUSE_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "iterator.h"

struct outbound;

/* status is 0 with the matching reply (pkt borrowed for the call), or a
 * negative errno: -ETIMEDOUT, -ECONNREFUSED and friends.  rtt_ms is the time
 * from send to reply. */
typedef void (*outbound_cb)(void *arg, int status, const uint8_t *pkt, size_t len, unsigned rtt_ms);

struct outbound_stats {
    uint64_t sent_udp, sent_tcp, replies, timeouts, errors, mismatched;
};

/* Sends s->pkt to s->server and calls cb exactly once, later, from loop;
 * unless outbound_cancel is called first.  bind_addr (may be NULL) is the
 * local address to send from; its port is ignored.  Returns NULL with
 * *err set when no socket could be made (cb is then never called). */
struct outbound *outbound_start(uv_loop_t *loop, const struct iter_send *s,
                                const struct sockaddr *bind_addr, struct outbound_stats *stats,
                                outbound_cb cb, void *arg, int *err);

/* Abandons the exchange: cb is not called.  o is freed by the loop later. */
void outbound_cancel(struct outbound *o);

#endif
