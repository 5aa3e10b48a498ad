/*
 * ctl_check.c - gatehousectl check: what would the policy do with a name,
 * and exactly why.
 *
 *   gatehousectl check NAME (--segment S | --client IP [--local IP] [--interface IF])
 *                           [--at "YYYY-MM-DD HH:MM"] [--index PATH]
 *
 * It builds the same policy set from the same config and index the daemon
 * uses (policy.c, blocklist.c), so the answer is the daemon's answer; the
 * time is the school's local time (config timezone), "now" by default.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <idn2.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocklist.h"
#include "ctl_check.h"
#include "policy.h"
#include "wire.h"

struct check_args {
    const char *name, *segment, *client, *local, *iface, *at, *index;
};

static void check_usage(FILE *f)
{
    fprintf(f, "usage: gatehousectl check NAME (--segment S | --client IP [--local IP] "
               "[--interface IF])\n"
               "                          [--at \"YYYY-MM-DD HH:MM\"] [--index PATH]\n");
}

static int parse_check_args(int argc, char **argv, struct check_args *a)
{
    static const struct option opts[] = {
        {"segment", required_argument, NULL, 's'}, {"client", required_argument, NULL, 'c'},
        {"local", required_argument, NULL, 'l'},   {"interface", required_argument, NULL, 'i'},
        {"at", required_argument, NULL, 'a'},      {"index", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 0; /* glibc: 0 re-initialises getopt after the dispatcher's own pass */
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            a->segment = optarg;
            break;
        case 'c':
            a->client = optarg;
            break;
        case 'l':
            a->local = optarg;
            break;
        case 'i':
            a->iface = optarg;
            break;
        case 'a':
            a->at = optarg;
            break;
        case 'x':
            a->index = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return 1;
        default:
            check_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        check_usage(stderr);
        return 2;
    }
    a->name = argv[optind];
    if (!a->segment == !a->client) {
        fprintf(stderr, "gatehousectl check: give exactly one of --segment or --client\n");
        return 2;
    }
    return 0;
}

/* NAME (any case, IDN allowed, trailing dot optional) to lower-case wire. */
static int name_to_wire(const char *text, uint8_t *out, size_t *len)
{
    char *ascii = NULL;
    size_t o = 0;

    if (idn2_to_ascii_8z(text, &ascii, IDN2_NONTRANSITIONAL) != IDN2_OK)
        return -EINVAL;
    const char *p = ascii;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || o + l + 2 > WIRE_MAX_NAME) {
            free(ascii);
            return -EINVAL;
        }
        out[o++] = (uint8_t)l;
        memcpy(out + o, p, l);
        o += l;
        p += l + (dot ? 1 : 0);
    }
    out[o++] = 0;
    free(ascii);
    wire_name_lower(out, o);
    *len = o;
    return 0;
}

static int parse_sockaddr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}

/* "YYYY-MM-DD HH:MM" in local time (the config's time zone). */
static int parse_at(const char *text, time_t *out)
{
    struct tm tm = {0};
    char extra;

    if (sscanf(text, "%4d-%2d-%2d %2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &extra) != 5)
        return -EINVAL;
    int y = tm.tm_year, mo = tm.tm_mon, d = tm.tm_mday;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || tm.tm_hour > 23 || tm.tm_min > 59)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    *out = mktime(&tm);
    /* mktime normalises 31 February into March: refuse that. */
    if (*out == (time_t)-1 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d)
        return -EINVAL;
    return 0;
}

static int find_segment(const struct policy_set *ps, const struct check_args *a)
{
    if (a->segment) {
        for (size_t i = 0; i < policy_segment_count(ps); i++)
            if (strcmp(policy_segment_name(ps, (int)i), a->segment) == 0)
                return (int)i;
        fprintf(stderr, "gatehousectl check: no segment named '%s'\n", a->segment);
        return -1;
    }
    struct sockaddr_storage client, local;
    if (parse_sockaddr(a->client, &client) < 0) {
        fprintf(stderr, "gatehousectl check: --client: not an address: '%s'\n", a->client);
        return -1;
    }
    if (a->local && parse_sockaddr(a->local, &local) < 0) {
        fprintf(stderr, "gatehousectl check: --local: not an address: '%s'\n", a->local);
        return -1;
    }
    int ifindex = 0;
    if (a->iface && !(ifindex = (int)if_nametoindex(a->iface))) {
        fprintf(stderr, "gatehousectl check: --interface: no interface '%s'\n", a->iface);
        return -1;
    }
    int seg = policy_segment_match(ps, (struct sockaddr *)&client,
                                   a->local ? (struct sockaddr *)&local : NULL, ifindex);
    if (seg < 0)
        printf("verdict:    REFUSED: %s matches no segment (Gatehouse answers no one else)\n",
               a->client);
    return seg < 0 ? -2 : seg;
}

static int category_id_cb(void *arg, const char *name)
{
    int id = arg ? blocklist_category_id(arg, name) : -1;
    return id < 0 ? -1 : id;
}

static const char *action_text(const struct config_action *act, char *buf, size_t cap)
{
    static const char *const kinds[] = {"NXDOMAIN", "NODATA", "null address (0.0.0.0, ::)",
                                        "block page"};
    char a4[INET_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "";
    if (act->kind != CONFIG_ACTION_ADDRESS)
        return kinds[act->kind];
    if (act->have_a4)
        inet_ntop(AF_INET, act->a4, a4, sizeof a4);
    if (act->have_a6)
        inet_ntop(AF_INET6, act->a6, a6, sizeof a6);
    snprintf(buf, cap, "block page %s%s%s", a4, *a4 && *a6 ? " " : "", a6);
    return buf;
}

static void print_list_entry(struct blocklist *bl, const uint8_t *qname, size_t qlen, int category)
{
    struct blocklist_match m;
    struct blocklist_source_info src;
    char listed[1024];

    if (!bl || blocklist_lookup(bl, qname, qlen, &m) <= 0)
        return;
    wire_name_to_text(qname + m.match_offset, qlen - m.match_offset, listed, sizeof listed);
    printf("list:       %s is listed", listed);
    if (blocklist_get_source(bl, m.source, &src) == 0)
        printf(" in %s line %u", src.origin, m.line);
    printf("\n");
    for (unsigned id = 0; id < 64; id++)
        if (m.categories & (1ull << id))
            printf("category:   %s%s\n", blocklist_category_name(bl, id),
                   (int)id == category ? " (decided)" : "");
}

int ctl_check(const struct ctl_global *g, int argc, char **argv)
{
    struct check_args a = {0};
    struct blocklist *bl = NULL;
    struct policy_set *ps = NULL;
    char err[1024] = "";
    uint8_t qname[WIRE_MAX_NAME];
    size_t qlen;
    int rc = parse_check_args(argc, argv, &a), status = 1;

    if (rc)
        return rc == 1 ? 0 : rc;
    if (name_to_wire(a.name, qname, &qlen) < 0) {
        fprintf(stderr, "gatehousectl check: not a domain name: '%s'\n", a.name);
        return 2;
    }
    if (g->cfg->timezone) {
        setenv("TZ", g->cfg->timezone, 1);
        tzset();
    }
    time_t when = time(NULL);
    if (a.at && parse_at(a.at, &when) < 0) {
        fprintf(stderr, "gatehousectl check: --at: expected \"YYYY-MM-DD HH:MM\", got '%s'\n",
                a.at);
        return 2;
    }
    if (!g->cfg->nsegments) {
        fprintf(stderr,
                "gatehousectl check: %s configures no segments: there is no policy to "
                "apply\n",
                g->config_path ? g->config_path : "the built-in configuration");
        return 1;
    }
    const char *index = a.index ? a.index : g->cfg->blocklist_index;
    rc = blocklist_open(index, &bl, err, sizeof err);
    if (rc < 0 && rc != -ENOENT) {
        fprintf(stderr, "gatehousectl check: %s\n", err);
        return 1;
    }
    if (rc == -ENOENT)
        printf("note:       no blocklist index at %s: no name is in any category\n", index);
    if (policy_set_build(g->cfg, category_id_cb, bl, &ps, err, sizeof err) < 0) {
        fprintf(stderr, "gatehousectl check: %s\n", err);
        goto out;
    }
    int seg = find_segment(ps, &a);
    if (seg == -1)
        goto out;
    if (seg == -2) {
        status = 0;
        goto out;
    }

    const struct policy *pol = policy_of_segment(ps, seg);
    struct blocklist_match m = {0};
    if (bl && blocklist_lookup(bl, qname, qlen, &m) < 0)
        m.categories = 0;
    struct policy_clock clk;
    struct policy_verdict v;
    policy_clock_set(&clk, when);
    policy_decide(pol, qname, qlen, m.categories, &clk, NULL, &v);

    char text[1024], when_text[64], buf[128];
    static const char *const days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                       "Friday", "Saturday", "Sunday"};
    struct tm tm;
    localtime_r(&when, &tm);
    strftime(when_text, sizeof when_text, "%Y-%m-%d %H:%M %Z", &tm);
    printf("name:       %s\n", wire_name_to_text(qname, qlen, text, sizeof text));
    printf("segment:    %s\n", policy_segment_name(ps, seg));
    printf("policy:     %s\n", policy_name(pol));
    printf("time:       %s (%s)\n", when_text, days[clk.wday]);
    switch (v.outcome) {
    case POLICY_PASS:
        printf("verdict:    ANSWERED (resolved normally)\n");
        break;
    case POLICY_BLOCK:
        printf("verdict:    BLOCKED, answered %s, TTL %u\n", action_text(v.action, buf, sizeof buf),
               v.ttl);
        break;
    case POLICY_REWRITE:
        printf("verdict:    REWRITTEN to %s (safe search)\n",
               wire_name_to_text(v.target, v.target_len, text, sizeof text));
        break;
    }
    printf("decided by: %s", policy_reason_name(v.reason));
    if (v.category >= 0 && bl)
        printf(", category %s", blocklist_category_name(bl, (unsigned)v.category));
    if (v.rule)
        printf(", rule \"%s\"", v.rule);
    if (v.line)
        printf(" at %s line %u", g->config_path ? g->config_path : "(built-in)", v.line);
    printf("\n");
    print_list_entry(bl, qname, qlen, v.category);
    status = 0;
out:
    policy_set_free(ps);
    blocklist_close(bl);
    return status;
}
