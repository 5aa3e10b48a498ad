/*
 * api.c - the JSON API of gatehouse-admin: log-in, guest access and
 * dispensations (grants.h, the same checks and store as gatehousectl grant),
 * the query log (qlog.h: visitors, search, export, audit), the daily
 * report (ctl_logs.h: the same HTML as gatehousectl report) and the
 * resolver's status (its control socket, control.h).
 *
 * Every action lands in the query log's audit table with the account name
 * before it happens; when the audit cannot be written, nothing is done.
 *
 * Not here: HTTP and roles (main.c), parsing (http.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "../ctl_logs.h"
#include "admin.h"
#include "control.h"
#include "grants.h"
#include "leases.h"
#include "qlog.h"

#define VISITOR_WINDOW_US (3600ull * 1000000) /* "seen in the last hour" */
#define VISITOR_MAX 512                       /* devices listed at most */
#define VISITOR_NAMES 8                       /* names shown per device */
#define VISITOR_SCAN_MAX 200000               /* records read per segment at most */
#define PAST_GRANTS_MAX 100
#define AUDIT_SHOWN 200
#define REPORT_DAYS 14
#define CONTROL_TIMEOUT_MS 5000
#define WEB_USER "web" /* grants' "unix user" field for grants made here */

int64_t admin_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

uint64_t admin_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void admin_error(struct admin_reply *r, int status, const char *msg)
{
    r->status = status;
    json_decref(r->json);
    r->json = json_pack("{s:s}", "error", msg);
}

int admin_audit(struct admin *a, const char *name, const char *action, const char *detail)
{
    char who[USERS_NAME_MAX + 16];
    snprintf(who, sizeof who, "%s (web)", name);
    return qlog_audit_add(a->qlog, admin_now_us(), who, action, detail);
}

int admin_users_refresh(struct admin *a)
{
    struct stat st;
    const char *path = a->cfg->admin_users;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return -errno;
        users_free(a->users); /* every account removed with the file */
        a->users = NULL;
        memset(&a->users_st, 0, sizeof a->users_st);
        return 0;
    }
    if (a->users && st.st_ino == a->users_st.st_ino && st.st_dev == a->users_st.st_dev &&
        st.st_size == a->users_st.st_size && st.st_mtim.tv_sec == a->users_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == a->users_st.st_mtim.tv_nsec)
        return 0;
    struct users_table *t;
    char err[512];
    int rc = users_load(path, &t, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "gatehouse-admin: %s (keeping the accounts read before)\n", err);
        return rc;
    }
    users_free(a->users);
    a->users = t;
    a->users_st = st;
    return 0;
}

static json_t *jtime(time_t t)
{
    return t ? json_integer((json_int_t)t) : json_null();
}

/* --- log-in ------------------------------------------------------------ */

void api_login(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    struct admin_login in;
    const char *error;
    if (admin_parse_login(q->body, q->len, &in, &error) < 0) {
        admin_error(r, 400, error);
        return;
    }
    const char *audit_name = users_name_valid(in.name) ? in.name : "(not an account name)";
    int64_t now = admin_mono();
    unsigned retry = 0;
    if (session_limit_check(a->sessions, in.name, q->client, now, &retry) < 0) {
        char d[96];
        snprintf(d, sizeof d, "too many failed log-ins; refused for %u s", retry);
        admin_audit(a, audit_name, "login-refused", d);
        char msg[160];
        snprintf(msg, sizeof msg,
                 "too many failed log-ins: try again in %u minutes, or ask the technician",
                 (retry + 59) / 60);
        admin_error(r, 429, msg);
        sodium_memzero(&in, sizeof in);
        return;
    }
    admin_users_refresh(a);
    const struct users_account *acc = users_find(a->users, in.name);
    bool ok;
    if (acc) {
        ok = users_verify(acc, in.password);
    } else {
        /* Hash anyway, so the time taken does not say which names exist. */
        static char dummy[USERS_HASH_MAX];
        if (!dummy[0])
            users_hash("not a password at all", dummy);
        struct users_account fake = {.role = USERS_HEAD};
        memcpy(fake.hash, dummy, sizeof dummy);
        users_verify(&fake, in.password);
        ok = false;
    }
    sodium_memzero(in.password, sizeof in.password);
    if (!ok) {
        session_limit_fail(a->sessions, in.name, q->client, now);
        char addr[INET6_ADDRSTRLEN] = "?", d[128];
        if (q->client && q->client->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)q->client)->sin_addr, addr,
                      sizeof addr);
        else if (q->client && q->client->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)q->client)->sin6_addr, addr,
                      sizeof addr);
        snprintf(d, sizeof d, "wrong name or password from %s", addr);
        admin_audit(a, audit_name, "login-failed", d);
        admin_error(r, 401, "wrong name or password");
        return;
    }
    if (admin_audit(a, acc->name, "login", users_role_text(acc->role)) < 0) {
        admin_error(r, 503, "the audit log cannot be written: log-in refused");
        return;
    }
    session_limit_ok(a->sessions, acc->name);
    struct session *s = session_create(a->sessions, acc, now);
    if (!s) {
        admin_error(r, 503, "out of memory");
        return;
    }
    snprintf(r->cookie, sizeof r->cookie,
             ADMIN_COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%d", s->token,
             SESSION_MAX_AGE);
    r->status = 200;
    r->json = json_pack("{s:s,s:s,s:s,s:i}", "name", s->name, "role", users_role_text(s->role),
                        "csrf", s->csrf, "idle_timeout", SESSION_IDLE);
}

void api_logout(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    admin_audit(a, q->session->name, "logout", "");
    session_end(a->sessions, q->session);
    snprintf(r->cookie, sizeof r->cookie,
             ADMIN_COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    r->status = 200;
    r->json = json_pack("{s:b}", "ok", 1);
}

void api_me(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    const struct session *s = q->session;
    (void)a;
    r->status = 200;
    r->json = json_pack(
        "{s:s,s:s,s:s,s:{s:b,s:b,s:b}}", "name", s->name, "role", users_role_text(s->role), "csrf",
        s->csrf, "may", "grants", users_may(s->role, USERS_CAP_GRANTS), "safeguarding",
        users_may(s->role, USERS_CAP_SAFEGUARD), "status", users_may(s->role, USERS_CAP_STATUS));
}

/* --- guest access ------------------------------------------------------ */

struct visitor {
    uint8_t addr[16];
    uint8_t family;
    uint8_t segment;
    uint64_t first_us, last_us, queries, blocked;
    unsigned nnames;
    char names[VISITOR_NAMES][QLOG_NAME_MAX + 2];
};

struct visit_scan {
    struct visitor *v;
    size_t n;
    uint64_t read;
};

static int visit_cb(const struct qlog_record *rec, void *arg)
{
    struct visit_scan *s = arg;
    if (++s->read > VISITOR_SCAN_MAX)
        return 1;
    struct visitor *v = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (!memcmp(s->v[i].addr, rec->client, 16)) {
            v = &s->v[i];
            break;
        }
    if (!v) {
        if (s->n >= VISITOR_MAX)
            return 0;
        v = &s->v[s->n++];
        memset(v, 0, sizeof *v);
        memcpy(v->addr, rec->client, 16);
        v->family = rec->family;
        v->segment = rec->segment;
        v->first_us = v->last_us = rec->time_us;
    }
    if (rec->time_us < v->first_us)
        v->first_us = rec->time_us;
    if (rec->time_us > v->last_us)
        v->last_us = rec->time_us;
    v->queries++;
    v->blocked += rec->verdict == QLOG_BLOCKED;
    char name[QLOG_NAME_MAX + 2];
    qlog_name_text(rec->name, rec->name_len, name, sizeof name);
    for (unsigned i = 0; i < v->nnames; i++)
        if (!strcmp(v->names[i], name))
            return 0;
    if (v->nnames < VISITOR_NAMES)
        snprintf(v->names[v->nnames++], sizeof v->names[0], "%s", name);
    return 0;
}

struct live_scan {
    time_t now;
    const uint8_t *addr;
    const char *segment;
    uint64_t id;
    time_t until;
};

static int live_cb(const struct grant *g, void *arg)
{
    struct live_scan *s = arg;
    if (g->kind == GRANT_GUEST && grant_in_force(g, s->now) && !strcmp(g->segment, s->segment) &&
        (g->scope == GRANT_SCOPE_SEGMENT || !memcmp(g->addr, s->addr, 16))) {
        s->id = g->id;
        s->until = g->until;
    }
    return 0;
}

void api_visitors(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    const struct config *cfg = a->cfg;
    uint64_t now_us = admin_now_us();
    time_t now = (time_t)(now_us / 1000000);
    struct visit_scan scan = {.v = calloc(VISITOR_MAX, sizeof(struct visitor))};
    if (!scan.v) {
        admin_error(r, 503, "out of memory");
        return;
    }
    json_t *segs = json_array();
    for (size_t i = 0; i < cfg->nsegments; i++) {
        const struct config_segment *sg = &cfg->segments[i];
        if (!sg->grant_required)
            continue;
        json_array_append_new(segs, json_string(sg->name));
        struct qlog_filter f = {.since_us = now_us - VISITOR_WINDOW_US, .has_segment = true};
        if (qlog_segment_id(a->qlog, sg->name, &f.segment) < 0)
            continue; /* never logged a query yet */
        scan.read = 0;
        long n = qlog_query(a->qlog, &f, visit_cb, &scan);
        if (n < 0 && n != -ENOENT) {
            free(scan.v);
            json_decref(segs);
            admin_error(r, 503, "cannot read the query log");
            return;
        }
    }
    struct lease_table *leases = NULL;
    if (cfg->dhcp_leases) {
        char err[512];
        if (leases_load(cfg->dhcp_leases, cfg->dhcp_format, &leases, err, sizeof err) < 0)
            leases = NULL; /* shown without MACs and names */
    }
    json_t *list = json_array();
    for (size_t i = 0; i < scan.n; i++) {
        struct visitor *v = &scan.v[i];
        char addr[INET6_ADDRSTRLEN], segname[64] = "", mac[24] = "";
        qlog_addr_text(v->addr, v->family, addr, sizeof addr);
        if (qlog_segment_name(a->qlog, v->segment, segname, sizeof segname) < 0)
            snprintf(segname, sizeof segname, "%u", v->segment);
        const struct lease *l = leases ? leases_at(leases, v->addr, now) : NULL;
        if (l)
            leases_mac_text(l->mac, mac, sizeof mac);
        struct live_scan ls = {.now = now, .addr = v->addr, .segment = segname};
        grants_list(a->grants, live_cb, &ls);
        json_t *names = json_array();
        for (unsigned k = 0; k < v->nnames; k++)
            json_array_append_new(names, json_string(v->names[k]));
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o}", "address", addr, "segment",
                              segname, "mac", mac, "host", l ? l->host : "", "first",
                              (json_int_t)(v->first_us / 1000000), "last",
                              (json_int_t)(v->last_us / 1000000), "queries", (json_int_t)v->queries,
                              "blocked", (json_int_t)v->blocked, "names", names);
        json_object_set_new(o, "grant", ls.id ? json_integer((json_int_t)ls.id) : json_null());
        json_object_set_new(o, "granted_until", jtime(ls.until));
        json_array_append_new(list, o);
    }
    leases_free(leases);
    free(scan.v);
    (void)q;
    r->status = 200;
    r->json = json_pack("{s:o,s:o,s:I}", "segments", segs, "devices", list, "now", (json_int_t)now);
}

static json_t *grant_json(const struct grant *g, time_t now)
{
    char who[INET6_ADDRSTRLEN] = "";
    if (g->scope == GRANT_SCOPE_CLIENT)
        grants_addr_text(g->addr, g->family, who, sizeof who);
    char mac[24] = "";
    if (g->has_mac)
        leases_mac_text(g->mac, mac, sizeof mac);
    time_t ended = 0;
    bool over = grant_ended(g, now, &ended);
    const char *state = g->revoked      ? "revoked"
                        : over          ? "expired"
                        : g->from > now ? "pending"
                                        : "live";
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "id",
                          (json_int_t)g->id, "kind", g->kind == GRANT_GUEST ? "guest" : "exemption",
                          "segment", g->segment, "client", who, "mac", mac, "category", g->category,
                          "name", g->name, "from", (json_int_t)g->from, "until",
                          (json_int_t)g->until, "by", g->by, "reason", g->reason, "state", state);
    json_object_set_new(o, "created", jtime(g->created));
    json_object_set_new(o, "user", json_string(g->user));
    if (g->revoked) {
        json_object_set_new(o, "revoked", jtime(g->revoked));
        json_object_set_new(o, "revoked_by", json_string(g->revoked_by));
        json_object_set_new(o, "revoke_reason", json_string(g->revoke_reason));
    }
    return o;
}

struct grants_scan {
    time_t now;
    json_t *live, *past;
};

static int grants_list_cb(const struct grant *g, void *arg)
{
    struct grants_scan *s = arg;
    time_t ended;
    json_t *o = grant_json(g, s->now);
    if (!o)
        return 0;
    if (grant_ended(g, s->now, &ended)) {
        json_array_insert_new(s->past, 0, o); /* newest first */
        if (json_array_size(s->past) > PAST_GRANTS_MAX)
            json_array_remove(s->past, PAST_GRANTS_MAX);
    } else {
        json_array_append_new(s->live, o);
    }
    return 0;
}

void api_grants(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    struct grants_scan s = {.now = time(NULL), .live = json_array(), .past = json_array()};
    long n = grants_list(a->grants, grants_list_cb, &s);
    (void)q;
    if (n < 0) {
        json_decref(s.live);
        json_decref(s.past);
        admin_error(r, 503, "cannot read the grants");
        return;
    }
    r->status = 200;
    r->json = json_pack("{s:o,s:o,s:I}", "live", s.live, "past", s.past, "now", (json_int_t)s.now);
}

static bool field_copy(char *dst, size_t size, const char *v)
{
    size_t n = strlen(v);
    if (n >= size)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

void api_grant(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    struct admin_grant_req in;
    const char *error;
    if (admin_parse_grant(q->body, q->len, &in, &error) < 0) {
        admin_error(r, 400, error);
        return;
    }
    /* The same steps as gatehousectl grant (tools/ctl_grants.c): parse,
     * resolve a MAC through the leases, grants_check, then store. */
    time_t now = time(NULL);
    struct grant g;
    memset(&g, 0, sizeof g);
    g.kind = in.exemption ? GRANT_EXEMPTION : GRANT_GUEST;
    if (!field_copy(g.segment, sizeof g.segment, in.segment) ||
        !field_copy(g.category, sizeof g.category, in.category) ||
        !field_copy(g.name, sizeof g.name, in.name) ||
        !field_copy(g.reason, sizeof g.reason, in.reason) ||
        !field_copy(g.by, sizeof g.by, q->session->name)) {
        admin_error(r, 400, "a field is too long");
        return;
    }
    snprintf(g.user, sizeof g.user, WEB_USER);
    if (in.client[0] && in.mac[0]) {
        admin_error(r, 400, "give a client address or a MAC, not both");
        return;
    }
    if (in.mac[0] && in.exemption) {
        admin_error(r, 400, "a MAC is for guest access; give the dispensation's client address");
        return;
    }
    if (!in.client[0] && !in.mac[0] && !in.segment[0]) {
        admin_error(r, 400, "give a client address, a MAC or a segment");
        return;
    }
    g.scope = in.client[0] || in.mac[0] ? GRANT_SCOPE_CLIENT : GRANT_SCOPE_SEGMENT;
    if (in.client[0] && grants_parse_addr(in.client, g.addr, &g.family) < 0) {
        admin_error(r, 400, "client: not an IPv4 or IPv6 address");
        return;
    }
    if (in.mac[0]) {
        const struct lease *l;
        struct lease_table *t = NULL;
        char err[512];
        if (leases_parse_mac(in.mac, strlen(in.mac), false, g.mac) < 0) {
            admin_error(r, 400, "mac: not a MAC address (AA:BB:CC:DD:EE:FF)");
            return;
        }
        if (!a->cfg->dhcp_leases ||
            leases_load(a->cfg->dhcp_leases, a->cfg->dhcp_format, &t, err, sizeof err) < 0) {
            admin_error(r, 400, "granting by MAC needs the DHCP leases file (dhcp.leases)");
            return;
        }
        int rc = leases_current(t, g.mac, now, &l);
        if (rc == 0) {
            memcpy(g.addr, l->addr, 16);
            g.family = 4;
            g.has_mac = true;
        }
        leases_free(t);
        if (rc < 0) {
            admin_error(r, 400, "that MAC has no current DHCP lease");
            return;
        }
    }
    uint32_t secs;
    if (grants_parse_duration(in.duration, &secs) < 0) {
        admin_error(r, 400, "duration: not a duration (45m, 2h, 1d, 1w, 1h30m)");
        return;
    }
    g.from = now;
    if (in.from[0] && grants_parse_time(in.from, now, &g.from) < 0) {
        admin_error(r, 400, "from: not a local time (2026-11-24 09:00)");
        return;
    }
    if (g.from < now && g.from >= now - GRANTS_PAST_SLACK)
        g.from = now;
    g.until = g.from + (time_t)secs;
    char err[512];
    if (grants_check(a->cfg, &g, now, err, sizeof err) < 0) {
        admin_error(r, 400, err);
        return;
    }
    char who[INET6_ADDRSTRLEN] = "every client", detail[1024];
    if (g.scope == GRANT_SCOPE_CLIENT)
        grants_addr_text(g.addr, g.family, who, sizeof who);
    snprintf(detail, sizeof detail, "%s for %s in %s%s%s%s%s for %s: %s",
             in.exemption ? "exemption" : "guest access", who, g.segment,
             g.category[0] ? ", category " : "", g.category, g.name[0] ? ", name " : "", g.name,
             in.duration, g.reason);
    if (admin_audit(a, q->session->name, "grant", detail) < 0) {
        admin_error(r, 503, "the audit log cannot be written: nothing granted");
        return;
    }
    int rc = grants_add(a->grants, &g, now);
    if (rc < 0) {
        admin_error(r, 503, "cannot store the grant: nothing granted");
        return;
    }
    r->status = 201;
    r->json = grant_json(&g, now);
}

void api_revoke(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    char reason[ADMIN_TEXT_MAX + 1];
    const char *error;
    if (admin_parse_revoke(q->body, q->len, reason, &error) < 0) {
        admin_error(r, 400, error);
        return;
    }
    struct grant g;
    if (grants_get(a->grants, q->id, &g) < 0) {
        admin_error(r, 404, "no such grant");
        return;
    }
    char detail[600];
    snprintf(detail, sizeof detail, "grant %llu: %s", (unsigned long long)q->id,
             reason[0] ? reason : "(no reason given)");
    if (admin_audit(a, q->session->name, "revoke", detail) < 0) {
        admin_error(r, 503, "the audit log cannot be written: nothing revoked");
        return;
    }
    time_t now = time(NULL);
    int rc = grants_revoke(a->grants, q->id, now, q->session->name, WEB_USER, reason);
    if (rc == -EALREADY) {
        admin_error(r, 409, "that grant has already ended");
        return;
    }
    if (rc < 0) {
        admin_error(r, 503, "cannot revoke the grant");
        return;
    }
    grants_get(a->grants, q->id, &g);
    r->status = 200;
    r->json = grant_json(&g, now);
}

void api_options(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    const struct config *cfg = a->cfg;
    json_t *segs = json_array(), *cats = json_array();
    (void)q;
    for (size_t i = 0; i < cfg->nsegments; i++)
        json_array_append_new(segs,
                              json_pack("{s:s,s:s,s:b}", "name", cfg->segments[i].name, "policy",
                                        cfg->segments[i].policy ? cfg->segments[i].policy : "",
                                        "guest", cfg->segments[i].grant_required));
    /* What grants_check accepts: declared categories and the built-in
     * bypass ones, never statutory. */
    for (size_t i = 0; i < cfg->ncategories; i++)
        if (strcmp(cfg->categories[i].name, "statutory"))
            json_array_append_new(cats, json_string(cfg->categories[i].name));
    json_array_append_new(cats, json_string("doh"));
    json_array_append_new(cats, json_string("vpn_proxy"));
    r->status = 200;
    r->json = json_pack("{s:o,s:o,s:I,s:I}", "segments", segs, "categories", cats, "max_guest",
                        (json_int_t)cfg->grants_max_guest, "max_exemption",
                        (json_int_t)cfg->grants_max_exemption);
}

/* --- safeguarding ------------------------------------------------------ */

static uint64_t local_midnight_us(int y, int m, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
    time_t t = mktime(&tm);
    return t < 0 ? 0 : (uint64_t)t * 1000000;
}

void api_reports(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    json_t *days = json_array();
    time_t now = time(NULL);
    (void)a;
    (void)q;
    for (int i = 0; i < REPORT_DAYS; i++) {
        time_t t = now - (time_t)i * 86400;
        struct tm tm;
        char buf[16];
        if (localtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d", &tm))
            json_array_append_new(days, json_string(buf));
    }
    r->status = 200;
    r->json = json_pack("{s:o}", "days", days);
}

static const char *arg(const struct admin_request *q, const char *key)
{
    for (size_t i = 0; i < q->nargs; i++)
        if (q->args[i].key && !strcmp(q->args[i].key, key))
            return q->args[i].value;
    return NULL;
}

void api_report(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    int y, m, d;
    const char *date = arg(q, "date");
    if (q->nargs != 1 || admin_parse_date(date, &y, &m, &d) < 0) {
        admin_error(r, 400, "date: expected YYYY-MM-DD");
        return;
    }
    uint64_t day = local_midnight_us(y, m, d);
    if (!day || day > admin_now_us()) {
        admin_error(r, 400, "date: no report for that day");
        return;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "daily report %s", date);
    if (admin_audit(a, q->session->name, "report", detail) < 0) {
        admin_error(r, 503, "the audit log cannot be written: nothing shown");
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        admin_error(r, 503, "out of memory");
        return;
    }
    int rc =
        ctl_report_daily_write(a->qlog, day, a->cfg->safeguarding, a->cfg->nsafeguarding, true, f);
    if (fclose(f) != 0 || rc < 0) {
        free(buf);
        admin_error(r, 503, "cannot make the report");
        return;
    }
    r->status = 200;
    r->body = buf;
    r->len = len;
    r->type = "text/html; charset=utf-8";
    /* The report is self-contained with inline CSS and SVG, and no script. */
    r->csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
             "frame-ancestors 'self'";
}

struct search_out {
    struct admin *a;
    bool csv;
    FILE *f;
    json_t *rows;
};

static int search_cb(const struct qlog_record *rec, void *arg_)
{
    struct search_out *o = arg_;
    char when[32], client[INET6_ADDRSTRLEN], seg[64] = "", cat[64] = "", name[QLOG_NAME_MAX + 2],
                                             type[16], rcode[16];
    time_t t = (time_t)(rec->time_us / 1000000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(when, sizeof when, "%lld", (long long)t);
    qlog_addr_text(rec->client, rec->family, client, sizeof client);
    if (rec->segment && qlog_segment_name(o->a->qlog, rec->segment, seg, sizeof seg) < 0)
        snprintf(seg, sizeof seg, "%u", rec->segment);
    if (rec->category && qlog_category_name(o->a->qlog, rec->category, cat, sizeof cat) < 0)
        snprintf(cat, sizeof cat, "%u", rec->category);
    qlog_name_text(rec->name, rec->name_len, name, sizeof name);
    qlog_qtype_text(rec->qtype, type, sizeof type);
    qlog_rcode_text(rec->rcode, rcode, sizeof rcode);
    const char *verdict = qlog_verdict_text(rec->verdict);
    if (o->csv) {
        qlog_csv_field(o->f, when, false);
        qlog_csv_field(o->f, client, false);
        qlog_csv_field(o->f, seg, false);
        qlog_csv_field(o->f, name, false);
        qlog_csv_field(o->f, type, false);
        qlog_csv_field(o->f, verdict, false);
        qlog_csv_field(o->f, cat, false);
        qlog_csv_field(o->f, rcode, true);
    } else {
        json_array_append_new(o->rows,
                              json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "time", (json_int_t)t,
                                        "client", client, "segment", seg, "name", name, "type",
                                        type, "verdict", verdict, "category", cat, "rcode", rcode));
    }
    return 0;
}

void api_search(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    struct admin_search s;
    const char *error;
    uint64_t now = admin_now_us();
    if (admin_parse_search(q->args, q->nargs, now, &s, &error) < 0) {
        admin_error(r, 400, error);
        return;
    }
    if (s.segment[0]) {
        if (qlog_segment_id(a->qlog, s.segment, &s.f.segment) < 0) {
            admin_error(r, 400, "segment: no such segment in the log");
            return;
        }
        s.f.has_segment = true;
    }
    if (s.category[0]) {
        if (qlog_category_id(a->qlog, s.category, &s.f.category) < 0) {
            admin_error(r, 400, "category: no such category in the log");
            return;
        }
        s.f.has_category = true;
    }
    /* The audit's detail: the parameters as given, one bounded line. */
    char detail[1024];
    size_t o = 0;
    detail[0] = 0;
    for (size_t i = 0; i < q->nargs && o < sizeof detail - 1; i++) {
        int n = snprintf(detail + o, sizeof detail - o, "%s%s=%s", i ? " " : "", q->args[i].key,
                         q->args[i].value ? q->args[i].value : "");
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (admin_audit(a, q->session->name, s.csv ? "export" : "search", detail) < 0) {
        admin_error(r, 503, "the audit log cannot be written: nothing shown");
        return;
    }
    struct search_out out = {.a = a, .csv = s.csv};
    char *buf = NULL;
    size_t len = 0;
    if (s.csv) {
        out.f = open_memstream(&buf, &len);
        if (!out.f) {
            admin_error(r, 503, "out of memory");
            return;
        }
        fputs("time,client,segment,name,type,verdict,category,rcode\n", out.f);
    } else {
        out.rows = json_array();
    }
    long n = qlog_query(a->qlog, &s.f, search_cb, &out);
    if (s.csv) {
        if (fclose(out.f) != 0 || n < 0) {
            free(buf);
            admin_error(r, 503, "cannot read the query log");
            return;
        }
        r->status = 200;
        r->body = buf;
        r->len = len;
        r->type = "text/csv; charset=utf-8";
        r->disposition = "attachment; filename=\"gatehouse-search.csv\"";
        return;
    }
    if (n < 0) {
        json_decref(out.rows);
        admin_error(r, 503, "cannot read the query log");
        return;
    }
    r->status = 200;
    r->json = json_pack("{s:o,s:I,s:s}", "rows", out.rows, "limit", (json_int_t)s.f.limit, "plan",
                        qlog_query_plan(&s.f));
}

static int audit_cb(uint64_t t, const char *who, const char *action, const char *detail, void *arg_)
{
    json_array_append_new(arg_, json_pack("{s:I,s:s,s:s,s:s}", "time", (json_int_t)(t / 1000000),
                                          "who", who, "action", action, "detail", detail));
    return 0;
}

void api_audit(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    json_t *rows = json_array();
    (void)q;
    long n = qlog_audit_list(a->qlog, 0, AUDIT_SHOWN, audit_cb, rows);
    if (n < 0) {
        json_decref(rows);
        admin_error(r, 503, "cannot read the audit");
        return;
    }
    r->status = 200;
    r->json = json_pack("{s:o}", "audit", rows);
}

/* --- status: the resolver's control socket ----------------------------- */

/* "status json" to the control socket; the reply's JSON object, or NULL
 * with a reason in err. */
static json_t *control_status(const struct config *cfg, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    socklen_t slen;
    int dirfd = -1;
    if (!cfg->control_socket || control_unix_addr(cfg->control_socket, &sun, &slen, &dirfd) < 0) {
        snprintf(err, errlen, "no control socket");
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (dirfd >= 0)
            close(dirfd);
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    int rc = connect(fd, (struct sockaddr *)&sun, slen);
    int saved = errno;
    if (dirfd >= 0)
        close(dirfd);
    if (rc < 0) {
        close(fd);
        snprintf(err, errlen, "gatehoused is not running (%s)", strerror(saved));
        return NULL;
    }
    static const char req[] = "status json\n";
    char *buf = malloc(CONTROL_REPLY_MAX + 1);
    size_t len = 0;
    json_t *out = NULL;
    if (!buf || send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errlen, "cannot talk to gatehoused");
        goto done;
    }
    int64_t deadline = admin_mono() * 1000 + CONTROL_TIMEOUT_MS;
    for (;;) { /* bounded by the deadline and CONTROL_REPLY_MAX */
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - admin_mono() * 1000;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || len >= CONTROL_REPLY_MAX) {
            snprintf(err, errlen, "no complete answer from gatehoused");
            goto done;
        }
        ssize_t n = recv(fd, buf + len, CONTROL_REPLY_MAX - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "reading from gatehoused: %s", strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    if (strncmp(buf, "ok\n", 3) != 0) {
        snprintf(err, errlen, "gatehoused said: %.200s", buf);
        goto done;
    }
    json_error_t je;
    out = json_loadb(buf + 3, len - 3, 0, &je);
    if (!out || !json_is_object(out)) {
        json_decref(out);
        out = NULL;
        snprintf(err, errlen, "unexpected answer from gatehoused");
    }
done:
    free(buf);
    close(fd);
    return out;
}

static uint64_t jget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : 0;
}

void api_status(struct admin *a, const struct admin_request *q, struct admin_reply *r)
{
    const struct config *cfg = a->cfg;
    char err[300] = "";
    json_t *st = control_status(cfg, err, sizeof err);
    json_t *o = json_object();
    (void)q;
    json_object_set_new(o, "running", json_boolean(st != NULL));
    if (!st) {
        json_object_set_new(o, "error", json_string(err));
    } else {
        int64_t now = admin_mono();
        uint64_t queries = jget(st, "queries"), blocked = jget(st, "blocked");
        /* Per minute: against the oldest sample of the last ten minutes that
         * is at least five seconds old. */
        json_t *qpm = json_null(), *bpm = json_null();
        for (unsigned i = 0; i < a->nsamples; i++) {
            int64_t dt = now - a->samples[i].t;
            if (dt >= 5 && dt <= 600 && queries >= a->samples[i].queries) {
                json_decref(qpm);
                json_decref(bpm);
                qpm = json_real((double)(queries - a->samples[i].queries) * 60.0 / (double)dt);
                bpm = json_real((double)(blocked - a->samples[i].blocked) * 60.0 / (double)dt);
                break;
            }
        }
        if (a->nsamples == 0 || now - a->samples[a->nsamples - 1].t >= 5) {
            if (a->nsamples == ADMIN_RATE_SAMPLES) {
                memmove(a->samples, a->samples + 1,
                        sizeof a->samples[0] * (ADMIN_RATE_SAMPLES - 1));
                a->nsamples--;
            }
            a->samples[a->nsamples].t = now;
            a->samples[a->nsamples].queries = queries;
            a->samples[a->nsamples].blocked = blocked;
            a->nsamples++;
        }
        json_object_set_new(o, "queries_per_minute", qpm);
        json_object_set_new(o, "blocks_per_minute", bpm);
        json_object_set_new(o, "resolver", st);
    }
    json_t *segs = json_array();
    for (size_t i = 0; i < cfg->nsegments; i++) {
        const struct config_segment *sg = &cfg->segments[i];
        json_t *nets = json_array();
        for (size_t k = 0; k < sg->nnetworks; k++) {
            char b[INET6_ADDRSTRLEN + 8], t[INET6_ADDRSTRLEN];
            inet_ntop(sg->networks[k].family, sg->networks[k].addr, t, sizeof t);
            snprintf(b, sizeof b, "%s/%u", t, sg->networks[k].prefix);
            json_array_append_new(nets, json_string(b));
        }
        json_array_append_new(segs, json_pack("{s:s,s:s,s:b,s:o}", "name", sg->name, "policy",
                                              sg->policy ? sg->policy : "", "guest",
                                              sg->grant_required, "networks", nets));
    }
    json_t *pols = json_array();
    for (size_t i = 0; i < cfg->npolicies; i++) {
        const struct config_policy *p = &cfg->policies[i];
        json_t *block = json_array();
        for (size_t k = 0; k < p->nblock; k++)
            json_array_append_new(block, json_string(p->block[k]));
        json_array_append_new(pols,
                              json_pack("{s:s,s:o,s:I,s:I,s:b}", "name", p->name, "block", block,
                                        "allow", (json_int_t)p->nallow, "deny",
                                        (json_int_t)p->ndeny, "default_block", p->default_block));
    }
    json_object_set_new(o, "segments", segs);
    json_object_set_new(o, "policies", pols);
    json_object_set_new(o, "admin",
                        json_pack("{s:i,s:I}", "sessions",
                                  (int)session_count(a->sessions, admin_mono()), "login_failures",
                                  (json_int_t)session_failures(a->sessions)));
    r->status = 200;
    r->json = o;
}
