/*
 * control.h - the control socket (gatehousectl status, reload, flush) and the
 * Prometheus metrics endpoint, both served from the main thread's libuv loop.
 *
 * Control protocol (a unix stream socket, server.control-socket, mode 0660,
 * group = the daemon's group): one request line per connection, one reply,
 * then the daemon closes.  Requests:
 *
 *     status | status json | reload | flush NAME | flush NAME subtree
 *
 * The first reply line is "ok" or "error: MESSAGE"; what follows depends on
 * the request (status: "key: value" lines or one JSON object; reload and
 * flush: one human line).
 *
 * Metrics (server.metrics, a list of ADDR@PORT): HTTP/1.0 only, GET or HEAD
 * /metrics in the Prometheus text format (version 0.0.4), 404 for any other
 * path, 400 for anything malformed, and always "Connection: close".  It is
 * not authenticated: keep it on loopback or a management network.
 *
 * Every read is bounded (line and header length, connections at once, an
 * idle timeout).  The parsers and formatters are pure functions, exported so
 * that the unit tests and the fuzz target reach them without sockets.
 *
 * What this does not do: gather the numbers (the status op does, in main.c),
 * authenticate (file permissions on the socket do), or keep connections open.
 */
#ifndef GATEHOUSE_CONTROL_H
#define GATEHOUSE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "daemon.h"

#define CONTROL_LINE_MAX 512        /* one request line, newline included */
#define CONTROL_HTTP_MAX 4096       /* request line and headers */
#define CONTROL_HTTP_MAX_HEADERS 64 /* header lines */
#define CONTROL_MAX_CLIENTS 16      /* open connections at once, per kind */
#define CONTROL_TIMEOUT_MS 5000     /* a client that sends nothing for this long is closed */
#define CONTROL_REPLY_MAX 16384     /* largest reply (metrics) */

/* What the daemon does for the control socket.  Each op runs on the main
 * thread, inside the loop.  arg is passed back. */
struct control_ops {
    /* Fills *out (zeroed by the caller). */
    void (*status)(void *arg, struct daemon_status *out);
    /* Reloads the configuration.  0 with a one-line summary in msg, or a
     * negative errno with the reason in msg (the old configuration is kept). */
    int (*reload)(void *arg, char *msg, size_t cap);
    /* Removes name (uncompressed wire form, lower case), or everything at
     * and below it, from the cache.  Returns the entries removed. */
    size_t (*flush)(void *arg, const uint8_t *name, size_t len, bool subtree);
    void *arg;
};

/* ---- pure parsers and formatters ---- */

enum control_verb {
    CONTROL_STATUS = 1,
    CONTROL_STATUS_JSON,
    CONTROL_RELOAD,
    CONTROL_FLUSH,
};

struct control_request {
    enum control_verb verb;
    uint8_t name[256]; /* CONTROL_FLUSH: wire form, lower case */
    size_t name_len;
    bool subtree;
    const char *error; /* on -EINVAL: a static message for the client */
};

/* Parses one request line (len bytes, without the newline; a trailing "\r"
 * is allowed).  0, or -EINVAL with out->error set.  Any bytes are safe. */
int control_parse_request(const char *line, size_t len, struct control_request *out);

/* A presentation-form domain name ("www.Example.org", "example.org.", ".")
 * to lower-case uncompressed wire form.  Escapes are refused.  Returns the
 * wire length (1..255) or -EINVAL. */
int control_name_to_wire(const char *text, size_t len, uint8_t out[256]);

enum control_http_method {
    CONTROL_HTTP_GET = 1,
    CONTROL_HTTP_HEAD,
    CONTROL_HTTP_OTHER, /* a well-formed token we do not serve: 405 */
};

struct control_http_request {
    enum control_http_method method;
    char path[256]; /* the target up to any '?', NUL-terminated */
    int minor;      /* HTTP/1.minor */
    unsigned nheaders;
};

#define CONTROL_HTTP_INCOMPLETE 0

/* Parses an HTTP/1.x request head (request line and headers up to the empty
 * line) from the first len bytes of buf.  Returns the bytes the head takes
 * (> 0) when complete, CONTROL_HTTP_INCOMPLETE when more bytes may complete
 * it, -E2BIG when it is longer than CONTROL_HTTP_MAX or has too many
 * headers, -EINVAL when malformed.  Bare LF line ends are accepted (RFC 9112
 * section 2.2); obsolete line folding is refused.  Any bytes are safe. */
int control_http_parse(const char *buf, size_t len, struct control_http_request *out);

/* The HTTP status to answer a parsed request with: 200, 404 or 405. */
int control_http_status(const struct control_http_request *req);

/* Writes the reply body for a status request (text "key: value" lines, or
 * one JSON object and a newline).  Returns the length written, or -ENOSPC
 * when cap is too small (out then holds a truncated, NUL-terminated text). */
int control_format_status(const struct daemon_status *st, bool json, char *out, size_t cap);

/* The Prometheus text exposition of st.  Same return as above. */
int control_format_metrics(const struct daemon_status *st, char *out, size_t cap);

/* A one-line summary for systemd's STATUS=.  Always NUL-terminates. */
void control_format_summary(const struct daemon_status *st, char *out, size_t cap);

/* ---- the servers ---- */

/* The address for a unix socket at path, for bind or connect.  A path
 * longer than sun_path allows is reached through its directory:
 * *dirfd is then an O_PATH descriptor of it and the address names
 * "/proc/self/fd/N/BASENAME" (close *dirfd after bind or connect; it is -1
 * otherwise).  0 or -ENAMETOOLONG / -errno from opening the directory. */
struct sockaddr_un;
int control_unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len, int *dirfd);

struct control;

/* Listens on cfg->control_socket (when set; a stale socket file left by a
 * dead daemon is replaced, a live one is an error) and on every
 * cfg->metrics_listen address.  ops is copied.  Call after dropping
 * privileges, so that the socket belongs to the daemon's user and group.
 * Returns 0 with *out set (free with control_close), or a negative errno
 * with a message in err; nothing is left open on failure. */
int control_start(uv_loop_t *loop, const struct config *cfg, const struct control_ops *ops,
                  struct control **out, char *err, size_t errlen);

/* Stops listening, closes open connections, removes the socket file.  The
 * memory goes in the handles' close callbacks: run the loop afterwards (the
 * daemon does: uv_run returns only when every handle is closed). */
void control_close(struct control *c);

#endif
