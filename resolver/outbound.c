/*
 * outbound.c - one upstream exchange over UDP or TCP.  See outbound.h.
 *
 * Lifetime: an outbound owns a socket handle and a timer.  It ends once,
 * either by delivering its callback or by outbound_cancel; then both handles
 * are closed and the struct is freed in the last close callback, as libuv
 * requires.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "outbound.h"
#include "wire.h"

#define OUTBOUND_UDP_BUF 4096
#define OUTBOUND_TCP_MAX (2 + 65535)

/* Counted by the worker that owns the exchange, read by the main thread. */
static inline void stat_add(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

struct outbound {
    uv_loop_t *loop;
    union {
        uv_handle_t handle;
        uv_udp_t udp;
        uv_tcp_t tcp;
    } sock;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    bool tcp;
    bool done;
    int open_handles;
    outbound_cb cb;
    void *arg;
    struct outbound_stats *stats;
    uint64_t start_ms;
    size_t qlen;
    uint8_t query[2 + ITER_MAX_QUERY]; /* length prefix for TCP, then the query */
    uint8_t *tcp_buf;                  /* TCP reply as it arrives */
    size_t tcp_len, tcp_cap;
    uint8_t udp_buf[OUTBOUND_UDP_BUF]; /* stays last: outbound_start zeroes what precedes it */
};

static void handle_closed_cb(uv_handle_t *h)
{
    struct outbound *o = h->data;

    if (--o->open_handles == 0) {
        free(o->tcp_buf);
        free(o);
    }
}

static void close_all(struct outbound *o)
{
    if (!uv_is_closing(&o->sock.handle))
        uv_close(&o->sock.handle, handle_closed_cb);
    if (!uv_is_closing((uv_handle_t *)&o->timer))
        uv_close((uv_handle_t *)&o->timer, handle_closed_cb);
}

/* Ends the exchange once: report (unless cancelled) and close. */
static void finish(struct outbound *o, int status, const uint8_t *pkt, size_t len)
{
    if (o->done)
        return;
    o->done = true;
    uv_timer_stop(&o->timer);
    if (status == 0)
        stat_add(&o->stats->replies);
    else if (status == -ETIMEDOUT)
        stat_add(&o->stats->timeouts);
    else
        stat_add(&o->stats->errors);
    uint64_t now = uv_now(o->loop);
    unsigned rtt = now > o->start_ms ? (unsigned)(now - o->start_ms) : 0;
    o->cb(o->arg, status, pkt, len, rtt);
    close_all(o);
}

void outbound_cancel(struct outbound *o)
{
    if (!o || o->done)
        return;
    o->done = true;
    close_all(o);
}

/* Does pkt answer our query?  ID, QR and the question (names compared
 * without case, RFC 4343).  A server that cannot parse the query may answer
 * FORMERR, SERVFAIL, NOTIMP or REFUSED without a question; accept that too,
 * so the iterator hears of it at once instead of waiting for the timeout. */
static bool reply_matches(const struct outbound *o, const uint8_t *pkt, size_t len)
{
    const uint8_t *q = o->query + 2;

    if (len < WIRE_HEADER_LEN || wire_get16(pkt) != wire_get16(q))
        return false;
    uint16_t flags = wire_get16(pkt + 2);
    if (!(flags & WIRE_QR))
        return false;
    unsigned qd = wire_get16(pkt + 4);
    if (qd == 0) {
        unsigned rc = WIRE_RCODE(flags);
        return rc == WIRE_FORMERR || rc == WIRE_SERVFAIL || rc == WIRE_NOTIMP || rc == WIRE_REFUSED;
    }
    size_t qname = wire_name_len(q, o->qlen, WIRE_HEADER_LEN);
    size_t qsec = qname + 4;
    if (qd != 1 || qname == 0 || len < WIRE_HEADER_LEN + qsec)
        return false;
    for (size_t i = 0; i < qsec; i++) {
        uint8_t a = pkt[WIRE_HEADER_LEN + i], b = q[WIRE_HEADER_LEN + i];
        if (a >= 'A' && a <= 'Z')
            a |= 0x20;
        if (b >= 'A' && b <= 'Z')
            b |= 0x20;
        if (a != b)
            return false;
    }
    return true;
}

static void timeout_cb(uv_timer_t *t)
{
    finish(t->data, -ETIMEDOUT, NULL, 0);
}

/* --- UDP --------------------------------------------------------------------*/

static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct outbound *o = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)o->udp_buf, sizeof o->udp_buf);
}

static void udp_recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *from, unsigned flags)
{
    struct outbound *o = u->data;

    if (o->done)
        return;
    if (nread < 0) {
        finish(o, (int)nread, NULL, 0); /* e.g. ICMP port unreachable */
        return;
    }
    if (nread == 0 || !from)
        return;
    if ((flags & UV_UDP_PARTIAL) || !reply_matches(o, (uint8_t *)buf->base, (size_t)nread)) {
        stat_add(&o->stats->mismatched); /* keep waiting for the real one */
        return;
    }
    finish(o, 0, (uint8_t *)buf->base, (size_t)nread);
}

static int udp_start(struct outbound *o, const struct iter_send *s,
                     const struct sockaddr *bind_addr)
{
    int family = s->server.ss_family;
    struct sockaddr_storage local;
    int rc;

    if ((rc = uv_udp_init_ex(o->loop, &o->sock.udp, (unsigned)family)) < 0)
        return rc;
    o->sock.udp.data = o;
    o->open_handles++;
    memset(&local, 0, sizeof local);
    if (bind_addr && bind_addr->sa_family == family)
        memcpy(&local, bind_addr,
               family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    local.ss_family = (sa_family_t)family;
    if (family == AF_INET)
        ((struct sockaddr_in *)&local)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&local)->sin6_port = 0;
    /* Port 0: the kernel picks a random free ephemeral port (RFC 5452 9.2). */
    if ((rc = uv_udp_bind(&o->sock.udp, (struct sockaddr *)&local, 0)) < 0)
        return rc;
    if ((rc = uv_udp_connect(&o->sock.udp, (const struct sockaddr *)&s->server)) < 0)
        return rc;
    if ((rc = uv_udp_recv_start(&o->sock.udp, udp_alloc_cb, udp_recv_cb)) < 0)
        return rc;
    uv_buf_t b = uv_buf_init((char *)o->query + 2, (unsigned)o->qlen);
    rc = uv_udp_try_send(&o->sock.udp, &b, 1, NULL);
    if (rc < 0)
        return rc;
    stat_add(&o->stats->sent_udp);
    return 0;
}

/* --- TCP --------------------------------------------------------------------*/

static void tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct outbound *o = h->data;
    (void)suggested;

    if (o->tcp_cap - o->tcp_len < 512 && o->tcp_cap < OUTBOUND_TCP_MAX) {
        size_t ncap = o->tcp_cap ? o->tcp_cap * 2 : 2048;
        if (ncap > OUTBOUND_TCP_MAX)
            ncap = OUTBOUND_TCP_MAX;
        uint8_t *n = realloc(o->tcp_buf, ncap);
        if (n) {
            o->tcp_buf = n;
            o->tcp_cap = ncap;
        }
    }
    *buf = uv_buf_init((char *)o->tcp_buf + o->tcp_len, (unsigned)(o->tcp_cap - o->tcp_len));
}

static void tcp_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct outbound *o = st->data;
    (void)buf;

    if (o->done)
        return;
    if (nread < 0) {
        finish(o, nread == UV_EOF ? -ECONNRESET : (int)nread, NULL, 0);
        return;
    }
    if (nread == 0 && o->tcp_len == o->tcp_cap) {
        finish(o, -ENOMEM, NULL, 0);
        return;
    }
    o->tcp_len += (size_t)nread;
    if (o->tcp_len < 2)
        return;
    size_t mlen = wire_get16(o->tcp_buf);
    if (o->tcp_len < 2 + mlen)
        return;
    if (!reply_matches(o, o->tcp_buf + 2, mlen)) {
        stat_add(&o->stats->mismatched);
        finish(o, -EPROTO, NULL, 0); /* a stream that answers something else is broken */
        return;
    }
    finish(o, 0, o->tcp_buf + 2, mlen);
}

static void tcp_write_cb(uv_write_t *req, int status)
{
    struct outbound *o = req->data;
    if (status < 0)
        finish(o, status, NULL, 0);
}

static void tcp_connect_cb(uv_connect_t *req, int status)
{
    struct outbound *o = req->data;
    int rc;

    if (o->done)
        return;
    if (status < 0) {
        finish(o, status, NULL, 0);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)o->query, (unsigned)(o->qlen + 2));
    o->write.data = o;
    if ((rc = uv_write(&o->write, (uv_stream_t *)&o->sock.tcp, &b, 1, tcp_write_cb)) < 0 ||
        (rc = uv_read_start((uv_stream_t *)&o->sock.tcp, tcp_alloc_cb, tcp_read_cb)) < 0)
        finish(o, rc, NULL, 0);
}

static int tcp_start(struct outbound *o, const struct iter_send *s,
                     const struct sockaddr *bind_addr)
{
    int family = s->server.ss_family;
    int rc;

    if ((rc = uv_tcp_init_ex(o->loop, &o->sock.tcp, (unsigned)family)) < 0)
        return rc;
    o->sock.tcp.data = o;
    o->open_handles++;
    if (bind_addr && bind_addr->sa_family == family) {
        struct sockaddr_storage local;
        memcpy(&local, bind_addr,
               family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        if (family == AF_INET)
            ((struct sockaddr_in *)&local)->sin_port = 0;
        else
            ((struct sockaddr_in6 *)&local)->sin6_port = 0;
        if ((rc = uv_tcp_bind(&o->sock.tcp, (struct sockaddr *)&local, 0)) < 0)
            return rc;
    }
    wire_put16(o->query, (uint16_t)o->qlen);
    o->connect.data = o;
    rc = uv_tcp_connect(&o->connect, &o->sock.tcp, (const struct sockaddr *)&s->server,
                        tcp_connect_cb);
    if (rc < 0)
        return rc;
    stat_add(&o->stats->sent_tcp);
    return 0;
}

struct outbound *outbound_start(uv_loop_t *loop, const struct iter_send *s,
                                const struct sockaddr *bind_addr, struct outbound_stats *stats,
                                outbound_cb cb, void *arg, int *err)
{
    struct outbound *o;
    int rc;

    if (s->len < WIRE_HEADER_LEN || s->len > ITER_MAX_QUERY ||
        (s->server.ss_family != AF_INET && s->server.ss_family != AF_INET6)) {
        *err = -EINVAL;
        return NULL;
    }
    /* Zero everything but the receive buffer: 4 KB per upstream query that
     * the kernel fills (a measurable share of the cold path's memset). */
    if (!(o = malloc(sizeof *o))) {
        *err = -ENOMEM;
        return NULL;
    }
    memset(o, 0, offsetof(struct outbound, udp_buf));
    o->loop = loop;
    o->cb = cb;
    o->arg = arg;
    o->stats = stats;
    o->tcp = s->tcp;
    o->qlen = s->len;
    memcpy(o->query + 2, s->pkt, s->len);
    o->start_ms = uv_now(loop);

    uv_timer_init(loop, &o->timer);
    o->timer.data = o;
    o->open_handles = 1;
    rc = o->tcp ? tcp_start(o, s, bind_addr) : udp_start(o, s, bind_addr);
    if (rc < 0) {
        *err = rc;
        o->done = true;
        if (o->open_handles == 2) {
            close_all(o);
        } else {
            uv_close((uv_handle_t *)&o->timer, handle_closed_cb);
        }
        return NULL;
    }
    uv_timer_start(&o->timer, timeout_cb, s->timeout_ms ? s->timeout_ms : 1000, 0);
    return o;
}
