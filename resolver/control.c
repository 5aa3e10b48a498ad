/*
 * control.c - the control socket and the metrics endpoint (see control.h).
 *
 * Both run on the main thread's loop, never on a worker's: a slow or hostile
 * client here can cost the main thread a few microseconds per read, never a
 * DNS answer.  Everything a client can make us hold is bounded: one buffer
 * per connection (CONTROL_LINE_MAX or CONTROL_HTTP_MAX bytes), at most
 * CONTROL_MAX_CLIENTS connections of each kind, and a fixed deadline from
 * accept (CONTROL_TIMEOUT_MS) that reading slowly cannot extend.
 *
 * The parsers (control_parse_request, control_http_parse) and formatters are
 * pure: bytes in, a struct or text out, so tests/unit/test_control.c and
 * tests/fuzz/fuzz_control.c reach them without a loop.
 *
 * What this does not do: decide anything about the daemon.  Status numbers,
 * reloading and flushing are the ops main.c hands in.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "unknown" /* the fuzz build does not define it */
#endif

/* How long a finished connection may take to close its side after our
 * reply: we read and discard until then, so that unread bytes do not turn
 * the close into a reset that could destroy the reply in flight. */
#define CONTROL_DRAIN_MS 1000

/* ---- small text helpers ---------------------------------------------- */

/* An appender: out of room sets overflow and keeps the text terminated. */
struct out {
    char *p;
    size_t cap, len;
    bool overflow;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    if (o->overflow || o->cap == 0) {
        o->overflow = true;
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->overflow = true;
        o->p[o->len] = '\0'; /* drop the partial piece */
        return;
    }
    o->len += (size_t)n;
}

static int out_result(const struct out *o)
{
    if (o->overflow)
        return -ENOSPC;
    return o->len > INT32_MAX ? -ENOSPC : (int)o->len;
}

/* ---- request lines --------------------------------------------------- */

int control_name_to_wire(const char *text, size_t len, uint8_t out[256])
{
    size_t o = 0;

    if (len == 0)
        return -EINVAL;
    if (len == 1 && text[0] == '.') {
        out[0] = 0; /* the root */
        return 1;
    }
    if (text[len - 1] == '.')
        len--; /* "example.org." is "example.org" */
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && text[i] != '.')
            i++;
        size_t lab = i - start;
        /* RFC 1035 section 2.3.4: labels 1..63 octets, names 255 in all
         * (length octets and the final root octet included). */
        if (lab == 0 || lab > 63 || o + 1 + lab + 1 > 255)
            return -EINVAL;
        out[o++] = (uint8_t)lab;
        for (size_t k = start; k < i; k++) {
            unsigned char ch = (unsigned char)text[k];
            /* Printable ASCII only, no escapes: names to flush are typed by
             * people, and "\." or "\000" would need a second syntax. */
            if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
                return -EINVAL;
            out[o++] = (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
        }
        if (i < len)
            i++; /* the dot; a trailing one was removed above */
        if (i == len && text[len - 1] == '.')
            return -EINVAL; /* "a..": an empty label before the end */
    }
    out[o++] = 0;
    return (int)o;
}

/* Splits line into at most max space-separated words (runs of spaces count
 * as one).  Returns the number of words or -E2BIG for more. */
static int split_words(const char *line, size_t len, const char **w, size_t *wl, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        if (n == max)
            return -E2BIG;
        w[n] = line + i;
        while (i < len && line[i] != ' ')
            i++;
        wl[n] = (size_t)(line + i - w[n]);
        n++;
    }
    return n;
}

static bool word_is(const char *w, size_t wl, const char *lit)
{
    return wl == strlen(lit) && memcmp(w, lit, wl) == 0;
}

int control_parse_request(const char *line, size_t len, struct control_request *out)
{
    const char *w[3];
    size_t wl[3];

    memset(out, 0, sizeof *out);
    out->error = "unknown request (status, status json, reload, flush NAME [subtree])";
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len >= CONTROL_LINE_MAX) {
        out->error = "request too long";
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch >= 0x7f) {
            out->error = "request has control or non-ASCII bytes";
            return -EINVAL;
        }
    }
    int n = split_words(line, len, w, wl, 3);
    if (n <= 0)
        return -EINVAL;
    if (word_is(w[0], wl[0], "status")) {
        if (n == 1) {
            out->verb = CONTROL_STATUS;
            return 0;
        }
        if (n == 2 && word_is(w[1], wl[1], "json")) {
            out->verb = CONTROL_STATUS_JSON;
            return 0;
        }
        return -EINVAL;
    }
    if (word_is(w[0], wl[0], "reload")) {
        if (n != 1)
            return -EINVAL;
        out->verb = CONTROL_RELOAD;
        return 0;
    }
    if (word_is(w[0], wl[0], "flush")) {
        if (n < 2 || (n == 3 && !word_is(w[2], wl[2], "subtree"))) {
            out->error = "usage: flush NAME [subtree]";
            return -EINVAL;
        }
        int wire = control_name_to_wire(w[1], wl[1], out->name);
        if (wire < 0) {
            out->error = "not a domain name";
            return -EINVAL;
        }
        out->name_len = (size_t)wire;
        out->subtree = n == 3;
        out->verb = CONTROL_FLUSH;
        return 0;
    }
    return -EINVAL;
}

/* ---- HTTP request heads ---------------------------------------------- */

/* RFC 9110 section 5.6.2 tchar. */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* The next line of buf[off..lim): its length without the line end in *ll,
 * and the offset after the LF.  -1 when there is no LF yet; -2 when a CR
 * appears anywhere but right before the LF. */
static long next_line(const char *buf, size_t off, size_t lim, size_t *ll)
{
    for (size_t i = off; i < lim; i++) {
        if (buf[i] == '\n') {
            size_t end = i;
            if (end > off && buf[end - 1] == '\r')
                end--;
            if (memchr(buf + off, '\r', end - off))
                return -2;
            *ll = end - off;
            return (long)(i + 1);
        }
    }
    return -1;
}

static int parse_request_line(const char *s, size_t n, struct control_http_request *out)
{
    size_t i = 0;
    while (i < n && s[i] >= 'A' && s[i] <= 'Z')
        i++;
    if (i == 0 || i > 16 || i >= n || s[i] != ' ')
        return -EINVAL;
    if (i == 3 && memcmp(s, "GET", 3) == 0)
        out->method = CONTROL_HTTP_GET;
    else if (i == 4 && memcmp(s, "HEAD", 4) == 0)
        out->method = CONTROL_HTTP_HEAD;
    else
        out->method = CONTROL_HTTP_OTHER;
    size_t t = ++i;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    /* origin-form only (RFC 9112 section 3.2.1): we are nobody's proxy */
    if (i == t || s[t] != '/' || i >= n || s[i] != ' ')
        return -EINVAL;
    size_t plen = 0;
    while (t + plen < i && s[t + plen] != '?')
        plen++;
    if (plen < sizeof out->path) {
        memcpy(out->path, s + t, plen);
        out->path[plen] = '\0';
    } else {
        out->path[0] = '\0'; /* too long to be ours: 404 */
    }
    i++;
    if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || s[i + 7] < '0' || s[i + 7] > '9')
        return -EINVAL;
    out->minor = s[i + 7] - '0';
    return 0;
}

static int parse_header_line(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    /* A line starting with SP or HT is obsolete folding (RFC 9112 section
     * 5.2): refused, as is a space before the colon (section 5.1). */
    if (i == 0 || i >= n || s[i] != ':')
        return -EINVAL;
    for (i++; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '\t' && (ch < 0x20 || ch == 0x7f))
            return -EINVAL;
    }
    return 0;
}

int control_http_parse(const char *buf, size_t len, struct control_http_request *out)
{
    size_t lim = len < CONTROL_HTTP_MAX ? len : CONTROL_HTTP_MAX;
    size_t ll = 0, off = 0;
    long next;

    memset(out, 0, sizeof *out);
    next = next_line(buf, 0, lim, &ll);
    if (next == -2)
        return -EINVAL;
    if (next < 0)
        return len >= CONTROL_HTTP_MAX ? -E2BIG : CONTROL_HTTP_INCOMPLETE;
    if (parse_request_line(buf, ll, out) < 0)
        return -EINVAL;
    off = (size_t)next;
    for (;;) {
        next = next_line(buf, off, lim, &ll);
        if (next == -2)
            return -EINVAL;
        if (next < 0)
            return len >= CONTROL_HTTP_MAX ? -E2BIG : CONTROL_HTTP_INCOMPLETE;
        if (ll == 0)
            return (int)next; /* the empty line: the head is complete */
        if (parse_header_line(buf + off, ll) < 0)
            return -EINVAL;
        if (++out->nheaders > CONTROL_HTTP_MAX_HEADERS)
            return -E2BIG;
        off = (size_t)next;
    }
}

int control_http_status(const struct control_http_request *req)
{
    if (req->method == CONTROL_HTTP_OTHER)
        return 405;
    return strcmp(req->path, "/metrics") == 0 ? 200 : 404;
}

/* ---- formatting ------------------------------------------------------- */

static double hit_rate(const struct daemon_status *st)
{
    uint64_t all = st->cache_hits + st->cache_misses;
    return all ? 100.0 * (double)st->cache_hits / (double)all : 0.0;
}

static void fmt_duration(int64_t s, char *out, size_t cap)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(out, cap, "%" PRId64 "d %" PRId64 "h %" PRId64 "m", s / 86400, s % 86400 / 3600,
                 s % 3600 / 60);
    else if (s >= 3600)
        snprintf(out, cap, "%" PRId64 "h %" PRId64 "m %" PRId64 "s", s / 3600, s % 3600 / 60,
                 s % 60);
    else if (s >= 60)
        snprintf(out, cap, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(out, cap, "%" PRId64 "s", s);
}

static void fmt_bytes(uint64_t b, char *out, size_t cap)
{
    if (b >= (1ULL << 30))
        snprintf(out, cap, "%.1f GiB", (double)b / (double)(1ULL << 30));
    else if (b >= (1ULL << 20))
        snprintf(out, cap, "%.1f MiB", (double)b / (double)(1ULL << 20));
    else if (b >= 1024)
        snprintf(out, cap, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(out, cap, "%" PRIu64 " B", b);
}

static void fmt_time(int64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!localtime_r(&tt, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M %Z", &tm) == 0)
        snprintf(out, cap, "@%" PRId64, t);
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void out_json_str(struct out *o, const char *s)
{
    out_printf(o, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            out_printf(o, "\\%c", ch);
        else if (ch < 0x20)
            out_printf(o, "\\u%04x", ch);
        else
            out_printf(o, "%c", ch);
    }
    out_printf(o, "\"");
}

static void status_json(const struct daemon_status *st, struct out *o)
{
    out_printf(o, "{\"version\":");
    out_json_str(o, GATEHOUSE_VERSION);
    out_printf(o, ",\"pid\":%" PRIu64 ",\"started\":%" PRId64 ",\"now\":%" PRId64, st->pid,
               st->started, st->now);
    out_printf(o, ",\"uptime\":%" PRId64 ",\"threads\":%u,\"generation\":%u,\"config\":",
               st->now - st->started, st->threads, st->generation);
    out_json_str(o, st->config_path ? st->config_path : "(built-in)");
#define J(name) out_printf(o, ",\"" #name "\":%" PRIu64, st->name)
    J(queries);
    J(answered);
    J(blocked);
    J(rewritten);
    J(refused);
    J(servfail);
    J(dropped);
    J(cache_hits);
    J(cache_misses);
    J(stale);
    J(prefetches);
    J(joined);
    J(upstream_joined);
    J(requests_now);
    J(upstream_sent);
    J(upstream_timeouts);
    J(upstream_errors);
    J(cache_entries);
    J(cache_bytes);
    J(cache_max_bytes);
    J(cache_evictions);
    J(nsec_records);
    J(nsec_answers);
    out_printf(o, ",\"cache_hit_rate\":%.4f", hit_rate(st) / 100.0);
    out_printf(o, ",\"log_enabled\":%s", st->log_enabled ? "true" : "false");
    J(log_written);
    J(log_dropped);
    J(log_lost);
    J(log_pending);
    J(log_lag_us);
    out_printf(o, ",\"log_error\":%d,\"log_stopped\":%s", st->log_error,
               st->log_stopped ? "true" : "false");
    out_printf(o, ",\"index_open\":%s", st->index_open ? "true" : "false");
    J(index_generation);
    out_printf(o, ",\"index_built\":%" PRId64, st->index_built);
    J(index_names);
    J(grants_live);
#undef J
    out_printf(o, ",\"geo\":");
    out_json_str(o, st->geo[0] ? st->geo : "off");
    out_printf(o, "}\n");
}

static void status_text(const struct daemon_status *st, struct out *o)
{
    char a[64], b[64];

    fmt_duration(st->now - st->started, a, sizeof a);
    fmt_time(st->started, b, sizeof b);
    out_printf(o, "version: %s\npid: %" PRIu64 "\nuptime: %s (since %s)\n", GATEHOUSE_VERSION,
               st->pid, a, b);
    out_printf(o, "config: %s (generation %u)\nthreads: %u\n",
               st->config_path ? st->config_path : "(built-in)", st->generation, st->threads);
    out_printf(o,
               "queries: %" PRIu64 "\nanswered: %" PRIu64 "\nblocked: %" PRIu64
               "\nrewritten: %" PRIu64 "\nrefused: %" PRIu64 "\nservfail: %" PRIu64
               "\ndropped: %" PRIu64 "\n",
               st->queries, st->answered, st->blocked, st->rewritten, st->refused, st->servfail,
               st->dropped);
    fmt_bytes(st->cache_bytes, a, sizeof a);
    fmt_bytes(st->cache_max_bytes, b, sizeof b);
    out_printf(o,
               "cache: %" PRIu64 " entries, %s of %s, %" PRIu64 " evictions\n"
               "cache hits: %" PRIu64 "\ncache misses: %" PRIu64 "\ncache hit rate: %.1f%%\n",
               st->cache_entries, a, b, st->cache_evictions, st->cache_hits, st->cache_misses,
               hit_rate(st));
    out_printf(o,
               "upstream: %" PRIu64 " sent, %" PRIu64 " timeouts, %" PRIu64 " errors, %" PRIu64
               " resolutions in flight\n",
               st->upstream_sent, st->upstream_timeouts, st->upstream_errors, st->requests_now);
    if (!st->log_enabled)
        out_printf(o, "query log: off\n");
    else
        out_printf(o,
                   "query log: %s, %" PRIu64 " written, lag %.1f s, %" PRIu64 " pending, %" PRIu64
                   " dropped, %" PRIu64 " lost%s%s\n",
                   st->log_stopped ? "STOPPED" : "writing", st->log_written,
                   (double)st->log_lag_us / 1e6, st->log_pending, st->log_dropped, st->log_lost,
                   st->log_error ? ", last error: " : "",
                   st->log_error ? strerror(-st->log_error) : "");
    if (!st->index_open) {
        out_printf(o, "blocklist index: none (categories match nothing)\n");
    } else if (st->index_built > 0) {
        fmt_duration(st->now - st->index_built, a, sizeof a);
        fmt_time(st->index_built, b, sizeof b);
        out_printf(o, "blocklist index: %" PRIu64 " names, built %s (%s ago)\n", st->index_names, b,
                   a);
    } else {
        out_printf(o, "blocklist index: %" PRIu64 " names, build time unknown\n", st->index_names);
    }
    out_printf(o, "grants: %" PRIu64 " live\n", st->grants_live);
    out_printf(o, "geo: %s\n", st->geo[0] ? st->geo : "off");
}

int control_format_status(const struct daemon_status *st, bool json, char *out, size_t cap)
{
    struct out o = {out, cap, 0, false};
    if (cap)
        out[0] = '\0';
    if (json)
        status_json(st, &o);
    else
        status_text(st, &o);
    return out_result(&o);
}

static void metric(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    out_printf(o, "# HELP gatehouse_%s %s\n# TYPE gatehouse_%s %s\ngatehouse_%s %" PRIu64 "\n",
               name, help, name, type, name, v);
}

int control_format_metrics(const struct daemon_status *st, char *out, size_t cap)
{
    struct out o = {out, cap, 0, false};
    if (cap)
        out[0] = '\0';
    out_printf(&o,
               "# HELP gatehouse_build_info The running version.\n"
               "# TYPE gatehouse_build_info gauge\n"
               "gatehouse_build_info{version=\"%s\"} 1\n",
               GATEHOUSE_VERSION);
    metric(&o, "start_time_seconds", "gauge", "When the daemon started, seconds since the epoch.",
           (uint64_t)(st->started > 0 ? st->started : 0));
    metric(&o, "config_generation", "gauge", "Configuration generation (reloads + 1).",
           st->generation);
    metric(&o, "threads", "gauge", "Worker threads.", st->threads);
    metric(&o, "queries_total", "counter", "DNS queries received.", st->queries);
    metric(&o, "answered_total", "counter", "Answers sent, of any rcode.", st->answered);
    metric(&o, "blocked_total", "counter", "Queries answered by the filtering policy.",
           st->blocked);
    metric(&o, "rewritten_total", "counter", "Safe-search rewrites.", st->rewritten);
    metric(&o, "refused_total", "counter", "Queries refused.", st->refused);
    metric(&o, "servfail_total", "counter", "SERVFAIL answers.", st->servfail);
    metric(&o, "dropped_total", "counter", "Queries dropped unanswered.", st->dropped);
    metric(&o, "cache_hits_total", "counter", "Queries answered from the cache.", st->cache_hits);
    metric(&o, "cache_misses_total", "counter", "Queries not in the cache.", st->cache_misses);
    metric(&o, "stale_answers_total", "counter", "Answers served from expired data (RFC 8767).",
           st->stale);
    metric(&o, "prefetches_total", "counter", "Popular entries refreshed before expiry.",
           st->prefetches);
    metric(&o, "joined_total", "counter", "Misses that joined a resolution under way.", st->joined);
    metric(&o, "upstream_joined_total", "counter",
           "Upstream replies that also answered the same query of other resolutions.",
           st->upstream_joined);
    metric(&o, "requests_in_flight", "gauge", "Resolutions under way.", st->requests_now);
    metric(&o, "upstream_queries_total", "counter", "Queries sent to authoritative servers.",
           st->upstream_sent);
    metric(&o, "upstream_timeouts_total", "counter", "Upstream queries that timed out.",
           st->upstream_timeouts);
    metric(&o, "upstream_errors_total", "counter", "Upstream queries that failed.",
           st->upstream_errors);
    metric(&o, "cache_entries", "gauge", "Messages and RRsets in the cache.", st->cache_entries);
    metric(&o, "cache_bytes", "gauge", "Bytes held by the cache.", st->cache_bytes);
    metric(&o, "cache_max_bytes", "gauge", "The cache size limit (cache.size).",
           st->cache_max_bytes);
    metric(&o, "cache_evictions_total", "counter", "Cache entries evicted for room.",
           st->cache_evictions);
    metric(&o, "nsec_cache_records", "gauge",
           "Validated NSEC/NSEC3 records kept for aggressive negative answers (RFC 8198).",
           st->nsec_records);
    metric(&o, "nsec_cache_answers_total", "counter",
           "NXDOMAIN/NODATA answers proven from cached NSEC/NSEC3 records, without a query.",
           st->nsec_answers);
    metric(&o, "log_enabled", "gauge", "1 when the query log is on.", st->log_enabled);
    metric(&o, "log_written_total", "counter", "Query log records committed.", st->log_written);
    metric(&o, "log_dropped_total", "counter", "Query log records dropped (rings full).",
           st->log_dropped);
    metric(&o, "log_lost_total", "counter", "Query log records lost on a failed commit.",
           st->log_lost);
    metric(&o, "log_pending", "gauge", "Query log records waiting to be written.", st->log_pending);
    out_printf(&o,
               "# HELP gatehouse_log_lag_seconds Age of the oldest record at the last commit.\n"
               "# TYPE gatehouse_log_lag_seconds gauge\ngatehouse_log_lag_seconds %.6f\n",
               (double)st->log_lag_us / 1e6);
    metric(&o, "log_stopped", "gauge", "1 when the query log has stopped writing.",
           st->log_stopped);
    metric(&o, "blocklist_index_open", "gauge", "1 when a compiled blocklist index is in use.",
           st->index_open);
    metric(&o, "blocklist_index_names", "gauge", "Names listed in the blocklist index.",
           st->index_names);
    metric(&o, "blocklist_index_built_timestamp_seconds", "gauge",
           "When the blocklist index was compiled, seconds since the epoch.",
           (uint64_t)(st->index_built > 0 ? st->index_built : 0));
    metric(&o, "grants_live", "gauge", "Guest-access grants and dispensations in force.",
           st->grants_live);
    return out_result(&o);
}

void control_format_summary(const struct daemon_status *st, char *out, size_t cap)
{
    if (!cap)
        return;
    snprintf(out, cap, "%" PRIu64 " queries, %" PRIu64 " blocked, %.0f%% cache hits%s", st->queries,
             st->blocked, hit_rate(st),
             st->log_enabled && st->log_stopped ? "; QUERY LOG STOPPED" : "");
}

/* ---- unix socket addresses ------------------------------------------- */

int control_unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len, int *dirfd)
{
    size_t n = strlen(path);

    *dirfd = -1;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (n == 0)
        return -EINVAL;
    if (n < sizeof sun->sun_path) {
        memcpy(sun->sun_path, path, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
    }
    /* sun_path holds 107 bytes; deep state directories (and test trees) go
     * past that, so reach the directory through a descriptor instead. */
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path || slash[1] == '\0')
        return -ENAMETOOLONG;
    char dir[4096];
    size_t dl = (size_t)(slash - path);
    if (dl >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int m = snprintf(sun->sun_path, sizeof sun->sun_path, "/proc/self/fd/%d/%s", fd, slash + 1);
    if (m < 0 || (size_t)m >= sizeof sun->sun_path) {
        close(fd);
        return -ENAMETOOLONG;
    }
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)m + 1);
    *dirfd = fd;
    return 0;
}

/* ---- the servers ------------------------------------------------------ */

enum conn_kind { KIND_CONTROL = 0, KIND_HTTP = 1 };
enum conn_state { ST_READING, ST_WRITING, ST_DRAINING, ST_CLOSING };

union stream {
    uv_handle_t h;
    uv_stream_t s;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
};

struct server {
    union stream io;
    struct control *ctl;
    enum conn_kind kind;
    bool inited;
};

struct conn {
    union stream io;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct control *ctl;
    struct conn *prev, *next;
    enum conn_kind kind;
    enum conn_state state;
    int open_handles;
    char *reply;
    size_t len;
    char buf[CONTROL_HTTP_MAX + 1];
};

struct control {
    uv_loop_t *loop;
    struct control_ops ops;
    struct server *servers; /* [0] the control socket when configured, then metrics */
    size_t nservers;
    size_t open_handles; /* servers not yet closed */
    struct conn *conns;
    unsigned nconn[2];
    bool closing;
    char *sock_path; /* the file to remove on close, or NULL */
    dev_t sock_dev;
    ino_t sock_ino;
};

static void control_maybe_free(struct control *c)
{
    if (!c->closing || c->open_handles || c->conns)
        return;
    free(c->servers);
    free(c->sock_path);
    free(c);
}

static void conn_close_cb(uv_handle_t *h)
{
    struct conn *cn = h->data;
    if (--cn->open_handles > 0)
        return;
    struct control *c = cn->ctl;
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        c->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    c->nconn[cn->kind]--;
    free(cn->reply);
    free(cn);
    control_maybe_free(c);
}

static void conn_close(struct conn *cn)
{
    if (cn->state == ST_CLOSING)
        return;
    cn->state = ST_CLOSING;
    uv_close(&cn->io.h, conn_close_cb);
    uv_close((uv_handle_t *)&cn->timer, conn_close_cb);
}

static void conn_timeout_cb(uv_timer_t *t)
{
    conn_close(t->data);
}

static void drain_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char scratch[4096]; /* main thread only; contents never read */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(scratch, sizeof scratch);
}

static void drain_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        conn_close(s->data);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct conn *cn = req->data;
    if (cn->state == ST_CLOSING)
        return;
    if (status < 0) {
        conn_close(cn);
        return;
    }
    cn->state = ST_DRAINING;
    uv_timer_start(&cn->timer, conn_timeout_cb, CONTROL_DRAIN_MS, 0);
    if (uv_read_start(&cn->io.s, drain_alloc_cb, drain_read_cb) < 0)
        conn_close(cn);
}

static void write_cb(uv_write_t *req, int status)
{
    struct conn *cn = req->data;
    if (cn->state == ST_CLOSING)
        return;
    if (status < 0 || uv_shutdown(&cn->sreq, &cn->io.s, shutdown_cb) < 0)
        conn_close(cn);
}

/* Sends reply (taken over, malloc'd) and then closes. */
static void conn_reply(struct conn *cn, char *reply, size_t len)
{
    uv_read_stop(&cn->io.s);
    free(cn->reply);
    cn->reply = reply;
    if (!reply) {
        conn_close(cn);
        return;
    }
    cn->state = ST_WRITING;
    uv_buf_t b = uv_buf_init(reply, (unsigned)len);
    if (uv_write(&cn->wreq, &cn->io.s, &b, 1, write_cb) < 0)
        conn_close(cn);
}

static void conn_reply_text(struct conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void conn_reply_text(struct conn *cn, const char *fmt, ...)
{
    char *r = malloc(CONTROL_LINE_MAX * 2);
    va_list ap;
    int n = -1;
    if (r) {
        va_start(ap, fmt);
        n = vsnprintf(r, CONTROL_LINE_MAX * 2, fmt, ap);
        va_end(ap);
    }
    if (n < 0) {
        free(r);
        conn_reply(cn, NULL, 0);
        return;
    }
    conn_reply(cn, r, (size_t)n < CONTROL_LINE_MAX * 2 ? (size_t)n : CONTROL_LINE_MAX * 2 - 1);
}

/* Who asked, for the log: reloads and flushes change what every client sees. */
static long peer_uid(struct conn *cn)
{
    uv_os_fd_t fd;
    struct ucred cr;
    socklen_t l = sizeof cr;
    if (uv_fileno(&cn->io.h, &fd) < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
        return -1;
    return (long)cr.uid;
}

static void control_handle(struct conn *cn, const char *line, size_t len)
{
    struct control *c = cn->ctl;
    struct control_request req;
    char msg[CONTROL_LINE_MAX];

    if (control_parse_request(line, len, &req) < 0) {
        conn_reply_text(cn, "error: %s\n", req.error);
        return;
    }
    switch (req.verb) {
    case CONTROL_STATUS:
    case CONTROL_STATUS_JSON: {
        struct daemon_status st;
        memset(&st, 0, sizeof st);
        c->ops.status(c->ops.arg, &st);
        char *r = malloc(CONTROL_REPLY_MAX);
        if (!r) {
            conn_reply_text(cn, "error: out of memory\n");
            return;
        }
        memcpy(r, "ok\n", 3);
        int n = control_format_status(&st, req.verb == CONTROL_STATUS_JSON, r + 3,
                                      CONTROL_REPLY_MAX - 3);
        if (n < 0) {
            free(r);
            conn_reply_text(cn, "error: status too long\n");
            return;
        }
        conn_reply(cn, r, (size_t)n + 3);
        return;
    }
    case CONTROL_RELOAD: {
        log_notice("reload requested on the control socket (uid %ld)", peer_uid(cn));
        int rc = c->ops.reload(c->ops.arg, msg, sizeof msg);
        if (rc < 0)
            conn_reply_text(cn, "error: %s\n", msg);
        else
            conn_reply_text(cn, "ok\n%s\n", msg);
        return;
    }
    case CONTROL_FLUSH: {
        size_t n = c->ops.flush(c->ops.arg, req.name, req.name_len, req.subtree);
        /* the name as given, from the request line: printable, bounded */
        log_notice("cache flush%s on the control socket (uid %ld): %zu entries removed",
                   req.subtree ? " of a subtree" : "", peer_uid(cn), n);
        conn_reply_text(cn, "ok\nflushed %zu entr%s\n", n, n == 1 ? "y" : "ies");
        return;
    }
    }
    conn_reply_text(cn, "error: %s\n", req.error);
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Bad Request";
    }
}

static void http_reply(struct conn *cn, int code, bool head_only)
{
    struct control *c = cn->ctl;
    char *r = malloc(CONTROL_REPLY_MAX);
    if (!r) {
        conn_reply(cn, NULL, 0);
        return;
    }
    /* the body first, after room for the head; then the head before it */
    enum { HEAD_ROOM = 256 };
    char *body = r + HEAD_ROOM;
    int blen;
    const char *ctype = "text/plain; charset=utf-8";
    if (code == 200) {
        struct daemon_status st;
        memset(&st, 0, sizeof st);
        c->ops.status(c->ops.arg, &st);
        blen = control_format_metrics(&st, body, CONTROL_REPLY_MAX - HEAD_ROOM);
        if (blen < 0) {
            code = 503;
            blen = snprintf(body, CONTROL_REPLY_MAX - HEAD_ROOM, "metrics too long\n");
        } else {
            ctype = "text/plain; version=0.0.4; charset=utf-8";
        }
    } else {
        blen = snprintf(body, CONTROL_REPLY_MAX - HEAD_ROOM, "%d %s\n", code, reason_phrase(code));
    }
    char head[HEAD_ROOM];
    int hl =
        snprintf(head, sizeof head,
                 "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s"
                 "Connection: close\r\n\r\n",
                 code, reason_phrase(code), ctype, blen, code == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (hl < 0 || hl >= HEAD_ROOM) {
        free(r);
        conn_reply(cn, NULL, 0);
        return;
    }
    memcpy(body - hl, head, (size_t)hl);
    size_t total = (size_t)hl + (head_only ? 0 : (size_t)blen);
    memmove(r, body - hl, total);
    conn_reply(cn, r, total);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *cn = h->data;
    size_t cap = cn->kind == KIND_CONTROL ? CONTROL_LINE_MAX : CONTROL_HTTP_MAX;
    (void)suggested;
    /* read_cb stops reading once len reaches cap, so room is never 0 here;
     * a 0-length buffer would make libuv report UV_ENOBUFS, which closes. */
    *buf = uv_buf_init(cn->buf + cn->len, (unsigned)(cap > cn->len ? cap - cn->len : 0));
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *cn = s->data;
    (void)buf;
    if (cn->state != ST_READING)
        return;
    if (nread < 0) {
        /* "status" without a newline, then EOF (printf status | nc -U) */
        if (nread == UV_EOF && cn->kind == KIND_CONTROL && cn->len > 0)
            control_handle(cn, cn->buf, cn->len);
        else
            conn_close(cn);
        return;
    }
    cn->len += (size_t)nread;
    if (cn->kind == KIND_CONTROL) {
        char *nl = memchr(cn->buf, '\n', cn->len);
        if (nl)
            control_handle(cn, cn->buf, (size_t)(nl - cn->buf));
        else if (cn->len >= CONTROL_LINE_MAX)
            conn_reply_text(cn, "error: request too long\n");
        return;
    }
    struct control_http_request req;
    int r = control_http_parse(cn->buf, cn->len, &req);
    if (r > 0)
        http_reply(cn, control_http_status(&req), req.method == CONTROL_HTTP_HEAD);
    else if (r == -E2BIG)
        http_reply(cn, 431, false);
    else if (r < 0)
        http_reply(cn, 400, false);
}

static void connection_cb(uv_stream_t *server, int status)
{
    struct server *sv = server->data;
    struct control *c = sv->ctl;
    if (status < 0 || c->closing)
        return;
    struct conn *cn = calloc(1, sizeof *cn);
    if (!cn) {
        /* Leave it in the backlog: the next call tries again. */
        log_warning("control: out of memory accepting a connection");
        return;
    }
    cn->ctl = c;
    cn->kind = sv->kind;
    if (sv->kind == KIND_CONTROL)
        uv_pipe_init(c->loop, &cn->io.pipe, 0);
    else
        uv_tcp_init(c->loop, &cn->io.tcp);
    uv_timer_init(c->loop, &cn->timer);
    cn->io.h.data = cn->timer.data = cn->wreq.data = cn->sreq.data = cn;
    cn->open_handles = 2;
    cn->next = c->conns;
    if (c->conns)
        c->conns->prev = cn;
    c->conns = cn;
    c->nconn[cn->kind]++;
    if (uv_accept(server, &cn->io.s) < 0) {
        conn_close(cn);
        return;
    }
    /* Over the limit: accepted only to be closed at once, so the backlog
     * drains and the client learns quickly (it sees EOF, no reply). */
    if (c->nconn[cn->kind] > CONTROL_MAX_CLIENTS) {
        conn_close(cn);
        return;
    }
    /* A fixed deadline from accept: trickling bytes does not extend it. */
    uv_timer_start(&cn->timer, conn_timeout_cb, CONTROL_TIMEOUT_MS, 0);
    if (uv_read_start(&cn->io.s, conn_alloc_cb, conn_read_cb) < 0)
        conn_close(cn);
}

static void server_close_cb(uv_handle_t *h)
{
    struct server *sv = h->data;
    struct control *c = sv->ctl;
    c->open_handles--;
    control_maybe_free(c);
}

static int listen_unix(struct control *c, struct server *sv, const char *path, char *err,
                       size_t errlen)
{
    struct sockaddr_un sun;
    socklen_t slen;
    int dirfd = -1, fd = -1, rc;
    struct stat st;

    if ((rc = control_unix_addr(path, &sun, &slen, &dirfd)) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(-rc));
        return rc;
    }
    /* A socket file is left behind when a daemon dies without cleaning up.
     * Replace it only when nobody answers on it: a live daemon keeps it. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
            rc = -EEXIST;
            goto out;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            rc = -errno;
            snprintf(err, errlen, "control socket: %s", strerror(errno));
            goto out;
        }
        if (connect(fd, (struct sockaddr *)&sun, slen) == 0 || errno == EAGAIN ||
            errno == EINPROGRESS) {
            snprintf(err, errlen, "control socket %s: another gatehoused is answering on it", path);
            rc = -EADDRINUSE;
            goto out;
        }
        close(fd);
        fd = -1;
        if (unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            snprintf(err, errlen, "control socket %s: cannot remove the stale one: %s", path,
                     strerror(errno));
            goto out;
        }
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, slen) < 0) {
        rc = -errno;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        goto out;
    }
    /* connect(2) needs write permission: the daemon's user and group may
     * use the socket (gatehousectl as root or a member of the group), no
     * one else, whatever the umask. */
    if (chmod(path, 0660) < 0 || stat(path, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    if (listen(fd, 32) < 0) {
        rc = -errno;
        snprintf(err, errlen, "control socket %s: listen: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    c->sock_dev = st.st_dev;
    c->sock_ino = st.st_ino;
    if (!(c->sock_path = strdup(path))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        unlink(path);
        goto out;
    }
    uv_pipe_init(c->loop, &sv->io.pipe, 0);
    sv->inited = true;
    c->open_handles++;
    /* libuv's codes are negative errno values on Linux: passed on as such */
    if ((rc = uv_pipe_open(&sv->io.pipe, fd)) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(rc));
        goto out;
    }
    fd = -1; /* the handle owns it now */
    if ((rc = uv_listen(&sv->io.s, 32, connection_cb)) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(rc));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

static int listen_tcp(struct control *c, struct server *sv, const struct config_sockaddr *a,
                      char *err, size_t errlen)
{
    int rc;
    unsigned flags = a->ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;

    uv_tcp_init(c->loop, &sv->io.tcp);
    sv->inited = true;
    c->open_handles++;
    if ((rc = uv_tcp_bind(&sv->io.tcp, (const struct sockaddr *)&a->ss, flags)) < 0 ||
        (rc = uv_listen(&sv->io.s, 32, connection_cb)) < 0) {
        char host[64] = "?";
        if (a->ss.ss_family == AF_INET)
            uv_ip4_name((const struct sockaddr_in *)&a->ss, host, sizeof host);
        else
            uv_ip6_name((const struct sockaddr_in6 *)&a->ss, host, sizeof host);
        snprintf(err, errlen, "server.metrics %s: %s", host, uv_strerror(rc));
        return rc;
    }
    return 0;
}

int control_start(uv_loop_t *loop, const struct config *cfg, const struct control_ops *ops,
                  struct control **out, char *err, size_t errlen)
{
    struct control *c = calloc(1, sizeof *c);
    int rc = 0;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->loop = loop;
    c->ops = *ops;
    size_t want = cfg->nmetrics_listen + (cfg->control_socket && *cfg->control_socket ? 1 : 0);
    if (want && !(c->servers = calloc(want, sizeof *c->servers))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (cfg->control_socket && *cfg->control_socket) {
        struct server *sv = &c->servers[c->nservers++];
        sv->ctl = c;
        sv->kind = KIND_CONTROL;
        sv->io.h.data = sv;
        if ((rc = listen_unix(c, sv, cfg->control_socket, err, errlen)) < 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->nmetrics_listen; i++) {
        struct server *sv = &c->servers[c->nservers++];
        sv->ctl = c;
        sv->kind = KIND_HTTP;
        sv->io.h.data = sv;
        if ((rc = listen_tcp(c, sv, &cfg->metrics_listen[i], err, errlen)) < 0)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    control_close(c);
    return rc;
}

void control_close(struct control *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    for (size_t i = 0; i < c->nservers; i++)
        if (c->servers[i].inited && !uv_is_closing(&c->servers[i].io.h))
            uv_close(&c->servers[i].io.h, server_close_cb);
    for (struct conn *cn = c->conns; cn; cn = cn->next)
        conn_close(cn);
    /* Remove the file only if it is still ours: a newer daemon may have
     * replaced it already (a restart racing this one's exit). */
    struct stat st;
    if (c->sock_path && stat(c->sock_path, &st) == 0 && st.st_dev == c->sock_dev &&
        st.st_ino == c->sock_ino)
        unlink(c->sock_path);
    control_maybe_free(c);
}
