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
 *
 * The main loop also serves the control socket and the metrics endpoint
 * (control.c, with the ops below), keeps systemd's STATUS= line current, and
 * feeds systemd's watchdog (WatchdogSec=) only while every worker's loop is
 * still turning: a stuck worker means no pings, and systemd restarts us.
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

#include "control.h"
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
    struct control *control;   /* NULL when neither socket nor metrics are configured */
    uv_timer_t status_timer;   /* systemd STATUS= */
    uv_timer_t watchdog_timer; /* systemd WATCHDOG=1, when WatchdogSec= is set */
    uv_timer_t house_timer;    /* once a second: replaced geo databases */
    bool watchdog_on;
    bool last_reload_failed;
    /* per worker: the last heartbeat seen and when it last moved (uv_now) */
    uint64_t *hb_seen;
    uint64_t *hb_moved_ms;
};

/* How often STATUS= is refreshed: often enough that `systemctl status` looks
 * alive, rarely enough to cost nothing. */
#define MAIN_STATUS_INTERVAL_MS 5000
/* A worker's loop bumps its heartbeat every second (worker.c); one that has
 * not moved for this long is stuck, and the watchdog stops being fed. */
#define MAIN_WORKER_STALL_MS 3000

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
    struct geo_ruleset *rules = NULL;
    if (geo_ruleset_build(cfg, &rules) < 0) {
        snprintf(err, errlen, "out of memory building the network rules");
        policy_set_free(ps);
        goto fail;
    }
    struct daemon_env *e = daemon_env_new(&m->d, cfg, h, ix, ps, ++m->generation);
    if (!e) {
        geo_ruleset_free(rules);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->geo_rules = rules;
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
/* Guest access and dispensations.  Without the store a grant-required
 * segment treats every device as ungranted: said loudly, but resolution for
 * everyone else goes on. */
static struct grants_store *open_grants(const struct config *cfg)
{
    struct grants_store *g = NULL;
    int rc;

    if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
        log_error("grants unavailable: cannot create %s: %s", cfg->state_dir, strerror(errno));
        return NULL;
    }
    if ((rc = grants_open(cfg->grants_path, 0, &g)) < 0) {
        log_error("grants unavailable: cannot open %s: %s%s", cfg->grants_path, strerror(-rc),
                  cfg->nsegments ? "; grant-required segments treat every device as ungranted"
                                 : "");
        return NULL;
    }
    return g;
}

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
        if (rc == -EPROTO)
            log_error("query log disabled: %s holds a log in another format version; move it "
                      "aside (its records stay readable by the gatehousectl that wrote them) "
                      "and restart to begin a new one",
                      cfg->log_path);
        else
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

/* Loads the configuration again and swaps it in, or keeps the running one.
 * Shared by SIGHUP and the control socket's "reload".  0 with a summary in
 * msg, or a negative errno with the reason in msg; both are logged. */
static int reload(struct main_state *m, char *msg, size_t cap)
{
    char err[1024];
    struct config *cfg = load_config(m->config_path, err, sizeof err);
    int rc;

    if (!cfg) {
        rc = -EINVAL;
        snprintf(msg, cap, "reload failed, still running the previous configuration: %s", err);
        goto fail;
    }
    struct daemon_env *cur = daemon_env_get(&m->d);
    rc = config_reloadable(cur->cfg, cfg, err, sizeof err);
    if (rc < 0) {
        daemon_env_unref(cur);
        config_free(cfg);
        snprintf(msg, cap, "reload refused, still running the previous configuration: %s", err);
        goto fail;
    }
    /* The network databases follow the new config, or the reload fails and
     * everything stays as it was. */
    if (m->d.geo && geo_configure(m->d.geo, cfg, err, sizeof err) < 0) {
        daemon_env_unref(cur);
        config_free(cfg);
        rc = -EINVAL;
        snprintf(msg, cap, "reload failed, still running the previous configuration: %s", err);
        goto fail;
    }
    struct cache_limits limits = cache_limits_of(cfg);
    int verbosity = effective_verbosity(m, cfg);
    struct daemon_env *e = make_env(m, cfg, cur->index, err, sizeof err);
    daemon_env_unref(cur);
    if (!e) {
        rc = -EINVAL;
        snprintf(msg, cap, "reload failed, still running the previous configuration: %s", err);
        goto fail;
    }
    cache_set_limits(m->d.cache, &limits);
    log_set_verbosity(verbosity);
    log_name_tables(m->d.qlog, e);
    daemon_env_publish(&m->d, e);
    for (unsigned i = 0; i < m->d.nworkers; i++)
        worker_reload(m->d.workers[i]);
    m->last_reload_failed = false;
    snprintf(msg, cap, "reloaded configuration (generation %u)", m->generation);
    log_notice("%s", msg);
    return 0;
fail:
    m->last_reload_failed = true;
    log_error("%s", msg);
    return rc;
}

/* reload() with systemd told (RELOADING=1, then READY=1 and what happened). */
static int reload_notify(struct main_state *m, char *msg, size_t cap)
{
    sd_notify(0, "RELOADING=1");
    int rc = reload(m, msg, cap);
    sd_notifyf(0, "READY=1\nSTATUS=%s",
               rc < 0 ? "reload failed; previous configuration kept" : msg);
    return rc;
}

static void stop_main_handles(struct main_state *m)
{
    uv_close((uv_handle_t *)&m->sighup, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->status_timer, NULL);
    uv_close((uv_handle_t *)&m->watchdog_timer, NULL);
    uv_close((uv_handle_t *)&m->house_timer, NULL);
    control_close(m->control);
    m->control = NULL;
}

static void signal_cb(uv_signal_t *s, int signum)
{
    struct main_state *m = s->data;

    if (signum == SIGHUP) {
        char msg[1280];
        reload_notify(m, msg, sizeof msg);
        return;
    }
    log_notice("received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    for (unsigned i = 0; i < m->d.nworkers; i++)
        worker_stop(m->d.workers[i]);
    stop_main_handles(m);
}

/* ---- the control socket's ops ---- */

/* What `gatehousectl status` and /metrics show: the workers' counters
 * summed, the shared cache, the query log and the current index. */
static void daemon_status_get(struct main_state *m, struct daemon_status *st)
{
    struct daemon *d = &m->d;

    st->pid = (uint64_t)getpid();
    st->started = d->started;
    st->now = time(NULL);
    st->threads = d->nworkers;
    st->generation = m->generation;
    st->config_path = m->config_path;
    for (unsigned i = 0; i < d->nworkers; i++) {
        struct worker_stats ws;
        worker_get_stats(d->workers[i], &ws);
        st->queries += ws.queries;
        st->answered += ws.answered;
        st->blocked += ws.blocked;
        st->rewritten += ws.rewritten;
        st->refused += ws.refused;
        st->servfail += ws.servfail;
        st->dropped += ws.dropped;
        st->cache_hits += ws.cache_hits;
        st->cache_misses += ws.cache_misses;
        st->stale += ws.stale;
        st->prefetches += ws.prefetches;
        st->joined += ws.joined;
        st->upstream_joined += ws.upstream_joined;
        st->requests_now += ws.requests_now;
        st->upstream_sent += ws.upstream_sent;
        st->upstream_timeouts += ws.upstream_timeouts;
        st->upstream_errors += ws.upstream_errors;
    }
    struct cache_stats cs;
    cache_stats(d->cache, &cs);
    st->cache_entries = cs.msg_entries + cs.rrset_entries;
    st->cache_bytes = cs.bytes;
    st->cache_evictions = cs.evictions;
    st->nsec_records = cs.nsec_records;
    st->nsec_answers = cs.nsec_answers;
    if (d->qlog) {
        struct qlog_stats qs;
        qlog_stats(d->qlog, &qs);
        st->log_enabled = true;
        st->log_written = qs.written;
        st->log_dropped = qs.dropped;
        st->log_lost = qs.lost;
        st->log_pending = qs.pending;
        st->log_lag_us = qs.lag_us;
        st->log_error = qs.last_error;
        st->log_stopped = qs.stopped;
    }
    struct daemon_env *e = daemon_env_get(d);
    st->cache_max_bytes = e->cfg->cache_size;
    if (e->index && e->index->bl) {
        struct blocklist_info bi;
        blocklist_get_info(e->index->bl, &bi);
        st->index_open = true;
        st->index_generation = bi.generation;
        st->index_built = (int64_t)bi.built;
        st->index_names = bi.names;
    }
    daemon_env_unref(e);
    struct grant_set *gs;
    if (d->grants && grants_snapshot(d->grants, (time_t)st->now, &gs) == 0) {
        st->grants_live = grant_set_live(gs, (time_t)st->now);
        grant_set_free(gs);
    }
    if (d->geo)
        geo_status(d->geo, st->geo, sizeof st->geo);
}

static void op_status(void *arg, struct daemon_status *out)
{
    daemon_status_get(arg, out);
}

static int op_reload(void *arg, char *msg, size_t cap)
{
    return reload_notify(arg, msg, cap);
}

static size_t op_flush(void *arg, const uint8_t *name, size_t len, bool subtree)
{
    struct main_state *m = arg;
    return cache_flush(m->d.cache, name, len, subtree);
}

/* A geo database replaced on disk (a weekly download) is reopened without a
 * reload; a bad replacement is reported and the old file kept. */
static void house_timer_cb(uv_timer_t *t)
{
    struct main_state *m = t->data;
    char err[512], buf[512];
    int g = geo_maybe_reopen(m->d.geo, err, sizeof err);

    if (g > 0)
        log_notice("geo: reopened: %s", geo_status(m->d.geo, buf, sizeof buf));
    else if (g < 0)
        log_warning("geo: %s (still using the old file)", err);
}

/* ---- systemd: STATUS= and the watchdog ---- */

static void status_timer_cb(uv_timer_t *t)
{
    struct main_state *m = t->data;
    struct daemon_status st;
    char line[256];

    memset(&st, 0, sizeof st);
    daemon_status_get(m, &st);
    control_format_summary(&st, line, sizeof line);
    sd_notifyf(0, "STATUS=%s%s", line,
               m->last_reload_failed ? "; last reload FAILED (previous configuration kept)" : "");
}

/* True while every worker's loop still runs: its heartbeat (bumped by a
 * 1-second timer on that loop) has moved within MAIN_WORKER_STALL_MS. */
static bool workers_alive(struct main_state *m, uint64_t now_ms)
{
    bool alive = true;
    for (unsigned i = 0; i < m->d.nworkers; i++) {
        uint64_t hb = worker_heartbeat(m->d.workers[i]);
        if (hb != m->hb_seen[i]) {
            m->hb_seen[i] = hb;
            m->hb_moved_ms[i] = now_ms;
        } else if (now_ms - m->hb_moved_ms[i] > MAIN_WORKER_STALL_MS) {
            alive = false;
        }
    }
    return alive;
}

static void watchdog_timer_cb(uv_timer_t *t)
{
    struct main_state *m = t->data;
    if (workers_alive(m, uv_now(t->loop))) {
        sd_notify(0, "WATCHDOG=1");
    } else if (m->watchdog_on) {
        /* said once per stall, not every tick */
        log_error("a worker thread has stopped turning its loop: no longer feeding the "
                  "systemd watchdog, which will restart the daemon");
        m->watchdog_on = false;
        return;
    }
    m->watchdog_on = true;
}

/* Starts the STATUS= timer, and the watchdog timer when systemd asked for
 * one (WATCHDOG_USEC and WATCHDOG_PID naming us): pings at half the
 * interval, as sd_watchdog_enabled(3) recommends. */
static int start_systemd_timers(struct main_state *m, uv_loop_t *loop)
{
    uint64_t usec = 0;

    uv_timer_start(&m->status_timer, status_timer_cb, MAIN_STATUS_INTERVAL_MS,
                   MAIN_STATUS_INTERVAL_MS);
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    m->hb_seen = calloc(m->d.nworkers, sizeof *m->hb_seen);
    m->hb_moved_ms = calloc(m->d.nworkers, sizeof *m->hb_moved_ms);
    if (!m->hb_seen || !m->hb_moved_ms)
        return -ENOMEM;
    for (unsigned i = 0; i < m->d.nworkers; i++) {
        m->hb_seen[i] = worker_heartbeat(m->d.workers[i]);
        m->hb_moved_ms[i] = uv_now(loop);
    }
    uint64_t every = usec / 2000;
    if (every == 0)
        every = 1;
    m->watchdog_on = true;
    sd_notify(0, "WATCHDOG=1");
    uv_timer_start(&m->watchdog_timer, watchdog_timer_cb, every, every);
    log_info("systemd watchdog: pinging every %llu ms", (unsigned long long)every);
    return 0;
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
    m.d.grants = open_grants(cfg);
    err[0] = '\0';
    /* With geo.required a missing database stops start-up (through the
     * cleanup below); without, it is a warning and the feature is off. */
    int rc = geo_open(cfg, &m.d.geo, err, sizeof err);
    if (rc == 0 && err[0])
        log_warning("geo: %s", err);

    int exit_code = 0;
    if (rc == 0)
        rc = start_workers(&m, cfg, err, sizeof err);
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
        uv_timer_init(loop, &m.status_timer);
        uv_timer_init(loop, &m.watchdog_timer);
        uv_timer_init(loop, &m.house_timer);
        m.status_timer.data = m.watchdog_timer.data = m.house_timer.data = &m;
        if (m.d.geo)
            uv_timer_start(&m.house_timer, house_timer_cb, 1000, 1000);

        /* After the privilege drop, so the socket is the daemon's user's
         * and group's; before READY=1, so gatehousectl works once systemd
         * says we are up. */
        const struct control_ops ops = {op_status, op_reload, op_flush, &m};
        if (cfg->control_socket && *cfg->control_socket && mkdir(cfg->state_dir, 0750) < 0 &&
            errno != EEXIST)
            log_warning("cannot create %s: %s", cfg->state_dir, strerror(errno));
        if ((rc = control_start(loop, cfg, &ops, &m.control, err, sizeof err)) < 0 ||
            (rc = start_systemd_timers(&m, loop)) < 0) {
            log_error("%s", rc == -ENOMEM ? "out of memory at start-up" : err);
            exit_code = 1;
            for (unsigned i = 0; i < m.d.nworkers; i++)
                worker_stop(m.d.workers[i]);
            stop_main_handles(&m);
        } else {
            char where[512];
            describe_listeners(cfg, where, sizeof where);
            log_notice("gatehoused %s ready: listening on %s, %u thread%s, root hints %s",
                       GATEHOUSE_VERSION, where, cfg->threads, cfg->threads == 1 ? "" : "s",
                       cfg->root_hints ? cfg->root_hints : "built in");
            sd_notifyf(0, "READY=1\nSTATUS=answering on %s", where);
        }
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }

    for (unsigned i = 0; i < m.d.nworkers && m.d.workers; i++)
        if (m.d.workers[i])
            worker_join_free(m.d.workers[i]);
    free(m.d.workers);
    free(m.hb_seen);
    free(m.hb_moved_ms);
    qlog_close(m.d.qlog); /* drains the rings and commits */
    grants_close(m.d.grants);
    geo_close(m.d.geo);
    daemon_env_unref(m.d.env);
    cache_free(m.d.cache);
    infra_free(m.d.infra);
    pthread_mutex_destroy(&m.d.env_lock);
    if (exit_code == 0)
        log_notice("stopped");
    return exit_code;
}
