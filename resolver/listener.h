/*
 * listener.h - the client side sockets: UDP and TCP, IPv4 and IPv6.
 *
 * main binds every socket before dropping privileges (listener_bind), one
 * set per worker thread with SO_REUSEPORT so the kernel spreads clients over
 * the workers.  Each worker then serves its own sockets from its own loop.
 *
 * UDP is read and answered in batches (recvmmsg/sendmmsg) with packet info,
 * so an answer always leaves from the address the query was sent to, and the
 * worker learns the local address and interface (segments match on them).
 * TCP (RFC 7766): queries are pipelined, answered as they complete (out of
 * order), connections close after an idle timeout, and each worker holds at
 * most server.tcp-max-connections.
 *
 * What to do with a query is the worker's business: see worker_query().
 */
#ifndef GATEHOUSE_LISTENER_H
#define GATEHOUSE_LISTENER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "config.h"

struct worker;
struct udp_listener;
struct tcp_listener;
struct tcp_conn;

/* Who asked, and how to answer.  Copied by value into waiting requests; a
 * TCP client holds a reference on its connection (listener_client_hold). */
struct client {
    struct sockaddr_storage addr; /* the client */
    socklen_t addrlen;
    struct sockaddr_storage local; /* the address the query arrived on (port 0 if unknown) */
    int ifindex;                   /* the interface it arrived on, 0 if unknown */
    struct udp_listener *udp;      /* set for UDP */
    struct tcp_conn *tcp;          /* set for TCP */
};

/* Binds addr for UDP and TCP (SO_REUSEPORT, IPV6_V6ONLY, packet info on).
 * Returns 0 or a negative errno with a message naming the address in err. */
int listener_bind(const struct config_sockaddr *addr, int *udp_fd, int *tcp_fd, char *err,
                  size_t errlen);

/* Start serving a bound socket from w's loop.  The listener owns fd, also
 * when this fails. */
int listener_udp_start(struct worker *w, uv_loop_t *loop, int fd, struct udp_listener **out);
int listener_tcp_start(struct worker *w, uv_loop_t *loop, int fd, unsigned max_conns,
                       unsigned idle_ms, struct tcp_listener **out);

/* Stop accepting; the listener frees itself once closed.  Open TCP
 * connections are closed too (their pending answers are dropped). */
void listener_udp_close(struct udp_listener *l);
void listener_tcp_close(struct tcp_listener *l);

/* Answer a client later (a resolution finished).  Silently drops the answer
 * if a TCP connection has gone. */
void listener_send(const struct client *c, const uint8_t *pkt, size_t len);

/* Reference counting for a client kept past the call that delivered it. */
void listener_client_hold(const struct client *c);
void listener_client_release(const struct client *c);

/* The biggest answer worker_query may produce for a UDP client. */
#define LISTENER_UDP_MAX 4096

#endif
