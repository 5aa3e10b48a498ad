/*
 * ctl_logs.c - gatehousectl logs / top / report / audit: the review side of
 * the query log.
 *
 * Who may look: whoever can open the store read-write (the audit record is
 * written before anything is shown; no audit, no review).  Every review
 * appends to the audit table who (the real user, or --by), when, what and
 * with which filters.  Not here: the store itself (resolver/qlog.c).
 *
 * Times on the command line are local time; --since is inclusive and
 * --until exclusive, so "--since yesterday --until today" is yesterday.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ctl_logs.h"
#include "geo.h"
#include "leases.h"
#include "policy.h"
#include "qlog.h"

#define CTL_LOGS_DEFAULT_LIMIT 1000
#define CTL_DETAIL_MAX 1024
#define CTL_TOP_MAX_KEYS (1u << 22)     /* distinct keys counted; the rest go to "(other)" */
#define CTL_REPORT_MAX_ATTEMPTS 2000000 /* safeguarding hits in one day */
#define CTL_OWNER_CACHE 1024            /* AS owners remembered for display (direct-mapped) */
#define CTL_COUNTRIES (26 * 26 + 1)     /* every alpha-2 code, and the last for unknown */

enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_TEXT, FMT_HTML };

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

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

/* Open the configured store read-write (the audit needs it) with errors a
 * member of staff can act on. */
static int open_store(const struct ctl_global *g, const char *cmd, struct qlog_store **s)
{
    const struct config *cfg = g->cfg;
    const char *path = cfg ? cfg->log_path : NULL;
    if (!path) {
        errmsg(cmd, "no query log configured (log.path)");
        return -EINVAL;
    }
    int rc = qlog_open(path, cfg->log_map_size, 0, s);
    if (rc == -EACCES || rc == -EPERM)
        errmsg(cmd,
               "cannot open the query log at %s: permission denied (are you in the "
               "gatehouse group?)",
               path);
    else if (rc == -ENOENT)
        errmsg(cmd, "cannot open the query log at %s: no such log (is log.enabled on?)", path);
    else if (rc == -EPROTO)
        errmsg(cmd,
               "cannot open the query log at %s: not a query log of this version (another "
               "Gatehouse's format: move it aside to start a new log)",
               path);
    else if (rc < 0)
        errmsg(cmd, "cannot open the query log at %s: %s", path, strerror(-rc));
    return rc;
}

static void who_am_i(const char *by, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    const char *user = pw ? pw->pw_name : NULL;
    char uid[32];
    if (!user) {
        snprintf(uid, sizeof uid, "uid %u", (unsigned)getuid());
        user = uid;
    }
    if (by)
        snprintf(buf, len, "%s (as %s)", by, user);
    else
        snprintf(buf, len, "%s", user);
}

/* The command line as the audit's "what": bounded, one line. */
static void join_args(int argc, char **argv, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < argc && o + 1 < len; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (o >= len)
        o = len - 1;
    for (size_t i = 0; i < o; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
}

static int audit(struct qlog_store *s, const char *cmd, const char *by, const char *action,
                 const char *detail)
{
    char who[300];
    who_am_i(by, who, sizeof who);
    int rc = qlog_audit_add(s, now_us(), who, action, detail);
    if (rc < 0)
        errmsg(cmd, "cannot write the audit record (%s): nothing shown", strerror(-rc));
    return rc;
}

/* --- name caches for display ------------------------------------------- */

/* The DHCP leases (dhcp.leases), read once per process: records and reports
 * show the MAC address and host name that held a client's address at the
 * time of the query.  NULL when not configured or unreadable. */
static struct lease_table *dhcp_leases;

void ctl_logs_use_leases(const struct config *cfg)
{
    char err[512];

    if (dhcp_leases || !cfg || !cfg->dhcp_leases)
        return;
    if (leases_load(cfg->dhcp_leases, cfg->dhcp_format, &dhcp_leases, err, sizeof err) < 0) {
        fprintf(stderr, "gatehousectl: device names unavailable: %s\n", err);
        dhcp_leases = NULL;
    }
}

/* "host aa:bb:cc:dd:ee:ff" (or just the MAC) for client at time_us; "" if
 * unknown. */
static void device_text(const uint8_t client[16], uint64_t time_us, char *mac, size_t maclen,
                        char *host, size_t hostlen)
{
    const struct lease *l =
        dhcp_leases ? leases_at(dhcp_leases, client, (time_t)(time_us / 1000000u)) : NULL;

    mac[0] = host[0] = 0;
    if (!l)
        return;
    leases_mac_text(l->mac, mac, maclen);
    snprintf(host, hostlen, "%s", l->host);
}

struct owner_slot {
    uint32_t asn; /* 0 = empty */
    char name[64];
};

struct names {
    struct qlog_store *s;
    char seg[256][64];
    bool seg_tried[256];
    char *cat[65536];
    bool cat_tried[65536];
    struct owner_slot own[CTL_OWNER_CACHE];
};

static struct names *names_new(struct qlog_store *s)
{
    struct names *n = calloc(1, sizeof *n);
    if (n)
        n->s = s;
    return n;
}

static void names_free(struct names *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < 65536; i++)
        free(n->cat[i]);
    free(n);
}

static const char *seg_name(struct names *n, uint8_t id)
{
    if (id == 0)
        return "-"; /* matched no segment (refused), or no segments configured */
    if (!n->seg_tried[id]) {
        n->seg_tried[id] = true;
        if (qlog_segment_name(n->s, id, n->seg[id], sizeof n->seg[id]) < 0)
            snprintf(n->seg[id], sizeof n->seg[id], "%u", id);
    }
    return n->seg[id];
}

static const char *cat_name(struct names *n, uint16_t id)
{
    if (id == 0)
        return "";
    if (!n->cat_tried[id]) {
        char buf[64];
        n->cat_tried[id] = true;
        if (qlog_category_name(n->s, id, buf, sizeof buf) < 0)
            snprintf(buf, sizeof buf, "%u", id);
        n->cat[id] = strdup(buf);
    }
    return n->cat[id] ? n->cat[id] : "?";
}

/* The owner of an AS number from the store's table, "" when unknown.  A
 * direct-mapped cache: a collision only costs a lookup again. */
static const char *owner_name(struct names *n, uint32_t asn)
{
    if (asn == 0)
        return "";
    struct owner_slot *o = &n->own[asn % CTL_OWNER_CACHE];
    if (o->asn != asn) {
        o->asn = asn;
        if (qlog_asn_name(n->s, asn, o->name, sizeof o->name) < 0)
            o->name[0] = 0;
    }
    return o->name;
}

/* --- output ------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void html_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

enum tfmt { TF_FULL, TF_DATE, TF_HMS };

static void time_text(uint64_t t_us, char *buf, size_t len, enum tfmt k)
{
    time_t t = (time_t)(t_us / 1000000);
    struct tm tm;
    size_t n = 0;
    localtime_r(&t, &tm);
    if (k == TF_FULL)
        n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    else if (k == TF_DATE)
        n = strftime(buf, len, "%Y-%m-%d", &tm);
    else
        n = strftime(buf, len, "%H:%M:%S", &tm);
    if (n == 0 && len)
        buf[0] = 0;
}

/* Every field of a record as text, in the order of the CSV header. */
struct rowtext {
    char time[32], client[48], segment[64], name[1024], qtype[16], verdict[16], category[64],
        rule[24], rcode[16], ms[16], cache[4], grant[24], answers[100], mac[24], host[64], who[160],
        asn[16], owner[64], country[4];
};

/* New columns go at the end: scripts read these by position too. */
static const char *const CSV_HEADER[] = {
    "time", "client", "segment", "name",    "type", "verdict", "category", "rule",  "rcode",
    "ms",   "cache",  "grant",   "answers", "mac",  "host",    "asn",      "owner", "country"};
#define CSV_COLUMNS (sizeof CSV_HEADER / sizeof *CSV_HEADER)

static void row_text(struct names *nm, const struct qlog_record *r, struct rowtext *t)
{
    time_text(r->time_us, t->time, sizeof t->time, TF_FULL);
    qlog_addr_text(r->client, r->family, t->client, sizeof t->client);
    snprintf(t->segment, sizeof t->segment, "%s", seg_name(nm, r->segment));
    qlog_name_text(r->name, r->name_len, t->name, sizeof t->name);
    qlog_qtype_text(r->qtype, t->qtype, sizeof t->qtype);
    snprintf(t->verdict, sizeof t->verdict, "%s", qlog_verdict_text(r->verdict));
    snprintf(t->category, sizeof t->category, "%s", cat_name(nm, r->category));
    /* the policy's reason (policy.h), by name */
    snprintf(t->rule, sizeof t->rule, "%s", r->rule ? policy_reason_name(r->rule) : "");
    qlog_rcode_text(r->rcode, t->rcode, sizeof t->rcode);
    snprintf(t->ms, sizeof t->ms, "%.1f", r->response_us / 1000.0);
    snprintf(t->cache, sizeof t->cache, "%s", r->flags & QLOG_F_CACHE ? "yes" : "no");
    t->grant[0] = 0;
    if (r->grant_id)
        snprintf(t->grant, sizeof t->grant, "%llu", (unsigned long long)r->grant_id);
    t->answers[0] = 0;
    for (int i = 0; i < r->naddrs && i < 2; i++) {
        char a[48];
        qlog_addr_text(r->answer[i], r->answer_family[i], a, sizeof a);
        size_t o = strlen(t->answers);
        snprintf(t->answers + o, sizeof t->answers - o, "%s%s", i ? " " : "", a);
    }
    device_text(r->client, r->time_us, t->mac, sizeof t->mac, t->host, sizeof t->host);
    t->asn[0] = 0;
    if (r->asn)
        snprintf(t->asn, sizeof t->asn, "AS%" PRIu32, r->asn);
    snprintf(t->owner, sizeof t->owner, "%s", owner_name(nm, r->asn));
    qlog_country_text(r->country, t->country, sizeof t->country);
    /* the table's CLIENT column: the address, and the device when known */
    if (t->mac[0])
        snprintf(t->who, sizeof t->who, "%s (%s%s%s)", t->client, t->host, t->host[0] ? " " : "",
                 t->mac);
    else
        snprintf(t->who, sizeof t->who, "%s", t->client);
}

/* The fields in CSV_HEADER order. */
static void row_fields(const struct rowtext *t, const char *v[CSV_COLUMNS])
{
    const char *f[] = {t->time,     t->client, t->segment, t->name, t->qtype, t->verdict,
                       t->category, t->rule,   t->rcode,   t->ms,   t->cache, t->grant,
                       t->answers,  t->mac,    t->host,    t->asn,  t->owner, t->country};
    static_assert(sizeof f / sizeof *f == CSV_COLUMNS, "a value for every CSV column");
    memcpy(v, f, sizeof f);
}

static void print_csv(FILE *f, struct names *nm, const struct qlog_record *r)
{
    struct rowtext t;
    const char *v[CSV_COLUMNS];
    row_text(nm, r, &t);
    row_fields(&t, v);
    for (size_t i = 0; i < CSV_COLUMNS; i++)
        qlog_csv_field(f, v[i], i + 1 == CSV_COLUMNS);
}

static void print_json(FILE *f, struct names *nm, const struct qlog_record *r)
{
    struct rowtext t;
    const char *v[CSV_COLUMNS];
    row_text(nm, r, &t);
    row_fields(&t, v);
    fputc('{', f);
    for (size_t i = 0; i < CSV_COLUMNS; i++) {
        fprintf(f, "%s\"%s\":", i ? "," : "", CSV_HEADER[i]);
        json_str(f, v[i]);
    }
    fputs("}\n", f);
}

/* --- logs (search) ----------------------------------------------------- */

struct search {
    FILE *out;
    enum fmt fmt;
    struct names *nm;
    struct qlog_record *rows; /* table: buffered to align columns */
    size_t n, cap;
};

static int search_cb(const struct qlog_record *r, void *arg)
{
    struct search *q = arg;
    if (q->fmt == FMT_CSV) {
        print_csv(q->out, q->nm, r);
        return 0;
    }
    if (q->fmt == FMT_JSON) {
        print_json(q->out, q->nm, r);
        return 0;
    }
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 256;
        void *p = realloc(q->rows, nc * sizeof *q->rows);
        if (!p)
            return -ENOMEM;
        q->rows = p;
        q->cap = nc;
    }
    q->rows[q->n++] = *r;
    return 0;
}

#define TABLE_COLUMNS 13
#define TABLE_MS 8 /* milliseconds: right-aligned */

static void table_fields(const struct rowtext *t, const char *v[TABLE_COLUMNS])
{
    const char *f[] = {t->time,  t->who, t->segment, t->name, t->qtype, t->verdict, t->category,
                       t->rcode, t->ms,  t->cache,   t->asn,  t->owner, t->country};
    static_assert(sizeof f / sizeof *f == TABLE_COLUMNS, "a value for every table column");
    memcpy(v, f, sizeof f);
}

static void print_table(struct search *q)
{
    static const char *hdr[TABLE_COLUMNS] = {"TIME",    "CLIENT",   "SEGMENT", "NAME", "TYPE",
                                             "VERDICT", "CATEGORY", "RCODE",   "MS",   "CACHE",
                                             "ASN",     "OWNER",    "COUNTRY"};
    const int last = TABLE_COLUMNS - 1;
    int w[TABLE_COLUMNS];
    const char *v[TABLE_COLUMNS];
    struct rowtext t;
    for (int i = 0; i < TABLE_COLUMNS; i++)
        w[i] = (int)strlen(hdr[i]);
    for (size_t i = 0; i < q->n; i++) {
        row_text(q->nm, &q->rows[i], &t);
        table_fields(&t, v);
        for (int j = 0; j < TABLE_COLUMNS; j++)
            if ((int)strlen(v[j]) > w[j])
                w[j] = (int)strlen(v[j]) > 80 ? 80 : (int)strlen(v[j]);
    }
    for (int j = 0; j < TABLE_COLUMNS; j++)
        fprintf(q->out, "%-*s%s", j < last ? w[j] : 0, hdr[j], j < last ? "  " : "\n");
    for (size_t i = 0; i < q->n; i++) {
        row_text(q->nm, &q->rows[i], &t);
        table_fields(&t, v);
        for (int j = 0; j < TABLE_COLUMNS; j++) {
            if (j == TABLE_MS)
                fprintf(q->out, "%*s  ", w[j], v[j]);
            else
                fprintf(q->out, "%-*s%s", j < last ? w[j] : 0, v[j], j < last ? "  " : "\n");
        }
    }
}

enum {
    OPT_SINCE = 256,
    OPT_UNTIL,
    OPT_CLIENT,
    OPT_SEGMENT,
    OPT_NAME,
    OPT_CATEGORY,
    OPT_BLOCKED,
    OPT_LIMIT,
    OPT_FORMAT,
    OPT_FOLLOW,
    OPT_BY,
    OPT_REASON,
    OPT_DATE,
    OPT_OUT,
    OPT_ASN,
    OPT_COUNTRY,
};

static const struct option search_opts[] = {
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"client", required_argument, NULL, OPT_CLIENT},
    {"segment", required_argument, NULL, OPT_SEGMENT},
    {"name", required_argument, NULL, OPT_NAME},
    {"category", required_argument, NULL, OPT_CATEGORY},
    {"blocked", no_argument, NULL, OPT_BLOCKED},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"by", required_argument, NULL, OPT_BY},
    {"reason", required_argument, NULL, OPT_REASON},
    {"date", required_argument, NULL, OPT_DATE},
    {"out", required_argument, NULL, OPT_OUT},
    {"asn", required_argument, NULL, OPT_ASN},
    {"country", required_argument, NULL, OPT_COUNTRY},
    {NULL, 0, NULL, 0},
};

/* Everything the subcommands take; each uses what applies to it. */
struct opts {
    struct qlog_filter f;
    const char *segment, *category, *by, *reason, *date, *out, *client_text;
    enum fmt fmt;
    bool follow, has_limit, has_fmt;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o, uint64_t now)
{
    int c;
    bool sfx;
    uint8_t fam;
    memset(o, 0, sizeof *o);
    o->f.limit = CTL_LOGS_DEFAULT_LIMIT;
    optind = 0; /* glibc: start afresh, argv[0] is the subcommand */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", search_opts, NULL)) != -1) {
        switch (c) {
        case OPT_SINCE:
        case OPT_UNTIL:
            if (qlog_parse_time(optarg, now, c == OPT_SINCE ? &o->f.since_us : &o->f.until_us) <
                0) {
                errmsg(cmd,
                       "bad %s '%s': use 2026-11-23, \"2026-11-23 10:15\", today, yesterday, "
                       "or a duration like 30m, 1h, 7d",
                       c == OPT_SINCE ? "--since" : "--until", optarg);
                return 2;
            }
            break;
        case OPT_CLIENT:
            if (qlog_parse_addr(optarg, o->f.client, &fam) < 0) {
                errmsg(cmd, "bad --client '%s': not an IPv4 or IPv6 address", optarg);
                return 2;
            }
            o->f.has_client = true;
            o->client_text = optarg;
            break;
        case OPT_SEGMENT:
            o->segment = optarg;
            break;
        case OPT_NAME:
            if (qlog_parse_name(optarg, o->f.name, &o->f.name_len, &sfx) < 0) {
                errmsg(cmd, "bad --name '%s': use a name (www.example.com) or *.example.com",
                       optarg);
                return 2;
            }
            o->f.name_suffix = sfx;
            break;
        case OPT_CATEGORY:
            o->category = optarg;
            break;
        case OPT_ASN:
            if (geo_parse_asn(optarg, &o->f.asn) < 0) {
                errmsg(cmd, "bad --asn '%s': an AS number like AS9009 or 9009", optarg);
                return 2;
            }
            o->f.has_asn = true;
            break;
        case OPT_COUNTRY:
            if (qlog_parse_country(optarg, o->f.country) < 0) {
                errmsg(cmd, "bad --country '%s': a two-letter country code like GB or RO", optarg);
                return 2;
            }
            o->f.has_country = true;
            break;
        case OPT_BLOCKED:
            o->f.blocked_only = true;
            break;
        case OPT_LIMIT: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || optarg[0] == '-' || v > 1000000000ull) {
                errmsg(cmd, "bad --limit '%s': a number, 0 for no limit", optarg);
                return 2;
            }
            o->f.limit = v;
            o->has_limit = true;
            break;
        }
        case OPT_FORMAT:
            o->has_fmt = true;
            if (strcmp(optarg, "table") == 0)
                o->fmt = FMT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                o->fmt = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                o->fmt = FMT_JSON;
            else if (strcmp(optarg, "text") == 0)
                o->fmt = FMT_TEXT;
            else if (strcmp(optarg, "html") == 0)
                o->fmt = FMT_HTML;
            else {
                errmsg(cmd, "bad --format '%s'", optarg);
                return 2;
            }
            break;
        case OPT_FOLLOW:
            o->follow = true;
            break;
        case OPT_BY:
            o->by = optarg;
            break;
        case OPT_REASON:
            o->reason = optarg;
            break;
        case OPT_DATE:
            o->date = optarg;
            break;
        case OPT_OUT:
            o->out = optarg;
            break;
        default:
            errmsg(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
            return 2;
        }
    }
    if (o->f.until_us && o->f.since_us >= o->f.until_us) {
        errmsg(cmd, "--since must be before --until");
        return 2;
    }
    return 0;
}

/* Names given on the command line into ids from the store's tables. */
static int resolve_names(const char *cmd, struct qlog_store *s, struct opts *o)
{
    if (o->segment) {
        if (qlog_segment_id(s, o->segment, &o->f.segment) < 0) {
            char *end;
            unsigned long v = strtoul(o->segment, &end, 10);
            if (*end || end == o->segment || v > 255) {
                errmsg(cmd, "unknown --segment '%s'", o->segment);
                return 2;
            }
            o->f.segment = (uint8_t)v;
        }
        o->f.has_segment = true;
    }
    if (o->category) {
        if (qlog_category_id(s, o->category, &o->f.category) < 0) {
            errmsg(cmd, "unknown --category '%s'", o->category);
            return 2;
        }
        o->f.has_category = true;
    }
    return 0;
}

static volatile sig_atomic_t stop_follow;
static void on_sigint(int sig)
{
    (void)sig;
    stop_follow = 1;
}

/* --follow: print new records oldest first as they are committed.  Records
 * reach the log up to a batch late and out of order, so each poll looks a
 * window back and skips the keys already printed. */
struct seen {
    uint64_t t[65536];
    uint32_t seq[65536];
    size_t n;
};

struct follow_ctx {
    struct search *q;
    struct seen *seen;
    struct qlog_record *fresh;
    size_t nfresh, cap;
};

static int follow_cb(const struct qlog_record *r, void *arg)
{
    struct follow_ctx *fc = arg;
    for (size_t i = 0; i < fc->seen->n; i++)
        if (fc->seen->t[i] == r->time_us && fc->seen->seq[i] == r->seq)
            return 0;
    if (fc->nfresh == fc->cap)
        return 1; /* the rest next time */
    fc->fresh[fc->nfresh++] = *r;
    return 0;
}

static int cmp_rec_asc(const void *a, const void *b)
{
    const struct qlog_record *x = a, *y = b;
    if (x->time_us != y->time_us)
        return x->time_us < y->time_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int follow(struct qlog_store *s, struct opts *o, struct search *q)
{
    struct seen *seen = calloc(1, sizeof *seen);
    struct follow_ctx fc = {.q = q, .seen = seen, .cap = 16384};
    fc.fresh = malloc(fc.cap * sizeof *fc.fresh);
    if (!seen || !fc.fresh) {
        free(seen);
        free(fc.fresh);
        return -ENOMEM;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    const uint64_t window = 10 * 1000000ull;
    uint64_t last = now_us();
    while (!stop_follow) {
        struct qlog_filter f = o->f;
        f.limit = 0;
        f.since_us = last > window ? last - window : 0;
        f.until_us = 0;
        fc.nfresh = 0;
        long rc = qlog_query(s, &f, follow_cb, &fc);
        if (rc < 0) {
            free(seen);
            free(fc.fresh);
            return (int)rc;
        }
        qsort(fc.fresh, fc.nfresh, sizeof *fc.fresh, cmp_rec_asc);
        for (size_t i = 0; i < fc.nfresh; i++) {
            const struct qlog_record *r = &fc.fresh[i];
            if (q->fmt == FMT_CSV)
                print_csv(q->out, q->nm, r);
            else if (q->fmt == FMT_JSON)
                print_json(q->out, q->nm, r);
            else {
                struct rowtext t;
                row_text(q->nm, r, &t);
                fprintf(q->out, "%s  %-15s  %-10s  %-40s  %-5s  %-9s  %s\n", t.time, t.client,
                        t.segment, t.name, t.qtype, t.verdict, t.category);
            }
            if (r->time_us > last)
                last = r->time_us;
        }
        fflush(q->out);
        /* keep only keys inside the next window */
        uint64_t lo = last > window ? last - window : 0;
        size_t k = 0;
        for (size_t i = 0; i < seen->n; i++)
            if (seen->t[i] >= lo) {
                seen->t[k] = seen->t[i];
                seen->seq[k++] = seen->seq[i];
            }
        seen->n = k;
        for (size_t i = 0; i < fc.nfresh && seen->n < 65536; i++) {
            seen->t[seen->n] = fc.fresh[i].time_us;
            seen->seq[seen->n++] = fc.fresh[i].seq;
        }
        if (fc.nfresh < fc.cap)
            usleep(500 * 1000);
    }
    free(seen);
    free(fc.fresh);
    return 0;
}

static int logs_search(const struct ctl_global *g, int argc, char **argv)
{
    struct opts o;
    struct qlog_store *s;
    int rc = parse_opts("logs", argc, argv, &o, now_us());
    if (rc)
        return rc;
    if (optind < argc) {
        errmsg("logs", "unexpected argument '%s' (export, erase, purge or options)", argv[optind]);
        return 2;
    }
    if (o.fmt == FMT_TEXT || o.fmt == FMT_HTML) {
        errmsg("logs", "--format is table, csv or json");
        return 2;
    }
    if (open_store(g, "logs", &s) < 0)
        return 1;
    if ((rc = resolve_names("logs", s, &o)) != 0) {
        qlog_close(s);
        return rc;
    }
    char detail[CTL_DETAIL_MAX];
    join_args(argc, argv, detail, sizeof detail);
    if (audit(s, "logs", NULL, o.follow ? "follow" : "search", detail) < 0) {
        qlog_close(s);
        return 1;
    }
    struct search q = {.out = stdout, .fmt = o.fmt, .nm = names_new(s)};
    if (!q.nm) {
        qlog_close(s);
        return 1;
    }
    if (q.fmt == FMT_CSV)
        for (size_t i = 0; i < CSV_COLUMNS; i++)
            qlog_csv_field(stdout, CSV_HEADER[i], i + 1 == CSV_COLUMNS);
    long n;
    if (o.follow) {
        n = follow(s, &o, &q);
    } else {
        n = qlog_query(s, &o.f, search_cb, &q);
        if (n >= 0 && q.fmt == FMT_TABLE)
            print_table(&q);
    }
    if (n < 0)
        errmsg("logs", "query failed: %s", strerror((int)-n));
    else if (q.fmt == FMT_TABLE && !o.follow && isatty(STDOUT_FILENO))
        fprintf(stderr, "%ld record%s%s\n", n, n == 1 ? "" : "s",
                o.f.limit && (uint64_t)n == o.f.limit ? " (limit reached: --limit)" : "");
    free(q.rows);
    names_free(q.nm);
    qlog_close(s);
    return n < 0;
}

/* logs export --client IP: everything about one address (subject access). */
static int logs_export(const struct ctl_global *g, int argc, char **argv)
{
    struct opts o;
    struct qlog_store *s;
    int rc = parse_opts("logs export", argc, argv, &o, now_us());
    if (rc)
        return rc;
    if (!o.f.has_client) {
        errmsg("logs export", "--client IP is required");
        return 2;
    }
    struct qlog_filter f = {.has_client = true};
    memcpy(f.client, o.f.client, 16);
    if (open_store(g, "logs export", &s) < 0)
        return 1;
    char detail[CTL_DETAIL_MAX];
    join_args(argc, argv, detail, sizeof detail);
    if (audit(s, "logs export", o.by, "export", detail) < 0) {
        qlog_close(s);
        return 1;
    }
    FILE *out = stdout;
    if (o.out && !(out = fopen(o.out, "w"))) {
        errmsg("logs export", "cannot write %s: %s", o.out, strerror(errno));
        qlog_close(s);
        return 1;
    }
    struct search q = {.out = out, .fmt = FMT_CSV, .nm = names_new(s)};
    for (size_t i = 0; i < CSV_COLUMNS; i++)
        qlog_csv_field(out, CSV_HEADER[i], i + 1 == CSV_COLUMNS);
    long n = q.nm ? qlog_query(s, &f, search_cb, &q) : -ENOMEM;
    if (n < 0)
        errmsg("logs export", "query failed: %s", strerror((int)-n));
    if (out != stdout && fclose(out) != 0 && n >= 0) {
        errmsg("logs export", "cannot write %s: %s", o.out, strerror(errno));
        n = -EIO;
    }
    names_free(q.nm);
    qlog_close(s);
    if (n >= 0)
        fprintf(stderr, "exported %ld record%s for %s\n", n, n == 1 ? "" : "s", o.client_text);
    return n < 0;
}

/* logs erase --client IP --by NAME --reason TEXT */
static int logs_erase(const struct ctl_global *g, int argc, char **argv)
{
    struct opts o;
    struct qlog_store *s;
    int rc = parse_opts("logs erase", argc, argv, &o, now_us());
    if (rc)
        return rc;
    if (!o.f.has_client || !o.by || !o.reason || !*o.by || !*o.reason) {
        errmsg("logs erase", "--client IP, --by NAME and --reason TEXT are all required");
        return 2;
    }
    if (open_store(g, "logs erase", &s) < 0)
        return 1;
    char detail[CTL_DETAIL_MAX];
    /* audited before and after: a failure halfway still leaves a trace */
    snprintf(detail, sizeof detail, "client=%s reason=%s", o.client_text, o.reason);
    if (audit(s, "logs erase", o.by, "erase-start", detail) < 0) {
        qlog_close(s);
        return 1;
    }
    long n = qlog_erase_client(s, o.f.client);
    snprintf(detail, sizeof detail, "client=%s reason=%s erased=%ld%s%s", o.client_text, o.reason,
             n < 0 ? 0 : n, n < 0 ? " error=" : "", n < 0 ? strerror((int)-n) : "");
    audit(s, "logs erase", o.by, "erase", detail);
    qlog_close(s);
    if (n < 0) {
        errmsg("logs erase", "erase failed: %s", strerror((int)-n));
        return 1;
    }
    printf("erased %ld record%s for %s\n", n, n == 1 ? "" : "s", o.client_text);
    return 0;
}

static int logs_purge(const struct ctl_global *g, int argc, char **argv)
{
    struct opts o;
    struct qlog_store *s;
    int rc = parse_opts("logs purge", argc, argv, &o, now_us());
    if (rc)
        return rc;
    if (!g->cfg || g->cfg->log_retention == 0) {
        errmsg("logs purge", "log.retention is not set");
        return 2;
    }
    if (open_store(g, "logs purge", &s) < 0)
        return 1;
    long n = qlog_purge(s, now_us(), g->cfg->log_retention, g->cfg->log_retention_flagged);
    char detail[128];
    snprintf(detail, sizeof detail, "retention=%us flagged=%us purged=%ld", g->cfg->log_retention,
             g->cfg->log_retention_flagged, n < 0 ? 0 : n);
    audit(s, "logs purge", o.by, "purge", detail);
    qlog_close(s);
    if (n < 0) {
        errmsg("logs purge", "purge failed: %s", strerror((int)-n));
        return 1;
    }
    printf("purged %ld record%s\n", n, n == 1 ? "" : "s");
    return 0;
}

int ctl_logs(const struct ctl_global *g, int argc, char **argv)
{
    ctl_logs_use_leases(g->cfg);
    if (argc > 1 && strcmp(argv[1], "export") == 0)
        return logs_export(g, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "erase") == 0)
        return logs_erase(g, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "purge") == 0)
        return logs_purge(g, argc - 1, argv + 1);
    return logs_search(g, argc, argv);
}

/* --- top --------------------------------------------------------------- */

/* Counting table keyed by short strings from the log (outside data), so
 * the hash is seeded with a secret. */
struct counter {
    char key[264];
    uint64_t n;
};
struct counts {
    struct counter *t;
    size_t cap, used;
    uint64_t seed, other;
};

static uint64_t hash_str(const char *s, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static int counts_add(struct counts *c, const char *key, uint64_t n)
{
    if (c->used * 2 >= c->cap) {
        if (c->cap >= CTL_TOP_MAX_KEYS) {
            /* full: keys already in still count */
            for (size_t i = hash_str(key, c->seed) & (c->cap - 1); c->t[i].n;
                 i = (i + 1) & (c->cap - 1))
                if (strcmp(c->t[i].key, key) == 0) {
                    c->t[i].n += n;
                    return 0;
                }
            c->other += n;
            return 0;
        }
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        struct counter *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return -ENOMEM;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->t[i].n)
                continue;
            size_t j = hash_str(c->t[i].key, c->seed) & (ncap - 1);
            while (nt[j].n)
                j = (j + 1) & (ncap - 1);
            nt[j] = c->t[i];
        }
        free(c->t);
        c->t = nt;
        c->cap = ncap;
    }
    size_t i = hash_str(key, c->seed) & (c->cap - 1);
    while (c->t[i].n && strcmp(c->t[i].key, key) != 0)
        i = (i + 1) & (c->cap - 1);
    if (!c->t[i].n) {
        size_t kl = strnlen(key, sizeof c->t[i].key - 1); /* long names truncated */
        memcpy(c->t[i].key, key, kl);
        c->t[i].key[kl] = 0;
        c->used++;
    }
    c->t[i].n += n;
    return 0;
}

static int cmp_counter_desc(const void *a, const void *b)
{
    const struct counter *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->key, y->key);
}

/* Sort the table in place (entries with n == 0 last) and return how many. */
static size_t counts_sort(struct counts *c)
{
    if (c->cap)
        qsort(c->t, c->cap, sizeof *c->t, cmp_counter_desc);
    return c->used;
}

enum top_kind { TOP_NAMES, TOP_BLOCKED, TOP_CLIENTS, TOP_CATEGORIES, TOP_ASNS, TOP_COUNTRIES };
struct top_ctx {
    enum top_kind kind;
    struct counts c;
    struct names *nm;
    int err;
};

static int top_cb(const struct qlog_record *r, void *arg)
{
    struct top_ctx *t = arg;
    char key[1024];
    switch (t->kind) {
    case TOP_NAMES:
    case TOP_BLOCKED:
        qlog_name_text(r->name, r->name_len, key, sizeof key);
        break;
    case TOP_CLIENTS:
        qlog_addr_text(r->client, r->family, key, sizeof key);
        break;
    case TOP_CATEGORIES:
        if (!r->category)
            return 0;
        snprintf(key, sizeof key, "%s", cat_name(t->nm, r->category));
        break;
    case TOP_ASNS: { /* of the first answer address; records without one are not counted */
        if (!r->asn)
            return 0;
        const char *own = owner_name(t->nm, r->asn);
        snprintf(key, sizeof key, "AS%" PRIu32 "%s%s", r->asn, own[0] ? " " : "", own);
        break;
    }
    case TOP_COUNTRIES:
        qlog_country_text(r->country, key, sizeof key);
        if (!key[0])
            return 0;
        break;
    }
    return counts_add(&t->c, key, 1);
}

int ctl_top(const struct ctl_global *g, int argc, char **argv)
{
    struct opts o;
    struct qlog_store *s;
    enum top_kind kind = TOP_NAMES;
    int rc;
    if (argc > 1 && argv[1][0] != '-') {
        if (strcmp(argv[1], "names") == 0)
            kind = TOP_NAMES;
        else if (strcmp(argv[1], "blocked") == 0)
            kind = TOP_BLOCKED;
        else if (strcmp(argv[1], "clients") == 0)
            kind = TOP_CLIENTS;
        else if (strcmp(argv[1], "categories") == 0)
            kind = TOP_CATEGORIES;
        else if (strcmp(argv[1], "asns") == 0)
            kind = TOP_ASNS;
        else if (strcmp(argv[1], "countries") == 0)
            kind = TOP_COUNTRIES;
        else {
            errmsg("top", "unknown '%s': names, blocked, clients, categories, asns or countries",
                   argv[1]);
            return 2;
        }
        argc--;
        argv++;
    }
    uint64_t now = now_us();
    if ((rc = parse_opts("top", argc, argv, &o, now)) != 0)
        return rc;
    if (!o.has_limit)
        o.f.limit = 20;
    uint64_t shown = o.f.limit;
    o.f.limit = 0;
    if (!o.f.since_us)
        qlog_parse_time("today", now, &o.f.since_us);
    if (kind == TOP_BLOCKED || kind == TOP_CATEGORIES)
        o.f.blocked_only = kind == TOP_BLOCKED ? true : o.f.blocked_only;
    if (open_store(g, "top", &s) < 0)
        return 1;
    if ((rc = resolve_names("top", s, &o)) != 0) {
        qlog_close(s);
        return rc;
    }
    char detail[CTL_DETAIL_MAX];
    join_args(argc, argv, detail, sizeof detail);
    if (audit(s, "top", NULL, "top", detail) < 0) {
        qlog_close(s);
        return 1;
    }
    struct top_ctx t = {.kind = kind, .nm = names_new(s)};
    if (getrandom(&t.c.seed, sizeof t.c.seed, 0) != sizeof t.c.seed)
        t.c.seed = (uint64_t)now ^ (uint64_t)getpid();
    long n = t.nm ? qlog_query(s, &o.f, top_cb, &t) : -ENOMEM;
    if (n < 0) {
        errmsg("top", "query failed: %s", strerror((int)-n));
    } else {
        size_t k = counts_sort(&t.c);
        static const char *title[] = {"NAME",     "BLOCKED NAME", "CLIENT",
                                      "CATEGORY", "NETWORK",      "COUNTRY"};
        printf("%-50s  %10s  %6s\n", title[kind], "COUNT", "%");
        for (size_t i = 0; i < k && (!shown || i < shown); i++)
            printf("%-50s  %10llu  %5.1f%%\n", t.c.t[i].key, (unsigned long long)t.c.t[i].n,
                   n ? 100.0 * (double)t.c.t[i].n / (double)n : 0.0);
        if (t.c.other)
            printf("%-50s  %10llu\n", "(other)", (unsigned long long)t.c.other);
    }
    free(t.c.t);
    names_free(t.nm);
    qlog_close(s);
    return n < 0;
}

/* --- report daily ------------------------------------------------------ */

struct attempt {
    uint8_t client[16];
    uint8_t family, segment, verdict;
    uint16_t category;
    uint64_t time_us;
    char name[256];
};

struct report {
    bool want[65536]; /* safeguarding category ids */
    uint64_t day_us;
    uint64_t queries[24], blocked[24], total, total_blocked;
    uint64_t cat_blocked[65536];
    /* by the country of the first answer address (country_index) */
    uint64_t cc_attempts[CTL_COUNTRIES], cc_blocked[CTL_COUNTRIES];
    struct attempt *a;
    size_t n, cap;
    uint64_t truncated;
};

/* "AA".."ZZ" as 0..675; CTL_COUNTRIES - 1 for a record without a country. */
static size_t country_index(const char c[2])
{
    if (c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z')
        return CTL_COUNTRIES - 1;
    return (size_t)(c[0] - 'A') * 26 + (size_t)(c[1] - 'A');
}

static int report_cb(const struct qlog_record *r, void *arg)
{
    struct report *rp = arg;
    uint64_t h = (r->time_us - rp->day_us) / 3600000000ull;
    size_t cc = country_index(r->country);
    if (h > 23)
        h = 23; /* a 25-hour day when the clocks go back */
    rp->queries[h]++;
    rp->total++;
    if (r->verdict == QLOG_BLOCKED) {
        rp->blocked[h]++;
        rp->total_blocked++;
        rp->cat_blocked[r->category]++;
        rp->cc_blocked[cc]++;
    }
    if (!r->category || !rp->want[r->category])
        return 0;
    rp->cc_attempts[cc]++; /* counted also past CTL_REPORT_MAX_ATTEMPTS */
    if (rp->n == rp->cap) {
        if (rp->cap >= CTL_REPORT_MAX_ATTEMPTS) {
            rp->truncated++;
            return 0;
        }
        size_t nc = rp->cap ? rp->cap * 2 : 1024;
        void *p = realloc(rp->a, nc * sizeof *rp->a);
        if (!p)
            return -ENOMEM;
        rp->a = p;
        rp->cap = nc;
    }
    struct attempt *a = &rp->a[rp->n++];
    memcpy(a->client, r->client, 16);
    a->family = r->family;
    a->segment = r->segment;
    a->verdict = r->verdict;
    a->category = r->category;
    a->time_us = r->time_us;
    qlog_name_text(r->name, r->name_len, a->name, sizeof a->name);
    return 0;
}

static int cmp_attempt(const void *x, const void *y)
{
    const struct attempt *a = x, *b = y;
    int c = memcmp(a->client, b->client, 16);
    if (c)
        return c;
    if (a->segment != b->segment)
        return a->segment < b->segment ? -1 : 1;
    if ((c = strcmp(a->name, b->name)))
        return c;
    return a->time_us < b->time_us ? -1 : a->time_us > b->time_us;
}

/* A group is one client in one segment: [i, j) of the sorted attempts. */
static size_t group_end(const struct report *rp, size_t i)
{
    size_t j = i + 1;
    while (j < rp->n && memcmp(rp->a[j].client, rp->a[i].client, 16) == 0 &&
           rp->a[j].segment == rp->a[i].segment)
        j++;
    return j;
}

static int cmp_group_size(const void *x, const void *y)
{
    const size_t *a = x, *b = y; /* {start, end} pairs, biggest first */
    size_t na = a[1] - a[0], nb = b[1] - b[0];
    return na < nb ? 1 : na > nb ? -1 : (a[0] > b[0]) - (a[0] < b[0]);
}

/* Bar chart of 24 hours: queries (grey) and blocked (red), inline SVG. */
static void svg_hours(FILE *f, const struct report *rp)
{
    uint64_t max = 1;
    for (int h = 0; h < 24; h++)
        if (rp->queries[h] > max)
            max = rp->queries[h];
    fprintf(f, "<svg viewBox=\"0 0 520 170\" width=\"520\" height=\"170\" role=\"img\" "
               "aria-label=\"queries and blocks by hour\">\n");
    for (int h = 0; h < 24; h++) {
        double hq = 130.0 * (double)rp->queries[h] / (double)max;
        double hb = 130.0 * (double)rp->blocked[h] / (double)max;
        int x = 30 + h * 20;
        fprintf(f,
                "<rect class=\"q\" x=\"%d\" y=\"%.1f\" width=\"16\" height=\"%.1f\">"
                "<title>%02d:00 %llu queries</title></rect>\n",
                x, 140 - hq, hq, h, (unsigned long long)rp->queries[h]);
        fprintf(f,
                "<rect class=\"b\" x=\"%d\" y=\"%.1f\" width=\"16\" height=\"%.1f\">"
                "<title>%02d:00 %llu blocked</title></rect>\n",
                x, 140 - hb, hb, h, (unsigned long long)rp->blocked[h]);
        if (h % 3 == 0)
            fprintf(f, "<text x=\"%d\" y=\"158\">%02d</text>\n", x, h);
    }
    fprintf(f,
            "<text x=\"0\" y=\"12\">%llu</text><line x1=\"28\" y1=\"140\" x2=\"510\" "
            "y2=\"140\" stroke=\"#333\"/></svg>\n",
            (unsigned long long)max);
}

/* Horizontal bars: blocked queries by category. */
static void svg_categories(FILE *f, const struct report *rp, struct names *nm)
{
    uint16_t ids[16];
    int n = 0;
    /* the 16 biggest categories, by selection (65536 ids, 16 passes) */
    bool taken[65536] = {false};
    for (; n < 16; n++) {
        uint64_t best = 0;
        int bi = -1;
        for (int i = 1; i < 65536; i++)
            if (!taken[i] && rp->cat_blocked[i] > best) {
                best = rp->cat_blocked[i];
                bi = i;
            }
        if (bi < 0)
            break;
        taken[bi] = true;
        ids[n] = (uint16_t)bi;
    }
    if (n == 0) {
        fprintf(f, "<p>No blocked queries.</p>\n");
        return;
    }
    uint64_t max = rp->cat_blocked[ids[0]];
    fprintf(f,
            "<svg viewBox=\"0 0 520 %d\" width=\"520\" height=\"%d\" role=\"img\" "
            "aria-label=\"blocked by category\">\n",
            n * 22 + 6, n * 22 + 6);
    for (int i = 0; i < n; i++) {
        double w = 300.0 * (double)rp->cat_blocked[ids[i]] / (double)max;
        fprintf(f, "<text x=\"0\" y=\"%d\">", i * 22 + 16);
        html_str(f, cat_name(nm, ids[i]));
        fprintf(f,
                "</text><rect class=\"%s\" x=\"140\" y=\"%d\" width=\"%.1f\" height=\"16\"/>"
                "<text x=\"%.0f\" y=\"%d\">%llu</text>\n",
                rp->want[ids[i]] ? "s" : "b", i * 22 + 4, w, 146 + w, i * 22 + 16,
                (unsigned long long)rp->cat_blocked[ids[i]]);
    }
    fprintf(f, "</svg>\n");
}

static const struct report *cc_sort_rp; /* qsort has no argument: set around the call */

static int cmp_country(const void *x, const void *y)
{
    const struct report *rp = cc_sort_rp;
    size_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;
    if ((a == CTL_COUNTRIES - 1) != (b == CTL_COUNTRIES - 1)) /* unknown last */
        return a == CTL_COUNTRIES - 1 ? 1 : -1;
    if (rp->cc_attempts[a] != rp->cc_attempts[b])
        return rp->cc_attempts[a] < rp->cc_attempts[b] ? 1 : -1;
    if (rp->cc_blocked[a] != rp->cc_blocked[b])
        return rp->cc_blocked[a] < rp->cc_blocked[b] ? 1 : -1;
    return (a > b) - (a < b);
}

/* Safeguarding attempts and blocked queries by the country of the answer
 * address, most attempts first, unknown last: a table (HTML: with a bar per row, attempts
 * in the safeguarding colour, blocked in red). */
static void report_countries(FILE *f, const struct report *rp, bool html)
{
    uint16_t idx[CTL_COUNTRIES];
    size_t n = 0;
    uint64_t max = 1;
    for (size_t i = 0; i < CTL_COUNTRIES; i++) {
        if (!rp->cc_attempts[i] && !rp->cc_blocked[i])
            continue;
        idx[n++] = (uint16_t)i;
        max = rp->cc_attempts[i] > max ? rp->cc_attempts[i] : max;
        max = rp->cc_blocked[i] > max ? rp->cc_blocked[i] : max;
    }
    cc_sort_rp = rp;
    qsort(idx, n, sizeof *idx, cmp_country);
    cc_sort_rp = NULL;
    if (n == 0) {
        fprintf(f, html ? "<p>No attempts or blocked queries.</p>\n"
                        : "\nBy country: no attempts or blocked queries.\n");
        return;
    }
    if (html)
        fprintf(f, "<table class=\"cc\" aria-label=\"attempts and blocked by country\"><tr>"
                   "<th>Country</th><th>Attempts</th><th>Blocked</th><th></th></tr>\n");
    else
        fprintf(f, "\nBy country of the answer address:\n  %-9s  %10s  %10s\n", "COUNTRY",
                "ATTEMPTS", "BLOCKED");
    for (size_t k = 0; k < n; k++) {
        size_t i = idx[k];
        char cc[16] = "(unknown)";
        if (i != CTL_COUNTRIES - 1)
            snprintf(cc, sizeof cc, "%c%c", (char)('A' + i / 26), (char)('A' + i % 26));
        unsigned long long at = rp->cc_attempts[i], bl = rp->cc_blocked[i];
        if (!html) {
            fprintf(f, "  %-9s  %10llu  %10llu\n", cc, at, bl);
            continue;
        }
        double wa = 150.0 * (double)at / (double)max, wb = 150.0 * (double)bl / (double)max;
        fprintf(f,
                "<tr><td>%s</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td><td>"
                "<svg width=\"150\" height=\"14\" role=\"img\" aria-label=\"%s: %llu attempts, "
                "%llu blocked\"><rect class=\"s\" y=\"0\" width=\"%.1f\" height=\"6\"/>"
                "<rect class=\"b\" y=\"7\" width=\"%.1f\" height=\"6\"/></svg></td></tr>\n",
                cc, at, bl, cc, at, bl, wa, wb);
    }
    if (html)
        fprintf(f, "</table>\n");
    if (rp->cc_attempts[CTL_COUNTRIES - 1] || rp->cc_blocked[CTL_COUNTRIES - 1])
        fprintf(f, html ? "<p><small>(unknown): no address in the answer, as for most blocked "
                          "queries, or an address the geo databases do not know.</small></p>\n"
                        : "  (unknown): no address in the answer, as for most blocked queries, or "
                          "an address the geo databases do not know.\n");
}

static void report_group(FILE *f, const struct report *rp, struct names *nm, size_t i, size_t j,
                         bool html)
{
    char client[160], first[16], last[16];
    uint64_t tmin = UINT64_MAX, tmax = 0;
    uint64_t percat[16] = {0};
    uint16_t catid[16];
    int ncat = 0;
    for (size_t k = i; k < j; k++) {
        if (rp->a[k].time_us < tmin)
            tmin = rp->a[k].time_us;
        if (rp->a[k].time_us > tmax)
            tmax = rp->a[k].time_us;
        int c = 0;
        while (c < ncat && catid[c] != rp->a[k].category)
            c++;
        if (c == ncat && ncat < 16)
            catid[ncat++] = rp->a[k].category;
        if (c < ncat)
            percat[c]++;
    }
    qlog_addr_text(rp->a[i].client, rp->a[i].family, client, sizeof client);
    char mac[24], host[64];
    device_text(rp->a[i].client, tmin, mac, sizeof mac, host, sizeof host);
    if (mac[0]) { /* the device that held the address at the first attempt */
        size_t o = strlen(client);
        snprintf(client + o, sizeof client - o, " (%s%s%s)", host, host[0] ? " " : "", mac);
    }
    time_text(tmin, first, sizeof first, TF_HMS);
    time_text(tmax, last, sizeof last, TF_HMS);
    if (html) {
        fprintf(f, "<tr><td>");
        html_str(f, client);
        fprintf(f, "</td><td>");
        html_str(f, seg_name(nm, rp->a[i].segment));
        fprintf(f, "</td><td class=\"n\">%zu</td><td>%s</td><td>%s</td><td>", j - i, first, last);
        for (int c = 0; c < ncat; c++) {
            fprintf(f, "%s", c ? ", " : "");
            html_str(f, cat_name(nm, catid[c]));
            fprintf(f, " %llu", (unsigned long long)percat[c]);
        }
        fprintf(f, "</td><td>");
    } else {
        fprintf(f, "\n%s (segment %s): %zu attempt%s, first %s, last %s\n  categories:", client,
                seg_name(nm, rp->a[i].segment), j - i, j - i == 1 ? "" : "s", first, last);
        for (int c = 0; c < ncat; c++)
            fprintf(f, "%s %s %llu", c ? "," : "", cat_name(nm, catid[c]),
                    (unsigned long long)percat[c]);
        fprintf(f, "\n  names:");
    }
    /* distinct names with counts (sorted by name within the group) */
    int shown = 0;
    for (size_t k = i; k < j;) {
        size_t e = k + 1;
        while (e < j && strcmp(rp->a[e].name, rp->a[k].name) == 0)
            e++;
        if (shown++ < 50) {
            if (html) {
                fprintf(f, "%s", shown > 1 ? "<br>" : "");
                html_str(f, rp->a[k].name);
                fprintf(f, " (%zu)", e - k);
            } else {
                fprintf(f, "%s %s (%zu)", shown > 1 ? "," : "", rp->a[k].name, e - k);
            }
        }
        k = e;
    }
    if (shown > 50)
        fprintf(f, html ? "<br>and %d more" : ", and %d more", shown - 50);
    fprintf(f, html ? "</td></tr>\n" : "\n");
}

int ctl_report_daily_write(struct qlog_store *s, uint64_t day_us, char *const *cats, size_t ncats,
                           bool html, FILE *out)
{
    struct report *rp = calloc(1, sizeof *rp);
    struct names *nm = names_new(s);
    char day[32], catlist[1024] = "";
    int rc = 0;
    if (!rp || !nm) {
        free(rp);
        names_free(nm);
        return -ENOMEM;
    }
    rp->day_us = day_us;
    for (size_t i = 0; i < ncats; i++) {
        uint16_t id;
        size_t o = strlen(catlist);
        snprintf(catlist + o, sizeof catlist - o, "%s%s", i ? ", " : "", cats[i]);
        if (qlog_category_id(s, cats[i], &id) == 0 && id)
            rp->want[id] = true;
    }
    /* the whole day from the time-ordered log: the hourly chart needs every
     * query, and one pass also finds every safeguarding attempt */
    uint64_t end;
    char next[32];
    time_text(day_us, day, sizeof day, TF_DATE);
    /* the next local midnight (23 or 25 hours away when the clocks change) */
    time_text(day_us + 26 * 3600000000ull, next, sizeof next, TF_DATE);
    if (qlog_parse_time(next, 0, &end) < 0)
        end = day_us + 86400000000ull;
    struct qlog_filter f = {.since_us = day_us, .until_us = end};
    long n = qlog_query(s, &f, report_cb, rp);
    if (n < 0) {
        rc = (int)n;
        goto out;
    }
    if (rp->n)
        qsort(rp->a, rp->n, sizeof *rp->a, cmp_attempt);
    size_t ngroups = 0, clients = 0;
    size_t(*groups)[2] = malloc((rp->n + 1) * sizeof *groups);
    if (!groups) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < rp->n;) {
        size_t j = group_end(rp, i);
        if (ngroups == 0 || memcmp(rp->a[groups[ngroups - 1][0]].client, rp->a[i].client, 16))
            clients++;
        groups[ngroups][0] = i;
        groups[ngroups][1] = j;
        ngroups++;
        i = j;
    }
    if (ngroups)
        qsort(groups, ngroups, sizeof *groups, cmp_group_size);

    if (!html) {
        fprintf(out, "Gatehouse safeguarding report for %s\n", day);
        fprintf(out, "Safeguarding categories: %s\n", ncats ? catlist : "(none configured)");
        fprintf(out, "Queries: %llu  Blocked: %llu  Safeguarding attempts: %zu from %zu client%s\n",
                (unsigned long long)rp->total, (unsigned long long)rp->total_blocked, rp->n,
                clients, clients == 1 ? "" : "s");
        if (rp->truncated)
            fprintf(out, "(and %llu more attempts not itemised)\n",
                    (unsigned long long)rp->truncated);
        for (size_t g = 0; g < ngroups; g++)
            report_group(out, rp, nm, groups[g][0], groups[g][1], false);
        if (ngroups == 0)
            fprintf(out, "\nNo attempts in the safeguarding categories.\n");
        report_countries(out, rp, false);
    } else {
        fprintf(out,
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                "<title>Safeguarding report %s</title>\n<style>\n"
                "body{font-family:sans-serif;margin:2em;color:#222;max-width:60em}\n"
                "table{border-collapse:collapse;width:100%%}\n"
                "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
                "vertical-align:top}\n"
                "th{background:#eee}.n{text-align:right}\n"
                ".q{fill:#9aa}.b{fill:#c33}.s{fill:#a0c}text{font-size:11px}\n"
                ".sum{font-size:1.2em}\n</style></head><body>\n",
                day);
        fprintf(out,
                "<h1>Safeguarding report for %s</h1>\n<p class=\"sum\">%llu queries, "
                "%llu blocked, <strong>%zu attempts</strong> in the safeguarding "
                "categories from <strong>%zu device%s</strong>.</p>\n<p>Categories: ",
                day, (unsigned long long)rp->total, (unsigned long long)rp->total_blocked, rp->n,
                clients, clients == 1 ? "" : "s");
        html_str(out, ncats ? catlist : "(none configured)");
        fprintf(out, "</p>\n<h2>Queries and blocks by hour</h2>\n");
        svg_hours(out, rp);
        fprintf(out, "<h2>Blocked by category</h2>\n");
        svg_categories(out, rp, nm);
        fprintf(out, "<h2>By country of the answer address</h2>\n");
        report_countries(out, rp, true);
        fprintf(out, "<h2>Attempts by device</h2>\n");
        if (ngroups == 0) {
            fprintf(out, "<p>No attempts in the safeguarding categories.</p>\n");
        } else {
            fprintf(out, "<table><tr><th>Address</th><th>Segment</th><th>Attempts</th>"
                         "<th>First</th><th>Last</th><th>Categories</th><th>Names</th></tr>\n");
            for (size_t g = 0; g < ngroups; g++)
                report_group(out, rp, nm, groups[g][0], groups[g][1], true);
            fprintf(out, "</table>\n");
        }
        if (rp->truncated)
            fprintf(out, "<p>And %llu more attempts not itemised.</p>\n",
                    (unsigned long long)rp->truncated);
        fprintf(out, "<p><small>Produced by gatehousectl report daily. This report is "
                     "personal data: keep it with the safeguarding records.</small></p>\n"
                     "</body></html>\n");
    }
    free(groups);
out:
    free(rp->a);
    free(rp);
    names_free(nm);
    return rc;
}

int ctl_report(const struct ctl_global *g, int argc, char **argv)
{
    ctl_logs_use_leases(g->cfg);
    struct opts o;
    struct qlog_store *s;
    int rc;
    if (argc < 2 || strcmp(argv[1], "daily") != 0) {
        errmsg("report", "usage: report daily [--date D] [--format text|html] [--out FILE]");
        return 2;
    }
    uint64_t now = now_us(), day;
    if ((rc = parse_opts("report", argc - 1, argv + 1, &o, now)) != 0)
        return rc;
    if (o.has_fmt && o.fmt != FMT_TEXT && o.fmt != FMT_HTML) {
        errmsg("report", "--format is text or html");
        return 2;
    }
    bool html = o.fmt == FMT_HTML;
    if (qlog_parse_time(o.date ? o.date : "yesterday", now, &day) < 0) {
        errmsg("report", "bad --date '%s': use 2026-11-23, today or yesterday", o.date);
        return 2;
    }
    /* the start of that local day, whatever the time given */
    char d[32];
    time_text(day, d, sizeof d, TF_DATE);
    qlog_parse_time(d, now, &day);
    if (open_store(g, "report", &s) < 0)
        return 1;
    char detail[CTL_DETAIL_MAX];
    join_args(argc, argv, detail, sizeof detail);
    if (audit(s, "report", o.by, "report", detail) < 0) {
        qlog_close(s);
        return 1;
    }
    FILE *out = stdout;
    if (o.out && !(out = fopen(o.out, "w"))) {
        errmsg("report", "cannot write %s: %s", o.out, strerror(errno));
        qlog_close(s);
        return 1;
    }
    rc = ctl_report_daily_write(s, day, g->cfg ? g->cfg->safeguarding : NULL,
                                g->cfg ? g->cfg->nsafeguarding : 0, html, out);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        errmsg("report", "failed: %s", strerror(-rc));
    qlog_close(s);
    return rc < 0;
}

/* --- audit ------------------------------------------------------------- */

static int audit_print_cb(uint64_t t, const char *who, const char *action, const char *detail,
                          void *arg)
{
    char ts[32];
    (void)arg;
    time_text(t, ts, sizeof ts, TF_FULL);
    printf("%s  %-24s  %-12s  %s\n", ts, who, action, detail);
    return 0;
}

int ctl_audit(const struct ctl_global *g, int argc, char **argv)
{
    struct opts o;
    struct qlog_store *s;
    int rc = parse_opts("audit", argc, argv, &o, now_us());
    if (rc)
        return rc;
    if (open_store(g, "audit", &s) < 0)
        return 1;
    char detail[CTL_DETAIL_MAX];
    join_args(argc, argv, detail, sizeof detail);
    if (audit(s, "audit", o.by, "audit", detail) < 0) {
        qlog_close(s);
        return 1;
    }
    printf("%-19s  %-24s  %-12s  %s\n", "TIME", "WHO", "ACTION", "WHAT");
    long n = qlog_audit_list(s, o.f.since_us, o.has_limit ? o.f.limit : 0, audit_print_cb, NULL);
    if (n < 0)
        errmsg("audit", "failed: %s", strerror((int)-n));
    qlog_close(s);
    return n < 0;
}
