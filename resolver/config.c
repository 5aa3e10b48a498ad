/*
 * config.c - load, check and print the gatehoused YAML configuration.
 *
 * Every setting is one row of the settings[] table below: its YAML path
 * ("section.key"), its type, where it lives in struct config, its bounds, its
 * default (as the text a user would write), whether a reload may change it, and
 * a one-line description.  Parsing, defaults, config_print() and
 * config_reloadable() all walk that table, so adding a setting is one row.
 *
 * The loader uses the libyaml document API: the whole file becomes a node
 * tree with line and column marks, which we then walk strictly.  Unknown keys,
 * duplicate keys, aliases, wrong node kinds and out-of-range values are all
 * errors reported as "FILE:LINE:COL: message" (1-based, as editors count).
 *
 * Most settings are "section.key"; a few live at the top level (timezone,
 * schedules, policies, segments).  Those are parsed after every section, in
 * table order, so a policy can check the categories and schedules it names,
 * and a segment the policy it names, wherever they appear in the file.
 *
 * What it does not do: open the files it names (root hints, blocklist index,
 * log directory), resolve user names, or know what the values mean to the
 * modules that use them.  Those modules check what they open.  The one
 * exception is timezone: a misspelt zone would silently give UTC schedules,
 * so its file in /usr/share/zoneinfo must exist and be a tz file.
 */
#include "config.h"
#include "geo.h"
#include "trust.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bounds on what one file may ask for, so a hostile or broken file cannot
 * make the loader allocate without limit. */
#define CFG_MAX_FILE (1024 * 1024) /* bytes in a config file */
#define CFG_MAX_LIST 256           /* entries in any list */
#define CFG_MAX_STRING 4096        /* bytes in any string value */
#define CFG_MAX_CATEGORIES 64      /* blocklists.categories entries */
#define CFG_MAX_CATEGORY_NAME 32
#define CFG_MAX_SETTINGS 80 /* rows in settings[]; checked below */
#define CFG_WHERE_MAX 160   /* a key path in a message, "a.b[12].c" */
#define CFG_MAX_SCHEDULES 64
#define CFG_MAX_POLICIES 64
#define CFG_MAX_RULES 32   /* schedule rules in one policy */
#define CFG_MAX_WINDOWS 32 /* windows in one schedule */
#define CFG_MAX_NAME 32    /* schedule, policy and segment names */
#define CFG_MAX_IFNAME 15  /* IFNAMSIZ - 1 */

struct setting;
struct ctx;

/* How one type of setting is parsed, defaulted, printed, compared and freed.
 * Numeric types share the functions and differ in scan/fmt. */
struct cfg_type {
    int (*parse)(struct ctx *c, const struct setting *s, yaml_node_t *node);
    int (*dflt)(struct config *cfg, const struct setting *s);
    void (*print)(FILE *f, const struct config *cfg, const struct setting *s);
    bool (*equal)(const struct config *a, const struct config *b, const struct setting *s);
    void (*free)(struct config *cfg, const struct setting *s);
    /* numeric types only */
    int (*scan)(const char *text, uint64_t *out);
    void (*fmt)(char *buf, size_t len, uint64_t v);
    const char *expect; /* "an integer", "a size" ... for messages */
};

struct setting {
    const char *path; /* "server.threads" */
    const struct cfg_type *type;
    size_t off;              /* offsetof(struct config, field) */
    size_t size;             /* sizeof the field (numeric stores) */
    size_t noff;             /* offsetof the count for list types */
    uint64_t min, max;       /* numeric bounds, inclusive */
    const char *const *dflt; /* NULL-terminated default values as text */
    bool reloadable;         /* may change on SIGHUP */
    const char *doc;         /* one line, printed as a comment */
};

/* Loader state for one file. */
struct ctx {
    const char *name; /* for messages */
    yaml_document_t *doc;
    uint8_t *used; /* per node: already consumed (a second use is an alias) */
    size_t nnodes;
    struct config *cfg;
    yaml_mark_t mark[CFG_MAX_SETTINGS]; /* where each setting's value was */
    bool seen[CFG_MAX_SETTINGS];
    char *err;
    size_t errlen;
};

#define FIELD(cfg, s) ((void *)((char *)(cfg) + (s)->off))
#define CFIELD(cfg, s) ((const void *)((const char *)(cfg) + (s)->off))
#define COUNT(cfg, s) ((size_t *)((char *)(cfg) + (s)->noff))
#define CCOUNT(cfg, s) (*(const size_t *)((const char *)(cfg) + (s)->noff))

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

static int ctx_error(struct ctx *c, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "NAME:LINE:COL: message" (libyaml marks are 0-based). */
static int ctx_error(struct ctx *c, yaml_mark_t m, const char *fmt, ...)
{
    if (c->err && c->errlen > 0) {
        int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, m.line + 1, m.column + 1);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

/* A copy of user text safe to quote in a message: bounded, printable. */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 4 < len && i < 40; i++)
        buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    if (s[i] && i + 4 <= len) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* Build a key path for messages ("resolver.forward-zones[2].zone").  A path
 * cut short by the buffer still names the place; the mark gives the rest. */
static void key_path(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void key_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* ------------------------------------------------------------------------ */
/* Nodes                                                                    */

/* The node at index idx.  libyaml's document API turns an alias into a
 * second reference to the anchored node; we refuse that, because nothing in
 * the schema needs it and re-walking shared subtrees lets a small file expand
 * into a very large config. */
static yaml_node_t *ctx_node(struct ctx *c, int idx, yaml_mark_t at, int *rc)
{
    yaml_node_t *n = yaml_document_get_node(c->doc, idx);
    size_t i = (size_t)(idx - 1);
    if (!n || i >= c->nnodes) {
        *rc = ctx_error(c, at, "malformed YAML node");
        return NULL;
    }
    if (c->used[i]) {
        *rc = ctx_error(c, at, "YAML aliases are not supported");
        return NULL;
    }
    c->used[i] = 1;
    return n;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty value, "~" or "null": a section left empty by commenting out
 * all its keys. */
static bool node_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = scalar(n);
    return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

/* Check that n is a scalar usable as a C string: no NUL inside, bounded. */
static int want_scalar(struct ctx *c, const char *path, yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return ctx_error(c, n->start_mark, "%s: expected a scalar, got %s", path, node_kind(n));
    if (n->data.scalar.length > CFG_MAX_STRING)
        return ctx_error(c, n->start_mark, "%s: value longer than %d bytes", path, CFG_MAX_STRING);
    if (strlen(scalar(n)) != n->data.scalar.length)
        return ctx_error(c, n->start_mark, "%s: value contains a NUL byte", path);
    return 0;
}

static int want_kind(struct ctx *c, const char *path, yaml_node_t *n, yaml_node_type_t type)
{
    if (n->type == type)
        return 0;
    return ctx_error(c, n->start_mark, "%s: expected %s, got %s", path,
                     type == YAML_SEQUENCE_NODE ? "a list" : "a mapping", node_kind(n));
}

/* ------------------------------------------------------------------------ */
/* Numbers: plain integers, sizes, durations                                */

/* Digits then an optional unit; *unit points after the digits.  No sign,
 * no spaces, no hex: a config value means exactly what it says. */
static int scan_digits(const char *s, uint64_t *v, const char **unit)
{
    uint64_t x = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    /* YAML 1.1 reads 010 as octal 8; refuse rather than guess. */
    if (p[0] == '0' && isdigit((unsigned char)p[1]))
        return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        if (x > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *v = x;
    *unit = p;
    return 0;
}

static int scale(uint64_t v, uint64_t mul, uint64_t *out)
{
    if (mul && v > UINT64_MAX / mul)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

static int scan_int(const char *s, uint64_t *out)
{
    const char *unit;
    int rc = scan_digits(s, out, &unit);
    return rc ? rc : (*unit ? -EINVAL : 0);
}

/* "512k", "64m", "1g" (binary multiples) or bytes. */
static int scan_size(const char *s, uint64_t *out)
{
    uint64_t v, mul;
    const char *unit;
    int rc = scan_digits(s, &v, &unit);
    if (rc)
        return rc;
    if (!strcmp(unit, ""))
        mul = 1;
    else if (!strcmp(unit, "k") || !strcmp(unit, "K"))
        mul = 1ULL << 10;
    else if (!strcmp(unit, "m") || !strcmp(unit, "M"))
        mul = 1ULL << 20;
    else if (!strcmp(unit, "g") || !strcmp(unit, "G"))
        mul = 1ULL << 30;
    else
        return -EINVAL;
    return scale(v, mul, out);
}

static void fmt_size(char *buf, size_t len, uint64_t v)
{
    if (v && v % (1ULL << 30) == 0)
        snprintf(buf, len, "%llug", (unsigned long long)(v >> 30));
    else if (v && v % (1ULL << 20) == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(v >> 20));
    else if (v && v % (1ULL << 10) == 0)
        snprintf(buf, len, "%lluk", (unsigned long long)(v >> 10));
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
}

struct unit {
    const char *name;
    uint64_t mul;
};

/* Largest first, so printing picks the largest exact unit. */
static const struct unit secs_units[] = {
    {"w", 604800}, {"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1},
};
static const struct unit ms_units[] = {
    {"h", 3600000},
    {"m", 60000},
    {"s", 1000},
    {"ms", 1},
};

static int scan_units(const char *s, const struct unit *u, size_t n, bool bare_ok, uint64_t *out)
{
    uint64_t v;
    const char *unit;
    int rc = scan_digits(s, &v, &unit);
    if (rc)
        return rc;
    if (!*unit)
        return bare_ok ? (*out = v, 0) : -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(unit, u[i].name))
            return scale(v, u[i].mul, out);
    return -EINVAL;
}

static void fmt_units(char *buf, size_t len, uint64_t v, const struct unit *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((v == 0 && u[i].mul == 1) || (v && v % u[i].mul == 0)) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / u[i].mul), u[i].name);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v); /* not reached: last unit is 1 */
}

/* Seconds: "30s", "5m", "1h", "90d", "1w" or a plain number of seconds. */
static int scan_secs(const char *s, uint64_t *out)
{
    return scan_units(s, secs_units, ARRAY_LEN(secs_units), true, out);
}

static void fmt_secs(char *buf, size_t len, uint64_t v)
{
    fmt_units(buf, len, v, secs_units, ARRAY_LEN(secs_units));
}

/* Milliseconds: the unit is required, so "timeout: 10" cannot silently mean
 * 10 ms to someone who meant 10 seconds. */
static int scan_ms(const char *s, uint64_t *out)
{
    return scan_units(s, ms_units, ARRAY_LEN(ms_units), false, out);
}

static void fmt_ms(char *buf, size_t len, uint64_t v)
{
    fmt_units(buf, len, v, ms_units, ARRAY_LEN(ms_units));
}

static void fmt_int(char *buf, size_t len, uint64_t v)
{
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

static uint64_t num_get(const struct config *cfg, const struct setting *s)
{
    if (s->size == sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, CFIELD(cfg, s), sizeof(v));
        return v;
    }
    uint32_t v;
    memcpy(&v, CFIELD(cfg, s), sizeof(v));
    return v;
}

static void num_set(struct config *cfg, const struct setting *s, uint64_t v)
{
    if (s->size == sizeof(uint64_t)) {
        memcpy(FIELD(cfg, s), &v, sizeof(v));
    } else {
        uint32_t v32 = (uint32_t)v; /* the table's max keeps v within 32 bits */
        memcpy(FIELD(cfg, s), &v32, sizeof(v32));
    }
}

static int num_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    int rc = want_scalar(c, s->path, n);
    if (rc)
        return rc;
    uint64_t v = 0;
    char lo[32], hi[32], got[48];
    rc = s->type->scan(scalar(n), &v);
    /* The size check matters where size_t is 32 bits. */
    if (rc || v < s->min || v > s->max || (s->size < sizeof(uint64_t) && v > UINT32_MAX)) {
        s->type->fmt(lo, sizeof(lo), s->min);
        s->type->fmt(hi, sizeof(hi), s->max);
        return ctx_error(c, n->start_mark, "%s: expected %s from %s to %s, got '%s'", s->path,
                         s->type->expect, lo, hi, shown(scalar(n), got, sizeof(got)));
    }
    num_set(c->cfg, s, v);
    return 0;
}

static int num_dflt(struct config *cfg, const struct setting *s)
{
    uint64_t v = 0;
    /* Defaults are checked by the unit tests; a bad one is a bug here. */
    if (s->dflt && s->dflt[0] && s->type->scan(s->dflt[0], &v) == 0)
        num_set(cfg, s, v);
    return 0;
}

static void num_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    char buf[32];
    s->type->fmt(buf, sizeof(buf), num_get(cfg, s));
    fprintf(f, " %s\n", buf);
}

static bool num_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    return num_get(a, s) == num_get(b, s);
}

static void nop_free(struct config *cfg, const struct setting *s)
{
    (void)cfg;
    (void)s;
}

static const struct cfg_type T_INT = {.parse = num_parse,
                                      .dflt = num_dflt,
                                      .print = num_print,
                                      .equal = num_equal,
                                      .free = nop_free,
                                      .scan = scan_int,
                                      .fmt = fmt_int,
                                      .expect = "an integer"};
static const struct cfg_type T_SIZE = {.parse = num_parse,
                                       .dflt = num_dflt,
                                       .print = num_print,
                                       .equal = num_equal,
                                       .free = nop_free,
                                       .scan = scan_size,
                                       .fmt = fmt_size,
                                       .expect = "a size (bytes, or with k, m, g)"};
static const struct cfg_type T_SECS = {.parse = num_parse,
                                       .dflt = num_dflt,
                                       .print = num_print,
                                       .equal = num_equal,
                                       .free = nop_free,
                                       .scan = scan_secs,
                                       .fmt = fmt_secs,
                                       .expect = "a duration (e.g. 30s, 5m, 1h, 90d)"};
static const struct cfg_type T_MS = {.parse = num_parse,
                                     .dflt = num_dflt,
                                     .print = num_print,
                                     .equal = num_equal,
                                     .free = nop_free,
                                     .scan = scan_ms,
                                     .fmt = fmt_ms,
                                     .expect = "a duration (e.g. 400ms, 10s)"};

/* ------------------------------------------------------------------------ */
/* Booleans                                                                 */

static int scan_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (!strcasecmp(v, yes[i]))
            return *out = true, 0;
        if (!strcasecmp(v, no[i]))
            return *out = false, 0;
    }
    return -EINVAL;
}

static int bool_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    int rc = want_scalar(c, s->path, n);
    char got[48];
    if (rc)
        return rc;
    if (scan_bool(scalar(n), (bool *)FIELD(c->cfg, s)))
        return ctx_error(c, n->start_mark, "%s: expected true or false, got '%s'", s->path,
                         shown(scalar(n), got, sizeof(got)));
    return 0;
}

static int bool_dflt(struct config *cfg, const struct setting *s)
{
    if (s->dflt && s->dflt[0])
        scan_bool(s->dflt[0], (bool *)FIELD(cfg, s));
    return 0;
}

static void bool_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    fprintf(f, " %s\n", *(const bool *)CFIELD(cfg, s) ? "true" : "false");
}

static bool bool_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    return *(const bool *)CFIELD(a, s) == *(const bool *)CFIELD(b, s);
}

static const struct cfg_type T_BOOL = {.parse = bool_parse,
                                       .dflt = bool_dflt,
                                       .print = bool_print,
                                       .equal = bool_equal,
                                       .free = nop_free};

/* ------------------------------------------------------------------------ */
/* Strings and paths                                                        */

/* Print s as a double-quoted YAML scalar, escaping what YAML requires. */
static void print_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* No control characters: they have no business in names or paths, and they
 * would make log lines and messages ambiguous. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static int str_set(char **field, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static int string_parse_common(struct ctx *c, const struct setting *s, yaml_node_t *n, bool path)
{
    int rc = want_scalar(c, s->path, n);
    if (rc)
        return rc;
    const char *v = scalar(n);
    if (!*v || !printable(v))
        return ctx_error(c, n->start_mark,
                         "%s: expected a non-empty string of printable "
                         "characters",
                         s->path);
    /* The daemon may run from any directory (systemd starts it in /), so a
     * relative path would mean something different from what was tested. */
    if (path && v[0] != '/')
        return ctx_error(c, n->start_mark, "%s: expected an absolute path, got '%s'", s->path, v);
    return str_set((char **)FIELD(c->cfg, s), v);
}

static int string_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    return string_parse_common(c, s, n, false);
}

static int path_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    return string_parse_common(c, s, n, true);
}

/* Path defaults may start with "{state-dir}/": such paths live under the
 * final state directory, whatever the file set it to.  settings[] lists
 * server.state-dir before any such path, and defaults are applied in table
 * order after parsing, so state_dir is final here. */
static int string_dflt(struct config *cfg, const struct setting *s)
{
    static const char prefix[] = "{state-dir}/";
    char **field = (char **)FIELD(cfg, s);
    if (!s->dflt || !s->dflt[0])
        return 0;
    if (strncmp(s->dflt[0], prefix, sizeof(prefix) - 1) != 0)
        return str_set(field, s->dflt[0]);
    const char *dir = cfg->state_dir ? cfg->state_dir : "";
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') /* "/var/lib/gh/" + "/x" */
        dl--;
    char *v;
    if (asprintf(&v, "%.*s/%s", (int)dl, dir, s->dflt[0] + sizeof(prefix) - 1) < 0)
        return -ENOMEM;
    free(*field);
    *field = v;
    return 0;
}

static void string_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    const char *v = *(char *const *)CFIELD(cfg, s);
    fputc(' ', f);
    print_quoted(f, v ? v : "");
    fputc('\n', f);
}

static bool string_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    return str_eq(*(char *const *)CFIELD(a, s), *(char *const *)CFIELD(b, s));
}

static void string_free(struct config *cfg, const struct setting *s)
{
    char **field = (char **)FIELD(cfg, s);
    free(*field);
    *field = NULL;
}

static const struct cfg_type T_STRING = {.parse = string_parse,
                                         .dflt = string_dflt,
                                         .print = string_print,
                                         .equal = string_equal,
                                         .free = string_free};
static const struct cfg_type T_PATH = {.parse = path_parse,
                                       .dflt = string_dflt,
                                       .print = string_print,
                                       .equal = string_equal,
                                       .free = string_free};

/* ------------------------------------------------------------------------ */
/* Addresses and networks                                                   */

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
        return 0;
    }
    return -EINVAL;
}

int config_parse_sockaddr(const char *s, uint16_t default_port, struct config_sockaddr *out)
{
    char addr[INET6_ADDRSTRLEN];
    uint64_t port = default_port;
    const char *at, *unit;
    if (!s || !out)
        return -EINVAL;
    at = strchr(s, '@');
    size_t alen = at ? (size_t)(at - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr))
        return -EINVAL;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (at) {
        /* At most 5 digits, so "@0000000000053" is not a valid port. */
        if (strlen(at + 1) > 5 || scan_digits(at + 1, &port, &unit) || *unit || port == 0 ||
            port > 65535)
            return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    return parse_addr(addr, &out->ss, &out->len, (uint16_t)port);
}

/* "ADDR/PREFIX" or a bare address.  Host bits beyond the prefix must be
 * zero: "10.0.0.1/8" is more likely a typo than a wish for 10.0.0.0/8, and a
 * silent widening of an access list is the wrong way to find out. */
int config_parse_net(const char *s, struct config_net *out)
{
    char addr[INET6_ADDRSTRLEN];
    struct sockaddr_storage ss;
    socklen_t sl;
    uint64_t prefix = 0;
    const char *slash, *unit;
    if (!s || !out)
        return -EINVAL;
    slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr))
        return -EINVAL;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (parse_addr(addr, &ss, &sl, 0))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->family = ss.ss_family;
    unsigned bits;
    if (ss.ss_family == AF_INET) {
        memcpy(out->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        bits = 32;
    } else {
        memcpy(out->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        bits = 128;
    }
    prefix = bits;
    if (slash &&
        (strlen(slash + 1) > 3 || scan_digits(slash + 1, &prefix, &unit) || *unit || prefix > bits))
        return -EINVAL;
    out->prefix = (uint8_t)prefix;
    for (unsigned i = out->prefix; i < bits; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return -EINVAL;
    return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

const struct sockaddr *config_outgoing_for(const struct config *cfg, int family)
{
    for (size_t i = 0; i < cfg->noutgoing; i++)
        if (cfg->outgoing[i].ss.ss_family == family)
            return (const struct sockaddr *)&cfg->outgoing[i].ss;
    return NULL;
}

bool config_net_contains(const struct config_net *net, const struct sockaddr *sa)
{
    if (!net || !sa)
        return false;
    if (sa->sa_family == AF_INET && net->family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        return prefix_match(net->addr, (const uint8_t *)&v4->sin_addr, net->prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = (const uint8_t *)&v6->sin6_addr;
        if (net->family == AF_INET6)
            return prefix_match(net->addr, a, net->prefix);
        /* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
         * (RFC 4291 2.5.5.2); they belong to the IPv4 networks. */
        if (net->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
            return prefix_match(net->addr, a + 12, net->prefix);
    }
    return false;
}

static void fmt_sockaddr(char *buf, size_t len, const struct config_sockaddr *sa, bool port)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (sa->ss.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&sa->ss;
        inet_ntop(AF_INET, &v4->sin_addr, addr, sizeof(addr));
        p = ntohs(v4->sin_port);
    } else if (sa->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&sa->ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, addr, sizeof(addr));
        p = ntohs(v6->sin6_port);
    }
    if (port)
        snprintf(buf, len, "%s@%u", addr, p);
    else
        snprintf(buf, len, "%s", addr);
}

static bool sockaddr_eq(const struct config_sockaddr *a, const struct config_sockaddr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* ------------------------------------------------------------------------ */
/* Lists of scalars: addresses, networks, names                             */

/* Each element kind parses one text into a slot, or explains why not. */
struct elem {
    size_t size;
    const char *(*parse)(const char *text, void *slot); /* NULL or the reason */
    void (*fmt)(char *buf, size_t len, const void *slot);
    bool (*equal)(const void *a, const void *b);
    void (*free)(void *slot);
    bool nonempty; /* an empty list is an error */
    size_t max;    /* most entries; 0 = CFG_MAX_LIST */
};

static const char *listen_elem_parse(const char *t, void *slot)
{
    if (strchr(t, '[') || strchr(t, ']'))
        return "write ADDR@PORT without brackets, e.g. ::1@5353";
    if (config_parse_sockaddr(t, CONFIG_DEFAULT_PORT, slot))
        return "expected ADDR@PORT, e.g. 127.0.0.1@5353 or ::1@5353";
    return NULL;
}

static const char *server_elem_parse(const char *t, void *slot)
{
    if (strchr(t, '[') || strchr(t, ']'))
        return "write ADDR@PORT without brackets, e.g. 2001:db8::53@53";
    if (config_parse_sockaddr(t, 53, slot))
        return "expected ADDR or ADDR@PORT, e.g. 192.0.2.53 or 192.0.2.53@5300";
    return NULL;
}

static const char *addr_elem_parse(const char *t, void *slot)
{
    if (strchr(t, '@'))
        return "expected an address without a port";
    if (config_parse_sockaddr(t, 0, slot))
        return "expected an IPv4 or IPv6 address";
    return NULL;
}

static void sockaddr_elem_fmt(char *buf, size_t len, const void *slot)
{
    fmt_sockaddr(buf, len, slot, true);
}

static void addr_elem_fmt(char *buf, size_t len, const void *slot)
{
    fmt_sockaddr(buf, len, slot, false);
}

static bool sockaddr_elem_equal(const void *a, const void *b)
{
    return sockaddr_eq(a, b);
}

static const char *net_elem_parse(const char *t, void *slot)
{
    if (config_parse_net(t, slot))
        return "expected ADDR/PREFIX or an address, with no bits set beyond the prefix";
    return NULL;
}

static void net_elem_fmt(char *buf, size_t len, const void *slot)
{
    const struct config_net *n = slot;
    char addr[INET6_ADDRSTRLEN] = "?";
    inet_ntop(n->family, n->addr, addr, sizeof(addr));
    snprintf(buf, len, "%s/%u", addr, n->prefix);
}

static bool net_elem_equal(const void *a, const void *b)
{
    const struct config_net *x = a, *y = b;
    return x->family == y->family && x->prefix == y->prefix &&
           memcmp(x->addr, y->addr, sizeof(x->addr)) == 0;
}

/* Category names: [a-z0-9_-]{1,32}.  They become LMDB keys and log fields. */
static bool category_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_MAX_CATEGORY_NAME)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

static const char *name_elem_parse(const char *t, void *slot)
{
    if (!category_name_ok(t))
        return "expected a category name of 1 to 32 characters from a-z, 0-9, _ and -";
    char *copy = strdup(t);
    if (!copy)
        return "out of memory";
    *(char **)slot = copy;
    return NULL;
}

/* A blocklist source: a local file or an http(s) URL. */
static const char *source_elem_parse(const char *t, void *slot)
{
    if (!printable(t) || strchr(t, ' ') ||
        !(t[0] == '/' || !strncmp(t, "http://", 7) || !strncmp(t, "https://", 8)))
        return "expected an absolute path or an http:// or https:// URL";
    char *copy = strdup(t);
    if (!copy)
        return "out of memory";
    *(char **)slot = copy;
    return NULL;
}

static void str_elem_fmt(char *buf, size_t len, const void *slot)
{
    snprintf(buf, len, "%s", *(char *const *)slot);
}

static bool str_elem_equal(const void *a, const void *b)
{
    return str_eq(*(char *const *)a, *(char *const *)b);
}

static void str_elem_free(void *slot)
{
    free(*(char **)slot);
}

static const struct elem E_LISTEN = {sizeof(struct config_sockaddr),
                                     listen_elem_parse,
                                     sockaddr_elem_fmt,
                                     sockaddr_elem_equal,
                                     NULL,
                                     true,
                                     0};
/* server.metrics: like server.listen, but may be empty (the default). */
static const struct elem E_METRICS = {sizeof(struct config_sockaddr),
                                      listen_elem_parse,
                                      sockaddr_elem_fmt,
                                      sockaddr_elem_equal,
                                      NULL,
                                      false,
                                      0};
static const struct elem E_SERVER = {sizeof(struct config_sockaddr),
                                     server_elem_parse,
                                     sockaddr_elem_fmt,
                                     sockaddr_elem_equal,
                                     NULL,
                                     true,
                                     0};
static const struct elem E_ADDR = {sizeof(struct config_sockaddr),
                                   addr_elem_parse,
                                   addr_elem_fmt,
                                   sockaddr_elem_equal,
                                   NULL,
                                   false,
                                   0};
static const struct elem E_NET = {
    sizeof(struct config_net), net_elem_parse, net_elem_fmt, net_elem_equal, NULL, false, 0};
static const struct elem E_NAME = {
    sizeof(char *), name_elem_parse, str_elem_fmt, str_elem_equal, str_elem_free, false, 0};
static const struct elem E_SOURCE = {
    sizeof(char *), source_elem_parse, str_elem_fmt, str_elem_equal, str_elem_free, true, 0};

/* dnssec.trust-anchor-file: an absolute path (the daemon runs from /). */
static const char *apath_elem_parse(const char *t, void *slot)
{
    if (!printable(t) || t[0] != '/')
        return "expected an absolute path";
    char *copy = strdup(t);
    if (!copy)
        return "out of memory";
    *(char **)slot = copy;
    return NULL;
}

static const struct elem E_APATH = {
    sizeof(char *), apath_elem_parse, str_elem_fmt, str_elem_equal, str_elem_free, false, 16};

static void elems_free(const struct elem *e, void **arr, size_t *n)
{
    if (e->free && *arr)
        for (size_t i = 0; i < *n; i++)
            e->free((char *)*arr + i * e->size);
    free(*arr);
    *arr = NULL;
    *n = 0;
}

/* Parse a YAML list (or, if allow_scalar, one scalar) of elements into a
 * fresh array.  *arr and *count always describe what is allocated, so a failure at
 * any point leaves them freeable by elems_free. */
static int elems_parse(struct ctx *c, const char *path, yaml_node_t *n, const struct elem *e,
                       bool allow_scalar, void **arr, size_t *count)
{
    char where[CFG_WHERE_MAX], got[48];
    int rc;
    yaml_node_item_t *items = NULL;
    size_t nitems = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        items = n->data.sequence.items.start;
        nitems = (size_t)(n->data.sequence.items.top - items);
    } else if (!allow_scalar || n->type != YAML_SCALAR_NODE) {
        return want_kind(c, path, n, YAML_SEQUENCE_NODE);
    }
    size_t max = e->max ? e->max : CFG_MAX_LIST;
    if (nitems == 0 && e->nonempty)
        return ctx_error(c, n->start_mark, "%s: expected at least one entry", path);
    if (nitems > max)
        return ctx_error(c, n->start_mark, "%s: more than %zu entries", path, max);
    elems_free(e, arr, count);
    if (nitems == 0)
        return 0;
    *arr = calloc(nitems, e->size);
    if (!*arr)
        return -ENOMEM;
    for (size_t i = 0; i < nitems; i++) {
        yaml_node_t *item = n;
        if (items) {
            item = ctx_node(c, items[i], n->start_mark, &rc);
            if (!item)
                return rc;
            key_path(where, sizeof(where), "%s[%zu]", path, i);
        } else {
            key_path(where, sizeof(where), "%s", path);
        }
        if ((rc = want_scalar(c, where, item)))
            return rc;
        void *slot = (char *)*arr + i * e->size;
        const char *why = e->parse(scalar(item), slot);
        if (why)
            return ctx_error(c, item->start_mark, "%s: %s, got '%s'", where, why,
                             shown(scalar(item), got, sizeof(got)));
        *count = i + 1;
        for (size_t j = 0; j < i; j++)
            if (e->equal((char *)*arr + j * e->size, slot))
                return ctx_error(c, item->start_mark, "%s: duplicate entry '%s'", where,
                                 shown(scalar(item), got, sizeof(got)));
    }
    return 0;
}

static int elems_dflt(const struct elem *e, const char *const *dflt, void **arr, size_t *count)
{
    size_t n = 0;
    while (dflt && dflt[n])
        n++;
    elems_free(e, arr, count);
    if (n == 0)
        return 0;
    *arr = calloc(n, e->size);
    if (!*arr)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (e->parse(dflt[i], (char *)*arr + i * e->size))
            return -EINVAL; /* a bad default in the table; the tests catch it */
        *count = i + 1;
    }
    return 0;
}

static void elems_print(FILE *f, const struct elem *e, const void *arr, size_t n,
                        const char *indent)
{
    char buf[CFG_MAX_STRING + 64];
    if (n == 0) {
        fprintf(f, " []\n");
        return;
    }
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        e->fmt(buf, sizeof(buf), (const char *)arr + i * e->size);
        fprintf(f, "%s- ", indent);
        print_quoted(f, buf);
        fputc('\n', f);
    }
}

static bool elems_equal(const struct elem *e, const void *a, size_t na, const void *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!e->equal((const char *)a + i * e->size, (const char *)b + i * e->size))
            return false;
    return true;
}

/* The list setting types: each names its element kind. */
#define LIST_TYPE(NAME, ELEM, SCALAR_OK)                                                           \
    static int NAME##_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)                \
    {                                                                                              \
        return elems_parse(c, s->path, n, &ELEM, SCALAR_OK, (void **)FIELD(c->cfg, s),             \
                           COUNT(c->cfg, s));                                                      \
    }                                                                                              \
    static int NAME##_dflt(struct config *cfg, const struct setting *s)                            \
    {                                                                                              \
        return elems_dflt(&ELEM, s->dflt, (void **)FIELD(cfg, s), COUNT(cfg, s));                  \
    }                                                                                              \
    static void NAME##_print(FILE *f, const struct config *cfg, const struct setting *s)           \
    {                                                                                              \
        elems_print(f, &ELEM, *(void *const *)CFIELD(cfg, s), CCOUNT(cfg, s), "    ");             \
    }                                                                                              \
    static bool NAME##_equal(const struct config *a, const struct config *b,                       \
                             const struct setting *s)                                              \
    {                                                                                              \
        return elems_equal(&ELEM, *(void *const *)CFIELD(a, s), CCOUNT(a, s),                      \
                           *(void *const *)CFIELD(b, s), CCOUNT(b, s));                            \
    }                                                                                              \
    static void NAME##_free(struct config *cfg, const struct setting *s)                           \
    {                                                                                              \
        elems_free(&ELEM, (void **)FIELD(cfg, s), COUNT(cfg, s));                                  \
    }                                                                                              \
    static const struct cfg_type NAME = {.parse = NAME##_parse,                                    \
                                         .dflt = NAME##_dflt,                                      \
                                         .print = NAME##_print,                                    \
                                         .equal = NAME##_equal,                                    \
                                         .free = NAME##_free}

LIST_TYPE(T_LISTEN, E_LISTEN, false);
LIST_TYPE(T_METRICS, E_METRICS, false);
LIST_TYPE(T_ADDRS, E_ADDR, true);
LIST_TYPE(T_NETS, E_NET, false);
LIST_TYPE(T_NAMES, E_NAME, false);
LIST_TYPE(T_APATHS, E_APATH, true);

/* ------------------------------------------------------------------------ */
/* Mappings shared by forward zones and categories                          */

/* Walk a mapping's pairs; calls fn with each key (a scalar) and value.  Keys
 * must be scalars; duplicates are found by the callers, which know which keys
 * exist (so the check is bounded by the number of known keys). */
typedef int (*pair_fn)(struct ctx *c, void *arg, yaml_node_t *key, yaml_node_t *value);

static int walk_mapping(struct ctx *c, const char *path, yaml_node_t *n, pair_fn fn, void *arg)
{
    int rc;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ctx_node(c, p->key, n->start_mark, &rc);
        if (!k)
            return rc;
        if (k->type != YAML_SCALAR_NODE || strlen(scalar(k)) != k->data.scalar.length)
            return ctx_error(c, k->start_mark, "%s: keys must be plain strings", path);
        yaml_node_t *v = ctx_node(c, p->value, k->start_mark, &rc);
        if (!v)
            return rc;
        if ((rc = fn(c, arg, k, v)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* resolver.forward-zones                                                   */

/* Presentation name to lower-case wire form (RFC 1035 3.1): labels of 1-63
 * bytes from letters, digits, '-' and '_', at most 255 bytes in all.  No
 * escapes: a forward zone is a hostname-like name someone typed. */
static int name_to_wire(const char *s, uint8_t *wire, size_t *wlen)
{
    size_t w = 0;
    if (!*s) /* "" is not the root; the root is written "." */
        return -EINVAL;
    if (!strcmp(s, ".")) {
        wire[0] = 0;
        *wlen = 1;
        return 0;
    }
    const char *p = s;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || w + 1 + l + 1 > 255)
            return -EINVAL;
        wire[w++] = (uint8_t)l;
        for (size_t i = 0; i < l; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (!isalnum(ch) && ch != '-' && ch != '_')
                return -EINVAL;
            wire[w++] = (uint8_t)tolower(ch);
        }
        p += l;
        if (*p == '.')
            p++;
    }
    wire[w++] = 0;
    *wlen = w;
    return 0;
}

/* Wire form back to presentation, with the trailing dot. */
static char *wire_to_name(const uint8_t *wire, size_t len)
{
    char buf[256 * 2];
    size_t o = 0, i = 0;
    if (len <= 1)
        return strdup(".");
    while (i < len && wire[i]) {
        size_t l = wire[i++];
        if (i + l > len || o + l + 2 > sizeof(buf))
            return NULL;
        memcpy(buf + o, wire + i, l);
        o += l;
        buf[o++] = '.';
        i += l;
    }
    buf[o] = '\0';
    return strdup(buf);
}

struct fwd_arg {
    struct config_forward *fw;
    const char *path;
    yaml_node_t *zone, *servers;
};

static int fwd_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct fwd_arg *a = arg;
    yaml_node_t **slot;
    char got[48];
    if (!strcmp(scalar(k), "zone"))
        slot = &a->zone;
    else if (!strcmp(scalar(k), "servers"))
        slot = &a->servers;
    else
        return ctx_error(c, k->start_mark, "unknown key '%s.%s'", a->path,
                         shown(scalar(k), got, sizeof(got)));
    if (*slot)
        return ctx_error(c, k->start_mark, "%s: duplicate key '%s'", a->path, scalar(k));
    *slot = v;
    return 0;
}

static int fwd_parse_one(struct ctx *c, const char *path, yaml_node_t *n, struct config_forward *fw)
{
    struct fwd_arg a = {fw, path, NULL, NULL};
    char where[CFG_WHERE_MAX], got[48];
    int rc;
    if ((rc = want_kind(c, path, n, YAML_MAPPING_NODE)))
        return rc;
    if ((rc = walk_mapping(c, path, n, fwd_pair, &a)))
        return rc;
    if (!a.zone)
        return ctx_error(c, n->start_mark, "%s: missing 'zone'", path);
    if (!a.servers)
        return ctx_error(c, n->start_mark, "%s: missing 'servers'", path);
    key_path(where, sizeof(where), "%s.zone", path);
    if ((rc = want_scalar(c, where, a.zone)))
        return rc;
    if (name_to_wire(scalar(a.zone), fw->zone_wire, &fw->zone_wire_len))
        return ctx_error(c, a.zone->start_mark, "%s: expected a domain name, got '%s'", where,
                         shown(scalar(a.zone), got, sizeof(got)));
    if (!(fw->zone = wire_to_name(fw->zone_wire, fw->zone_wire_len)))
        return -ENOMEM;
    key_path(where, sizeof(where), "%s.servers", path);
    return elems_parse(c, where, a.servers, &E_SERVER, false, (void **)&fw->servers, &fw->nservers);
}

static void fwd_free_arr(struct config_forward **arr, size_t *n)
{
    for (size_t i = 0; *arr && i < *n; i++) {
        free((*arr)[i].zone);
        free((*arr)[i].servers);
    }
    free(*arr);
    *arr = NULL;
    *n = 0;
}

static int fwd_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    struct config_forward **arr = FIELD(c->cfg, s);
    size_t *count = COUNT(c->cfg, s);
    char where[CFG_WHERE_MAX];
    int rc;
    if ((rc = want_kind(c, s->path, n, YAML_SEQUENCE_NODE)))
        return rc;
    yaml_node_item_t *items = n->data.sequence.items.start;
    size_t nitems = (size_t)(n->data.sequence.items.top - items);
    if (nitems > CFG_MAX_LIST)
        return ctx_error(c, n->start_mark, "%s: more than %d entries", s->path, CFG_MAX_LIST);
    fwd_free_arr(arr, count);
    if (nitems == 0)
        return 0;
    if (!(*arr = calloc(nitems, sizeof(**arr))))
        return -ENOMEM;
    *count = nitems; /* zeroed entries free cleanly */
    for (size_t i = 0; i < nitems; i++) {
        yaml_node_t *item = ctx_node(c, items[i], n->start_mark, &rc);
        if (!item)
            return rc;
        key_path(where, sizeof(where), "%s[%zu]", s->path, i);
        if ((rc = fwd_parse_one(c, where, item, &(*arr)[i])))
            return rc;
        for (size_t j = 0; j < i; j++)
            if ((*arr)[j].zone_wire_len == (*arr)[i].zone_wire_len &&
                !memcmp((*arr)[j].zone_wire, (*arr)[i].zone_wire, (*arr)[i].zone_wire_len))
                return ctx_error(c, item->start_mark, "%s: zone '%s' is already forwarded", where,
                                 (*arr)[i].zone);
    }
    return 0;
}

static int fwd_dflt(struct config *cfg, const struct setting *s)
{
    (void)cfg;
    (void)s; /* none by default: iterate from the root */
    return 0;
}

static void fwd_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    const struct config_forward *arr = *(struct config_forward *const *)CFIELD(cfg, s);
    size_t n = CCOUNT(cfg, s);
    if (n == 0) {
        fprintf(f, " []\n");
        return;
    }
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "    - zone: ");
        print_quoted(f, arr[i].zone);
        fprintf(f, "\n      servers:");
        elems_print(f, &E_SERVER, arr[i].servers, arr[i].nservers, "        ");
    }
}

static bool fwd_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    const struct config_forward *x = *(struct config_forward *const *)CFIELD(a, s);
    const struct config_forward *y = *(struct config_forward *const *)CFIELD(b, s);
    if (CCOUNT(a, s) != CCOUNT(b, s))
        return false;
    for (size_t i = 0; i < CCOUNT(a, s); i++)
        if (!str_eq(x[i].zone, y[i].zone) || x[i].zone_wire_len != y[i].zone_wire_len ||
            memcmp(x[i].zone_wire, y[i].zone_wire, x[i].zone_wire_len) ||
            !elems_equal(&E_SERVER, x[i].servers, x[i].nservers, y[i].servers, y[i].nservers))
            return false;
    return true;
}

static void fwd_free(struct config *cfg, const struct setting *s)
{
    fwd_free_arr(FIELD(cfg, s), COUNT(cfg, s));
}

static const struct cfg_type T_FORWARDS = {
    .parse = fwd_parse, .dflt = fwd_dflt, .print = fwd_print, .equal = fwd_equal, .free = fwd_free};

/* ------------------------------------------------------------------------ */
/* blocklists.categories                                                    */

static void cat_free_arr(struct config_category **arr, size_t *n)
{
    for (size_t i = 0; *arr && i < *n; i++) {
        free((*arr)[i].name);
        elems_free(&E_SOURCE, (void **)&(*arr)[i].sources, &(*arr)[i].nsources);
    }
    free(*arr);
    *arr = NULL;
    *n = 0;
}

struct cat_arg {
    const struct setting *s;
    struct config_category *arr;
    size_t *count;
};

static int cat_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct cat_arg *a = arg;
    char where[CFG_WHERE_MAX], got[48];
    const char *name = scalar(k);
    if (!category_name_ok(name))
        return ctx_error(c, k->start_mark,
                         "%s: category name '%s' must be 1 to 32 characters from a-z, 0-9, _ "
                         "and -",
                         a->s->path, shown(name, got, sizeof(got)));
    for (size_t j = 0; j < *a->count; j++)
        if (!strcmp(a->arr[j].name, name))
            return ctx_error(c, k->start_mark, "%s: duplicate key '%s.%s'", a->s->path, a->s->path,
                             name);
    struct config_category *cat = &a->arr[*a->count];
    if (!(cat->name = strdup(name)))
        return -ENOMEM;
    (*a->count)++; /* owned by the config from here on */
    key_path(where, sizeof(where), "%s.%s", a->s->path, name);
    return elems_parse(c, where, v, &E_SOURCE, false, (void **)&cat->sources, &cat->nsources);
}

static int cat_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    struct config_category **arr = FIELD(c->cfg, s);
    size_t *count = COUNT(c->cfg, s);
    int rc;
    if (node_is_null(n)) /* "categories:" with every entry commented out */
        return 0;
    if ((rc = want_kind(c, s->path, n, YAML_MAPPING_NODE)))
        return rc;
    size_t npairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (npairs > CFG_MAX_CATEGORIES)
        return ctx_error(c, n->start_mark, "%s: more than %d categories", s->path,
                         CFG_MAX_CATEGORIES);
    cat_free_arr(arr, count);
    if (npairs == 0)
        return 0;
    if (!(*arr = calloc(npairs, sizeof(**arr))))
        return -ENOMEM;
    struct cat_arg a = {s, *arr, count};
    return walk_mapping(c, s->path, n, cat_pair, &a);
}

static int cat_dflt(struct config *cfg, const struct setting *s)
{
    (void)cfg;
    (void)s; /* no categories until the school configures some */
    return 0;
}

static void cat_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    const struct config_category *arr = *(struct config_category *const *)CFIELD(cfg, s);
    size_t n = CCOUNT(cfg, s);
    if (n == 0) {
        fprintf(f, " {}\n");
        return;
    }
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        /* Names are [a-z0-9_-]; only a leading '-' could read as a list. */
        if (arr[i].name[0] == '-') {
            fprintf(f, "    ");
            print_quoted(f, arr[i].name);
            fputc(':', f);
        } else {
            fprintf(f, "    %s:", arr[i].name);
        }
        elems_print(f, &E_SOURCE, arr[i].sources, arr[i].nsources, "      ");
    }
}

static bool cat_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    const struct config_category *x = *(struct config_category *const *)CFIELD(a, s);
    const struct config_category *y = *(struct config_category *const *)CFIELD(b, s);
    if (CCOUNT(a, s) != CCOUNT(b, s))
        return false;
    for (size_t i = 0; i < CCOUNT(a, s); i++)
        if (!str_eq(x[i].name, y[i].name) ||
            !elems_equal(&E_SOURCE, x[i].sources, x[i].nsources, y[i].sources, y[i].nsources))
            return false;
    return true;
}

static void cat_free(struct config *cfg, const struct setting *s)
{
    cat_free_arr(FIELD(cfg, s), COUNT(cfg, s));
}

static const struct cfg_type T_CATEGORIES = {
    .parse = cat_parse, .dflt = cat_dflt, .print = cat_print, .equal = cat_equal, .free = cat_free};

/* ------------------------------------------------------------------------ */
/* Mappings with a fixed set of keys                                        */

#define CFG_MAX_KEYS 12

/* The value of each known key of one mapping, NULL when absent.  Unknown and
 * repeated keys are errors. */
struct keyed {
    const char *path;
    const char *const *names; /* NULL-terminated, at most CFG_MAX_KEYS */
    yaml_node_t *val[CFG_MAX_KEYS];
};

static int keyed_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct keyed *a = arg;
    char got[48];
    for (size_t i = 0; a->names[i] && i < CFG_MAX_KEYS; i++) {
        if (strcmp(scalar(k), a->names[i]) != 0)
            continue;
        if (a->val[i])
            return ctx_error(c, k->start_mark, "%s: duplicate key '%s'", a->path, a->names[i]);
        a->val[i] = v;
        return 0;
    }
    return ctx_error(c, k->start_mark, "unknown key '%s.%s'", a->path,
                     shown(scalar(k), got, sizeof(got)));
}

static int keyed_walk(struct ctx *c, const char *path, yaml_node_t *n, const char *const *names,
                      struct keyed *out)
{
    int rc = want_kind(c, path, n, YAML_MAPPING_NODE);
    if (rc)
        return rc;
    *out = (struct keyed){.path = path, .names = names};
    return walk_mapping(c, path, n, keyed_pair, out);
}

/* Where entry i of a list that elems_parse accepted is, for checks that need
 * the rest of the config and so run after the entries are parsed. */
static yaml_mark_t item_mark(struct ctx *c, yaml_node_t *list, size_t i)
{
    if (list->type != YAML_SEQUENCE_NODE)
        return list->start_mark;
    yaml_node_t *n = yaml_document_get_node(c->doc, list->data.sequence.items.start[i]);
    return n ? n->start_mark : list->start_mark;
}

/* A scalar that must be one of words (NULL-terminated); *out is its index. */
static int word_parse(struct ctx *c, const char *path, yaml_node_t *n, const char *const *words,
                      const char *expect, int *out)
{
    char got[48];
    int rc = want_scalar(c, path, n);
    if (rc)
        return rc;
    for (int i = 0; words[i]; i++) {
        if (!strcmp(scalar(n), words[i])) {
            *out = i;
            return 0;
        }
    }
    return ctx_error(c, n->start_mark, "%s: expected %s, got '%s'", path, expect,
                     shown(scalar(n), got, sizeof(got)));
}

static int bool_value(struct ctx *c, const char *path, yaml_node_t *n, bool *out)
{
    char got[48];
    int rc = want_scalar(c, path, n);
    if (rc)
        return rc;
    if (scan_bool(scalar(n), out))
        return ctx_error(c, n->start_mark, "%s: expected true or false, got '%s'", path,
                         shown(scalar(n), got, sizeof(got)));
    return 0;
}

/* Schedule, policy and segment names follow the category rule
 * ([a-z0-9_-]{1,32}): they appear in logs, explanations and gatehousectl. */
static int ident_check(struct ctx *c, const char *path, const char *what, yaml_node_t *n)
{
    char got[48];
    int rc = want_scalar(c, path, n);
    if (rc)
        return rc;
    if (!category_name_ok(scalar(n)))
        return ctx_error(c, n->start_mark,
                         "%s: %s name '%s' must be 1 to 32 characters from a-z, 0-9, _ and -", path,
                         what, shown(scalar(n), got, sizeof(got)));
    return 0;
}

/* A name as a mapping key.  Names are [a-z0-9_-]; only a leading '-' could
 * read as a list item. */
static void print_key(FILE *f, const char *indent, const char *name)
{
    fputs(indent, f);
    if (name[0] == '-')
        print_quoted(f, name);
    else
        fputs(name, f);
    fputc(':', f);
}

/* Lists of strings, compared entry by entry. */
static bool strs_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    return elems_equal(&E_NAME, a, na, b, nb);
}

/* ------------------------------------------------------------------------ */
/* timezone                                                                 */

#define ZONEINFO "/usr/share/zoneinfo/"

/* tz database names: "Europe/London", "America/Port-au-Prince", "Etc/GMT+1".
 * Relative, without "..", so the name cannot leave the zoneinfo directory. */
static bool tz_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "..") || strstr(s, "//"))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("/_+-.", *s))
            return false;
    return true;
}

/* Whether ZONEINFO/name is a compiled zone (RFC 8536 3.1: it starts
 * "TZif"), not a directory such as "Europe" or a table such as zone.tab. */
static bool tz_exists(const char *name)
{
    char path[sizeof(ZONEINFO) + 64], magic[4];
    struct stat st;
    snprintf(path, sizeof(path), "%s%s", ZONEINFO, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
              fread(magic, 1, sizeof(magic), f) == sizeof(magic) && !memcmp(magic, "TZif", 4);
    fclose(f);
    return ok;
}

static int tz_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    char got[48];
    int rc = want_scalar(c, s->path, n);
    if (rc)
        return rc;
    const char *v = scalar(n);
    if (!tz_name_ok(v))
        return ctx_error(c, n->start_mark,
                         "%s: expected a time zone name such as Europe/London, got '%s'", s->path,
                         shown(v, got, sizeof(got)));
    if (!tz_exists(v))
        return ctx_error(c, n->start_mark, "%s: no time zone '%s' in %s", s->path, v, ZONEINFO);
    return str_set((char **)FIELD(c->cfg, s), v);
}

static const struct cfg_type T_TIMEZONE = {.parse = tz_parse,
                                           .dflt = string_dflt,
                                           .print = string_print,
                                           .equal = string_equal,
                                           .free = string_free};

/* ------------------------------------------------------------------------ */
/* Windows and dates                                                        */

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_of(const char *p)
{
    for (int i = 0; i < 7; i++)
        if (!strncmp(p, day_names[i], 3))
            return i;
    return -1;
}

/* "HH:MM" at p, 00:00 to 24:00, into minutes after midnight. */
static int scan_hhmm(const char *p, unsigned *minutes)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? p[i] != ':' : !isdigit((unsigned char)p[i]))
            return -EINVAL;
    unsigned h = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
    unsigned m = (unsigned)(p[3] - '0') * 10 + (unsigned)(p[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -EINVAL;
    *minutes = h * 60 + m;
    return 0;
}

/* "DAYS HH:MM-HH:MM": DAYS a comma list of days and forward ranges
 * ("mon-wed,fri"); the end is exclusive and may be 24:00. */
static const char *window_elem_parse(const char *t, void *slot)
{
    static const char usage[] = "expected DAYS HH:MM-HH:MM, e.g. mon-fri 08:50-15:20";
    struct config_window *w = slot;
    const char *p = t;
    unsigned days = 0, start, end;
    for (;;) {
        int a = day_of(p), b;
        if (a < 0)
            return usage;
        p += 3;
        b = a;
        if (*p == '-') {
            if ((b = day_of(p + 1)) < 0)
                return usage;
            if (b <= a)
                return "a day range runs forwards from Monday to Sunday (e.g. mon-fri, sat-sun)";
            p += 4;
        }
        for (int d = a; d <= b; d++) {
            if (days & (1u << d))
                return "a day is named twice";
            days |= 1u << d;
        }
        if (*p != ',')
            break;
        p++;
    }
    if (*p != ' ' || scan_hhmm(p + 1, &start) || p[6] != '-' || scan_hhmm(p + 7, &end) ||
        p[12] != '\0')
        return usage;
    if (start >= end)
        return "a window must end after it starts (24:00 is midnight at the end of the day)";
    w->days = (uint8_t)days;
    w->start = (uint16_t)start;
    w->end = (uint16_t)end;
    return NULL;
}

/* Runs of days print as ranges, so Monday to Friday reads "mon-fri". */
static void window_elem_fmt(char *buf, size_t len, const void *slot)
{
    const struct config_window *w = slot;
    size_t o = 0;
    for (int d = 0; d < 7 && o < len; d++) {
        if (!(w->days & (1u << d)))
            continue;
        int e = d;
        while (e + 1 < 7 && (w->days & (1u << (e + 1))))
            e++;
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", day_names[d]);
        if (e > d && o < len)
            o += (size_t)snprintf(buf + o, len - o, "-%s", day_names[e]);
        d = e;
    }
    if (o < len)
        snprintf(buf + o, len - o, " %02u:%02u-%02u:%02u", w->start / 60u, w->start % 60u,
                 w->end / 60u, w->end % 60u);
}

static bool window_elem_equal(const void *a, const void *b)
{
    const struct config_window *x = a, *y = b;
    return x->days == y->days && x->start == y->start && x->end == y->end;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's days_from_civil and civil_from_days).  Pure arithmetic: no
 * timegm, so nothing depends on TZ. */
static int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

static void civil_from_days(int32_t days, int *y, int *m, int *d)
{
    int z = (int)days + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DD" at p (exactly 10 bytes): -EINVAL for the wrong shape,
 * -ERANGE for a date that is not on the calendar or before 1970. */
static int scan_date(const char *p, int32_t *day)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int v[3] = {0, 0, 0}, f = 0;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (p[i] != '-')
                return -EINVAL;
            f++;
        } else if (isdigit((unsigned char)p[i])) {
            v[f] = v[f] * 10 + (p[i] - '0');
        } else {
            return -EINVAL;
        }
    }
    int y = v[0], m = v[1], d = v[2];
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return -ERANGE;
    *day = days_from_civil(y, m, d);
    return 0;
}

/* "YYYY-MM-DD" (one day) or "YYYY-MM-DD..YYYY-MM-DD", both ends included. */
static const char *daterange_elem_parse(const char *t, void *slot)
{
    static const char usage[] = "expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD";
    struct config_daterange *r = slot;
    size_t n = strlen(t);
    int rc;
    if (n == 10) {
        rc = scan_date(t, &r->from);
        r->to = r->from;
    } else if (n == 22 && t[10] == '.' && t[11] == '.') {
        rc = scan_date(t, &r->from);
        if (rc == 0)
            rc = scan_date(t + 12, &r->to);
    } else {
        return usage;
    }
    if (rc == -ERANGE)
        return "not a calendar date from 1970 on";
    if (rc)
        return usage;
    if (r->to < r->from)
        return "a date range must not end before it starts";
    return NULL;
}

static void daterange_elem_fmt(char *buf, size_t len, const void *slot)
{
    const struct config_daterange *r = slot;
    int y, m, d, y2, m2, d2;
    civil_from_days(r->from, &y, &m, &d);
    if (r->from == r->to) {
        snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
        return;
    }
    civil_from_days(r->to, &y2, &m2, &d2);
    snprintf(buf, len, "%04d-%02d-%02d..%04d-%02d-%02d", y, m, d, y2, m2, d2);
}

static bool daterange_elem_equal(const void *a, const void *b)
{
    const struct config_daterange *x = a, *y = b;
    return x->from == y->from && x->to == y->to;
}

static const struct elem E_WINDOW = {sizeof(struct config_window),
                                     window_elem_parse,
                                     window_elem_fmt,
                                     window_elem_equal,
                                     NULL,
                                     true,
                                     CFG_MAX_WINDOWS};
static const struct elem E_DATES = {sizeof(struct config_daterange),
                                    daterange_elem_parse,
                                    daterange_elem_fmt,
                                    daterange_elem_equal,
                                    NULL,
                                    false,
                                    0};

/* ------------------------------------------------------------------------ */
/* Allow and deny names, interfaces                                         */

/* "example.org" is that name, "*.example.org" it and everything below.
 * The line is filled in by the caller, which has the node. */
static const char *dname_elem_parse(const char *t, void *slot)
{
    struct config_name *n = slot;
    const char *name = t;
    if (!strncmp(t, "*.", 2)) {
        name = t + 2;
        n->subtree = true;
    }
    /* The root is no entry: "default: block" says "everything". */
    if (!strcmp(name, ".") || name_to_wire(name, n->wire, &n->len))
        return "expected a domain name, or *. and a domain name for it and every name below";
    if (!(n->text = strdup(t)))
        return "out of memory";
    return NULL;
}

static void dname_elem_fmt(char *buf, size_t len, const void *slot)
{
    snprintf(buf, len, "%s", ((const struct config_name *)slot)->text);
}

/* The line is where the entry was read, not what it says: two configs
 * that differ only in layout are equal. */
static bool dname_elem_equal(const void *a, const void *b)
{
    const struct config_name *x = a, *y = b;
    return x->len == y->len && x->subtree == y->subtree && !memcmp(x->wire, y->wire, x->len) &&
           str_eq(x->text, y->text);
}

/* Duplicates are found by meaning, so "BBC.co.uk" repeats "bbc.co.uk". */
static bool dname_elem_same(const void *a, const void *b)
{
    const struct config_name *x = a, *y = b;
    return x->len == y->len && x->subtree == y->subtree && !memcmp(x->wire, y->wire, x->len);
}

static void dname_elem_free(void *slot)
{
    free(((struct config_name *)slot)->text);
}

/* Interface names as the kernel allows them, less the odd characters:
 * VLAN devices are "eth0.10" or "vlan10". */
static const char *iface_elem_parse(const char *t, void *slot)
{
    size_t n = strlen(t);
    bool ok = n > 0 && n <= CFG_MAX_IFNAME;
    for (const char *p = t; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
    if (!ok)
        return "expected an interface name of 1 to 15 characters from A-Z, a-z, 0-9, ., _ and -";
    char *copy = strdup(t);
    if (!copy)
        return "out of memory";
    *(char **)slot = copy;
    return NULL;
}

static const struct elem E_DNAME = {sizeof(struct config_name),
                                    dname_elem_parse,
                                    dname_elem_fmt,
                                    dname_elem_same,
                                    dname_elem_free,
                                    false,
                                    0};
static const struct elem E_IFACE = {
    sizeof(char *), iface_elem_parse, str_elem_fmt, str_elem_equal, str_elem_free, false, 0};

static int dnames_parse(struct ctx *c, const char *path, yaml_node_t *n, struct config_name **arr,
                        size_t *count)
{
    int rc = elems_parse(c, path, n, &E_DNAME, false, (void **)arr, count);
    for (size_t i = 0; !rc && i < *count; i++)
        (*arr)[i].line = (unsigned)item_mark(c, n, i).line + 1;
    return rc;
}

static bool dnames_equal(const struct config_name *a, size_t na, const struct config_name *b,
                         size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!dname_elem_equal(&a[i], &b[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Geo rules: block-asn, block-countries (geo.h)                            */

/* "9009", "AS9009", or the name of a list in geo.asn-lists (resolved once
 * the whole file is read: see geo_resolve). */
static const char *asn_elem_parse(const char *t, void *slot)
{
    struct config_asn *a = slot;
    if (geo_parse_asn(t, &a->asn) == 0)
        return NULL;
    if (isdigit((unsigned char)t[0]) ||
        ((t[0] == 'A' || t[0] == 'a') && isdigit((unsigned char)t[2])))
        return "expected an AS number from 1 to 4294967295 (not 23456), e.g. 9009 or AS9009";
    if (!category_name_ok(t))
        return "expected an AS number (e.g. AS9009) or the name of a list in geo.asn-lists";
    if (!(a->list = strdup(t)))
        return "out of memory";
    return NULL;
}

static void asn_elem_fmt(char *buf, size_t len, const void *slot)
{
    const struct config_asn *a = slot;
    if (a->list)
        snprintf(buf, len, "%s", a->list);
    else
        snprintf(buf, len, "AS%u", a->asn);
}

static bool asn_elem_equal(const void *x, const void *y)
{
    const struct config_asn *a = x, *b = y;
    return a->asn == b->asn && str_eq(a->list, b->list);
}

static void asn_elem_free(void *slot)
{
    free(((struct config_asn *)slot)->list);
}

/* ISO 3166-1 alpha-2 as the databases write it: two upper-case letters. */
static const char *country_elem_parse(const char *t, void *slot)
{
    char *cc = slot;
    if (strlen(t) != 2 || !isupper((unsigned char)t[0]) || !isupper((unsigned char)t[1]))
        return "expected an ISO 3166-1 country code of two upper-case letters, e.g. RU";
    memcpy(cc, t, 3);
    return NULL;
}

static void country_elem_fmt(char *buf, size_t len, const void *slot)
{
    snprintf(buf, len, "%s", (const char *)slot);
}

static bool country_elem_equal(const void *a, const void *b)
{
    return memcmp(a, b, 3) == 0;
}

static const struct elem E_ASN = {sizeof(struct config_asn),
                                  asn_elem_parse,
                                  asn_elem_fmt,
                                  asn_elem_equal,
                                  asn_elem_free,
                                  false,
                                  0};
static const struct elem E_COUNTRY = {
    3, country_elem_parse, country_elem_fmt, country_elem_equal, NULL, false, 0};

static int asns_parse(struct ctx *c, const char *path, yaml_node_t *n, struct config_policy *p)
{
    int rc = elems_parse(c, path, n, &E_ASN, false, (void **)&p->block_asn, &p->nblock_asn);
    for (size_t i = 0; !rc && i < p->nblock_asn; i++) {
        yaml_mark_t m = item_mark(c, n, i);
        p->block_asn[i].line = (unsigned)m.line;
        p->block_asn[i].col = (unsigned)m.column;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Categories named by policies                                             */

/* Categories the daemon fills itself, which need no blocklists entry. */
static const char *const builtin_categories[] = {"doh", "vpn_proxy", "statutory"};
#define CFG_STATUTORY "statutory"

/* A category a policy names must exist, so a typo cannot quietly block
 * nothing.  The statutory lists (IWF, police terrorist content) are
 * enforced above every policy; naming them in a policy would suggest a
 * policy could change that. */
static int category_check(struct ctx *c, const char *where, const char *name, yaml_mark_t m)
{
    char got[48];
    if (!strcmp(name, CFG_STATUTORY))
        return ctx_error(c, m, "%s: statutory is always blocked; a policy cannot name it", where);
    for (size_t i = 0; i < c->cfg->ncategories; i++)
        if (!strcmp(c->cfg->categories[i].name, name))
            return 0;
    for (size_t i = 0; i < ARRAY_LEN(builtin_categories); i++)
        if (!strcmp(builtin_categories[i], name))
            return 0;
    return ctx_error(c, m,
                     "%s: unknown category '%s'; declare it in blocklists.categories (built in: "
                     "doh, vpn_proxy)",
                     where, shown(name, got, sizeof(got)));
}

static int cats_parse(struct ctx *c, const char *path, yaml_node_t *n, bool nonempty, char ***arr,
                      size_t *count)
{
    char where[CFG_WHERE_MAX];
    int rc = elems_parse(c, path, n, &E_NAME, false, (void **)arr, count);
    if (rc)
        return rc;
    if (nonempty && *count == 0)
        return ctx_error(c, n->start_mark, "%s: expected at least one entry", path);
    for (size_t i = 0; i < *count; i++) {
        key_path(where, sizeof(where), "%s[%zu]", path, i);
        if ((rc = category_check(c, where, (*arr)[i], item_mark(c, n, i))))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* schedules                                                                */

static void sched_free_arr(struct config_schedule **arr, size_t *n)
{
    for (size_t i = 0; *arr && i < *n; i++) {
        free((*arr)[i].name);
        free((*arr)[i].windows);
        free((*arr)[i].terms);
        free((*arr)[i].holidays);
    }
    free(*arr);
    *arr = NULL;
    *n = 0;
}

static const char *const sched_keys[] = {"windows", "terms", "holidays", NULL};

struct map_arg {
    const struct setting *s;
    void *arr;
    size_t *count;
};

static int sched_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct map_arg *a = arg;
    struct config_schedule *arr = a->arr;
    char where[CFG_WHERE_MAX];
    struct keyed kv;
    int rc = ident_check(c, a->s->path, "schedule", k);
    if (rc)
        return rc;
    for (size_t j = 0; j < *a->count; j++)
        if (!strcmp(arr[j].name, scalar(k)))
            return ctx_error(c, k->start_mark, "%s: duplicate key '%s.%s'", a->s->path, a->s->path,
                             scalar(k));
    struct config_schedule *sc = &arr[*a->count];
    if (!(sc->name = strdup(scalar(k))))
        return -ENOMEM;
    (*a->count)++; /* owned by the config from here on */
    key_path(where, sizeof(where), "%s.%s", a->s->path, sc->name);
    if ((rc = keyed_walk(c, where, v, sched_keys, &kv)))
        return rc;
    if (!kv.val[0])
        return ctx_error(c, v->start_mark, "%s: missing 'windows'", where);
    key_path(where, sizeof(where), "%s.%s.windows", a->s->path, sc->name);
    rc = elems_parse(c, where, kv.val[0], &E_WINDOW, false, (void **)&sc->windows, &sc->nwindows);
    key_path(where, sizeof(where), "%s.%s.terms", a->s->path, sc->name);
    if (!rc && kv.val[1])
        rc = elems_parse(c, where, kv.val[1], &E_DATES, false, (void **)&sc->terms, &sc->nterms);
    key_path(where, sizeof(where), "%s.%s.holidays", a->s->path, sc->name);
    if (!rc && kv.val[2])
        rc = elems_parse(c, where, kv.val[2], &E_DATES, false, (void **)&sc->holidays,
                         &sc->nholidays);
    return rc;
}

/* A mapping of NAME -> entry with at most max entries, into a fresh zeroed
 * array that *arr and *count always describe. */
static int named_map_parse(struct ctx *c, const struct setting *s, yaml_node_t *n, size_t size,
                           size_t max, const char *what, pair_fn fn)
{
    void **arr = FIELD(c->cfg, s);
    size_t *count = COUNT(c->cfg, s);
    int rc;
    if (node_is_null(n)) /* every entry commented out */
        return 0;
    if ((rc = want_kind(c, s->path, n, YAML_MAPPING_NODE)))
        return rc;
    size_t npairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (npairs > max)
        return ctx_error(c, n->start_mark, "%s: more than %zu %s", s->path, max, what);
    if (npairs == 0)
        return 0;
    if (!(*arr = calloc(npairs, size)))
        return -ENOMEM;
    struct map_arg a = {s, *arr, count};
    return walk_mapping(c, s->path, n, fn, &a);
}

static int sched_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    sched_free_arr(FIELD(c->cfg, s), COUNT(c->cfg, s));
    return named_map_parse(c, s, n, sizeof(struct config_schedule), CFG_MAX_SCHEDULES, "schedules",
                           sched_pair);
}

static int none_dflt(struct config *cfg, const struct setting *s)
{
    (void)cfg;
    (void)s; /* empty until the school configures some */
    return 0;
}

static void sched_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    const struct config_schedule *arr = *(struct config_schedule *const *)CFIELD(cfg, s);
    size_t n = CCOUNT(cfg, s);
    if (n == 0) {
        fprintf(f, " {}\n");
        return;
    }
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        print_key(f, "  ", arr[i].name);
        fprintf(f, "\n    windows:");
        elems_print(f, &E_WINDOW, arr[i].windows, arr[i].nwindows, "      ");
        fprintf(f, "    terms:");
        elems_print(f, &E_DATES, arr[i].terms, arr[i].nterms, "      ");
        fprintf(f, "    holidays:");
        elems_print(f, &E_DATES, arr[i].holidays, arr[i].nholidays, "      ");
    }
}

static bool sched_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    const struct config_schedule *x = *(struct config_schedule *const *)CFIELD(a, s);
    const struct config_schedule *y = *(struct config_schedule *const *)CFIELD(b, s);
    if (CCOUNT(a, s) != CCOUNT(b, s))
        return false;
    for (size_t i = 0; i < CCOUNT(a, s); i++)
        if (!str_eq(x[i].name, y[i].name) ||
            !elems_equal(&E_WINDOW, x[i].windows, x[i].nwindows, y[i].windows, y[i].nwindows) ||
            !elems_equal(&E_DATES, x[i].terms, x[i].nterms, y[i].terms, y[i].nterms) ||
            !elems_equal(&E_DATES, x[i].holidays, x[i].nholidays, y[i].holidays, y[i].nholidays))
            return false;
    return true;
}

static void sched_free(struct config *cfg, const struct setting *s)
{
    sched_free_arr(FIELD(cfg, s), COUNT(cfg, s));
}

static const struct cfg_type T_SCHEDULES = {.parse = sched_parse,
                                            .dflt = none_dflt,
                                            .print = sched_print,
                                            .equal = sched_equal,
                                            .free = sched_free};

/* ------------------------------------------------------------------------ */
/* policies                                                                 */

#define CFG_BLOCK_TTL_DEFAULT 60
#define CFG_BLOCK_TTL_MAX 86400

static const char *const safe_search_words[] = {"off", "moderate", "strict", NULL};
static const char *const default_words[] = {"allow", "block", NULL};

/* An action written as one scalar: a keyword, or the block page's
 * addresses, at most one of each family, separated by a space. */
static const char *action_scan(const char *t, struct config_action *a)
{
    static const char usage[] = "expected nxdomain, nodata, null, or block page addresses "
                                "(one IPv4 and/or one IPv6, separated by a space)";
    char buf[2 * INET6_ADDRSTRLEN + 2];
    size_t n = strlen(t);
    memset(a, 0, sizeof(*a));
    if (!strcmp(t, "nxdomain"))
        return a->kind = CONFIG_ACTION_NXDOMAIN, NULL;
    if (!strcmp(t, "nodata"))
        return a->kind = CONFIG_ACTION_NODATA, NULL;
    if (!strcmp(t, "null"))
        return a->kind = CONFIG_ACTION_NULL, NULL;
    if (n == 0 || n >= sizeof(buf))
        return usage;
    memcpy(buf, t, n + 1);
    char *tok = buf;
    for (int i = 0; tok; i++) {
        char *sp = strchr(tok, ' ');
        if (sp)
            *sp = '\0';
        if (i == 2)
            return usage;
        if (inet_pton(AF_INET, tok, a->a4) == 1) {
            if (a->have_a4)
                return "give at most one IPv4 and one IPv6 address";
            a->have_a4 = true;
        } else if (inet_pton(AF_INET6, tok, a->a6) == 1) {
            if (a->have_a6)
                return "give at most one IPv4 and one IPv6 address";
            a->have_a6 = true;
        } else {
            return usage;
        }
        tok = sp ? sp + 1 : NULL;
    }
    a->kind = CONFIG_ACTION_ADDRESS;
    return NULL;
}

static void print_action(FILE *f, const struct config_action *a)
{
    static const char *const words[] = {"nxdomain", "nodata", "null"};
    char v4[INET_ADDRSTRLEN] = "", v6[INET6_ADDRSTRLEN] = "", buf[sizeof(v4) + sizeof(v6) + 1];
    if (a->kind != CONFIG_ACTION_ADDRESS) {
        fprintf(f, "%s", (unsigned)a->kind < ARRAY_LEN(words) ? words[a->kind] : "nxdomain");
        return;
    }
    if (a->have_a4)
        inet_ntop(AF_INET, a->a4, v4, sizeof(v4));
    if (a->have_a6)
        inet_ntop(AF_INET6, a->a6, v6, sizeof(v6));
    snprintf(buf, sizeof(buf), "%s%s%s", v4, a->have_a4 && a->have_a6 ? " " : "", v6);
    print_quoted(f, buf);
}

static bool action_equal(const struct config_action *x, const struct config_action *y)
{
    if (x->kind != y->kind)
        return false;
    if (x->kind != CONFIG_ACTION_ADDRESS)
        return true;
    return x->have_a4 == y->have_a4 && x->have_a6 == y->have_a6 &&
           (!x->have_a4 || !memcmp(x->a4, y->a4, 4)) && (!x->have_a6 || !memcmp(x->a6, y->a6, 16));
}

static int action_scalar(struct ctx *c, const char *path, yaml_node_t *n, struct config_action *a)
{
    char got[48];
    int rc = want_scalar(c, path, n);
    if (rc)
        return rc;
    const char *why = action_scan(scalar(n), a);
    if (why)
        return ctx_error(c, n->start_mark, "%s: %s, got '%s'", path, why,
                         shown(scalar(n), got, sizeof(got)));
    return 0;
}

struct catact_arg {
    const char *path;
    struct config_policy *p;
};

static int catact_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct catact_arg *a = arg;
    struct config_policy *p = a->p;
    char where[CFG_WHERE_MAX];
    int rc = ident_check(c, a->path, "category", k);
    if (rc)
        return rc;
    key_path(where, sizeof(where), "%s.%s", a->path, scalar(k));
    if ((rc = category_check(c, where, scalar(k), k->start_mark)))
        return rc;
    for (size_t j = 0; j < p->ncategory_actions; j++)
        if (!strcmp(p->category_actions[j].category, scalar(k)))
            return ctx_error(c, k->start_mark, "%s: duplicate key '%s'", a->path, scalar(k));
    struct config_category_action *ca = &p->category_actions[p->ncategory_actions];
    if (!(ca->category = strdup(scalar(k))))
        return -ENOMEM;
    p->ncategory_actions++;
    return action_scalar(c, where, v, &ca->action);
}

static const char *const action_keys[] = {"default", "ttl", "categories", NULL};

/* action: SCALAR, or {default: SCALAR, ttl: DURATION, categories: {CAT: SCALAR}}. */
static int action_parse(struct ctx *c, const char *path, yaml_node_t *n, struct config_policy *p)
{
    char where[CFG_WHERE_MAX], got[48];
    struct keyed kv;
    int rc;
    if (n->type == YAML_SCALAR_NODE)
        return action_scalar(c, path, n, &p->action);
    if (n->type != YAML_MAPPING_NODE)
        return ctx_error(c, n->start_mark, "%s: expected a scalar or a mapping, got %s", path,
                         node_kind(n));
    if ((rc = keyed_walk(c, path, n, action_keys, &kv)))
        return rc;
    key_path(where, sizeof(where), "%s.default", path);
    if (kv.val[0] && (rc = action_scalar(c, where, kv.val[0], &p->action)))
        return rc;
    if (kv.val[1]) {
        uint64_t v = 0;
        key_path(where, sizeof(where), "%s.ttl", path);
        if ((rc = want_scalar(c, where, kv.val[1])))
            return rc;
        if (scan_secs(scalar(kv.val[1]), &v) || v > CFG_BLOCK_TTL_MAX)
            return ctx_error(c, kv.val[1]->start_mark,
                             "%s: expected a duration (e.g. 30s, 5m, 1h, 90d) from 0s to 1d, got "
                             "'%s'",
                             where, shown(scalar(kv.val[1]), got, sizeof(got)));
        p->block_ttl = (uint32_t)v;
    }
    yaml_node_t *cats = kv.val[2];
    if (!cats || node_is_null(cats))
        return 0;
    key_path(where, sizeof(where), "%s.categories", path);
    if ((rc = want_kind(c, where, cats, YAML_MAPPING_NODE)))
        return rc;
    size_t npairs = (size_t)(cats->data.mapping.pairs.top - cats->data.mapping.pairs.start);
    if (npairs > CFG_MAX_CATEGORIES + ARRAY_LEN(builtin_categories))
        return ctx_error(c, cats->start_mark, "%s: more than %zu categories", where,
                         CFG_MAX_CATEGORIES + ARRAY_LEN(builtin_categories));
    if (npairs == 0)
        return 0;
    if (!(p->category_actions = calloc(npairs, sizeof(*p->category_actions))))
        return -ENOMEM;
    struct catact_arg a = {where, p};
    return walk_mapping(c, where, cats, catact_pair, &a);
}

static const char *const rule_keys[] = {"during", "outside", "block", "allow-only", NULL};

/* One entry of policies.NAME.schedules: during or outside a schedule (one
 * of the two), block categories or allow only the allow list (one of the
 * two). */
static int rule_parse(struct ctx *c, const char *path, yaml_node_t *n, struct config_rule *r)
{
    char where[CFG_WHERE_MAX], got[48];
    struct keyed kv;
    bool allow_only = false;
    int rc = keyed_walk(c, path, n, rule_keys, &kv);
    if (rc)
        return rc;
    yaml_node_t *during = kv.val[0], *outside = kv.val[1], *block = kv.val[2], *only = kv.val[3];
    if (during && outside)
        return ctx_error(
            c,
            (during->start_mark.index > outside->start_mark.index ? during : outside)->start_mark,
            "%s: give 'during' or 'outside', not both", path);
    if (!during && !outside)
        return ctx_error(c, n->start_mark, "%s: missing 'during' or 'outside' (a schedule)", path);
    if (block && only)
        return ctx_error(
            c, (block->start_mark.index > only->start_mark.index ? block : only)->start_mark,
            "%s: give 'block' or 'allow-only', not both", path);
    yaml_node_t *sched = during ? during : outside;
    r->inside = during != NULL;
    key_path(where, sizeof(where), "%s.%s", path, during ? "during" : "outside");
    if ((rc = want_scalar(c, where, sched)))
        return rc;
    bool found = false;
    for (size_t i = 0; i < c->cfg->nschedules && !found; i++)
        found = !strcmp(c->cfg->schedules[i].name, scalar(sched));
    if (!found)
        return ctx_error(c, sched->start_mark, "%s: no schedule named '%s'", where,
                         shown(scalar(sched), got, sizeof(got)));
    if (!(r->schedule = strdup(scalar(sched))))
        return -ENOMEM;
    if (block) {
        r->kind = CONFIG_RULE_BLOCK;
        key_path(where, sizeof(where), "%s.block", path);
        return cats_parse(c, where, block, true, &r->categories, &r->ncategories);
    }
    key_path(where, sizeof(where), "%s.allow-only", path);
    if (only && (rc = bool_value(c, where, only, &allow_only)))
        return rc;
    if (!allow_only)
        return ctx_error(c, only ? only->start_mark : n->start_mark,
                         "%s: missing 'block' (categories) or 'allow-only: true'", path);
    r->kind = CONFIG_RULE_ALLOW_ONLY;
    return 0;
}

static int rules_parse(struct ctx *c, const char *path, yaml_node_t *n, struct config_policy *p)
{
    char where[CFG_WHERE_MAX];
    int rc;
    if ((rc = want_kind(c, path, n, YAML_SEQUENCE_NODE)))
        return rc;
    yaml_node_item_t *items = n->data.sequence.items.start;
    size_t nitems = (size_t)(n->data.sequence.items.top - items);
    if (nitems > CFG_MAX_RULES)
        return ctx_error(c, n->start_mark, "%s: more than %d entries", path, CFG_MAX_RULES);
    if (nitems == 0)
        return 0;
    if (!(p->rules = calloc(nitems, sizeof(*p->rules))))
        return -ENOMEM;
    p->nrules = nitems; /* zeroed entries free cleanly */
    for (size_t i = 0; i < nitems; i++) {
        yaml_node_t *item = ctx_node(c, items[i], n->start_mark, &rc);
        if (!item)
            return rc;
        key_path(where, sizeof(where), "%s[%zu]", path, i);
        if ((rc = rule_parse(c, where, item, &p->rules[i])))
            return rc;
    }
    return 0;
}

static void policy_free_one(struct config_policy *p)
{
    free(p->name);
    elems_free(&E_NAME, (void **)&p->block, &p->nblock);
    elems_free(&E_DNAME, (void **)&p->allow, &p->nallow);
    elems_free(&E_DNAME, (void **)&p->deny, &p->ndeny);
    for (size_t i = 0; p->rules && i < p->nrules; i++) {
        free(p->rules[i].schedule);
        elems_free(&E_NAME, (void **)&p->rules[i].categories, &p->rules[i].ncategories);
    }
    free(p->rules);
    for (size_t i = 0; p->category_actions && i < p->ncategory_actions; i++)
        free(p->category_actions[i].category);
    free(p->category_actions);
    elems_free(&E_ASN, (void **)&p->block_asn, &p->nblock_asn);
    free(p->asns);
    elems_free(&E_COUNTRY, (void **)&p->block_countries, &p->nblock_countries);
    elems_free(&E_NET, (void **)&p->block_networks, &p->nblock_networks);
    memset(p, 0, sizeof(*p));
}

static void policy_free_arr(struct config_policy **arr, size_t *n)
{
    for (size_t i = 0; *arr && i < *n; i++)
        policy_free_one(&(*arr)[i]);
    free(*arr);
    *arr = NULL;
    *n = 0;
}

enum {
    PK_BLOCK,
    PK_ALLOW,
    PK_DENY,
    PK_SAFE,
    PK_RULES,
    PK_ACTION,
    PK_DEFAULT,
    PK_BYPASS,
    PK_BLOCK_ASN,
    PK_BLOCK_COUNTRIES,
    PK_BLOCK_NETWORKS,
};
static const char *const policy_keys[] = {
    "block",     "allow",           "deny",           "safe-search",
    "schedules", "action",          "default",        "bypass-protection",
    "block-asn", "block-countries", "block-networks", NULL};

static int policy_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct map_arg *a = arg;
    struct config_policy *arr = a->arr;
    char where[CFG_WHERE_MAX], sub[CFG_WHERE_MAX];
    struct keyed kv;
    int rc = ident_check(c, a->s->path, "policy", k), w;
    if (rc)
        return rc;
    for (size_t j = 0; j < *a->count; j++)
        if (!strcmp(arr[j].name, scalar(k)))
            return ctx_error(c, k->start_mark, "%s: duplicate key '%s.%s'", a->s->path, a->s->path,
                             scalar(k));
    struct config_policy *p = &arr[*a->count];
    if (!(p->name = strdup(scalar(k))))
        return -ENOMEM;
    (*a->count)++; /* owned by the config from here on */
    /* The defaults: block nothing, answer NXDOMAIN, guard against bypass. */
    p->action.kind = CONFIG_ACTION_NXDOMAIN;
    p->block_ttl = CFG_BLOCK_TTL_DEFAULT;
    p->bypass_protection = true;
    key_path(where, sizeof(where), "%s.%s", a->s->path, p->name);
    if ((rc = keyed_walk(c, where, v, policy_keys, &kv)))
        return rc;
#define SUB(key) (key_path(sub, sizeof(sub), "%s.%s", where, key), sub)
    if (kv.val[PK_BLOCK] &&
        (rc = cats_parse(c, SUB("block"), kv.val[PK_BLOCK], false, &p->block, &p->nblock)))
        return rc;
    if (kv.val[PK_ALLOW] &&
        (rc = dnames_parse(c, SUB("allow"), kv.val[PK_ALLOW], &p->allow, &p->nallow)))
        return rc;
    if (kv.val[PK_DENY] &&
        (rc = dnames_parse(c, SUB("deny"), kv.val[PK_DENY], &p->deny, &p->ndeny)))
        return rc;
    if (kv.val[PK_SAFE]) {
        if ((rc = word_parse(c, SUB("safe-search"), kv.val[PK_SAFE], safe_search_words,
                             "off, moderate or strict", &w)))
            return rc;
        p->safe_search = (enum config_safe_search)w;
    }
    if (kv.val[PK_RULES] && (rc = rules_parse(c, SUB("schedules"), kv.val[PK_RULES], p)))
        return rc;
    if (kv.val[PK_ACTION] && (rc = action_parse(c, SUB("action"), kv.val[PK_ACTION], p)))
        return rc;
    if (kv.val[PK_DEFAULT]) {
        if ((rc = word_parse(c, SUB("default"), kv.val[PK_DEFAULT], default_words, "allow or block",
                             &w)))
            return rc;
        p->default_block = w == 1;
    }
    if (kv.val[PK_BYPASS] &&
        (rc = bool_value(c, SUB("bypass-protection"), kv.val[PK_BYPASS], &p->bypass_protection)))
        return rc;
    if (kv.val[PK_BLOCK_ASN] && (rc = asns_parse(c, SUB("block-asn"), kv.val[PK_BLOCK_ASN], p)))
        return rc;
    if (kv.val[PK_BLOCK_COUNTRIES] &&
        (rc = elems_parse(c, SUB("block-countries"), kv.val[PK_BLOCK_COUNTRIES], &E_COUNTRY, false,
                          (void **)&p->block_countries, &p->nblock_countries)))
        return rc;
    if (kv.val[PK_BLOCK_NETWORKS] &&
        (rc = elems_parse(c, SUB("block-networks"), kv.val[PK_BLOCK_NETWORKS], &E_NET, false,
                          (void **)&p->block_networks, &p->nblock_networks)))
        return rc;
#undef SUB
    return 0;
}

static int policy_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    policy_free_arr(FIELD(c->cfg, s), COUNT(c->cfg, s));
    return named_map_parse(c, s, n, sizeof(struct config_policy), CFG_MAX_POLICIES, "policies",
                           policy_pair);
}

static void policy_print_one(FILE *f, const struct config_policy *p)
{
    static const char *const safe[] = {"off", "moderate", "strict"};
    char ttl[32];
    print_key(f, "  ", p->name);
    fprintf(f, "\n    block:");
    elems_print(f, &E_NAME, p->block, p->nblock, "      ");
    fprintf(f, "    allow:");
    elems_print(f, &E_DNAME, p->allow, p->nallow, "      ");
    fprintf(f, "    deny:");
    elems_print(f, &E_DNAME, p->deny, p->ndeny, "      ");
    fprintf(f, "    safe-search: %s\n",
            (unsigned)p->safe_search < ARRAY_LEN(safe) ? safe[p->safe_search] : "off");
    fprintf(f, "    schedules:%s\n", p->nrules ? "" : " []");
    for (size_t i = 0; i < p->nrules; i++) {
        const struct config_rule *r = &p->rules[i];
        fprintf(f, "      - %s: ", r->inside ? "during" : "outside");
        print_quoted(f, r->schedule);
        if (r->kind == CONFIG_RULE_ALLOW_ONLY) {
            fprintf(f, "\n        allow-only: true\n");
        } else {
            fprintf(f, "\n        block:");
            elems_print(f, &E_NAME, r->categories, r->ncategories, "          ");
        }
    }
    fmt_secs(ttl, sizeof(ttl), p->block_ttl);
    fprintf(f, "    action:\n      default: ");
    print_action(f, &p->action);
    fprintf(f, "\n      ttl: %s\n      categories:%s\n", ttl, p->ncategory_actions ? "" : " {}");
    for (size_t i = 0; i < p->ncategory_actions; i++) {
        print_key(f, "        ", p->category_actions[i].category);
        fputc(' ', f);
        print_action(f, &p->category_actions[i].action);
        fputc('\n', f);
    }
    fprintf(f, "    default: %s\n", p->default_block ? "block" : "allow");
    fprintf(f, "    bypass-protection: %s\n", p->bypass_protection ? "true" : "false");
    fprintf(f, "    block-asn:");
    elems_print(f, &E_ASN, p->block_asn, p->nblock_asn, "      ");
    fprintf(f, "    block-countries:");
    elems_print(f, &E_COUNTRY, p->block_countries, p->nblock_countries, "      ");
    fprintf(f, "    block-networks:");
    elems_print(f, &E_NET, p->block_networks, p->nblock_networks, "      ");
}

static void policy_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    const struct config_policy *arr = *(struct config_policy *const *)CFIELD(cfg, s);
    size_t n = CCOUNT(cfg, s);
    if (n == 0) {
        fprintf(f, " {}\n");
        return;
    }
    fputc('\n', f);
    for (size_t i = 0; i < n; i++)
        policy_print_one(f, &arr[i]);
}

static bool policy_equal_one(const struct config_policy *x, const struct config_policy *y)
{
    if (!str_eq(x->name, y->name) || !strs_equal(x->block, x->nblock, y->block, y->nblock) ||
        !dnames_equal(x->allow, x->nallow, y->allow, y->nallow) ||
        !dnames_equal(x->deny, x->ndeny, y->deny, y->ndeny) || x->safe_search != y->safe_search ||
        x->nrules != y->nrules || !action_equal(&x->action, &y->action) ||
        x->ncategory_actions != y->ncategory_actions || x->block_ttl != y->block_ttl ||
        x->default_block != y->default_block || x->bypass_protection != y->bypass_protection ||
        !elems_equal(&E_ASN, x->block_asn, x->nblock_asn, y->block_asn, y->nblock_asn) ||
        x->nasns != y->nasns ||
        (x->nasns && memcmp(x->asns, y->asns, x->nasns * sizeof(*x->asns))) ||
        !elems_equal(&E_COUNTRY, x->block_countries, x->nblock_countries, y->block_countries,
                     y->nblock_countries) ||
        !elems_equal(&E_NET, x->block_networks, x->nblock_networks, y->block_networks,
                     y->nblock_networks))
        return false;
    for (size_t i = 0; i < x->nrules; i++) {
        const struct config_rule *r = &x->rules[i], *q = &y->rules[i];
        if (r->kind != q->kind || r->inside != q->inside || !str_eq(r->schedule, q->schedule) ||
            !strs_equal(r->categories, r->ncategories, q->categories, q->ncategories))
            return false;
    }
    for (size_t i = 0; i < x->ncategory_actions; i++)
        if (!str_eq(x->category_actions[i].category, y->category_actions[i].category) ||
            !action_equal(&x->category_actions[i].action, &y->category_actions[i].action))
            return false;
    return true;
}

static bool policy_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    const struct config_policy *x = *(struct config_policy *const *)CFIELD(a, s);
    const struct config_policy *y = *(struct config_policy *const *)CFIELD(b, s);
    if (CCOUNT(a, s) != CCOUNT(b, s))
        return false;
    for (size_t i = 0; i < CCOUNT(a, s); i++)
        if (!policy_equal_one(&x[i], &y[i]))
            return false;
    return true;
}

static void policy_free(struct config *cfg, const struct setting *s)
{
    policy_free_arr(FIELD(cfg, s), COUNT(cfg, s));
}

static const struct cfg_type T_POLICIES = {.parse = policy_parse,
                                           .dflt = none_dflt,
                                           .print = policy_print,
                                           .equal = policy_equal,
                                           .free = policy_free};

/* ------------------------------------------------------------------------ */
/* segments                                                                 */

static void segment_free_arr(struct config_segment **arr, size_t *n)
{
    for (size_t i = 0; *arr && i < *n; i++) {
        struct config_segment *sg = &(*arr)[i];
        free(sg->name);
        free(sg->networks);
        free(sg->local_addresses);
        elems_free(&E_IFACE, (void **)&sg->interfaces, &sg->ninterfaces);
        free(sg->policy);
    }
    free(*arr);
    *arr = NULL;
    *n = 0;
}

enum { SK_NAME, SK_NETWORKS, SK_LOCAL, SK_IFACES, SK_POLICY, SK_GUEST };
static const char *const segment_keys[] = {
    "name", "networks", "local-addresses", "interfaces", "policy", "guest-access", NULL};
static const char *const guest_words[] = {"open", "grant-required", NULL};

/* Segment i; the ones before it are parsed, so names are checked for
 * repeats against them. */
static int segment_parse_one(struct ctx *c, const char *path, yaml_node_t *n,
                             struct config_segment *arr, size_t i)
{
    struct config_segment *sg = &arr[i];
    char where[CFG_WHERE_MAX], got[48];
    struct keyed kv;
    int rc, w;
    if ((rc = keyed_walk(c, path, n, segment_keys, &kv)))
        return rc;
    if (!kv.val[SK_NAME])
        return ctx_error(c, n->start_mark, "%s: missing 'name'", path);
    if (!kv.val[SK_POLICY])
        return ctx_error(c, n->start_mark, "%s: missing 'policy'", path);
    key_path(where, sizeof(where), "%s.name", path);
    if ((rc = ident_check(c, where, "segment", kv.val[SK_NAME])))
        return rc;
    for (size_t j = 0; j < i; j++)
        if (!strcmp(arr[j].name, scalar(kv.val[SK_NAME])))
            return ctx_error(c, kv.val[SK_NAME]->start_mark, "%s: duplicate segment name '%s'",
                             where, arr[j].name);
    if (!(sg->name = strdup(scalar(kv.val[SK_NAME]))))
        return -ENOMEM;
    key_path(where, sizeof(where), "%s.networks", path);
    if (kv.val[SK_NETWORKS] && (rc = elems_parse(c, where, kv.val[SK_NETWORKS], &E_NET, false,
                                                 (void **)&sg->networks, &sg->nnetworks)))
        return rc;
    key_path(where, sizeof(where), "%s.local-addresses", path);
    if (kv.val[SK_LOCAL] &&
        (rc = elems_parse(c, where, kv.val[SK_LOCAL], &E_NET, false, (void **)&sg->local_addresses,
                          &sg->nlocal_addresses)))
        return rc;
    key_path(where, sizeof(where), "%s.interfaces", path);
    if (kv.val[SK_IFACES] && (rc = elems_parse(c, where, kv.val[SK_IFACES], &E_IFACE, false,
                                               (void **)&sg->interfaces, &sg->ninterfaces)))
        return rc;
    key_path(where, sizeof(where), "%s.policy", path);
    yaml_node_t *pn = kv.val[SK_POLICY];
    if ((rc = want_scalar(c, where, pn)))
        return rc;
    bool found = false;
    for (size_t j = 0; j < c->cfg->npolicies && !found; j++)
        found = !strcmp(c->cfg->policies[j].name, scalar(pn));
    if (!found)
        return ctx_error(c, pn->start_mark, "%s: no policy named '%s'", where,
                         shown(scalar(pn), got, sizeof(got)));
    if (!(sg->policy = strdup(scalar(pn))))
        return -ENOMEM;
    key_path(where, sizeof(where), "%s.guest-access", path);
    if (kv.val[SK_GUEST]) {
        if ((rc =
                 word_parse(c, where, kv.val[SK_GUEST], guest_words, "open or grant-required", &w)))
            return rc;
        sg->grant_required = w == 1;
    }
    return 0;
}

/* A list, not a mapping: the first segment that matches a query wins, so
 * the order is the school's to choose.  Given at all, it must say who is
 * served: an empty list would refuse everyone. */
static int segment_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    struct config_segment **arr = FIELD(c->cfg, s);
    size_t *count = COUNT(c->cfg, s);
    char where[CFG_WHERE_MAX];
    int rc;
    segment_free_arr(arr, count);
    if (node_is_null(n)) /* every entry commented out: as if not given */
        return 0;
    if ((rc = want_kind(c, s->path, n, YAML_SEQUENCE_NODE)))
        return rc;
    yaml_node_item_t *items = n->data.sequence.items.start;
    size_t nitems = (size_t)(n->data.sequence.items.top - items);
    if (nitems == 0)
        return ctx_error(c, n->start_mark, "%s: expected at least one segment", s->path);
    if (nitems > CFG_MAX_LIST)
        return ctx_error(c, n->start_mark, "%s: more than %d entries", s->path, CFG_MAX_LIST);
    if (!(*arr = calloc(nitems, sizeof(**arr))))
        return -ENOMEM;
    *count = nitems; /* zeroed entries free cleanly */
    for (size_t i = 0; i < nitems; i++) {
        yaml_node_t *item = ctx_node(c, items[i], n->start_mark, &rc);
        if (!item)
            return rc;
        key_path(where, sizeof(where), "%s[%zu]", s->path, i);
        if ((rc = segment_parse_one(c, where, item, *arr, i)))
            return rc;
    }
    return 0;
}

static void segment_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    const struct config_segment *arr = *(struct config_segment *const *)CFIELD(cfg, s);
    size_t n = CCOUNT(cfg, s);
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  - name: ");
        print_quoted(f, arr[i].name);
        fprintf(f, "\n    networks:");
        elems_print(f, &E_NET, arr[i].networks, arr[i].nnetworks, "      ");
        fprintf(f, "    local-addresses:");
        elems_print(f, &E_NET, arr[i].local_addresses, arr[i].nlocal_addresses, "      ");
        fprintf(f, "    interfaces:");
        elems_print(f, &E_IFACE, arr[i].interfaces, arr[i].ninterfaces, "      ");
        fprintf(f, "    policy: ");
        print_quoted(f, arr[i].policy);
        fprintf(f, "\n    guest-access: %s\n", arr[i].grant_required ? "grant-required" : "open");
    }
}

static bool segment_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    const struct config_segment *x = *(struct config_segment *const *)CFIELD(a, s);
    const struct config_segment *y = *(struct config_segment *const *)CFIELD(b, s);
    if (CCOUNT(a, s) != CCOUNT(b, s))
        return false;
    for (size_t i = 0; i < CCOUNT(a, s); i++)
        if (!str_eq(x[i].name, y[i].name) ||
            !elems_equal(&E_NET, x[i].networks, x[i].nnetworks, y[i].networks, y[i].nnetworks) ||
            !elems_equal(&E_NET, x[i].local_addresses, x[i].nlocal_addresses, y[i].local_addresses,
                         y[i].nlocal_addresses) ||
            !strs_equal(x[i].interfaces, x[i].ninterfaces, y[i].interfaces, y[i].ninterfaces) ||
            !str_eq(x[i].policy, y[i].policy) || x[i].grant_required != y[i].grant_required)
            return false;
    return true;
}

static void segment_free(struct config *cfg, const struct setting *s)
{
    segment_free_arr(FIELD(cfg, s), COUNT(cfg, s));
}

static const struct cfg_type T_SEGMENTS = {.parse = segment_parse,
                                           .dflt = none_dflt,
                                           .print = segment_print,
                                           .equal = segment_equal,
                                           .free = segment_free};

/* ------------------------------------------------------------------------ */
/* grants and dhcp                                                          */

/* grants.retention defaults to log.retention, whatever the file set that to:
 * defaults are applied in table order after parsing, and log.retention comes
 * first in the table. */
static int logret_dflt(struct config *cfg, const struct setting *s)
{
    num_set(cfg, s, cfg->log_retention);
    return 0;
}

static const struct cfg_type T_SECS_LOGRET = {.parse = num_parse,
                                              .dflt = logret_dflt,
                                              .print = num_print,
                                              .equal = num_equal,
                                              .free = nop_free,
                                              .scan = scan_secs,
                                              .fmt = fmt_secs,
                                              .expect = "a duration (e.g. 30s, 5m, 1h, 90d)"};

/* grants.unauthorised-allow: names as in allow lists ("x.org", "*.x.org"). */
LIST_TYPE(T_DNAMES, E_DNAME, false);

/* dnssec.negative-trust-anchors: domain names (RFC 7646), each covering
 * itself and everything below; no "*." and not the root (that would be
 * dnssec.enabled: false). */
static const char *nta_elem_parse(const char *t, void *slot)
{
    struct config_name *n = slot;
    if (!strncmp(t, "*.", 2) || !strcmp(t, ".") || name_to_wire(t, n->wire, &n->len))
        return "expected a domain name (it covers every name below it)";
    n->subtree = true;
    if (!(n->text = strdup(t)))
        return "out of memory";
    return NULL;
}

static const struct elem E_NTA = {sizeof(struct config_name),
                                  nta_elem_parse,
                                  dname_elem_fmt,
                                  dname_elem_same,
                                  dname_elem_free,
                                  false,
                                  0};
LIST_TYPE(T_NTAS, E_NTA, true);

/* grants.block-address: the block page, "192.0.2.80", "2001:db8::80" or
 * both separated by a space (as a policy action), or a list of one or two.
 * No keywords: leaving it unset is how to say NXDOMAIN. */
static int blockaddr_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    static const char usage[] =
        "expected the block page's addresses (one IPv4 and/or one IPv6, separated by a space)";
    struct config_action *a = FIELD(c->cfg, s);
    char buf[2 * INET6_ADDRSTRLEN + 2], got[48];
    int rc;
    buf[0] = '\0';
    if (n->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *items = n->data.sequence.items.start;
        size_t nitems = (size_t)(n->data.sequence.items.top - items);
        if (nitems < 1 || nitems > 2)
            return ctx_error(c, n->start_mark, "%s: %s", s->path, usage);
        for (size_t i = 0; i < nitems; i++) {
            yaml_node_t *item = ctx_node(c, items[i], n->start_mark, &rc);
            if (!item)
                return rc;
            if ((rc = want_scalar(c, s->path, item)))
                return rc;
            if (strlen(scalar(item)) >= INET6_ADDRSTRLEN || strchr(scalar(item), ' '))
                return ctx_error(c, item->start_mark, "%s: %s, got '%s'", s->path, usage,
                                 shown(scalar(item), got, sizeof(got)));
            strcat(buf, i ? " " : "");
            strcat(buf, scalar(item));
        }
    } else {
        if ((rc = want_scalar(c, s->path, n)))
            return rc;
        if (strlen(scalar(n)) >= sizeof(buf))
            return ctx_error(c, n->start_mark, "%s: %s", s->path, usage);
        strcpy(buf, scalar(n));
    }
    const char *why = action_scan(buf, a);
    if (!why && a->kind != CONFIG_ACTION_ADDRESS)
        why = usage;
    if (why) {
        memset(a, 0, sizeof(*a));
        return ctx_error(c, n->start_mark, "%s: %s, got '%s'", s->path, why,
                         shown(buf, got, sizeof(got)));
    }
    return 0;
}

static int blockaddr_dflt(struct config *cfg, const struct setting *s)
{
    memset(FIELD(cfg, s), 0, sizeof(struct config_action)); /* NXDOMAIN */
    return 0;
}

static void blockaddr_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    fputc(' ', f);
    print_action(f, CFIELD(cfg, s));
    fputc('\n', f);
}

static bool blockaddr_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    return action_equal(CFIELD(a, s), CFIELD(b, s));
}

static const struct cfg_type T_BLOCKADDR = {.parse = blockaddr_parse,
                                            .dflt = blockaddr_dflt,
                                            .print = blockaddr_print,
                                            .equal = blockaddr_equal,
                                            .free = nop_free};

/* dhcp.format: which DHCP server wrote dhcp.leases. */
static const char *const dhcp_format_words[] = {"isc", "kea", "dnsmasq", NULL};

static int dhcpfmt_parse(struct ctx *c, const struct setting *s, yaml_node_t *n)
{
    char got[48];
    int rc = want_scalar(c, s->path, n);
    if (rc)
        return rc;
    for (size_t i = 0; dhcp_format_words[i]; i++)
        if (!strcmp(scalar(n), dhcp_format_words[i])) {
            *(enum config_dhcp_format *)FIELD(c->cfg, s) = (enum config_dhcp_format)i;
            return 0;
        }
    return ctx_error(c, n->start_mark, "%s: expected isc, kea or dnsmasq, got '%s'", s->path,
                     shown(scalar(n), got, sizeof(got)));
}

static int dhcpfmt_dflt(struct config *cfg, const struct setting *s)
{
    *(enum config_dhcp_format *)FIELD(cfg, s) = CONFIG_DHCP_ISC;
    return 0;
}

static void dhcpfmt_print(FILE *f, const struct config *cfg, const struct setting *s)
{
    unsigned v = (unsigned)*(const enum config_dhcp_format *)CFIELD(cfg, s);
    fprintf(f, " %s\n", v < ARRAY_LEN(dhcp_format_words) - 1 ? dhcp_format_words[v] : "isc");
}

static bool dhcpfmt_equal(const struct config *a, const struct config *b, const struct setting *s)
{
    return *(const enum config_dhcp_format *)CFIELD(a, s) ==
           *(const enum config_dhcp_format *)CFIELD(b, s);
}

static const struct cfg_type T_DHCP_FORMAT = {.parse = dhcpfmt_parse,
                                              .dflt = dhcpfmt_dflt,
                                              .print = dhcpfmt_print,
                                              .equal = dhcpfmt_equal,
                                              .free = nop_free};

/* ------------------------------------------------------------------------ */
/* The table                                                                */

#define F(m) offsetof(struct config, m), sizeof(((struct config *)0)->m), 0
#define L(m, n) offsetof(struct config, m), 0, offsetof(struct config, n)
#define D(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE NULL
#define U32 UINT32_MAX
#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define DAY 86400ULL

/* Sections print in the order they first appear here.  server.state-dir must
 * precede every "{state-dir}/" default. */
static const struct setting settings[] = {
    /* path, type, field, min, max, default, reloadable, doc */
    {"server.listen", &T_LISTEN, L(listen, nlisten), 0, 0, D("127.0.0.1@5353", "::1@5353"), false,
     "addresses to answer on, ADDR@PORT (IPv6 without brackets)"},
    {"server.threads", &T_INT, F(threads), 1, CONFIG_MAX_THREADS, D("1"), false,
     "worker threads, each with its own sockets"},
    {"server.state-dir", &T_PATH, F(state_dir), 0, 0, D("/var/lib/gatehouse"), false,
     "where the daemon keeps its files"},
    {"server.user", &T_STRING, F(user), 0, 0, NONE, false,
     "user to switch to after binding; unset = stay"},
    {"server.verbosity", &T_INT, F(verbosity), 0, 4, D("2"), true,
     "0 errors, 1 warnings, 2 notices, 3 info, 4 debug"},
    {"server.client-networks", &T_NETS, L(client_networks, nclient_networks), 0, 0,
     D("127.0.0.0/8", "::1/128"), true, "who may query: CIDRs or addresses; others are refused"},
    {"server.edns-buffer-size", &T_INT, F(edns_buffer_size), 512, 4096, D("1232"), true,
     "largest UDP answer we send and advertise (DNS flag day 2020)"},
    {"server.tcp-idle-timeout", &T_MS, F(tcp_idle_timeout_ms), 100, 600000, D("10s"), true,
     "close idle TCP clients after this long (RFC 7766 6.2.3)"},
    {"server.tcp-max-connections", &T_INT, F(tcp_max_connections), 1, 65536, D("256"), true,
     "open TCP clients per thread"},
    {"server.control-socket", &T_PATH, F(control_socket), 0, 0, D("{state-dir}/control.sock"),
     false, "unix socket for gatehousectl status, reload and flush (mode 0660)"},
    {"server.metrics", &T_METRICS, L(metrics_listen, nmetrics_listen), 0, 0, NONE, false,
     "ADDR@PORT list serving Prometheus text metrics at /metrics (keep it on localhost)"},

    {"resolver.root-hints", &T_PATH, F(root_hints), 0, 0, NONE, true,
     "root hints file; unset = the built-in IANA hints"},
    {"resolver.qname-minimisation", &T_BOOL, F(qname_minimisation), 0, 0, D("true"), true,
     "send each server only the labels it needs (RFC 9156)"},
    {"resolver.forward-zones", &T_FORWARDS, L(forwards, nforwards), 0, 0, NONE, true,
     "zones sent to given servers with RD set instead of iterated"},
    {"resolver.outgoing-address", &T_ADDRS, L(outgoing, noutgoing), 0, 0, NONE, true,
     "source addresses for upstream queries; empty = any"},
    {"resolver.ipv4", &T_BOOL, F(ipv4), 0, 0, D("true"), true, "query upstream over IPv4"},
    {"resolver.ipv6", &T_BOOL, F(ipv6), 0, 0, D("true"), true, "query upstream over IPv6"},
    {"resolver.query-loopback", &T_BOOL, F(query_loopback), 0, 0, D("false"), true,
     "allow upstream servers on loopback addresses (tests only)"},
    {"resolver.timeout", &T_MS, F(upstream_timeout_ms), 10, 60000, D("400ms"), true,
     "first wait for an upstream answer; backs off on retry"},
    {"resolver.deadline", &T_MS, F(query_deadline_ms), 100, 120000, D("10s"), true,
     "give up on a whole resolution after this long"},
    {"resolver.max-referrals", &T_INT, F(max_referrals), 1, 100, D("30"), true,
     "referrals followed per resolution"},
    {"resolver.max-cname-chain", &T_INT, F(max_cname), 1, 64, D("12"), true,
     "CNAMEs followed per resolution"},
    {"resolver.max-upstream-queries", &T_INT, F(max_work), 1, 1024, D("64"), true,
     "upstream queries per client query"},
    {"resolver.max-outstanding", &T_INT, F(max_outstanding), 1, 1048576, D("4096"), true,
     "resolutions in flight per thread"},
    {"resolver.max-per-client", &T_INT, F(max_per_client), 1, 65536, D("1024"), true,
     "resolutions in flight per client address (a NAT or forwarder is one)"},

    {"cache.size", &T_SIZE, F(cache_size), MIB, 1024 * GIB, D("64m"), true,
     "memory for cached answers"},
    {"cache.min-ttl", &T_SECS, F(cache_min_ttl), 0, DAY, D("0"), true,
     "raise shorter TTLs to this"},
    {"cache.max-ttl", &T_SECS, F(cache_max_ttl), 1, 365 * DAY, D("1d"), true,
     "lower longer TTLs to this"},
    {"cache.max-negative-ttl", &T_SECS, F(cache_max_negative_ttl), 0, 7 * DAY, D("1h"), true,
     "cap on caching NXDOMAIN and NODATA (RFC 2308)"},
    {"cache.serve-stale", &T_BOOL, F(serve_stale), 0, 0, D("true"), true,
     "answer from expired records when upstream fails (RFC 8767)"},
    {"cache.serve-stale-max-age", &T_SECS, F(stale_max_age), 0, 30 * DAY, D("1d"), true,
     "how long past expiry a record may be served"},
    {"cache.prefetch", &T_BOOL, F(prefetch), 0, 0, D("true"), true,
     "refresh popular records shortly before they expire"},

    {"blocklists.index", &T_PATH, F(blocklist_index), 0, 0, D("{state-dir}/blocklists.mdb"), true,
     "the compiled blocklist index; default STATE_DIR/blocklists.mdb"},
    {"blocklists.categories", &T_CATEGORIES, L(categories, ncategories), 0, 0, NONE, true,
     "category name -> list sources (absolute paths or http(s) URLs)"},

    {"log.enabled", &T_BOOL, F(log_enabled), 0, 0, D("true"), true, "keep a query log"},
    {"log.path", &T_PATH, F(log_path), 0, 0, D("{state-dir}/querylog"), true,
     "query log directory; default STATE_DIR/querylog"},
    {"log.map-size", &T_SIZE, F(log_map_size), 16 * MIB, 1024 * GIB, D("4g"), true,
     "largest size the query log may grow to"},
    {"log.retention", &T_SECS, F(log_retention), DAY, U32, D("90d"), true,
     "keep ordinary records this long"},
    {"log.retention-flagged", &T_SECS, F(log_retention_flagged), DAY, U32, D("365d"), true,
     "keep blocked and safeguarding records this long; >= log.retention"},
    {"log.safeguarding-categories", &T_NAMES, L(safeguarding, nsafeguarding), 0, 0,
     D("adult", "extremism", "self_harm", "violence", "drugs", "weapons"), true,
     "categories whose hits are flagged for the safeguarding lead"},

    {"grants.path", &T_PATH, F(grants_path), 0, 0, D("{state-dir}/grants"), false,
     "guest access and dispensation grants (LMDB directory); default STATE_DIR/grants"},
    {"grants.max-guest", &T_SECS, F(grants_max_guest), 60, 31 * DAY, D("12h"), true,
     "longest guest access grant"},
    {"grants.max-exemption", &T_SECS, F(grants_max_exemption), 60, 366 * DAY, D("1w"), true,
     "longest dispensation (exemption) grant"},
    {"grants.retention", &T_SECS_LOGRET, F(grants_retention), DAY, U32, NONE, true,
     "keep ended grants for the audit this long; default log.retention"},
    {"grants.admin-group", &T_STRING, F(grants_admin_group), 0, 0, D("gatehouse-admin"), true,
     "unix group whose members may grant and revoke"},
    {"grants.unauthorised-allow", &T_DNAMES,
     L(grants_unauthorised_allow, ngrants_unauthorised_allow), 0, 0, NONE, true,
     "names an ungranted guest may resolve, e.g. the school's site (x.org, or *.x.org)"},
    {"grants.block-address", &T_BLOCKADDR, F(grants_block), 0, 0, NONE, true,
     "block page address(es) for ungranted guests; unset = NXDOMAIN"},

    {"dhcp.leases", &T_PATH, F(dhcp_leases), 0, 0, NONE, true,
     "the DHCP server's leases file, to grant by MAC address; unset = none"},
    {"dhcp.format", &T_DHCP_FORMAT, F(dhcp_format), 0, 0, D("isc"), true,
     "format of dhcp.leases: isc, kea or dnsmasq"},

    /* gatehouse-admin (tools/admin/): read here so one file configures both.
     * gatehoused ignores them, so a reload may change any of them. */
    {"admin.listen", &T_METRICS, L(admin_listen, nadmin_listen), 0, 0, NONE, true,
     "ADDR@PORT list where gatehouse-admin serves HTTPS; none = it does not start"},
    {"admin.certificate", &T_PATH, F(admin_certificate), 0, 0, D("/etc/gatehouse/admin.crt"), true,
     "PEM certificate (chain) for the admin web pages"},
    {"admin.key", &T_PATH, F(admin_key), 0, 0, D("/etc/gatehouse/admin.key"), true,
     "PEM private key of admin.certificate (readable by the gatehouse-admin user only)"},
    {"admin.users", &T_PATH, F(admin_users), 0, 0, D("{state-dir}/admin-users"), true,
     "accounts of the admin web pages (gatehousectl users); default STATE_DIR/admin-users"},

    {"dnssec.enabled", &T_BOOL, F(dnssec_enabled), 0, 0, D("true"), true,
     "validate answers with DNSSEC (RFC 4033-4035); bogus ones become SERVFAIL"},
    {"dnssec.trust-anchor-file", &T_APATHS, L(dnssec_anchor_files, ndnssec_anchor_files), 0, 0,
     NONE, true,
     "files of DS or DNSKEY records; a root anchor here replaces the built-in IANA one"},
    {"dnssec.negative-trust-anchors", &T_NTAS, L(dnssec_nta, ndnssec_nta), 0, 0, NONE, true,
     "domains (and everything below) not validated (RFC 7646)"},

    {"geo.asn-database", &T_PATH, F(geo_asn_db), 0, 0, NONE, true,
     "MaxMind or DB-IP ASN .mmdb for policies' block-asn; unset = none"},
    {"geo.country-database", &T_PATH, F(geo_country_db), 0, 0, NONE, true,
     "MaxMind or DB-IP country .mmdb for policies' block-countries; unset = none"},
    {"geo.required", &T_BOOL, F(geo_required), 0, 0, D("false"), true,
     "a missing or corrupt database stops start-up (false: a warning, that check off)"},
    {"geo.asn-lists", &T_PATH, F(geo_asn_lists), 0, 0, NONE, true,
     "named ASN lists for block-asn (blocklists/vpn_networks.yaml); unset = numbers only"},

    /* Top level, parsed after the sections in this order: policies name
     * schedules and categories, segments name policies. */
    {"timezone", &T_TIMEZONE, F(timezone), 0, 0, D("Europe/London"), false,
     "the school's time zone for schedules: a name in /usr/share/zoneinfo"},
    {"schedules", &T_SCHEDULES, L(schedules, nschedules), 0, 0, NONE, true,
     "name -> weekly windows (DAYS HH:MM-HH:MM), optional terms and holidays"},
    {"policies", &T_POLICIES, L(policies, npolicies), 0, 0, NONE, true,
     "name -> what a segment's clients may resolve"},
    {"segments", &T_SEGMENTS, L(segments, nsegments), 0, 0, NONE, true,
     "who is served and under which policy; the first segment that matches wins"},
};

_Static_assert(ARRAY_LEN(settings) <= CFG_MAX_SETTINGS, "raise CFG_MAX_SETTINGS");

static const struct setting *setting_find(const char *path, size_t *idx)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++)
        if (!strcmp(settings[i].path, path)) {
            if (idx)
                *idx = i;
            return &settings[i];
        }
    return NULL;
}

static size_t section_len(const char *path)
{
    const char *dot = strchr(path, '.');
    return dot ? (size_t)(dot - path) : strlen(path);
}

/* A setting of its own at the top level, rather than a key in a section. */
static bool is_top_level(const struct setting *s)
{
    return strchr(s->path, '.') == NULL;
}

static bool is_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < ARRAY_LEN(settings); i++)
        if (section_len(settings[i].path) == n && !strncmp(settings[i].path, name, n))
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

static int section_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    const char *section = arg;
    char path[CFG_WHERE_MAX], got[48];
    size_t idx;
    key_path(path, sizeof(path), "%s.%s", section, shown(scalar(k), got, sizeof(got)));
    const struct setting *s = setting_find(path, &idx);
    if (!s)
        return ctx_error(c, k->start_mark, "unknown key '%s'", path);
    if (c->seen[idx])
        return ctx_error(c, k->start_mark, "duplicate key '%s' (first at line %zu)", path,
                         c->mark[idx].line + 1);
    c->seen[idx] = true;
    c->mark[idx] = v->start_mark;
    return s->type->parse(c, s, v);
}

struct root_arg {
    yaml_mark_t first[CFG_MAX_SETTINGS]; /* per section, indexed by its first setting */
    bool seen[CFG_MAX_SETTINGS];
    yaml_node_t *top[CFG_MAX_SETTINGS]; /* values of top-level settings, parsed last */
};

static int root_pair(struct ctx *c, void *arg, yaml_node_t *k, yaml_node_t *v)
{
    struct root_arg *a = arg;
    char got[48];
    const char *name = scalar(k);
    size_t i = 0;
    const struct setting *top = setting_find(name, &i);
    if (!top) {
        if (!is_section(name))
            return ctx_error(c, k->start_mark, "unknown key '%s'", shown(name, got, sizeof(got)));
        /* the section's first row identifies it */
        while (section_len(settings[i].path) != strlen(name) ||
               strncmp(settings[i].path, name, strlen(name)))
            i++;
    }
    if (a->seen[i])
        return ctx_error(c, k->start_mark, "duplicate key '%s' (first at line %zu)", name,
                         a->first[i].line + 1);
    a->seen[i] = true;
    a->first[i] = k->start_mark;
    if (top) { /* parsed once every section is in: see load_document */
        c->seen[i] = true;
        c->mark[i] = v->start_mark;
        a->top[i] = v;
        return 0;
    }
    if (node_is_null(v)) /* a section with every key commented out */
        return 0;
    int rc = want_kind(c, name, v, YAML_MAPPING_NODE);
    return rc ? rc : walk_mapping(c, name, v, section_pair, (void *)name);
}

/* Where to point a cross-setting error: at the value given last. */
static yaml_mark_t cross_mark(struct ctx *c, const char *p1, const char *p2)
{
    size_t i1 = 0, i2 = 0;
    yaml_mark_t none = {0, 0, 0};
    setting_find(p1, &i1);
    setting_find(p2, &i2);
    if (c->seen[i1] && c->seen[i2])
        return c->mark[i1].index > c->mark[i2].index ? c->mark[i1] : c->mark[i2];
    if (c->seen[i2])
        return c->mark[i2];
    return c->seen[i1] ? c->mark[i1] : none;
}

/* block-asn entries that name a list (geo.asn-lists) become AS numbers
 * here, once every setting is in: a misspelt list is an error at its own
 * line and column, not a rule that silently matches nothing. */
static int asn_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int geo_resolve(struct ctx *c)
{
    struct config *cfg = c->cfg;
    struct geo_lists *lists = NULL;
    char got[48], names[256], lerr[256];
    int rc = 0;

    for (size_t i = 0; !rc && i < cfg->npolicies; i++) {
        struct config_policy *p = &cfg->policies[i];
        size_t total = 0, n = 0;
        for (size_t j = 0; !rc && j < p->nblock_asn; j++) {
            struct config_asn *a = &p->block_asn[j];
            yaml_mark_t m = {0, a->line, a->col};
            if (!a->list) {
                total++;
                continue;
            }
            if (!cfg->geo_asn_lists)
                return ctx_error(c, m,
                                 "policies.%s.block-asn[%zu]: '%s' names a list, but "
                                 "geo.asn-lists is not set",
                                 p->name, j, shown(a->list, got, sizeof(got)));
            if (!lists && (rc = geo_lists_load(cfg->geo_asn_lists, &lists, lerr, sizeof(lerr))))
                return ctx_error(c, cross_mark(c, "geo.asn-lists", "geo.asn-lists"),
                                 "geo.asn-lists: %s", lerr);
            if (!geo_lists_find(lists, a->list, &n))
                rc = ctx_error(c, m, "policies.%s.block-asn[%zu]: no list '%s' in %s (lists: %s)",
                               p->name, j, shown(a->list, got, sizeof(got)), cfg->geo_asn_lists,
                               geo_lists_names(lists, names, sizeof(names)));
            total += n;
        }
        if (rc || total == 0)
            continue;
        if (!(p->asns = calloc(total, sizeof(*p->asns)))) {
            rc = -ENOMEM;
            break;
        }
        for (size_t j = 0; j < p->nblock_asn; j++) {
            const uint32_t *v = p->block_asn[j].list
                                    ? geo_lists_find(lists, p->block_asn[j].list, &n)
                                    : &p->block_asn[j].asn;
            if (!p->block_asn[j].list)
                n = 1;
            for (size_t k = 0; v && k < n; k++)
                p->asns[p->nasns++] = v[k];
        }
        /* Sorted and unique: the worker's check is a binary search. */
        qsort(p->asns, p->nasns, sizeof(*p->asns), asn_cmp);
        size_t w = 0;
        for (size_t a = 0; a < p->nasns; a++)
            if (w == 0 || p->asns[w - 1] != p->asns[a])
                p->asns[w++] = p->asns[a];
        p->nasns = w;
    }
    geo_lists_free(lists);
    return rc;
}

/* dnssec: the anchors are read with the rest of the file, so a bad anchor
 * file stops start-up (or keeps the old config on reload) with its name
 * and line.  Only when validation is on. */
static int dnssec_load(struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->dnssec_enabled)
        return 0;
    return trust_load(cfg->dnssec_anchor_files, cfg->ndnssec_anchor_files, cfg->dnssec_nta,
                      cfg->ndnssec_nta, &cfg->dnssec_anchors, err, errlen);
}

/* Rules between settings, checked once all values (and defaults) are in. */
static int check_cross(struct ctx *c)
{
    const struct config *cfg = c->cfg;
    char a[32], b[32];
    if (!cfg->ipv4 && !cfg->ipv6)
        return ctx_error(c, cross_mark(c, "resolver.ipv4", "resolver.ipv6"),
                         "resolver.ipv4 and resolver.ipv6 cannot both be false");
    if (cfg->log_retention_flagged < cfg->log_retention) {
        fmt_secs(a, sizeof(a), cfg->log_retention_flagged);
        fmt_secs(b, sizeof(b), cfg->log_retention);
        return ctx_error(c, cross_mark(c, "log.retention", "log.retention-flagged"),
                         "log.retention-flagged (%s) must be at least log.retention (%s)", a, b);
    }
    if (cfg->cache_min_ttl > cfg->cache_max_ttl) {
        fmt_secs(a, sizeof(a), cfg->cache_min_ttl);
        fmt_secs(b, sizeof(b), cfg->cache_max_ttl);
        return ctx_error(c, cross_mark(c, "cache.min-ttl", "cache.max-ttl"),
                         "cache.min-ttl (%s) must not exceed cache.max-ttl (%s)", a, b);
    }
    size_t i;
    if (cfg->nsegments && setting_find("server.client-networks", &i) && c->seen[i])
        return ctx_error(c, c->mark[i],
                         "server.client-networks: not used when segments are configured; give "
                         "each segment its networks");
    if (cfg->upstream_timeout_ms > cfg->query_deadline_ms) {
        fmt_ms(a, sizeof(a), cfg->upstream_timeout_ms);
        fmt_ms(b, sizeof(b), cfg->query_deadline_ms);
        return ctx_error(c, cross_mark(c, "resolver.timeout", "resolver.deadline"),
                         "resolver.timeout (%s) must not exceed resolver.deadline (%s)", a, b);
    }
    return 0;
}

static int apply_defaults(struct config *cfg, const bool *seen)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        if (seen && seen[i])
            continue;
        int rc = settings[i].type->dflt(cfg, &settings[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* Line and column of a byte offset, for libyaml reader errors, which carry
 * only an offset. */
static yaml_mark_t offset_mark(const char *text, size_t len, size_t off)
{
    yaml_mark_t m = {off, 0, 0};
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    return m;
}

static int yaml_failed(struct ctx *c, yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (p->error == YAML_READER_ERROR)
        return ctx_error(c, offset_mark(text, len, p->problem_offset), "YAML error: %s",
                         p->problem ? p->problem : "unreadable input");
    if (p->context)
        return ctx_error(c, p->problem_mark, "YAML syntax error: %s %s", p->problem, p->context);
    return ctx_error(c, p->problem_mark, "YAML syntax error: %s",
                     p->problem ? p->problem : "unknown");
}

/* Parse the document in c->doc into c->cfg. */
static int load_document(struct ctx *c, yaml_parser_t *p, const char *text, size_t len)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    int rc = 0;
    if (root && !node_is_null(root)) {
        c->used[0] = 1; /* the root is node 1 */
        if (root->type != YAML_MAPPING_NODE)
            return ctx_error(c, root->start_mark,
                             "the top level must be a mapping of sections, got %s",
                             node_kind(root));
        struct root_arg *ra = calloc(1, sizeof(*ra));
        if (!ra)
            return -ENOMEM;
        rc = walk_mapping(c, "(top level)", root, root_pair, ra);
        /* Table order: what a setting names is parsed before it. */
        for (size_t i = 0; !rc && i < ARRAY_LEN(settings); i++)
            if (ra->top[i])
                rc = settings[i].type->parse(c, &settings[i], ra->top[i]);
        free(ra);
        if (rc)
            return rc;
    }
    /* One file, one document: a second one is almost always a paste error. */
    yaml_document_t next;
    if (!yaml_parser_load(p, &next))
        return yaml_failed(c, p, text, len);
    yaml_node_t *more = yaml_document_get_root_node(&next);
    if (more)
        rc = ctx_error(c, more->start_mark, "only one YAML document is allowed");
    yaml_document_delete(&next);
    if (rc)
        return rc;
    if ((rc = apply_defaults(c->cfg, c->seen)))
        return rc;
    if ((rc = check_cross(c)))
        return rc;
    if ((rc = dnssec_load(c->cfg, c->err, c->errlen)))
        return rc;
    if ((rc = geo_resolve(c)))
        return rc;
    /* With segments, they alone decide who is served: leave nothing in
     * client-networks that a reader could take for a second access list. */
    if (c->cfg->nsegments)
        elems_free(&E_NET, (void **)&c->cfg->client_networks, &c->cfg->nclient_networks);
    return 0;
}

int config_load_buffer(const char *name, const char *text, size_t len, struct config **out,
                       char *err, size_t errlen)
{
    struct ctx c = {.name = name ? name : "(buffer)", .err = err, .errlen = errlen};
    yaml_parser_t p;
    yaml_document_t doc;
    bool have_doc = false;
    int rc;
    if (err && errlen)
        err[0] = '\0';
    if (!out || (!text && len))
        return -EINVAL;
    *out = NULL;
    if (len > CFG_MAX_FILE) {
        ctx_error(&c, (yaml_mark_t){0, 0, 0}, "file larger than %d bytes", CFG_MAX_FILE);
        return -EFBIG;
    }
    if (!(c.cfg = calloc(1, sizeof(*c.cfg))) || !(c.cfg->path = strdup(c.name))) {
        free(c.cfg);
        return -ENOMEM;
    }
    if (!yaml_parser_initialize(&p)) {
        config_free(c.cfg);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&p, &doc)) {
        rc = yaml_failed(&c, &p, text, len);
        goto done;
    }
    have_doc = true;
    c.doc = &doc;
    c.nnodes = (size_t)(doc.nodes.top - doc.nodes.start);
    if (!(c.used = calloc(c.nnodes + 1, 1))) {
        rc = -ENOMEM;
        goto done;
    }
    rc = load_document(&c, &p, text, len);
done:
    free(c.used);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    if (rc) {
        config_free(c.cfg);
        return rc;
    }
    *out = c.cfg;
    return 0;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    /* Read at most one byte past the limit, so an oversized file is caught
     * without reading all of it. */
    char *buf = malloc(CFG_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, CFG_MAX_FILE + 1, f);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read", path);
    } else {
        rc = config_load_buffer(path, buf, n, out, err, errlen);
    }
    free(buf);
    return rc;
}

struct config *config_default(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    if (!(cfg->path = strdup("(built-in)")) || apply_defaults(cfg, NULL) ||
        dnssec_load(cfg, NULL, 0)) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < ARRAY_LEN(settings); i++)
        settings[i].type->free(cfg, &settings[i]);
    trust_free(cfg->dnssec_anchors);
    free(cfg->path);
    free(cfg);
}

/* ------------------------------------------------------------------------ */
/* Printing and reload                                                      */

/* Settings that print as a comment, because no value would load back to
 * the same config: optional strings left unset (no value means "unset"),
 * segments when there are none (an empty list is an error), and
 * client-networks when segments decide who is served (giving both is an
 * error). */
static const char *print_note(const struct config *cfg, const struct setting *s)
{
    if ((s->type == &T_STRING || s->type == &T_PATH) && !*(char *const *)CFIELD(cfg, s))
        return "(unset)";
    if (s->type == &T_BLOCKADDR && cfg->grants_block.kind != CONFIG_ACTION_ADDRESS)
        return "(unset: ungranted names get NXDOMAIN)";
    if (s->type == &T_SEGMENTS && !cfg->nsegments)
        return "(none: server.client-networks decides who is served, with no policy)";
    if (s->type == &T_NETS && s->off == offsetof(struct config, client_networks) && cfg->nsegments)
        return "(not used: the segments decide who is served)";
    return NULL;
}

void config_print(FILE *f, const struct config *cfg)
{
    const char *section = NULL;
    size_t slen = 0;
    fprintf(f, "# gatehoused configuration: every setting, with its effective value.\n");
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        const char *note = print_note(cfg, s);
        size_t l = section_len(s->path);
        if (is_top_level(s)) {
            fprintf(f, "\n# %s\n", s->doc);
            if (note) {
                fprintf(f, "# %s: %s\n", s->path, note);
            } else {
                fprintf(f, "%s:", s->path);
                s->type->print(f, cfg, s);
            }
            section = s->path;
            slen = l;
            continue;
        }
        if (!section || l != slen || strncmp(section, s->path, l)) {
            fprintf(f, "%s%.*s:\n", section ? "\n" : "", (int)l, s->path);
            section = s->path;
            slen = l;
        }
        fprintf(f, "  # %s\n", s->doc);
        if (note) {
            fprintf(f, "  # %s: %s\n", s->path + l + 1, note);
            continue;
        }
        fprintf(f, "  %s:", s->path + l + 1);
        s->type->print(f, cfg, s);
    }
}

int config_reloadable(const struct config *old, const struct config *new, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        if (s->reloadable || s->type->equal(old, new, s))
            continue;
        if (err && errlen)
            snprintf(err, errlen, "%s: %s cannot be changed by a reload; restart gatehoused",
                     new->path ? new->path : "(config)", s->path);
        return -EINVAL;
    }
    return 0;
}
