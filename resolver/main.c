/*
 * main.c - gatehoused: command line, start-up, signals, shut-down.
 *
 * Start-up order matters: load and check the config, bind every socket
 * (port 53 needs privilege), drop privileges, then start the workers.  Only
 * then is "ready" logged and systemd told.  Nothing is sent upstream until the
 * first client query: priming happens then.
 *
 * Signals are handled on the main thread's own loop: SIGHUP reloads (a bad
 * new config keeps the old one running and says why), SIGTERM and SIGINT
 * drain and exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "worker.h"

struct main_state {
    struct daemon d;
    const char *config_path; /* NULL: built-in */
    unsigned generation;
    int verbosity_bump; /* -v given n times */
    uv_signal_t sighup, sigterm, sigint;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gatehoused [-c FILE] [--check-config] [-f] [-v]... [--version]\n"
               "  -c, --config FILE   configuration file (default: built-in)\n"
               "  -n, --check-config  check the configuration and exit\n"
               "  -f, --foreground    stay in the foreground (always so under systemd)\n"
               "  -v, --verbose       more log output (repeat for more)\n"
               "  -V, --version       print the version and exit\n");
}

static struct config *load_config(const char *path, char *err, size_t errlen)
{
    struct config *cfg = NULL;
    int rc;

    if (!path) {
        cfg = config_default();
        if (!cfg)
            snprintf(err, errlen, "out of memory");
        return cfg;
    }
    rc = config_load(path, &cfg, err, errlen);
    return rc < 0 ? NULL : cfg;
}

static struct cache_limits cache_limits_of(const struct config *cfg)
{
    struct cache_limits l = {
        .max_bytes = cfg->cache_size,
        .min_ttl = cfg->cache_min_ttl,
        .max_ttl = cfg->cache_max_ttl,
        .max_negative_ttl = cfg->cache_max_negative_ttl,
        .stale_max_age = cfg->serve_stale ? cfg->stale_max_age : 0,
    };
    return l;
}

static int effective_verbosity(const struct main_state *m, const struct config *cfg)
{
    return cfg->verbosity + m->verbosity_bump;
}

static int index_category_id(void *arg, const char *name)
{
    struct daemon_index *ix = arg;
    int id = ix ? blocklist_category_id(ix->bl, name) : -1;
    return id < 0 ? -1 : id;
}

/* Builds a configuration generation from cfg (consumed): root hints, the
 * blocklist index (reused when the file is unchanged since prev) and the
 * policies, whose categories are numbered by that index. */
static struct daemon_env *make_env(struct main_state *m, struct config *cfg,
                                   struct daemon_index *prev, char *err, size_t errlen)
{
    struct daemon_index *ix = NULL;
    struct policy_set *ps = NULL;
    struct hints *h = hints_load(cfg->root_hints, err, errlen);

    if (!h)
        goto fail;
    if (daemon_index_open(cfg->blocklist_index, prev, &ix, err, errlen) < 0)
        goto fail;
    if (cfg->nsegments && !ix)
        log_warning("no blocklist index at %s: categories match nothing until "
                    "'gatehousectl blocklists compile' makes one",
                    cfg->blocklist_index);
    if (cfg->nsegments && policy_set_build(cfg, index_category_id, ix, &ps, err, errlen) < 0)
        goto fail;
    struct daemon_env *e = daemon_env_new(&m->d, cfg, h, ix, ps, ++m->generation);
    if (!e)
        snprintf(err, errlen, "out of memory");
    return e;
fail:
    daemon_index_unref(ix);
    hints_free(h);
    config_free(cfg);
    return NULL;
}

/* The log keeps names, not numbers, beside its records: segment i is id
 * i + 1 and category bit b is id b + 1 (0 means none in a record). */
static void log_name_tables(struct qlog_store *q, const struct daemon_env *e)
{
    if (!q)
        return;
    for (size_t i = 0; i < e->cfg->nsegments && i < 255; i++)
        qlog_set_segment_name(q, (uint8_t)(i + 1), e->cfg->segments[i].name);
    for (unsigned id = 0; e->index && id < 64; id++) {
        const char *name = blocklist_category_name(e->index->bl, id);
        if (name)
            qlog_set_category_name(q, (uint16_t)(id + 1), name);
    }
}

/* The query log lives under server.state-dir; neither failing to make the
 * directory nor failing to open the log stops resolution (issue: resolution
 * goes on), but both are said loudly. */
static struct qlog_store *open_query_log(const struct config *cfg)
{
    struct qlog_store *q = NULL;
    int rc;

    if (!cfg->log_enabled)
        return NULL;
    if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
        log_error("query log disabled: cannot create %s: %s", cfg->state_dir, strerror(errno));
        return NULL;
    }
    if ((rc = qlog_open(cfg->log_path, cfg->log_map_size, 0, &q)) < 0) {
        log_error("query log disabled: cannot open %s: %s", cfg->log_path, strerror(-rc));
        return NULL;
    }
    return q;
}

/* Schedules are in the school's time zone.  TZ is process-wide and not safe
 * to change while workers read local time, so it is set once, here. */
static void set_timezone(const char *tz)
{
    if (tz && *tz) {
        setenv("TZ", tz, 1);
        tzset();
    }
}

static void reload(struct main_state *m)
{
    char err[1024];
    struct config *cfg = load_config(m->config_path, err, sizeof err);

    if (!cfg) {
        log_error("reload failed, still running the previous configuration: %s", err);
        sd_notify(0, "RELOADING=0\nSTATUS=reload failed; previous configuration kept");
        return;
    }
    struct daemon_env *cur = daemon_env_get(&m->d);
    int rc = config_reloadable(cur->cfg, cfg, err, sizeof err);
    if (rc < 0) {
        daemon_env_unref(cur);
        log_error("reload refused, still running the previous configuration: %s", err);
        config_free(cfg);
        return;
    }
    struct cache_limits limits = cache_limits_of(cfg);
    int verbosity = effective_verbosity(m, cfg);
    struct daemon_env *e = make_env(m, cfg, cur->index, err, sizeof err);
    daemon_env_unref(cur);
    if (!e) {
        log_error("reload failed, still running the previous configuration: %s", err);
        return;
    }
    cache_set_limits(m->d.cache, &limits);
    log_set_verbosity(verbosity);
    log_name_tables(m->d.qlog, e);
    daemon_env_publish(&m->d, e);
    for (unsigned i = 0; i < m->d.nworkers; i++)
        worker_reload(m->d.workers[i]);
    log_notice("reloaded configuration (generation %u)", m->generation);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    struct main_state *m = s->data;

    if (signum == SIGHUP) {
        sd_notify(0, "RELOADING=1");
        reload(m);
        sd_notify(0, "READY=1");
        return;
    }
    log_notice("received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    for (unsigned i = 0; i < m->d.nworkers; i++)
        worker_stop(m->d.workers[i]);
    uv_close((uv_handle_t *)&m->sighup, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
}

/* server.user: leave root once every socket is bound. */
static int drop_privileges(const char *user, char *err, size_t errlen)
{
    if (!user || !*user)
        return 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "server.user: no such user '%s'", user);
        return -ENOENT;
    }
    if (getuid() != 0 && getuid() == pw->pw_uid)
        return 0; /* already that user (e.g. started so by systemd) */
    if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "cannot become user '%s': %s", user, strerror(errno));
        return -errno;
    }
    if (setuid(0) == 0) {
        snprintf(err, errlen, "could still regain root after dropping to '%s'", user);
        return -EPERM;
    }
    return 0;
}

static int start_workers(struct main_state *m, const struct config *cfg, char *err, size_t errlen)
{
    struct daemon *d = &m->d;
    int rc;

    d->nworkers = cfg->threads;
    d->workers = calloc(d->nworkers, sizeof *d->workers);
    if (!d->workers)
        return -ENOMEM;
    for (unsigned i = 0; i < d->nworkers; i++) {
        if (!(d->workers[i] = worker_new(d, i))) {
            snprintf(err, errlen, "cannot create worker %u", i);
            return -ENOMEM;
        }
        /* Each worker binds its own sockets: SO_REUSEPORT spreads clients. */
        for (size_t k = 0; k < cfg->nlisten; k++) {
            int ufd, tfd;
            if ((rc = listener_bind(&cfg->listen[k], &ufd, &tfd, err, errlen)) < 0)
                return rc;
            if ((rc = worker_add_listener(d->workers[i], ufd, tfd)) < 0) {
                snprintf(err, errlen, "cannot serve listener %zu: %s", k, uv_strerror(rc));
                return rc;
            }
        }
    }
    if ((rc = drop_privileges(cfg->user, err, errlen)) < 0)
        return rc;
    for (unsigned i = 0; i < d->nworkers; i++) {
        if ((rc = worker_start(d->workers[i])) < 0) {
            snprintf(err, errlen, "cannot start worker thread: %s", uv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void describe_listeners(const struct config *cfg, char *out, size_t cap)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < cfg->nlisten && o < cap; i++) {
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        const struct sockaddr_storage *ss = &cfg->listen[i].ss;
        if (ss->ss_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof host);
            port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
        } else {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof host);
            port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        }
        int n = snprintf(out + o, cap - o, "%s%s@%u", i ? " " : "", host, port);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* Without -f and outside systemd: the classic double fork. */
static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        return -errno;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'n'},
        {"foreground", no_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct main_state m = {0};
    bool check_only = false, foreground = false;
    char err[1024];
    int opt;

    while ((opt = getopt_long(argc, argv, "c:nfvVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            m.config_path = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        case 'f':
            foreground = true;
            break;
        case 'v':
            m.verbosity_bump++;
            break;
        case 'V':
            printf("gatehoused %s\n", GATEHOUSE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gatehoused: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct config *cfg = load_config(m.config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (check_only) {
        struct hints *h = hints_load(cfg->root_hints, err, sizeof err);
        struct daemon_index *ix = NULL;
        struct policy_set *ps = NULL;
        int bad = !h || daemon_index_open(cfg->blocklist_index, NULL, &ix, err, sizeof err) < 0 ||
                  (cfg->nsegments &&
                   policy_set_build(cfg, index_category_id, ix, &ps, err, sizeof err) < 0);
        policy_set_free(ps);
        daemon_index_unref(ix);
        hints_free(h);
        if (bad) {
            fprintf(stderr, "%s\n", err);
            config_free(cfg);
            return 1;
        }
        printf("%s: ok\n", m.config_path ? m.config_path : "(built-in)");
        config_free(cfg);
        return 0;
    }

    log_init("gatehoused", effective_verbosity(&m, cfg));
    signal(SIGPIPE, SIG_IGN);
    if (!foreground && !getenv("NOTIFY_SOCKET") && !getenv("INVOCATION_ID") && daemonize() < 0) {
        log_error("cannot run in the background: %s", strerror(errno));
        return 1;
    }

    struct cache_limits limits = cache_limits_of(cfg);
    m.d.started = time(NULL);
    pthread_mutex_init(&m.d.env_lock, NULL);
    m.d.cache = cache_new(&limits);
    m.d.infra = infra_new();
    if (!m.d.cache || !m.d.infra) {
        log_error("out of memory at start-up");
        return 1;
    }
    set_timezone(cfg->timezone);
    m.d.env = make_env(&m, cfg, NULL, err, sizeof err);
    if (!m.d.env) {
        log_error("%s", err);
        return 1;
    }
    cfg = m.d.env->cfg;
    m.d.qlog = open_query_log(cfg);
    log_name_tables(m.d.qlog, m.d.env);

    int exit_code = 0;
    int rc = start_workers(&m, cfg, err, sizeof err);
    if (rc == 0 && m.d.qlog &&
        (rc = qlog_writer_start(m.d.qlog, cfg->log_retention, cfg->log_retention_flagged)) < 0)
        snprintf(err, sizeof err, "cannot start the query log writer: %s", strerror(-rc));
    if (rc < 0) {
        log_error("%s", err);
        exit_code = 1;
        for (unsigned i = 0; i < m.d.nworkers && m.d.workers; i++)
            if (m.d.workers[i])
                worker_stop(m.d.workers[i]);
    } else {
        uv_loop_t *loop = uv_default_loop();
        uv_signal_init(loop, &m.sighup);
        uv_signal_init(loop, &m.sigterm);
        uv_signal_init(loop, &m.sigint);
        m.sighup.data = m.sigterm.data = m.sigint.data = &m;
        uv_signal_start(&m.sighup, signal_cb, SIGHUP);
        uv_signal_start(&m.sigterm, signal_cb, SIGTERM);
        uv_signal_start(&m.sigint, signal_cb, SIGINT);

        char where[512];
        describe_listeners(cfg, where, sizeof where);
        log_notice("gatehoused %s ready: listening on %s, %u thread%s, root hints %s",
                   GATEHOUSE_VERSION, where, cfg->threads, cfg->threads == 1 ? "" : "s",
                   cfg->root_hints ? cfg->root_hints : "built in");
        sd_notifyf(0, "READY=1\nSTATUS=answering on %s", where);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }

    for (unsigned i = 0; i < m.d.nworkers && m.d.workers; i++)
        if (m.d.workers[i])
            worker_join_free(m.d.workers[i]);
    free(m.d.workers);
    qlog_close(m.d.qlog); /* drains the rings and commits */
    daemon_env_unref(m.d.env);
    cache_free(m.d.cache);
    infra_free(m.d.infra);
    pthread_mutex_destroy(&m.d.env_lock);
    if (exit_code == 0)
        log_notice("stopped");
    return exit_code;
}
