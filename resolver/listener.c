/*
 * listener.c - client sockets: batched UDP with packet info, and TCP with
 * pipelining.  See listener.h.
 *
 * UDP does not use uv_udp_t: libuv hides the packet-info ancillary data and
 * sends one datagram per call.  Instead a uv_poll_t watches the socket and
 * we call recvmmsg/sendmmsg ourselves, a bounded number of batches per
 * wake-up so one busy socket cannot starve the rest of the loop.
 *
 * Lifetimes (libuv rule: memory is freed only in the close callback):
 *  - udp_listener: freed when its poll handle has closed.
 *  - tcp_conn: one reference for being open (dropped when both its handles
 *    have closed), one per pending answer (listener_client_hold), one per
 *    write in flight.  Freed at zero.
 *  - tcp_listener: freed when its handle has closed and its last connection
 *    is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "wire.h"
#include "worker.h"

#define UDP_BATCH 32
#define UDP_ROUNDS 8 /* batches per wake-up */
#define UDP_RX_MAX 4096
#define UDP_RCVBUF (4 << 20)
#define TCP_BACKLOG 256
#define TCP_MAX_MSG 65535
#define TCP_MAX_INFLIGHT 128          /* pipelined queries per connection before we stop reading */
#define TCP_MAX_WRITE_QUEUE (1 << 20) /* answers a slow reader may leave unread */

union pktinfo_ctrl {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
};

struct udp_listener {
    uv_poll_t poll;
    int fd;
    struct worker *w;
    struct mmsghdr rmsg[UDP_BATCH];
    struct iovec riov[UDP_BATCH];
    struct sockaddr_storage raddr[UDP_BATCH];
    union pktinfo_ctrl rctrl[UDP_BATCH];
    struct mmsghdr smsg[UDP_BATCH];
    struct iovec siov[UDP_BATCH];
    union pktinfo_ctrl sctrl[UDP_BATCH];
    uint8_t rbuf[UDP_BATCH][UDP_RX_MAX];
    uint8_t sbuf[UDP_BATCH][LISTENER_UDP_MAX];
};

struct tcp_listener {
    uv_tcp_t server;
    struct worker *w;
    unsigned max_conns, nconns, idle_ms;
    bool closing, server_closed;
    struct tcp_conn *conns;
    uint8_t out[2 + TCP_MAX_MSG];
};

struct tcp_conn {
    uv_tcp_t h;
    uv_timer_t idle;
    uv_shutdown_t shutdown;
    struct tcp_listener *l;
    struct tcp_conn *prev, *next;
    int refs;
    int open_handles;
    unsigned inflight;
    size_t write_queue;
    bool closing, eof, reading;
    bool processing;      /* inside conn_process: an answer completing now must not re-enter */
    struct client client; /* template for every query on this connection */
    uint8_t *rbuf;
    size_t rlen, rcap;
};

struct tcp_write {
    uv_write_t req;
    struct tcp_conn *c;
    size_t len;
    uint8_t data[];
};

/* --- binding ----------------------------------------------------------------*/

static void format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
    }
    snprintf(out, cap, "%s@%u", host, port);
}

static int set_int(int fd, int level, int opt, int value)
{
    return setsockopt(fd, level, opt, &value, sizeof value) < 0 ? -errno : 0;
}

static int bind_one(const struct config_sockaddr *addr, int type, int *out)
{
    int family = addr->ss.ss_family;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -errno;
    if ((rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0 ||
        (rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
        goto fail;
    if (family == AF_INET6 && (rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)) < 0)
        goto fail;
    if (type == SOCK_DGRAM) {
        rc = family == AF_INET ? set_int(fd, IPPROTO_IP, IP_PKTINFO, 1)
                               : set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        if (rc < 0)
            goto fail;
        /* A big receive buffer absorbs bursts; FORCE works as root only. */
        if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, UDP_RCVBUF) < 0)
            set_int(fd, SOL_SOCKET, SO_RCVBUF, UDP_RCVBUF);
    } else {
        set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    }
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
        rc = -errno;
        goto fail;
    }
    if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) < 0) {
        rc = -errno;
        goto fail;
    }
    *out = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

int listener_bind(const struct config_sockaddr *addr, int *udp_fd, int *tcp_fd, char *err,
                  size_t errlen)
{
    char name[INET6_ADDRSTRLEN + 8];
    int rc;

    format_sockaddr(&addr->ss, name, sizeof name);
    if ((rc = bind_one(addr, SOCK_DGRAM, udp_fd)) < 0) {
        snprintf(err, errlen, "cannot listen on %s (UDP): %s", name, strerror(-rc));
        return rc;
    }
    if ((rc = bind_one(addr, SOCK_STREAM, tcp_fd)) < 0) {
        snprintf(err, errlen, "cannot listen on %s (TCP): %s", name, strerror(-rc));
        close(*udp_fd);
        return rc;
    }
    return 0;
}

/* --- UDP --------------------------------------------------------------------*/

/* Reads the destination address and interface of a received datagram. */
static void read_pktinfo(struct msghdr *mh, struct client *c)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            struct sockaddr_in *s4 = (struct sockaddr_in *)&c->local;
            s4->sin_family = AF_INET;
            s4->sin_addr = pi.ipi_addr;
            c->ifindex = pi.ipi_ifindex;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->local;
            s6->sin6_family = AF_INET6;
            s6->sin6_addr = pi.ipi6_addr;
            c->ifindex = (int)pi.ipi6_ifindex;
        }
    }
}

/* Sets the source address of an answer to where the query went. */
static socklen_t write_pktinfo(const struct client *c, union pktinfo_ctrl *ctrl)
{
    struct msghdr mh = {.msg_control = ctrl->buf, .msg_controllen = sizeof ctrl->buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

    memset(ctrl, 0, sizeof *ctrl);
    if (c->local.ss_family == AF_INET) {
        struct in_pktinfo pi = {0};
        pi.ipi_spec_dst = ((const struct sockaddr_in *)&c->local)->sin_addr;
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        return CMSG_SPACE(sizeof pi);
    }
    if (c->local.ss_family == AF_INET6) {
        struct in6_pktinfo pi = {0};
        pi.ipi6_addr = ((const struct sockaddr_in6 *)&c->local)->sin6_addr;
        pi.ipi6_ifindex = (unsigned)c->ifindex;
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof pi);
        memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        return CMSG_SPACE(sizeof pi);
    }
    return 0;
}

static void udp_flush(struct udp_listener *l, unsigned n)
{
    unsigned sent = 0;

    while (sent < n) {
        int r = sendmmsg(l->fd, l->smsg + sent, n - sent, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* A full send buffer or an unreachable client: skip that one. */
            worker_count_send_error(l->w);
            sent++;
            continue;
        }
        sent += (unsigned)r;
    }
}

static void udp_prepare_recv(struct udp_listener *l)
{
    for (unsigned i = 0; i < UDP_BATCH; i++) {
        struct msghdr *mh = &l->rmsg[i].msg_hdr;
        mh->msg_name = &l->raddr[i];
        mh->msg_namelen = sizeof l->raddr[i];
        mh->msg_iov = &l->riov[i];
        mh->msg_iovlen = 1;
        mh->msg_control = l->rctrl[i].buf;
        mh->msg_controllen = sizeof l->rctrl[i].buf;
        mh->msg_flags = 0;
    }
}

static void udp_poll_cb(uv_poll_t *p, int status, int events)
{
    struct udp_listener *l = p->data;
    (void)events;

    if (status < 0)
        return;
    for (unsigned round = 0; round < UDP_ROUNDS; round++) {
        udp_prepare_recv(l);
        int n = recvmmsg(l->fd, l->rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        unsigned nsend = 0;
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &l->rmsg[i].msg_hdr;
            if (mh->msg_flags & MSG_TRUNC) {
                worker_count_drop(l->w); /* bigger than any sane query */
                continue;
            }
            struct client c;
            memset(&c, 0, sizeof c);
            memcpy(&c.addr, &l->raddr[i], mh->msg_namelen);
            c.addrlen = mh->msg_namelen;
            c.udp = l;
            read_pktinfo(mh, &c);
            size_t len = worker_query(l->w, l->rbuf[i], l->rmsg[i].msg_len, &c, l->sbuf[nsend],
                                      LISTENER_UDP_MAX);
            if (len == 0)
                continue;
            struct msghdr *sh = &l->smsg[nsend].msg_hdr;
            l->siov[nsend].iov_base = l->sbuf[nsend];
            l->siov[nsend].iov_len = len;
            sh->msg_name = &l->raddr[i];
            sh->msg_namelen = mh->msg_namelen;
            sh->msg_iov = &l->siov[nsend];
            sh->msg_iovlen = 1;
            sh->msg_controllen = write_pktinfo(&c, &l->sctrl[nsend]);
            sh->msg_control = sh->msg_controllen ? l->sctrl[nsend].buf : NULL;
            sh->msg_flags = 0;
            nsend++;
        }
        if (nsend)
            udp_flush(l, nsend);
        if (n < UDP_BATCH)
            break;
    }
}

static void udp_closed_cb(uv_handle_t *h)
{
    struct udp_listener *l = h->data;
    close(l->fd);
    free(l);
}

int listener_udp_start(struct worker *w, uv_loop_t *loop, int fd, struct udp_listener **out)
{
    struct udp_listener *l = calloc(1, sizeof *l);
    int rc;

    if (!l)
        return -ENOMEM;
    l->fd = fd;
    l->w = w;
    for (unsigned i = 0; i < UDP_BATCH; i++) {
        l->riov[i].iov_base = l->rbuf[i];
        l->riov[i].iov_len = sizeof l->rbuf[i];
    }
    if ((rc = uv_poll_init(loop, &l->poll, fd)) < 0) {
        close(fd);
        free(l);
        return rc;
    }
    l->poll.data = l;
    if ((rc = uv_poll_start(&l->poll, UV_READABLE, udp_poll_cb)) < 0) {
        uv_close((uv_handle_t *)&l->poll, udp_closed_cb);
        return rc;
    }
    *out = l;
    return 0;
}

void listener_udp_close(struct udp_listener *l)
{
    if (l && !uv_is_closing((uv_handle_t *)&l->poll))
        uv_close((uv_handle_t *)&l->poll, udp_closed_cb);
}

static void udp_send_one(const struct client *c, const uint8_t *pkt, size_t len)
{
    union pktinfo_ctrl ctrl;
    struct iovec iov = {.iov_base = (void *)pkt, .iov_len = len};
    struct msghdr mh = {
        .msg_name = (void *)&c->addr,
        .msg_namelen = c->addrlen,
        .msg_iov = &iov,
        .msg_iovlen = 1,
    };

    mh.msg_controllen = write_pktinfo(c, &ctrl);
    mh.msg_control = mh.msg_controllen ? ctrl.buf : NULL;
    if (sendmsg(c->udp->fd, &mh, MSG_DONTWAIT) < 0)
        worker_count_send_error(c->udp->w);
}

/* --- TCP --------------------------------------------------------------------*/

static void tcp_listener_maybe_free(struct tcp_listener *l)
{
    if (l->closing && l->server_closed && l->nconns == 0)
        free(l);
}

static void conn_unref(struct tcp_conn *c)
{
    if (--c->refs > 0)
        return;
    free(c->rbuf);
    free(c);
}

static void conn_closed_cb(uv_handle_t *h)
{
    struct tcp_conn *c = h->data;

    if (--c->open_handles > 0)
        return;
    struct tcp_listener *l = c->l;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->nconns--;
    c->l = NULL;
    conn_unref(c); /* the reference for being open */
    tcp_listener_maybe_free(l);
}

static void conn_close(struct tcp_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->h, conn_closed_cb);
    uv_close((uv_handle_t *)&c->idle, conn_closed_cb);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

/* The client has sent everything it will and has every answer: let the
 * pending writes drain, then close (RFC 7766 section 6.2.3). */
static void conn_finish_if_done(struct tcp_conn *c)
{
    if (!c->eof || c->inflight > 0 || c->closing)
        return;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->h, conn_shutdown_cb) < 0)
        conn_close(c);
}

static void conn_write_cb(uv_write_t *req, int status)
{
    struct tcp_write *w = (struct tcp_write *)req;
    struct tcp_conn *c = w->c;

    c->write_queue -= w->len;
    free(w);
    if (status < 0)
        conn_close(c);
    conn_unref(c);
}

static void conn_write(struct tcp_conn *c, const uint8_t *pkt, size_t len)
{
    if (c->closing || len > TCP_MAX_MSG)
        return;
    if (c->write_queue + len > TCP_MAX_WRITE_QUEUE) {
        conn_close(c); /* it does not read its answers */
        return;
    }
    struct tcp_write *w = malloc(sizeof *w + 2 + len);
    if (!w) {
        conn_close(c);
        return;
    }
    w->c = c;
    w->len = len;
    wire_put16(w->data, (uint16_t)len);
    memcpy(w->data + 2, pkt, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(len + 2));
    c->refs++;
    c->write_queue += len;
    if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, conn_write_cb) < 0) {
        c->write_queue -= len;
        free(w);
        conn_close(c);
        conn_unref(c);
    }
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tcp_conn *c = h->data;
    size_t want = c->rlen + 4096;
    (void)suggested;

    if (want > 2 + TCP_MAX_MSG + 4096)
        want = 2 + TCP_MAX_MSG + 4096;
    if (c->rcap < want) {
        uint8_t *n = realloc(c->rbuf, want);
        if (!n) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->rbuf = n;
        c->rcap = want;
    }
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

/* Answers every complete query in the buffer, up to the in-flight bound. */
static void conn_process(struct tcp_conn *c)
{
    struct tcp_listener *l = c->l;
    size_t off = 0;

    if (c->processing)
        return;
    c->processing = true;
    while (!c->closing && c->rlen - off >= 2 && c->inflight < TCP_MAX_INFLIGHT) {
        size_t mlen = wire_get16(c->rbuf + off);
        if (c->rlen - off < 2 + mlen)
            break;
        size_t len = worker_query(l->w, c->rbuf + off + 2, mlen, &c->client, l->out, sizeof l->out);
        off += 2 + mlen;
        if (len)
            conn_write(c, l->out, len);
    }
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    c->processing = false;
    if (c->closing)
        return;
    bool want_read = !c->eof && c->inflight < TCP_MAX_INFLIGHT;
    if (want_read && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->h, conn_alloc_cb, conn_read_cb) == 0)
            c->reading = true;
    } else if (!want_read && c->reading) {
        uv_read_stop((uv_stream_t *)&c->h);
        c->reading = false;
    }
    conn_finish_if_done(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *c = s->data;
    (void)buf;

    if (nread == UV_EOF) {
        c->eof = true;
        uv_read_stop(s);
        c->reading = false;
        conn_process(c);
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->rlen += (size_t)nread;
    uv_timer_again(&c->idle);
    conn_process(c);
}

static void conn_idle_cb(uv_timer_t *t)
{
    struct tcp_conn *c = t->data;

    if (c->inflight == 0)
        conn_close(c); /* RFC 7766 section 6.2.3: idle connections are closed */
}

/* The interface that owns a local address.  A TCP socket reports no
 * packet info, so a connection's interface (for segments matched by
 * interface) is the one its local address is configured on, which is where
 * a client on that VLAN reaches it.  0 when none does (e.g. a route to an
 * address of another interface). */
static int local_ifindex(const struct sockaddr_storage *local)
{
    struct ifaddrs *ifs, *i;
    int found = 0;

    if (getifaddrs(&ifs) < 0)
        return 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != local->ss_family)
            continue;
        bool same = local->ss_family == AF_INET
                        ? ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
                              ((const struct sockaddr_in *)local)->sin_addr.s_addr
                        : memcmp(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
                                 &((const struct sockaddr_in6 *)local)->sin6_addr, 16) == 0;
        if (same)
            found = (int)if_nametoindex(i->ifa_name);
    }
    freeifaddrs(ifs);
    return found;
}

static void tcp_connection_cb(uv_stream_t *server, int status)
{
    struct tcp_listener *l = server->data;
    struct tcp_conn *c;

    if (status < 0 || l->closing)
        return;
    if (!(c = calloc(1, sizeof *c)))
        return;
    uv_tcp_init(server->loop, &c->h);
    c->h.data = c;
    c->l = l;
    c->refs = 1;
    c->open_handles = 2;
    uv_timer_init(server->loop, &c->idle);
    c->idle.data = c;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->h) < 0 || l->nconns > l->max_conns) {
        worker_count_drop(l->w);
        conn_close(c);
        return;
    }
    int len = sizeof c->client.addr;
    uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->client.addr, &len);
    c->client.addrlen = (socklen_t)len;
    len = sizeof c->client.local;
    uv_tcp_getsockname(&c->h, (struct sockaddr *)&c->client.local, &len);
    c->client.ifindex = local_ifindex(&c->client.local);
    c->client.tcp = c;
    uv_timer_start(&c->idle, conn_idle_cb, l->idle_ms, l->idle_ms);
    conn_process(c);
}

static void tcp_server_closed_cb(uv_handle_t *h)
{
    struct tcp_listener *l = h->data;
    l->server_closed = true;
    tcp_listener_maybe_free(l);
}

int listener_tcp_start(struct worker *w, uv_loop_t *loop, int fd, unsigned max_conns,
                       unsigned idle_ms, struct tcp_listener **out)
{
    struct tcp_listener *l = calloc(1, sizeof *l);
    int rc;

    if (!l)
        return -ENOMEM;
    l->w = w;
    l->max_conns = max_conns ? max_conns : 1;
    l->idle_ms = idle_ms ? idle_ms : 10000;
    uv_tcp_init(loop, &l->server);
    l->server.data = l;
    if ((rc = uv_tcp_open(&l->server, fd)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&l->server, TCP_BACKLOG, tcp_connection_cb)) < 0) {
        l->closing = true;
        uv_close((uv_handle_t *)&l->server, tcp_server_closed_cb);
        return rc;
    }
    *out = l;
    return 0;
}

void listener_tcp_close(struct tcp_listener *l)
{
    if (!l || l->closing)
        return;
    l->closing = true;
    for (struct tcp_conn *c = l->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&l->server, tcp_server_closed_cb);
}

/* --- answering later ----------------------------------------------------------*/

void listener_send(const struct client *c, const uint8_t *pkt, size_t len)
{
    if (c->tcp)
        conn_write(c->tcp, pkt, len);
    else if (c->udp)
        udp_send_one(c, pkt, len);
}

void listener_client_hold(const struct client *c)
{
    if (c->tcp) {
        c->tcp->refs++;
        c->tcp->inflight++;
    }
}

void listener_client_release(const struct client *c)
{
    struct tcp_conn *conn = c->tcp;

    if (!conn)
        return;
    conn->inflight--;
    if (!conn->closing)
        conn_process(conn); /* resume reading, or finish after EOF */
    conn_unref(conn);
}
