/*
 * ctl_check.c - gatehousectl check: what would the policy do with a name,
 * and exactly why; then what the resolver finds for it, step by step, with
 * the DNSSEC status of each step (like delv or unbound-host -v).
 *
 *   gatehousectl check NAME [--type T]
 *                           [--segment S | --client IP [--local IP] [--interface IF]]
 *                           [--at "YYYY-MM-DD HH:MM"] [--index PATH] [--no-resolve]
 *
 * The policy part (with --segment or --client) builds the same policy set
 * from the same config and index the daemon uses (policy.c, blocklist.c),
 * so the answer is the daemon's answer; the time is the school's local time
 * (config timezone), "now" by default.  It sends nothing.
 *
 * The resolution part (unless --no-resolve) resolves the name itself with
 * the daemon's iterator and validator and the same configuration, from a
 * cold private cache (ctl_resolve.h), so it sends queries to the servers
 * the daemon would ask; it does not ask the running daemon.  It reads the
 * iterator's trace (iter_vtrace), whose names are ldns dnames: ldns is used
 * here to read those, the answer records and the anchors, nothing else.
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
#include "ctl_resolve.h"
#include "policy.h"
#include "trust.h"
#include "validator.h"
#include "wire.h"

#define CHECK_MAX_STEPS 64   /* trace steps shown (the iterator keeps fewer) */
#define CHECK_MAX_SHOWN 8    /* answer records listed, then "and N more" */
#define CHECK_OWNER_WIDTH 40 /* the step column stops growing here */

struct check_args {
    const char *name, *segment, *client, *local, *iface, *at, *index, *type;
    bool no_resolve;
};

static void check_usage(FILE *f)
{
    fprintf(f,
            "usage: gatehousectl check NAME [--type T]\n"
            "                          [--segment S | --client IP [--local IP] [--interface IF]]\n"
            "                          [--at \"YYYY-MM-DD HH:MM\"] [--index PATH] [--no-resolve]\n"
            "\n"
            "  With --segment or --client: the policy's verdict for NAME and why.\n"
            "  Then NAME is resolved as the daemon would (root hints, forward zones,\n"
            "  dnssec settings of the config) and each step of the chain is shown with\n"
            "  its DNSSEC status: secure, insecure or bogus.\n"
            "  --type T      the record type to resolve (default A; e.g. AAAA, MX, TYPE65)\n"
            "  --no-resolve  the policy only: send no query\n");
}

static int parse_check_args(int argc, char **argv, struct check_args *a)
{
    static const struct option opts[] = {
        {"segment", required_argument, NULL, 's'}, {"client", required_argument, NULL, 'c'},
        {"local", required_argument, NULL, 'l'},   {"interface", required_argument, NULL, 'i'},
        {"at", required_argument, NULL, 'a'},      {"index", required_argument, NULL, 'x'},
        {"type", required_argument, NULL, 't'},    {"no-resolve", no_argument, NULL, 'n'},
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
        case 't':
            a->type = optarg;
            break;
        case 'n':
            a->no_resolve = true;
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
    if (a->segment && a->client) {
        fprintf(stderr, "gatehousectl check: give one of --segment or --client, not both\n");
        return 2;
    }
    if (a->no_resolve && !a->segment && !a->client) {
        fprintf(stderr, "gatehousectl check: --no-resolve leaves only the policy check: "
                        "give --segment or --client\n");
        return 2;
    }
    if ((a->local || a->iface) && !a->client) {
        fprintf(stderr, "gatehousectl check: --local and --interface go with --client\n");
        return 2;
    }
    if ((a->at || a->index) && !a->segment && !a->client) {
        fprintf(stderr, "gatehousectl check: --at and --index are for the policy check: "
                        "give --segment or --client\n");
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

/* What the policy part decided, for the resolution part that follows. */
struct check_verdict {
    bool shown;   /* the policy part ran */
    bool refused; /* the client is in no segment */
    enum policy_outcome outcome;
    uint8_t target[WIRE_MAX_NAME]; /* POLICY_REWRITE: the safe-search target */
    size_t target_len;
};

/* The policy part: today's `check`.  Returns the exit status (0, 1, 2). */
static int check_policy(const struct ctl_global *g, const struct check_args *a,
                        const uint8_t *qname, size_t qlen, struct check_verdict *out)
{
    struct blocklist *bl = NULL;
    struct policy_set *ps = NULL;
    char err[1024] = "";
    int rc, status = 1;

    if (g->cfg->timezone) {
        setenv("TZ", g->cfg->timezone, 1);
        tzset();
    }
    time_t when = time(NULL);
    if (a->at && parse_at(a->at, &when) < 0) {
        fprintf(stderr, "gatehousectl check: --at: expected \"YYYY-MM-DD HH:MM\", got '%s'\n",
                a->at);
        return 2;
    }
    if (!g->cfg->nsegments) {
        fprintf(stderr,
                "gatehousectl check: %s configures no segments: there is no policy to "
                "apply\n",
                g->config_path ? g->config_path : "the built-in configuration");
        return 1;
    }
    const char *index = a->index ? a->index : g->cfg->blocklist_index;
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
    int seg = find_segment(ps, a);
    if (seg == -1)
        goto out;
    out->shown = true;
    if (seg == -2) {
        out->refused = true;
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
    out->outcome = v.outcome;
    if (v.outcome == POLICY_REWRITE && v.target_len <= sizeof out->target) {
        memcpy(out->target, v.target, v.target_len);
        out->target_len = v.target_len;
    }
    status = 0;
out:
    policy_set_free(ps);
    blocklist_close(bl);
    return status;
}

/* --- the resolution ---------------------------------------------------------*/

/* A name as people write it in a report: no trailing dot, "." for the root. */
static char *name_text(const uint8_t *wire, size_t len, char *out, size_t cap)
{
    wire_name_to_text(wire, len, out, cap);
    size_t n = strlen(out);
    if (n > 1 && out[n - 1] == '.')
        out[n - 1] = '\0';
    return out;
}

static char *dname_text(const ldns_rdf *d, char *out, size_t cap)
{
    if (!d || ldns_rdf_get_type(d) != LDNS_RDF_TYPE_DNAME) {
        snprintf(out, cap, "?");
        return out;
    }
    return name_text(ldns_rdf_data(d), ldns_rdf_size(d), out, cap);
}

static const char *rcode_text(unsigned rcode, char *buf, size_t cap)
{
    static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                        "NXDOMAIN", "NOTIMP",  "REFUSED"};
    if (rcode < sizeof names / sizeof *names)
        return names[rcode];
    snprintf(buf, cap, "RCODE%u", rcode);
    return buf;
}

/* RFC 8914 section 4 (and the IANA registry): the names Unbound and dig
 * print. */
static const char *ede_name(uint16_t code)
{
    static const char *const names[] = {
        "Other Error",
        "Unsupported DNSKEY Algorithm",
        "Unsupported DS Digest Type",
        "Stale Answer",
        "Forged Answer",
        "DNSSEC Indeterminate",
        "DNSSEC Bogus",
        "Signature Expired",
        "Signature Not Yet Valid",
        "DNSKEY Missing",
        "RRSIGs Missing",
        "No Zone Key Bit Set",
        "NSEC Missing",
        "Cached Error",
        "Not Ready",
        "Blocked",
        "Censored",
        "Filtered",
        "Prohibited",
        "Stale NXDomain Answer",
        "Not Authoritative",
        "Not Supported",
        "No Reachable Authority",
        "Network Error",
        "Invalid Data",
    };
    return code < sizeof names / sizeof *names ? names[code] : "Unknown Error";
}

/* "EDE 7 Signature Expired: text", without the iterator's "DNSSEC: " prefix
 * (the line it goes on says DNSSEC already). */
static void print_ede(uint16_t code, const char *text)
{
    printf("EDE %u %s", code, ede_name(code));
    if (text && strncmp(text, "DNSSEC: ", 8) == 0)
        text += 8;
    if (text && *text && strcmp(text, ede_name(code)) != 0)
        printf(": %s", text);
}

/* Why validation failed, in the iterator's words. */
static const char *bogus_text(const struct iter_result *res)
{
    const char *t = res->ede_text;
    if (t && strncmp(t, "DNSSEC: ", 8) == 0)
        t += 8;
    return t && *t ? t : ede_name(res->ede_code);
}

/* The deepest forward zone at or above name (wire, lower case), or NULL. */
static const struct config_forward *forward_of(const struct config *cfg, const uint8_t *name,
                                               size_t len)
{
    for (size_t off = 0; off < len;) {
        for (size_t i = 0; i < cfg->nforwards; i++) {
            const struct config_forward *f = &cfg->forwards[i];
            if (f->zone_wire_len == len - off && memcmp(f->zone_wire, name + off, len - off) == 0)
                return f;
        }
        if (name[off] == 0)
            break;
        off += 1u + name[off];
    }
    return NULL;
}

static const struct config_forward *forward_of_dname(const struct config *cfg, const ldns_rdf *d)
{
    uint8_t lc[WIRE_MAX_NAME];
    size_t len = ldns_rdf_size(d);
    if (len > sizeof lc)
        return NULL;
    memcpy(lc, ldns_rdf_data(d), len);
    wire_name_lower(lc, len);
    return forward_of(cfg, lc, len);
}

static void print_sockaddr(const struct sockaddr_storage *ss)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
        port = ntohs(s4->sin_port);
        printf(port && port != 53 ? "%s@%u" : "%s", a, port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
        port = ntohs(s6->sin6_port);
        printf(port && port != 53 ? "%s@%u" : "%s", a, port);
    }
}

/* Is the secure zone's DNSKEY set in the private cache?  The walk of the
 * chain of trust stores each zone it authenticated (iterator.c). */
static bool cached(struct cache *c, const ldns_rdf *name, ldns_rr_type type, bool secure)
{
    enum cache_sec sec = CACHE_SEC_UNCHECKED;
    ldns_rr_list *l = cache_rrset_get_sec(c, name, type, time(NULL), NULL, &sec, NULL);
    bool found = l && (!secure || sec == CACHE_SEC_SECURE);
    ldns_rr_list_deep_free(l);
    return found;
}

/* Where and why the chain of trust ends for an insecure step judged at
 * zone.  The iterator names the zone it asked about, which may lie below
 * the delegation that ended the chain (the rest of the walk shares that
 * verdict), so the delegation is found again from what the walk left in
 * the cache: the deepest zone whose keys were authenticated, and the first
 * zone cut (an NS set) below it. */
static void print_insecure_why(const struct config *cfg, struct cache *c, const ldns_rdf *zone)
{
    char text[1024];
    const struct trust_anchors *ta = cfg->dnssec_anchors;

    if (!zone) {
        printf("(where the chain of trust ends is unknown)");
        return;
    }
    const struct config_forward *fw = forward_of_dname(cfg, zone);
    if (trust_nta(ta, zone)) {
        printf("(%s is under a negative trust anchor: dnssec.negative-trust-anchors)",
               dname_text(zone, text, sizeof text));
        return;
    }
    if (fw && fw->zone_wire_len > 1) {
        printf("(forward zone %s: answers from forwarders are not validated)",
               name_text(fw->zone_wire, fw->zone_wire_len, text, sizeof text));
        return;
    }
    const struct trust_anchor *anchor = trust_find(ta, zone);
    if (!anchor) {
        printf("(no trust anchor covers %s)", dname_text(zone, text, sizeof text));
        return;
    }
    /* From the zone up to the anchor: the deepest authenticated zone. */
    unsigned zl = ldns_dname_label_count(zone), al = ldns_dname_label_count(anchor->zone);
    unsigned secure_at = al;
    for (unsigned l = zl; l > al; l--) {
        ldns_rdf *n = ldns_dname_clone_from(zone, zl - l);
        bool sec = n && cached(c, n, LDNS_RR_TYPE_DNSKEY, true);
        ldns_rdf_deep_free(n);
        if (sec) {
            secure_at = l;
            break;
        }
    }
    if (secure_at == zl) {
        /* The zone's own keys were authenticated: the step is insecure only
         * because the answer as a whole is (an earlier step was). */
        printf("(keys of %s; an earlier step is insecure)", dname_text(zone, text, sizeof text));
        return;
    }
    /* Below it, the first zone cut on the way down to zone. */
    ldns_rdf *cut = NULL;
    for (unsigned l = secure_at + 1; l <= zl && !cut; l++) {
        ldns_rdf *n = ldns_dname_clone_from(zone, zl - l);
        if (n && (l == zl || cached(c, n, LDNS_RR_TYPE_NS, false)))
            cut = n;
        else
            ldns_rdf_deep_free(n);
    }
    const ldns_rdf *at = cut ? cut : zone;
    printf("(chain of trust ends at %s: ", dname_text(at, text, sizeof text));
    if (cached(c, at, LDNS_RR_TYPE_DS, true)) {
        printf("its DS records name no algorithm or digest we validate, RFC 8624)");
    } else {
        ldns_rdf *parent = ldns_dname_clone_from(zone, zl - secure_at);
        printf("unsigned delegation, no DS in %s)",
               secure_at == 0 ? "the root" : dname_text(parent, text, sizeof text));
        ldns_rdf_deep_free(parent);
    }
    ldns_rdf_deep_free(cut);
}

/* One RRset of the chain, as "owner TYPE", or the owner alone (denials). */
struct check_line {
    const ldns_rdf *owner;
    uint16_t type;                 /* 0: the denial of a negative answer */
    const struct iter_vstep *step; /* NULL when validation was off */
};

/* NSEC or NSEC3 (or both): what the denial records of the signed form are. */
static const char *denial_kind(const ldns_pkt *signed_form)
{
    bool nsec = false, nsec3 = false;
    const ldns_rr_list *auth = signed_form ? ldns_pkt_authority(signed_form) : NULL;
    for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); i++) {
        ldns_rr_type t = ldns_rr_get_type(ldns_rr_list_rr(auth, i));
        nsec |= t == LDNS_RR_TYPE_NSEC;
        nsec3 |= t == LDNS_RR_TYPE_NSEC3;
    }
    return nsec && nsec3 ? "NSEC and NSEC3" : nsec3 ? "NSEC3" : nsec ? "NSEC" : NULL;
}

static void print_step(const struct config *cfg, struct cache *c, const struct check_line *ln,
                       int width, bool nxdomain, uint16_t qtype, const ldns_pkt *signed_form,
                       const struct iter_result *res)
{
    char owner[1024], type[32], zone[1024], col[1100];
    const struct iter_vstep *st = ln->step;
    uint8_t status = st ? st->status : VAL_UNCHECKED;

    dname_text(ln->owner, owner, sizeof owner);
    if (ln->type) {
        snprintf(col, sizeof col, "%s %s", owner, ctl_type_text(ln->type, type, sizeof type));
        printf("  %-*s ", width, col);
        switch (status) {
        case VAL_SECURE:
            printf("%-9s (keys of %s)", "secure", dname_text(st->zone, zone, sizeof zone));
            break;
        case VAL_INSECURE:
            printf("%-9s ", "insecure");
            print_insecure_why(cfg, c, st->zone);
            break;
        case VAL_BOGUS:
            printf("%-9s (at %s: %s)", "bogus", dname_text(st->zone, zone, sizeof zone),
                   bogus_text(res));
            break;
        default:
            printf("%s",
                   st ? "not checked (validation stopped before this step)" : "not validated");
        }
        printf("\n");
        return;
    }
    /* The denial: NXDOMAIN, or NODATA for the type asked. */
    printf("  %-*s ", width, owner);
    if (nxdomain)
        printf("no such name");
    else
        printf("no %s records (NODATA)", ctl_type_text(qtype, type, sizeof type));
    const char *kind = denial_kind(signed_form);
    switch (status) {
    case VAL_SECURE:
        printf(": secure denial (%s%skeys of %s%s)", kind ? kind : "", kind ? ", " : "",
               dname_text(st->zone, zone, sizeof zone),
               st->aggressive ? "; from cached denials, RFC 8198" : "");
        break;
    case VAL_INSECURE:
        printf(": insecure ");
        print_insecure_why(cfg, c, st->zone);
        break;
    case VAL_BOGUS:
        printf(": bogus denial (at %s: %s)", dname_text(st->zone, zone, sizeof zone),
               bogus_text(res));
        break;
    default:
        printf(st && cfg->dnssec_enabled ? " (not checked)" : " (not validated)");
    }
    printf("\n");
}

/* The records of the type asked at the end of the chain. */
static void print_answer(const ldns_pkt *p, uint16_t qtype, const struct iter_result *res)
{
    char buf[32];
    size_t n = 0;
    const ldns_rr_list *an = p ? ldns_pkt_answer(p) : NULL;

    printf("  answer: %s", rcode_text(res->rcode, buf, sizeof buf));
    for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); i++)
        n += ldns_rr_get_type(ldns_rr_list_rr(an, i)) == qtype;
    if (res->rcode == LDNS_RCODE_NXDOMAIN) {
        printf(" (no such name)\n");
        return;
    }
    if (res->rcode != LDNS_RCODE_NOERROR) {
        if (res->ede_code != WIRE_EDE_NONE && !res->bogus) {
            printf(" (");
            print_ede(res->ede_code, res->ede_text);
            printf(")");
        }
        printf("\n");
        return;
    }
    if (n == 0) {
        printf(", no %s records (NODATA)\n", ctl_type_text(qtype, buf, sizeof buf));
        return;
    }
    bool addr = qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_AAAA;
    printf(", %zu %s%s: ", n, addr ? "address" : "record", n == 1 ? "" : addr ? "es" : "s");
    size_t shown = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(an) && shown < CHECK_MAX_SHOWN; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(an, i);
        if (ldns_rr_get_type(rr) != qtype)
            continue;
        printf("%s", shown++ ? ", " : "");
        for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
            char *t = ldns_rdf2str(ldns_rr_rdf(rr, f));
            printf("%s%s", f ? " " : "", t ? t : "?");
            free(t);
        }
    }
    if (n > shown)
        printf(", and %zu more", n - shown);
    printf("\n");
}

/* The resolution part.  Returns the exit status: 0 when an answer came
 * (whatever it says), 1 when none could be had from the network. */
static int check_resolve(const struct ctl_global *g, const uint8_t *qname, size_t qlen,
                         uint16_t qtype, const struct check_verdict *v)
{
    const struct config *cfg = g->cfg;
    struct ctl_resolver *r = NULL;
    struct iter_query *q = NULL;
    struct ctl_resolve_info info;
    char err[1024], text[1024], type[32], qtype_text[32];
    int status = 1;

    if (ctl_resolver_new(cfg, &r, err, sizeof err) < 0) {
        fprintf(stderr, "gatehousectl check: cannot resolve: %s\n", err);
        return 1;
    }
    const uint8_t *name = qname;
    size_t len = qlen;
    if (v->shown && v->outcome == POLICY_REWRITE && v->target_len) {
        name = v->target; /* the daemon resolves the safe-search target */
        len = v->target_len;
    }
    if (ctl_resolve(r, name, len, qtype, &q, &info) < 0) {
        fprintf(stderr, "gatehousectl check: cannot resolve: out of memory\n");
        goto out;
    }
    bool validating = cfg->dnssec_enabled && cfg->dnssec_anchors;
    const struct config_forward *fw = forward_of(cfg, name, len);

    if (v->shown)
        printf("\n");
    ctl_type_text(qtype, qtype_text, sizeof qtype_text);
    printf("resolution of %s %s (", name_text(name, len, text, sizeof text), qtype_text);
    if (name != qname)
        printf("the safe-search target; ");
    if (fw) {
        printf("forwarded to ");
        for (size_t i = 0; i < fw->nservers; i++) {
            printf("%s", i ? ", " : "");
            print_sockaddr(&fw->servers[i].ss);
        }
        printf(" for forward zone %s",
               name_text(fw->zone_wire, fw->zone_wire_len, text, sizeof text));
    } else {
        printf("from the root");
    }
    printf(", %s):\n", validating ? "validating" : "not validating");
    if (v->shown && (v->refused || v->outcome == POLICY_BLOCK))
        printf("  (what the resolver finds upstream; this client gets the verdict above)\n");

    struct iter_result res;
    iter_result(q, &res);
    struct iter_vstep steps[CHECK_MAX_STEPS];
    size_t total = iter_vtrace(q, steps, CHECK_MAX_STEPS);
    size_t nsteps = total < CHECK_MAX_STEPS ? total : CHECK_MAX_STEPS;
    ldns_pkt *plain = NULL, *signed_form = NULL;
    if (res.wire && ldns_wire2pkt(&plain, res.wire, res.len) != LDNS_STATUS_OK)
        plain = NULL;
    if (res.wire_do && ldns_wire2pkt(&signed_form, res.wire_do, res.len_do) != LDNS_STATUS_OK)
        signed_form = NULL;

    /* The chain: the trace when validating; else the answer's RRsets in
     * order (the iterator records them for validation only), then the
     * trace's denial step. */
    struct check_line lines[CHECK_MAX_STEPS];
    size_t nlines = 0;
    if (validating) {
        for (size_t i = 0; i < nsteps; i++)
            lines[nlines++] = (struct check_line){steps[i].owner, steps[i].type, &steps[i]};
    } else {
        const ldns_rr_list *an = plain ? ldns_pkt_answer(plain) : NULL;
        for (size_t i = 0; an && i < ldns_rr_list_rr_count(an) && nlines < CHECK_MAX_STEPS; i++) {
            const ldns_rr *rr = ldns_rr_list_rr(an, i);
            if (nlines && lines[nlines - 1].type == ldns_rr_get_type(rr) &&
                ldns_dname_compare(lines[nlines - 1].owner, ldns_rr_owner(rr)) == 0)
                continue;
            lines[nlines++] = (struct check_line){ldns_rr_owner(rr), ldns_rr_get_type(rr), NULL};
        }
        for (size_t i = 0; i < nsteps && nlines < CHECK_MAX_STEPS; i++)
            if (steps[i].type == 0)
                lines[nlines++] = (struct check_line){steps[i].owner, 0, NULL};
    }
    int width = 0;
    for (size_t i = 0; i < nlines; i++) {
        int w =
            (int)strlen(dname_text(lines[i].owner, text, sizeof text)) +
            (lines[i].type ? 1 + (int)strlen(ctl_type_text(lines[i].type, type, sizeof type)) : 0);
        width = w > width ? w : width;
    }
    width = width > CHECK_OWNER_WIDTH ? CHECK_OWNER_WIDTH : width;
    bool nxdomain = res.rcode == LDNS_RCODE_NXDOMAIN;
    for (size_t i = 0; i < nlines; i++)
        print_step(cfg, ctl_resolver_cache(r), &lines[i], width, nxdomain, qtype, signed_form,
                   &res);
    if (total > nsteps)
        printf("  ... and %zu more steps\n", total - nsteps);

    switch (info.end) {
    case CTL_RESOLVE_DEADLINE:
        printf("  answer: none: resolver.deadline (%u ms) passed first\n", info.deadline_ms);
        fprintf(stderr,
                "gatehousectl check: no answer for %s %s within resolver.deadline (%u ms): "
                "%llu queries sent, %llu replies\n",
                name_text(name, len, text, sizeof text), qtype_text, info.deadline_ms,
                (unsigned long long)info.sent, (unsigned long long)info.replies);
        break;
    case CTL_RESOLVE_NO_SOCKET:
        printf("  answer: none: no query could be sent\n");
        fprintf(stderr,
                "gatehousectl check: cannot send queries upstream: %s "
                "(check resolver.outgoing-address and the routes)\n",
                strerror(-info.last_error));
        break;
    case CTL_RESOLVE_DONE:
        print_answer(plain, qtype, &res);
        if (!validating)
            printf("  DNSSEC: off (dnssec.enabled: false)\n");
        else if (res.bogus) {
            printf("  DNSSEC: bogus (");
            print_ede(res.ede_code, res.ede_text);
            printf(")\n");
        } else if (res.secure)
            printf("  DNSSEC: secure\n");
        else if (res.rcode == LDNS_RCODE_NOERROR || res.rcode == LDNS_RCODE_NXDOMAIN)
            printf("  DNSSEC: insecure\n");
        else
            printf("  DNSSEC: not judged (no answer to judge)\n");
        if (info.replies == 0 && res.rcode == LDNS_RCODE_SERVFAIL) {
            fprintf(stderr,
                    "gatehousectl check: no server replied to any of %llu queries for %s %s: "
                    "is the network reachable from here?\n",
                    (unsigned long long)info.sent, name_text(name, len, text, sizeof text),
                    qtype_text);
            break;
        }
        status = 0;
        break;
    }
    printf("  upstream: %llu %s, %llu %s, %llu timed out, %u ms\n", (unsigned long long)info.sent,
           info.sent == 1 ? "query" : "queries", (unsigned long long)info.replies,
           info.replies == 1 ? "reply" : "replies", (unsigned long long)info.timeouts,
           info.elapsed_ms);
    ldns_pkt_free(plain);
    ldns_pkt_free(signed_form);
out:
    iter_free(q);
    ctl_resolver_free(r);
    return status;
}

int ctl_check(const struct ctl_global *g, int argc, char **argv)
{
    struct check_args a = {0};
    struct check_verdict v = {0};
    uint8_t qname[WIRE_MAX_NAME];
    size_t qlen;
    uint16_t qtype = LDNS_RR_TYPE_A;
    int rc = parse_check_args(argc, argv, &a);

    if (rc)
        return rc == 1 ? 0 : rc;
    if (name_to_wire(a.name, qname, &qlen) < 0) {
        fprintf(stderr, "gatehousectl check: not a domain name: '%s'\n", a.name);
        return 2;
    }
    if (a.type && (rc = ctl_type_parse(a.type, &qtype)) < 0) {
        if (rc == -EPERM)
            fprintf(stderr,
                    "gatehousectl check: --type: '%s' is a meta or query type, not a record "
                    "type to look up (RFC 6895)\n",
                    a.type);
        else
            fprintf(stderr,
                    "gatehousectl check: --type: '%s' is not a record type "
                    "(e.g. A, AAAA, MX, TXT, or TYPE65)\n",
                    a.type);
        return 2;
    }
    if (a.segment || a.client) {
        rc = check_policy(g, &a, qname, qlen, &v);
        if (rc || a.no_resolve)
            return rc;
        fflush(stdout); /* the verdict shows while the resolution runs */
    }
    return check_resolve(g, qname, qlen, qtype, &v);
}
