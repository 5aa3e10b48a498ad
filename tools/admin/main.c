/*
 * gatehouse-admin - the admin web pages: HTTPS (libmicrohttpd over GnuTLS)
 * on admin.listen, static pages from the www directory, and the JSON API
 * of api.c.  A separate process from gatehoused: it shares the query log
 * and the grants with it (and gatehousectl) through LMDB, and asks it for
 * its status on the control socket.  It never touches the query path.
 *
 *   gatehouse-admin [-c CONFIG] [-w WWWDIR] [-t]
 *
 * For every request: the route (http.c); a size limit on the body (413);
 * for the API, the session cookie (401), the role (403), and for a change
 * the CSRF token in X-CSRF-Token, a JSON Content-Type and, when the browser
 * sends one, an Origin of this very host (403).  Every reply carries a
 * strict Content-Security-Policy; pages load nothing from elsewhere.
 *
 * Not here: what the API does (api.c), sessions (session.c).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "admin.h"
#include "grants.h"
#include "qlog.h"

#define ADMIN_MAX_LISTEN 8
#define ADMIN_STATIC_MAX 32 /* files in the www directory */
#define ADMIN_STATIC_FILE_MAX (512u << 10)
#define ADMIN_PEM_MAX (64u << 10)
#define ADMIN_ARGS_MAX 32
#define ADMIN_CONN_MEMORY (32u << 10) /* per connection: bounds the request line and headers */
#define ADMIN_DEFAULT_CONFIG "/etc/gatehouse/gatehouse.yaml"
#ifndef ADMIN_WWW_DIR
#define ADMIN_WWW_DIR "/usr/local/share/gatehouse/admin-www"
#endif

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; frame-src 'self'; "
                          "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct static_file {
    char name[64];
    char *data;
    size_t len;
};

static struct admin A;
static struct static_file statics[ADMIN_STATIC_MAX];
static size_t nstatics;

/* Per request: the body as it arrives. */
struct conn {
    char *body;
    size_t len;
    bool too_big;
};

static int read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    char *b = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (b && n < (size_t)st.st_size) {
        ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!b)
        return -ENOMEM;
    b[n] = 0;
    *out = b;
    *len = n;
    return 0;
}

/* The pages are read once at start: the server names files only from this
 * table, so no URL can reach anything else on the disk. */
static int load_statics(const char *dir)
{
    static const char *const names[] = {"index.html", "app.js", "style.css", "favicon.svg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct static_file *f = &statics[nstatics];
        int rc = read_file(path, ADMIN_STATIC_FILE_MAX, &f->data, &f->len);
        if (rc == -ENOENT && i >= 3)
            continue; /* optional */
        if (rc < 0) {
            fprintf(stderr, "gatehouse-admin: %s: %s\n", path, strerror(-rc));
            return rc;
        }
        snprintf(f->name, sizeof f->name, "%s", names[i]);
        nstatics++;
    }
    return 0;
}

static void add_common_headers(struct MHD_Response *resp, const char *csp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", csp ? csp : CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    MHD_add_response_header(resp, "X-Frame-Options", csp ? "SAMEORIGIN" : "DENY");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
}

static enum MHD_Result send_bytes(struct MHD_Connection *c, int status, const char *type,
                                  const void *data, size_t len, const struct admin_reply *r,
                                  bool cache)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp, r ? r->csp : NULL);
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", cache ? "no-cache" : "no-store");
    if (r && r->cookie[0])
        MHD_add_response_header(resp, "Set-Cookie", r->cookie);
    if (r && r->disposition)
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct admin_reply *r)
{
    enum MHD_Result ret;
    if (r->json) {
        char *s = json_dumps(r->json, JSON_COMPACT);
        if (!s)
            return MHD_NO;
        ret = send_bytes(c, r->status, "application/json", s, strlen(s), r, false);
        free(s);
    } else {
        ret = send_bytes(c, r->status, r->type ? r->type : "application/octet-stream", r->body,
                         r->len, r, false);
    }
    json_decref(r->json);
    free(r->body);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg)
{
    struct admin_reply r = {0};
    admin_error(&r, status, msg);
    return send_reply(c, &r);
}

struct args {
    struct admin_kv kv[ADMIN_ARGS_MAX];
    size_t n;
    bool overflow;
};

static enum MHD_Result arg_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    struct args *a = cls;
    (void)kind;
    if (a->n >= ADMIN_ARGS_MAX) {
        a->overflow = true;
        return MHD_NO;
    }
    a->kv[a->n].key = key;
    a->kv[a->n].value = value;
    a->n++;
    return MHD_YES;
}

/* The request's Host, for the Origin check: https://HOST must be the
 * origin of a change (a browser always sends Origin on a fetch POST). */
static bool origin_ok(struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!origin)
        return true; /* not a browser (curl, scripts): the CSRF token decides */
    if (!host || strncmp(origin, "https://", 8) != 0)
        return false;
    return strcmp(origin + 8, host) == 0;
}

static bool is_json_body(struct MHD_Connection *c)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!t || strncasecmp(t, "application/json", 16) != 0)
        return false;
    return t[16] == 0 || t[16] == ';' || t[16] == ' ';
}

static enum MHD_Result dispatch(struct MHD_Connection *c, const char *url, const char *method,
                                struct conn *cn)
{
    uint64_t id;
    enum admin_route route = admin_route(method, url, &id);
    if (route == ADMIN_R_NOT_FOUND)
        return send_error(c, 404, "no such page");
    if (route == ADMIN_R_BAD_METHOD)
        return send_error(c, 405, "method not allowed here");
    if (cn->too_big)
        return send_error(c, 413, "request body too large");
    if (route == ADMIN_R_STATIC) {
        char name[64];
        admin_static_name(url, name, sizeof name);
        for (size_t i = 0; i < nstatics; i++)
            if (!strcmp(statics[i].name, name))
                return send_bytes(c, 200, admin_static_type(name), statics[i].data, statics[i].len,
                                  NULL, true);
        return send_error(c, 404, "no such page");
    }
    bool post = !strcmp(method, "POST");
    if (!post && cn->len)
        return send_error(c, 400, "a GET has no body");
    if (post && !is_json_body(c))
        return send_error(c, 415, "send application/json");
    if (post && !origin_ok(c))
        return send_error(c, 403, "request from another site refused");

    struct args args = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_cb, &args);
    if (args.overflow)
        return send_error(c, 400, "too many parameters");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct admin_request q = {.route = route,
                              .id = id,
                              .body = cn->body,
                              .len = cn->len,
                              .client = ci ? ci->client_addr : NULL,
                              .args = args.kv,
                              .nargs = args.n};
    struct admin_reply r = {0};

    pthread_mutex_lock(&A.lock);
    if (route == ADMIN_R_LOGIN) {
        api_login(&A, &q, &r);
        pthread_mutex_unlock(&A.lock);
        return send_reply(c, &r);
    }
    char token[ADMIN_TOKEN_HEX + 1];
    int64_t now = admin_mono();
    struct session *s = NULL;
    if (admin_cookie_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie"), token) == 0)
        s = session_find(A.sessions, token, now);
    if (s) {
        /* The account must still be what it was at log-in. */
        admin_users_refresh(&A);
        const struct users_account *acc = users_find(A.users, s->name);
        if (!acc || acc->role != s->role || strcmp(acc->hash, s->hash)) {
            session_end(A.sessions, s);
            s = NULL;
        }
    }
    if (!s) {
        pthread_mutex_unlock(&A.lock);
        return send_error(c, 401, "please log in");
    }
    q.session = s;
    if (admin_route_changes(route) &&
        !session_csrf_ok(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token"))) {
        admin_audit(&A, s->name, "csrf-refused", url);
        pthread_mutex_unlock(&A.lock);
        return send_error(c, 403, "missing or wrong CSRF token: reload the page");
    }
    enum users_cap cap = 0;
    switch (route) {
    case ADMIN_R_VISITORS:
    case ADMIN_R_GRANTS:
    case ADMIN_R_GRANT:
    case ADMIN_R_REVOKE:
        cap = USERS_CAP_GRANTS;
        break;
    case ADMIN_R_REPORTS:
    case ADMIN_R_REPORT:
    case ADMIN_R_SEARCH:
        cap = USERS_CAP_SAFEGUARD;
        break;
    case ADMIN_R_STATUS:
    case ADMIN_R_AUDIT:
        cap = USERS_CAP_STATUS;
        break;
    default:
        break;
    }
    if (cap && !users_may(s->role, cap)) {
        pthread_mutex_unlock(&A.lock);
        return send_error(c, 403, "your account may not do this");
    }
    switch (route) {
    case ADMIN_R_LOGOUT:
        api_logout(&A, &q, &r);
        break;
    case ADMIN_R_ME:
        api_me(&A, &q, &r);
        break;
    case ADMIN_R_VISITORS:
        api_visitors(&A, &q, &r);
        break;
    case ADMIN_R_GRANTS:
        api_grants(&A, &q, &r);
        break;
    case ADMIN_R_GRANT:
        api_grant(&A, &q, &r);
        break;
    case ADMIN_R_REVOKE:
        api_revoke(&A, &q, &r);
        break;
    case ADMIN_R_OPTIONS:
        api_options(&A, &q, &r);
        break;
    case ADMIN_R_REPORTS:
        api_reports(&A, &q, &r);
        break;
    case ADMIN_R_REPORT:
        api_report(&A, &q, &r);
        break;
    case ADMIN_R_SEARCH:
        api_search(&A, &q, &r);
        break;
    case ADMIN_R_STATUS:
        api_status(&A, &q, &r);
        break;
    case ADMIN_R_AUDIT:
        api_audit(&A, &q, &r);
        break;
    default:
        admin_error(&r, 404, "no such page");
        break;
    }
    pthread_mutex_unlock(&A.lock);
    if (!r.json && !r.body && r.status == 0)
        admin_error(&r, 500, "internal error");
    return send_reply(c, &r);
}

static enum MHD_Result handler_cb(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct conn *cn = *con_cls;
    (void)cls;
    (void)version;
    if (!cn) {
        cn = calloc(1, sizeof *cn);
        if (!cn)
            return MHD_NO;
        *con_cls = cn;
        /* A declared body over the limit is refused before it is read. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > ADMIN_BODY_MAX)
                cn->too_big = true;
        }
        if (strnlen(url, ADMIN_URL_MAX + 1) > ADMIN_URL_MAX)
            return send_error(c, 414, "address too long");
        if (cn->too_big)
            return send_error(c, 413, "request body too large");
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cn->too_big || cn->len + n > ADMIN_BODY_MAX) {
            cn->too_big = true; /* read and dropped; 413 at the end */
            return MHD_YES;
        }
        char *b = realloc(cn->body, cn->len + n + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + cn->len, upload, n);
        cn->body = b;
        cn->len += n;
        cn->body[cn->len] = 0;
        return MHD_YES;
    }
    return dispatch(c, url, method, cn);
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (cn) {
        free(cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("gatehouse-admin: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gatehouse-admin [-c CONFIG] [-w WWWDIR] [-t]\n"
               "  -c CONFIG  gatehoused's configuration (default " ADMIN_DEFAULT_CONFIG ")\n"
               "  -w WWWDIR  the pages (default " ADMIN_WWW_DIR ")\n"
               "  -t         check the configuration, certificate, key and pages, then exit\n");
}

int main(int argc, char **argv)
{
    const char *conf = ADMIN_DEFAULT_CONFIG, *www = ADMIN_WWW_DIR;
    bool check = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:w:th")) != -1) {
        switch (opt) {
        case 'c':
            conf = optarg;
            break;
        case 'w':
            www = optarg;
            break;
        case 't':
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    char err[512];
    if (config_load(conf, &A.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "gatehouse-admin: %s\n", err);
        return 1;
    }
    if (!A.cfg->nadmin_listen) {
        fprintf(stderr, "gatehouse-admin: admin.listen is not set in %s: nothing to serve\n", conf);
        return 1;
    }
    if (A.cfg->nadmin_listen > ADMIN_MAX_LISTEN) {
        fprintf(stderr, "gatehouse-admin: at most %d admin.listen addresses\n", ADMIN_MAX_LISTEN);
        return 1;
    }
    char *cert = NULL, *key = NULL;
    size_t cl, kl;
    int rc;
    if ((rc = read_file(A.cfg->admin_certificate, ADMIN_PEM_MAX, &cert, &cl)) < 0) {
        fprintf(stderr, "gatehouse-admin: admin.certificate %s: %s\n", A.cfg->admin_certificate,
                strerror(-rc));
        return 1;
    }
    if ((rc = read_file(A.cfg->admin_key, ADMIN_PEM_MAX, &key, &kl)) < 0) {
        fprintf(stderr, "gatehouse-admin: admin.key %s: %s\n", A.cfg->admin_key, strerror(-rc));
        return 1;
    }
    if (load_statics(www) < 0)
        return 1;
    if (check) {
        printf("gatehouse-admin: configuration, certificate, key and pages are readable\n");
        return 0;
    }
    /* The audit table lives in the query log: without it, nothing may be
     * done, so a log that cannot be opened stops the start. */
    if ((rc = qlog_open(A.cfg->log_path, A.cfg->log_map_size, 0, &A.qlog)) < 0) {
        fprintf(stderr, "gatehouse-admin: cannot open the query log %s: %s\n", A.cfg->log_path,
                strerror(-rc));
        return 1;
    }
    if ((rc = grants_open(A.cfg->grants_path, 0, &A.grants)) < 0) {
        fprintf(stderr, "gatehouse-admin: cannot open the grants %s: %s\n", A.cfg->grants_path,
                strerror(-rc));
        return 1;
    }
    if (!(A.sessions = session_table_new())) {
        fprintf(stderr, "gatehouse-admin: cannot initialise libsodium\n");
        return 1;
    }
    pthread_mutex_init(&A.lock, NULL);
    if (admin_users_refresh(&A) < 0)
        fprintf(stderr, "gatehouse-admin: warning: cannot read %s\n", A.cfg->admin_users);
    if (!A.users)
        fprintf(stderr,
                "gatehouse-admin: no accounts yet: add one with gatehousectl users add NAME "
                "--role technician\n");

    /* Signals are taken with sigwait below; block them before any thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d[ADMIN_MAX_LISTEN] = {0};
    for (size_t i = 0; i < A.cfg->nadmin_listen; i++) {
        const struct config_sockaddr *la = &A.cfg->admin_listen[i];
        unsigned flags =
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
        if (la->ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        uint16_t port =
            ntohs(la->ss.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&la->ss)->sin6_port
                                               : ((const struct sockaddr_in *)&la->ss)->sin_port);
        d[i] = MHD_start_daemon(
            flags, port, NULL, NULL, handler_cb, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL,
            MHD_OPTION_SOCK_ADDR, &la->ss, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT,
            cert, MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
            MHD_OPTION_CONNECTION_TIMEOUT, 15u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)ADMIN_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
            MHD_OPTION_END);
        if (!d[i]) {
            fprintf(stderr,
                    "gatehouse-admin: cannot serve HTTPS on admin.listen entry %zu "
                    "(address in use, or a bad certificate or key?)\n",
                    i + 1);
            for (size_t k = 0; k < i; k++)
                MHD_stop_daemon(d[k]);
            return 1;
        }
    }
    sodium_memzero(key, kl);
    free(key);
    free(cert);
    fprintf(stderr, "gatehouse-admin %s ready: %zu address(es), accounts in %s\n",
            GATEHOUSE_VERSION, A.cfg->nadmin_listen, A.cfg->admin_users);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            /* Accounts are re-read by themselves; SIGHUP only says so. */
            fprintf(stderr, "gatehouse-admin: SIGHUP: accounts are re-read when they change; "
                            "restart for other settings\n");
            continue;
        }
        break;
    }
    fprintf(stderr, "gatehouse-admin: stopping\n");
    for (size_t i = 0; i < A.cfg->nadmin_listen; i++)
        MHD_stop_daemon(d[i]);
    grants_close(A.grants);
    qlog_close(A.qlog);
    session_table_free(A.sessions);
    users_free(A.users);
    for (size_t i = 0; i < nstatics; i++)
        free(statics[i].data);
    config_free(A.cfg);
    return 0;
}
