/*
 * leases.c - parse a DHCP leases file (ISC dhcpd, Kea CSV, dnsmasq) into a
 * table sorted two ways: by address (then start, then file order) for "who
 * held this address then", and by MAC for "which address does this device
 * hold now".  See leases.h for the formats and the contract.
 *
 * Every format is read line by line from a buffer with explicit lengths (a
 * NUL byte in the file is just a malformed line).  Lines longer than
 * LEASES_MAX_LINE, and any line that does not parse, are skipped and
 * counted; an ISC lease block with a malformed statement is dropped whole,
 * since a half-read lease could name the wrong device.
 */
#include "leases.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASES_ISC_DEPTH 16 /* nested braces in an ISC file */

struct lease_table {
    struct lease *v; /* sorted by address, start, file order */
    size_t n, cap;
    uint32_t *by_mac; /* indices into v sorted by MAC, start, file order */
    uint8_t *latest;  /* per entry: the last record of its address in the file */
    size_t skipped;
    size_t nwarn;
    char warn[LEASES_MAX_WARNINGS][LEASES_WARNING_MAX];
    const char *name; /* during parsing only */
};

static void warn(struct lease_table *t, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(struct lease_table *t, uint32_t line, const char *fmt, ...)
{
    t->skipped++;
    if (t->nwarn >= LEASES_MAX_WARNINGS)
        return;
    char *w = t->warn[t->nwarn++];
    int n = snprintf(w, LEASES_WARNING_MAX, "%s:%u: ", t->name, line);
    if (n < 0 || n >= LEASES_WARNING_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w + n, LEASES_WARNING_MAX - (size_t)n, fmt, ap);
    va_end(ap);
}

static int push(struct lease_table *t, const struct lease *l)
{
    if (t->n >= LEASES_MAX_ENTRIES)
        return -E2BIG;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct lease *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *l;
    return 0;
}

/* --- small parsers ----------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int leases_parse_mac(const char *s, size_t len, bool lenient, uint8_t mac[6])
{
    size_t o = 0;
    char sep = 0;
    if (!s)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (i > 0) {
            if (o >= len || (s[o] != ':' && s[o] != '-') || (lenient && s[o] != ':'))
                return -EINVAL;
            if (sep && s[o] != sep)
                return -EINVAL;
            sep = s[o++];
        }
        int hi = o < len ? hexval((unsigned char)s[o]) : -1;
        if (hi < 0)
            return -EINVAL;
        o++;
        int lo = o < len ? hexval((unsigned char)s[o]) : -1;
        if (lo >= 0) {
            mac[i] = (uint8_t)(hi << 4 | lo);
            o++;
        } else if (lenient) {
            mac[i] = (uint8_t)hi;
        } else {
            return -EINVAL;
        }
    }
    return o == len ? 0 : -EINVAL;
}

void leases_mac_text(const uint8_t mac[6], char *buf, size_t len)
{
    snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* IPv4 text into the 16-byte form; IPv6 is reported so callers can skip it
 * quietly.  1 = IPv4, 2 = IPv6, 0 = neither. */
static int parse_addr(const char *s, uint8_t addr[16])
{
    uint8_t v6[16];
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr + 12) == 1) {
        addr[10] = addr[11] = 0xff;
        return 1;
    }
    return inet_pton(AF_INET6, s, v6) == 1 ? 2 : 0;
}

/* Decimal seconds, no sign, at most 12 digits (year 33658): 0 or -1. */
static int parse_epoch(const char *s, time_t *out)
{
    size_t n = strlen(s);
    long long v = 0;
    if (n == 0 || n > 12)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = (time_t)v;
    return 0;
}

/* A host name as a printable field: cut to LEASES_MAX_HOST, odd bytes '?'. */
static void copy_host(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i < LEASES_MAX_HOST && src[i]; i++)
        dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
    dst[i] = '\0';
}

/* Split at spaces and tabs, in place; at most max fields.  Returns the
 * count, or -1 if there were more. */
static int split_ws(char *s, char **f, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return n;
        if (n == max)
            return -1;
        f[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

/* --- ISC dhcpd.leases -------------------------------------------------- */

struct isc_state {
    int depth;     /* braces open */
    bool in_lease; /* depth 1 inside "lease ADDR {" */
    bool bad;      /* a statement of this lease did not parse */
    bool have_mac;
    uint32_t started; /* line of "lease ADDR {" */
    struct lease cur;
};

/* "starts 2 2026/11/24 09:00:00" (UTC), "epoch 1764000000", "never". */
static int isc_time(char **f, int n, time_t *out)
{
    struct tm tm;
    if (n == 2 && !strcmp(f[1], "never"))
        return *out = 0, 0;
    if (n >= 3 && !strcmp(f[1], "epoch")) /* "starts epoch 1764000000; # ..." */
        return parse_epoch(f[2], out);
    if (n != 4 || strlen(f[1]) != 1 || !isdigit((unsigned char)f[1][0]))
        return -1;
    memset(&tm, 0, sizeof(tm));
    char *end = strptime(f[2], "%Y/%m/%d", &tm);
    if (!end || *end)
        return -1;
    end = strptime(f[3], "%H:%M:%S", &tm);
    if (!end || *end || tm.tm_year < 70 || tm.tm_year > 8000)
        return -1;
    *out = timegm(&tm);
    return *out == (time_t)-1 ? -1 : 0;
}

/* Strip a trailing ';' and anything after a '#' outside quotes. */
static bool isc_statement(char *s)
{
    bool q = false;
    char *semi = NULL;
    for (char *p = s; *p; p++) {
        if (*p == '"')
            q = !q;
        else if (!q && *p == '#') {
            *p = '\0';
            break;
        } else if (!q && *p == ';' && !semi)
            semi = p;
    }
    if (!semi)
        return false;
    *semi = '\0';
    return true;
}

static int isc_end_lease(struct lease_table *t, struct isc_state *st)
{
    st->in_lease = false;
    if (st->bad || !st->have_mac) /* free or backup pool entries often have no MAC */
        return 0;
    return push(t, &st->cur);
}

static int isc_line(struct lease_table *t, struct isc_state *st, char *s, uint32_t line)
{
    char *f[8];
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s || *s == '#')
        return 0;
    if (!strcmp(s, "}")) {
        if (st->depth == 0) {
            warn(t, line, "unbalanced '}'");
            return 0;
        }
        st->depth--;
        return st->in_lease && st->depth == 0 ? isc_end_lease(t, st) : 0;
    }
    size_t len = strlen(s);
    if (s[len - 1] == '{') { /* a block opens */
        if (st->depth >= LEASES_ISC_DEPTH) {
            warn(t, line, "blocks nested too deep");
            return 0;
        }
        st->depth++;
        if (st->depth == 1 && !strncmp(s, "lease ", 6)) {
            char addr[64];
            if (sscanf(s, "lease %63s {", addr) != 1) {
                warn(t, line, "expected 'lease ADDRESS {'");
                st->in_lease = false;
                return 0;
            }
            memset(&st->cur, 0, sizeof(st->cur));
            st->cur.line = line;
            st->started = line;
            st->have_mac = false;
            st->bad = false;
            st->in_lease = true;
            if (parse_addr(addr, st->cur.addr) != 1) {
                warn(t, line, "expected an IPv4 address after 'lease'");
                st->bad = true;
            }
        }
        return 0;
    }
    if (!st->in_lease || st->depth != 1)
        return 0; /* statements of other blocks and of the file itself */
    if (!isc_statement(s)) {
        warn(t, line, "expected a statement ending in ';' (lease at line %u dropped)", st->started);
        st->bad = true;
        return 0;
    }
    int n = split_ws(s, f, 8);
    if (n <= 0)
        return 0;
    time_t tv;
    if (!strcmp(f[0], "starts") || !strcmp(f[0], "ends")) {
        if (isc_time(f, n, &tv) < 0) {
            warn(t, line, "expected '%s W YYYY/MM/DD HH:MM:SS;' (lease at line %u dropped)", f[0],
                 st->started);
            st->bad = true;
        } else if (f[0][0] == 's') {
            st->cur.starts = tv;
        } else {
            st->cur.ends = tv;
        }
    } else if (!strcmp(f[0], "binding") && n == 3 && !strcmp(f[1], "state")) {
        st->cur.active = !strcmp(f[2], "active");
    } else if (!strcmp(f[0], "hardware") && n >= 2 && !strcmp(f[1], "ethernet")) {
        if (n != 3 || leases_parse_mac(f[2], strlen(f[2]), true, st->cur.mac) < 0) {
            warn(t, line, "expected 'hardware ethernet MAC;' (lease at line %u dropped)",
                 st->started);
            st->bad = true;
        } else {
            st->have_mac = true;
        }
    } else if (!strcmp(f[0], "client-hostname") && n >= 2) {
        /* the rest of the line, in quotes; rejoin what split_ws cut */
        char *v = f[1];
        for (int i = 2; i < n; i++)
            f[i][-1] = ' ';
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
            copy_host(st->cur.host, v + 1, vl - 2);
    }
    return 0;
}

/* --- Kea CSV ----------------------------------------------------------- */

enum { KEA_ADDRESS, KEA_HWADDR, KEA_VALID, KEA_EXPIRE, KEA_HOSTNAME, KEA_STATE, KEA_NCOLS };
static const char *const kea_cols[KEA_NCOLS] = {"address", "hwaddr",   "valid_lifetime",
                                                "expire",  "hostname", "state"};
#define KEA_MAX_FIELDS 32

struct kea_state {
    bool have_header;
    int col[KEA_NCOLS];
    int nfields;
};

static int split_csv(char *s, char **f, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return -1;
        f[n++] = s;
        char *c = strchr(s, ',');
        if (!c)
            return n;
        *c = '\0';
        s = c + 1;
    }
}

static int kea_line(struct lease_table *t, struct kea_state *st, char *s, uint32_t line)
{
    char *f[KEA_MAX_FIELDS];
    if (!*s)
        return 0;
    int n = split_csv(s, f, KEA_MAX_FIELDS);
    if (!st->have_header) {
        if (n < 0 || strcmp(f[0], "address") != 0) {
            warn(t, line, "expected the Kea header line (address,hwaddr,...)");
            return 0;
        }
        for (int c = 0; c < KEA_NCOLS; c++) {
            st->col[c] = -1;
            for (int i = 0; i < n; i++)
                if (!strcmp(f[i], kea_cols[c]))
                    st->col[c] = i;
            if (st->col[c] < 0 && c != KEA_HOSTNAME && c != KEA_STATE) {
                warn(t, line, "Kea header has no '%s' column", kea_cols[c]);
                return 0;
            }
        }
        st->nfields = n;
        st->have_header = true;
        return 0;
    }
    if (n == st->nfields && !strcmp(f[0], "address")) /* a header repeated after LFC */
        return 0;
    if (n < 0 || n < st->nfields) {
        warn(t, line, "expected %d comma-separated fields", st->nfields);
        return 0;
    }
    struct lease l;
    time_t valid, expire;
    memset(&l, 0, sizeof(l));
    l.line = line;
    int fam = parse_addr(f[st->col[KEA_ADDRESS]], l.addr);
    if (fam == 2)
        return 0;
    const char *mac = f[st->col[KEA_HWADDR]];
    if (fam != 1 || leases_parse_mac(mac, strlen(mac), true, l.mac) < 0 ||
        parse_epoch(f[st->col[KEA_VALID]], &valid) < 0 ||
        parse_epoch(f[st->col[KEA_EXPIRE]], &expire) < 0) {
        warn(t, line, "expected ADDRESS,MAC,...,VALID_LIFETIME,EXPIRE,... in the header's order");
        return 0;
    }
    /* state 0 = default (leased); 1 declined, 2 expired-reclaimed.  A lease
     * written with valid_lifetime 0 is a deletion (Kea memfile). */
    const char *state = st->col[KEA_STATE] >= 0 ? f[st->col[KEA_STATE]] : "0";
    l.active = !strcmp(state, "0") && valid > 0;
    l.ends = expire;
    l.starts = expire > valid ? expire - valid : 0;
    if (st->col[KEA_HOSTNAME] >= 0)
        copy_host(l.host, f[st->col[KEA_HOSTNAME]], strlen(f[st->col[KEA_HOSTNAME]]));
    return push(t, &l);
}

/* --- dnsmasq ----------------------------------------------------------- */

static int dnsmasq_line(struct lease_table *t, char *s, uint32_t line)
{
    char *f[6];
    int n = split_ws(s, f, 6);
    if (n == 0)
        return 0;
    if (!strcmp(f[0], "duid")) /* the server's DUID, before IPv6 leases */
        return 0;
    struct lease l;
    memset(&l, 0, sizeof(l));
    l.line = line;
    if (n < 4 || n > 5 || parse_epoch(f[0], &l.ends) < 0) {
        warn(t, line, "expected 'EXPIRY MAC ADDRESS HOST [CLIENTID]'");
        return 0;
    }
    int fam = parse_addr(f[2], l.addr);
    if (fam == 2) /* IPv6 lease: IAID in place of a MAC */
        return 0;
    if (fam != 1 || leases_parse_mac(f[1], strlen(f[1]), false, l.mac) < 0) {
        warn(t, line, "expected 'EXPIRY MAC ADDRESS HOST [CLIENTID]'");
        return 0;
    }
    l.active = true;
    if (strcmp(f[3], "*") != 0)
        copy_host(l.host, f[3], strlen(f[3]));
    return push(t, &l);
}

/* --- the table --------------------------------------------------------- */

static int cmp_addr(const void *a, const void *b)
{
    const struct lease *x = a, *y = b;
    int c = memcmp(x->addr, y->addr, 16);
    if (c)
        return c;
    if (x->starts != y->starts)
        return x->starts < y->starts ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int cmp_mac(const void *a, const void *b, void *arg)
{
    const struct lease *base = arg;
    const struct lease *x = &base[*(const uint32_t *)a];
    const struct lease *y = &base[*(const uint32_t *)b];
    int c = memcmp(x->mac, y->mac, 6);
    if (c)
        return c;
    if (x->starts != y->starts)
        return x->starts < y->starts ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int build_index(struct lease_table *t)
{
    if (t->n == 0)
        return 0;
    qsort(t->v, t->n, sizeof(*t->v), cmp_addr);
    t->latest = calloc(t->n, 1);
    t->by_mac = calloc(t->n, sizeof(*t->by_mac));
    if (!t->latest || !t->by_mac)
        return -ENOMEM;
    /* The last record of an address in the file says what it is now. */
    for (size_t i = 0; i < t->n;) {
        size_t j = i, best = i;
        for (; j < t->n && !memcmp(t->v[j].addr, t->v[i].addr, 16); j++)
            if (t->v[j].line > t->v[best].line)
                best = j;
        t->latest[best] = 1;
        i = j;
    }
    for (size_t i = 0; i < t->n; i++)
        t->by_mac[i] = (uint32_t)i;
    qsort_r(t->by_mac, t->n, sizeof(*t->by_mac), cmp_mac, t->v);
    return 0;
}

int leases_parse(const char *name, const char *text, size_t len, enum config_dhcp_format fmt,
                 struct lease_table **out)
{
    struct lease_table *t;
    struct isc_state isc;
    struct kea_state kea;
    char *line = NULL;
    int rc = 0;
    *out = NULL;
    if (!text && len)
        return -EINVAL;
    if (len > LEASES_MAX_FILE)
        return -EFBIG;
    if (!(t = calloc(1, sizeof(*t))) || !(line = malloc(LEASES_MAX_LINE + 1))) {
        free(t);
        return -ENOMEM;
    }
    t->name = name ? name : "(leases)";
    memset(&isc, 0, sizeof(isc));
    memset(&kea, 0, sizeof(kea));
    uint32_t lineno = 0;
    for (size_t o = 0; o < len && rc == 0;) {
        const char *nl = memchr(text + o, '\n', len - o);
        size_t l = nl ? (size_t)(nl - (text + o)) : len - o;
        const char *p = text + o;
        o += l + (nl ? 1 : 0);
        lineno++;
        if (l && p[l - 1] == '\r')
            l--;
        if (l > LEASES_MAX_LINE) {
            warn(t, lineno, "line longer than %u bytes", LEASES_MAX_LINE);
            if (isc.in_lease)
                isc.bad = true;
            continue;
        }
        if (memchr(p, '\0', l)) {
            warn(t, lineno, "NUL byte in line");
            if (isc.in_lease)
                isc.bad = true;
            continue;
        }
        memcpy(line, p, l);
        line[l] = '\0';
        switch (fmt) {
        case CONFIG_DHCP_ISC:
            rc = isc_line(t, &isc, line, lineno);
            break;
        case CONFIG_DHCP_KEA:
            rc = kea_line(t, &kea, line, lineno);
            break;
        case CONFIG_DHCP_DNSMASQ:
            rc = dnsmasq_line(t, line, lineno);
            break;
        default:
            rc = -EINVAL;
        }
    }
    if (rc == 0 && fmt == CONFIG_DHCP_ISC && isc.in_lease)
        warn(t, isc.started, "lease block not closed at the end of the file (dropped)");
    free(line);
    if (rc == 0)
        rc = build_index(t);
    t->name = NULL;
    if (rc < 0) {
        leases_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int leases_load(const char *path, enum config_dhcp_format fmt, struct lease_table **out, char *err,
                size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *buf = malloc((size_t)LEASES_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, (size_t)LEASES_MAX_FILE + 1, f);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (!rc && n > LEASES_MAX_FILE)
        rc = -EFBIG;
    if (!rc)
        rc = leases_parse(path, buf, n, fmt, out);
    if (rc < 0 && err && errlen)
        snprintf(err, errlen, "%s: %s", path,
                 rc == -EFBIG ? "larger than the 64 MiB a leases file may be" : strerror(-rc));
    free(buf);
    return rc;
}

void leases_free(struct lease_table *t)
{
    if (!t)
        return;
    free(t->v);
    free(t->by_mac);
    free(t->latest);
    free(t);
}

size_t leases_count(const struct lease_table *t)
{
    return t ? t->n : 0;
}

size_t leases_skipped(const struct lease_table *t)
{
    return t ? t->skipped : 0;
}

const char *leases_warning(const struct lease_table *t, size_t i)
{
    return t && i < t->nwarn ? t->warn[i] : NULL;
}

int leases_current(const struct lease_table *t, const uint8_t mac[6], time_t now,
                   const struct lease **out)
{
    *out = NULL;
    if (!t || t->n == 0)
        return -ENOENT;
    /* the first index entry for mac */
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(t->v[t->by_mac[mid]].mac, mac, 6) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool seen = false;
    for (size_t i = lo; i < t->n && !memcmp(t->v[t->by_mac[i]].mac, mac, 6); i++) {
        uint32_t k = t->by_mac[i];
        const struct lease *l = &t->v[k];
        seen = true;
        if (t->latest[k] && l->active && (l->ends == 0 || l->ends > now) && l->starts <= now &&
            (!*out || l->starts >= (*out)->starts))
            *out = l;
    }
    return *out ? 0 : seen ? -ETIME : -ENOENT;
}

const struct lease *leases_at(const struct lease_table *t, const uint8_t addr[16], time_t at)
{
    if (!t || t->n == 0)
        return NULL;
    /* the first entry after (addr, at): the one before it is the candidate */
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(t->v[mid].addr, addr, 16);
        if (c < 0 || (c == 0 && t->v[mid].starts <= at))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct lease *l = &t->v[lo - 1];
    if (memcmp(l->addr, addr, 16) != 0 || (l->ends != 0 && l->ends <= at))
        return NULL;
    return l;
}
