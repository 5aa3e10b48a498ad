/*
 * ctl_grants.c - gatehousectl grant / grants / revoke: make, list, end and
 * purge guest-access and dispensation grants.
 *
 * Order of a grant: parse the arguments (durations, times, addresses, MACs:
 * the parsers in grants.c, fuzzed), check the real user is in the admin
 * group (before anything is opened), resolve a MAC through the DHCP leases,
 * check the whole grant against the config (grants_check), and only then
 * open the store and write.  Any failure grants nothing.  The daemon sees
 * the change within a second (it polls the store's generation).
 *
 * Not here: the store (resolver/grants.c), the leases parser
 * (resolver/leases.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_grants.h"
#include "grants.h"
#include "leases.h"

static void errmsg(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errmsg(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gatehousectl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void unix_user(char *buf, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    if (pw)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %u", (unsigned)getuid());
}

static int open_store(const struct ctl_global *g, const char *cmd, unsigned flags,
                      struct grants_store **s)
{
    const char *path = g->cfg ? g->cfg->grants_path : NULL;
    if (!path) {
        errmsg(cmd, "no grants store configured (grants.path)");
        return -EINVAL;
    }
    int rc = grants_open(path, flags, s);
    if (rc == -EACCES || rc == -EPERM)
        errmsg(cmd, "cannot open the grants at %s: permission denied (are you in the %s group?)",
               path, g->cfg->grants_admin_group);
    else if (rc == -ENOENT)
        errmsg(cmd, "no grants have been made yet (%s does not exist)", path);
    else if (rc == -EPROTO)
        errmsg(cmd, "cannot open the grants at %s: not a grants store of this version", path);
    else if (rc < 0)
        errmsg(cmd, "cannot open the grants at %s: %s", path, strerror(-rc));
    return rc;
}

static int admin_only(const struct ctl_global *g, const char *cmd)
{
    char err[256];
    if (grants_check_admin(g->cfg->grants_admin_group, err, sizeof err) < 0) {
        errmsg(cmd, "%s", err);
        return -EPERM;
    }
    return 0;
}

static void fmt_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M", &tm))
        snprintf(buf, len, "%lld", (long long)t);
}

/* --- grant ---------------------------------------------------------------- */

static void grant_usage(FILE *f)
{
    fprintf(f, "usage: gatehousectl grant guest (--client IP [--segment NAME] | --mac MAC |\n"
               "                                 --segment NAME)\n"
               "           --for DURATION [--from TIME] --by NAME --reason TEXT\n"
               "       gatehousectl grant exemption (--client IP [--segment NAME] | --segment "
               "NAME)\n"
               "           (--allow-category CAT | --allow-name NAME) --for DURATION\n"
               "           [--from \"YYYY-MM-DD HH:MM\"] --by NAME --reason TEXT\n"
               "DURATION: 45m, 2h, 1d, 1w, 1h30m.  TIME: local, \"2026-11-24 09:00\".\n");
}

/* Copy an option value into a fixed field, or say it is too long. */
static bool opt_copy(const char *cmd, const char *opt, char *dst, size_t size, const char *v)
{
    if (strlen(v) >= size) {
        errmsg(cmd, "%s: longer than %zu characters", opt, size - 1);
        return false;
    }
    memcpy(dst, v, strlen(v) + 1);
    return true;
}

/* The address MAC holds now, from dhcp.leases. */
static int mac_to_addr(const struct ctl_global *g, const char *cmd, struct grant *gr, time_t now)
{
    const struct config *cfg = g->cfg;
    struct lease_table *t = NULL;
    const struct lease *l;
    char err[512], mac[24];
    leases_mac_text(gr->mac, mac, sizeof mac);
    if (!cfg->dhcp_leases) {
        errmsg(cmd, "--mac needs the DHCP leases file: set dhcp.leases and dhcp.format");
        return -EINVAL;
    }
    int rc = leases_load(cfg->dhcp_leases, cfg->dhcp_format, &t, err, sizeof err);
    if (rc < 0) {
        errmsg(cmd, "%s", err);
        return rc;
    }
    for (size_t i = 0; leases_warning(t, i); i++)
        fprintf(stderr, "gatehousectl %s: warning: %s\n", cmd, leases_warning(t, i));
    rc = leases_current(t, gr->mac, now, &l);
    if (rc == -ENOENT)
        errmsg(cmd, "MAC %s is not in the leases file %s", mac, cfg->dhcp_leases);
    else if (rc < 0)
        errmsg(cmd, "MAC %s has no current lease in %s (expired or released)", mac,
               cfg->dhcp_leases);
    else {
        memcpy(gr->addr, l->addr, 16);
        gr->family = 4;
        gr->has_mac = true;
    }
    leases_free(t);
    return rc;
}

int ctl_grant(const struct ctl_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"client", required_argument, NULL, 'c'},
        {"mac", required_argument, NULL, 'm'},
        {"segment", required_argument, NULL, 's'},
        {"allow-category", required_argument, NULL, 'C'},
        {"allow-name", required_argument, NULL, 'N'},
        {"for", required_argument, NULL, 'f'},
        {"from", required_argument, NULL, 'F'},
        {"by", required_argument, NULL, 'b'},
        {"reason", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "grant";
    struct grant gr;
    const char *client = NULL, *mac = NULL, *dur = NULL, *from = NULL;
    time_t now = time(NULL);
    int opt;

    if (argc < 2 || (strcmp(argv[1], "guest") && strcmp(argv[1], "exemption"))) {
        grant_usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    memset(&gr, 0, sizeof gr);
    gr.kind = !strcmp(argv[1], "guest") ? GRANT_GUEST : GRANT_EXEMPTION;
    optind = 0; /* glibc: start afresh */
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'c':
            client = optarg;
            break;
        case 'm':
            mac = optarg;
            break;
        case 's':
            ok = opt_copy(cmd, "--segment", gr.segment, sizeof gr.segment, optarg);
            break;
        case 'C':
            ok = opt_copy(cmd, "--allow-category", gr.category, sizeof gr.category, optarg);
            break;
        case 'N':
            ok = opt_copy(cmd, "--allow-name", gr.name, sizeof gr.name, optarg);
            break;
        case 'f':
            dur = optarg;
            break;
        case 'F':
            from = optarg;
            break;
        case 'b':
            ok = opt_copy(cmd, "--by", gr.by, sizeof gr.by, optarg);
            break;
        case 'r':
            ok = opt_copy(cmd, "--reason", gr.reason, sizeof gr.reason, optarg);
            break;
        case 'h':
            grant_usage(stdout);
            return 0;
        default:
            grant_usage(stderr);
            return 2;
        }
        if (!ok)
            return 2;
    }
    if (optind != argc - 1) {
        errmsg(cmd, "unexpected argument '%s'", argv[1 + optind]);
        return 2;
    }
    if (!!client + !!mac > 1) {
        errmsg(cmd, "give one of --client or --mac");
        return 2;
    }
    if (mac && gr.kind != GRANT_GUEST) {
        errmsg(cmd, "--mac is for guest access; give the exemption's --client address");
        return 2;
    }
    if (!client && !mac && !gr.segment[0]) {
        errmsg(cmd, "give --client, --mac or --segment");
        return 2;
    }
    gr.scope = client || mac ? GRANT_SCOPE_CLIENT : GRANT_SCOPE_SEGMENT;
    if (client && grants_parse_addr(client, gr.addr, &gr.family) < 0) {
        errmsg(cmd, "--client: '%s' is not an IPv4 or IPv6 address", client);
        return 2;
    }
    if (mac && leases_parse_mac(mac, strlen(mac), false, gr.mac) < 0) {
        errmsg(cmd, "--mac: '%s' is not a MAC address (expected AA:BB:CC:DD:EE:FF)", mac);
        return 2;
    }
    if (!gr.by[0] || !gr.reason[0]) {
        errmsg(cmd, "--by and --reason are required");
        return 2;
    }
    uint32_t secs;
    if (!dur) {
        errmsg(cmd, "--for is required: every grant ends");
        return 2;
    }
    if (grants_parse_duration(dur, &secs) < 0) {
        errmsg(cmd, "--for: '%s' is not a duration (e.g. 45m, 2h, 1d, 1w, 1h30m)", dur);
        return 2;
    }
    gr.from = now;
    if (from && grants_parse_time(from, now, &gr.from) < 0) {
        errmsg(cmd, "--from: '%s' is not a local time (e.g. \"2026-11-24 09:00\")", from);
        return 2;
    }
    if (gr.from < now && gr.from >= now - GRANTS_PAST_SLACK)
        gr.from = now; /* "now" typed a moment ago */
    gr.until = gr.from + (time_t)secs;

    /* who: before anything is opened */
    if (admin_only(g, cmd) < 0)
        return 1;
    unix_user(gr.user, sizeof gr.user);
    if (mac && mac_to_addr(g, cmd, &gr, now) < 0)
        return 1;
    char err[512];
    if (grants_check(g->cfg, &gr, now, err, sizeof err) < 0) {
        errmsg(cmd, "%s; nothing granted", err);
        return 1;
    }
    struct grants_store *s;
    if (open_store(g, cmd, 0, &s) < 0)
        return 1;
    int rc = grants_add(s, &gr, now);
    grants_close(s);
    if (rc < 0) {
        errmsg(cmd, "cannot store the grant: %s; nothing granted", strerror(-rc));
        return 1;
    }
    char a[64], b[64], who[INET6_ADDRSTRLEN];
    fmt_time(gr.from, a, sizeof a);
    fmt_time(gr.until, b, sizeof b);
    if (gr.scope == GRANT_SCOPE_CLIENT)
        grants_addr_text(gr.addr, gr.family, who, sizeof who);
    else
        snprintf(who, sizeof who, "every client");
    printf("grant %llu: %s for %s in segment %s", (unsigned long long)gr.id,
           gr.kind == GRANT_GUEST ? "guest access" : "exemption", who, gr.segment);
    if (gr.category[0])
        printf(", category %s", gr.category);
    if (gr.name[0])
        printf(", name %s", gr.name);
    printf(", from %s until %s\n", a, b);
    return 0;
}

/* --- grants ------------------------------------------------------------- */

struct list_arg {
    time_t now;
    bool all;
    long shown;
};

static int list_cb(const struct grant *gr, void *arg)
{
    struct list_arg *a = arg;
    char from[32], until[32], who[INET6_ADDRSTRLEN + 24], what[GRANTS_NAME_SIZE + 16], state[64];
    time_t ended;
    bool over = grant_ended(gr, a->now, &ended);
    if (over && !a->all)
        return 0;
    if (!a->shown++)
        printf("%-6s %-9s %-10s %-16s %-24s %-16s %-16s %-9s %s\n", "ID", "KIND", "SEGMENT",
               "CLIENT", "ALLOWS", "FROM", "UNTIL", "STATE", "BY / REASON");
    fmt_time(gr->from, from, sizeof from);
    fmt_time(gr->until, until, sizeof until);
    if (gr->scope == GRANT_SCOPE_CLIENT)
        grants_addr_text(gr->addr, gr->family, who, sizeof who);
    else
        snprintf(who, sizeof who, "(segment)");
    if (gr->kind == GRANT_GUEST)
        snprintf(what, sizeof what, "guest access");
    else if (gr->category[0])
        snprintf(what, sizeof what, "category %s", gr->category);
    else
        snprintf(what, sizeof what, "%s", gr->name);
    if (gr->revoked)
        snprintf(state, sizeof state, "revoked");
    else if (over)
        snprintf(state, sizeof state, "expired");
    else if (gr->from > a->now)
        snprintf(state, sizeof state, "pending");
    else
        snprintf(state, sizeof state, "live");
    printf("%-6llu %-9s %-10s %-16s %-24s %-16s %-16s %-9s %s (as %s): %s\n",
           (unsigned long long)gr->id, gr->kind == GRANT_GUEST ? "guest" : "exemption", gr->segment,
           who, what, from, until, state, gr->by, gr->user, gr->reason);
    if (gr->revoked) {
        char when[32];
        fmt_time(gr->revoked, when, sizeof when);
        printf("       revoked %s by %s (as %s): %s\n", when, gr->revoked_by, gr->revoked_user,
               gr->revoke_reason[0] ? gr->revoke_reason : "(no reason given)");
    }
    return 0;
}

static int audit_cb(uint64_t t, const char *who, const char *action, const char *detail, void *arg)
{
    char when[32];
    (void)arg;
    fmt_time((time_t)(t / 1000000), when, sizeof when);
    printf("%s  %-7s %s: %s\n", when, action, who, detail);
    return 0;
}

int ctl_grants(const struct ctl_global *g, int argc, char **argv)
{
    const char *cmd = "grants";
    struct grants_store *s;
    char user[64];
    if (argc >= 2 && !strcmp(argv[1], "purge")) {
        if (argc != 2) {
            fprintf(stderr, "usage: gatehousectl grants purge\n");
            return 2;
        }
        if (open_store(g, cmd, 0, &s) < 0)
            return 1;
        unix_user(user, sizeof user);
        long n = grants_purge(s, time(NULL), g->cfg->grants_retention, user);
        grants_close(s);
        if (n < 0) {
            errmsg(cmd, "purge failed: %s", strerror((int)-n));
            return 1;
        }
        printf("purged %ld grants that ended more than grants.retention ago\n", n);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "audit")) {
        if (open_store(g, cmd, GRANTS_OPEN_RDONLY, &s) < 0)
            return 1;
        long n = grants_audit_list(s, audit_cb, NULL);
        grants_close(s);
        return n < 0 ? 1 : 0;
    }
    struct list_arg a = {.now = time(NULL)};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all")) {
            a.all = true;
        } else {
            fprintf(stderr, "usage: gatehousectl grants [--all] | grants purge | grants audit\n");
            return !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ? 0 : 2;
        }
    }
    int rc = open_store(g, cmd, GRANTS_OPEN_RDONLY, &s);
    if (rc == -ENOENT)
        return printf("no grants\n"), 0;
    if (rc < 0)
        return 1;
    long n = grants_list(s, list_cb, &a);
    grants_close(s);
    if (n < 0) {
        errmsg(cmd, "cannot read the grants: %s", strerror((int)-n));
        return 1;
    }
    if (!a.shown)
        printf(a.all ? "no grants\n" : "no live grants (--all shows past ones)\n");
    return 0;
}

/* --- revoke ------------------------------------------------------------- */

int ctl_revoke(const struct ctl_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"by", required_argument, NULL, 'b'},
        {"reason", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "revoke", *by = NULL, *reason = NULL;
    int opt;
    optind = 0; /* glibc: start afresh */
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'b')
            by = optarg;
        else if (opt == 'r')
            reason = optarg;
        else
            goto usage;
    }
    if (optind != argc - 1 || !by || !*by)
        goto usage;
    char *end;
    errno = 0;
    unsigned long long id = strtoull(argv[optind], &end, 10);
    if (errno || *end || !id || argv[optind][0] == '-') {
        errmsg(cmd, "'%s' is not a grant id (see gatehousectl grants)", argv[optind]);
        return 2;
    }
    if (strlen(by) >= GRANTS_BY_SIZE || (reason && strlen(reason) >= GRANTS_REASON_SIZE)) {
        errmsg(cmd, "--by or --reason is too long");
        return 2;
    }
    if (admin_only(g, cmd) < 0)
        return 1;
    struct grants_store *s;
    char user[GRANTS_USER_SIZE];
    unix_user(user, sizeof user);
    if (open_store(g, cmd, 0, &s) < 0)
        return 1;
    int rc = grants_revoke(s, id, time(NULL), by, user, reason);
    grants_close(s);
    if (rc == -ENOENT)
        errmsg(cmd, "no grant %llu", id);
    else if (rc == -EALREADY)
        errmsg(cmd, "grant %llu has already ended", id);
    else if (rc < 0)
        errmsg(cmd, "cannot revoke grant %llu: %s", id, strerror(-rc));
    else
        printf("grant %llu revoked\n", id);
    return rc < 0 ? 1 : 0;
usage:
    fprintf(stderr, "usage: gatehousectl revoke ID --by NAME [--reason TEXT]\n");
    return 2;
}
