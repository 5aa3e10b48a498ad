/*
 * http.c - pure request parsing for gatehouse-admin (http.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"

struct route_row {
    const char *path;
    const char *method;
    enum admin_route route;
};

/* Every API path; anything else under /api/ is 404. */
static const struct route_row routes[] = {
    {"/api/login", "POST", ADMIN_R_LOGIN},    {"/api/logout", "POST", ADMIN_R_LOGOUT},
    {"/api/me", "GET", ADMIN_R_ME},           {"/api/visitors", "GET", ADMIN_R_VISITORS},
    {"/api/grants", "GET", ADMIN_R_GRANTS},   {"/api/grants", "POST", ADMIN_R_GRANT},
    {"/api/options", "GET", ADMIN_R_OPTIONS}, {"/api/reports", "GET", ADMIN_R_REPORTS},
    {"/api/report", "GET", ADMIN_R_REPORT},   {"/api/search", "GET", ADMIN_R_SEARCH},
    {"/api/status", "GET", ADMIN_R_STATUS},   {"/api/audit", "GET", ADMIN_R_AUDIT},
};

enum admin_route admin_route(const char *method, const char *url, uint64_t *id)
{
    bool known_path = false;
    *id = 0;
    if (!method || !url || strnlen(url, ADMIN_URL_MAX + 1) > ADMIN_URL_MAX)
        return ADMIN_R_NOT_FOUND;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path))
            continue;
        known_path = true;
        if (!strcmp(method, routes[i].method))
            return routes[i].route;
    }
    /* /api/grants/ID/revoke: ID decimal, 1..2^63, no leading zero */
    static const char pre[] = "/api/grants/", post[] = "/revoke";
    if (!strncmp(url, pre, sizeof pre - 1)) {
        const char *p = url + sizeof pre - 1;
        uint64_t v = 0;
        size_t n = 0;
        while (p[n] >= '0' && p[n] <= '9' && n < 19) {
            v = v * 10 + (uint64_t)(p[n] - '0');
            n++;
        }
        if (n && p[0] != '0' && v && !strcmp(p + n, post)) {
            if (strcmp(method, "POST"))
                return ADMIN_R_BAD_METHOD;
            *id = v;
            return ADMIN_R_REVOKE;
        }
        return ADMIN_R_NOT_FOUND;
    }
    if (known_path)
        return ADMIN_R_BAD_METHOD;
    char name[64];
    if (admin_static_name(url, name, sizeof name) == 0)
        return !strcmp(method, "GET") || !strcmp(method, "HEAD") ? ADMIN_R_STATIC
                                                                 : ADMIN_R_BAD_METHOD;
    return ADMIN_R_NOT_FOUND;
}

bool admin_route_changes(enum admin_route r)
{
    return r == ADMIN_R_LOGOUT || r == ADMIN_R_GRANT || r == ADMIN_R_REVOKE;
}

int admin_static_name(const char *url, char *out, size_t outlen)
{
    if (!url || url[0] != '/')
        return -ENOENT;
    const char *p = url + 1;
    if (!*p)
        p = "index.html";
    size_t n = 0, dot = 0;
    for (; p[n]; n++) {
        char c = p[n];
        if (n >= 48)
            return -ENOENT;
        if (c == '.') {
            if (dot || n == 0)
                return -ENOENT; /* one dot, not first: no "..", no hidden files */
            dot = n;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return -ENOENT;
        }
    }
    if (!dot)
        return -ENOENT;
    const char *ext = p + dot + 1;
    if (strcmp(ext, "html") && strcmp(ext, "css") && strcmp(ext, "js") && strcmp(ext, "svg"))
        return -ENOENT;
    if (n + 1 > outlen)
        return -ENOENT;
    memcpy(out, p, n + 1);
    return 0;
}

const char *admin_static_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (!strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".svg"))
        return "image/svg+xml";
    return "application/octet-stream";
}

bool admin_token_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= ADMIN_TOKEN_HEX || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == ADMIN_TOKEN_HEX;
}

int admin_cookie_token(const char *h, char out[ADMIN_TOKEN_HEX + 1])
{
    /* RFC 6265 section 5.4: "name=value" pairs separated by "; ".  Bounded
     * by the header, which libmicrohttpd limits. */
    static const char key[] = ADMIN_COOKIE;
    int rc = -ENOENT;
    if (!h)
        return -ENOENT;
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == ';' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ';')
            p++;
        size_t len = (size_t)(p - start);
        if (len > sizeof key && !strncmp(start, key, sizeof key - 1) &&
            start[sizeof key - 1] == '=') {
            const char *v = start + sizeof key;
            size_t vl = len - sizeof key;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (rc == 0)
                return -EINVAL; /* two session cookies: refuse rather than guess */
            if (vl != ADMIN_TOKEN_HEX)
                return -EINVAL;
            memcpy(out, v, vl);
            out[vl] = 0;
            if (!admin_token_valid(out))
                return -EINVAL;
            rc = 0;
        }
    }
    return rc;
}

/* Well-formed UTF-8 (RFC 3629 section 4: no overlongs, no surrogates). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (i + k >= n) /* the continuation bytes must all be there */
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (s[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

bool admin_text_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return utf8_ok((const unsigned char *)s, n);
}

/* --- JSON bodies --------------------------------------------------------- */

struct jfield {
    const char *key;
    char *dst;
    size_t size;
};

/* Parses BODY as one JSON object whose keys are all in FIELDS and whose
 * values are strings that fit (NUL-free, valid UTF-8 by jansson). */
static int parse_object(const char *body, size_t len, const struct jfield *fields, size_t nfields,
                        const char **error)
{
    *error = NULL;
    if (!body || len == 0) {
        *error = "expected a JSON object";
        return -EINVAL;
    }
    if (len > ADMIN_BODY_MAX) {
        *error = "request body too large";
        return -E2BIG;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        *error = "expected a JSON object";
        return -EINVAL;
    }
    for (size_t i = 0; i < nfields; i++)
        fields[i].dst[0] = 0;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v)
    {
        const struct jfield *f = NULL;
        for (size_t i = 0; i < nfields; i++)
            if (!strcmp(key, fields[i].key))
                f = &fields[i];
        if (!f) {
            *error = "unknown field in the request";
            rc = -EINVAL;
            break;
        }
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            *error = "every field must be a string";
            rc = -EINVAL;
            break;
        }
        size_t l = json_string_length(v);
        const char *s = json_string_value(v);
        if (l >= f->size || memchr(s, 0, l)) {
            *error = "a field is too long";
            rc = -EINVAL;
            break;
        }
        memcpy(f->dst, s, l + 1);
    }
    json_decref(root);
    return rc;
}

int admin_parse_login(const char *body, size_t len, struct admin_login *out, const char **error)
{
    const struct jfield f[] = {{"name", out->name, sizeof out->name},
                               {"password", out->password, sizeof out->password}};
    int rc = parse_object(body, len, f, 2, error);
    if (rc == 0 && (!out->name[0] || !out->password[0])) {
        *error = "give a name and a password";
        rc = -EINVAL;
    }
    return rc;
}

int admin_parse_grant(const char *body, size_t len, struct admin_grant_req *out, const char **error)
{
    char kind[16];
    memset(out, 0, sizeof *out);
    const struct jfield f[] = {
        {"kind", kind, sizeof kind},
        {"client", out->client, sizeof out->client},
        {"mac", out->mac, sizeof out->mac},
        {"segment", out->segment, sizeof out->segment},
        {"category", out->category, sizeof out->category},
        {"name", out->name, sizeof out->name},
        {"duration", out->duration, sizeof out->duration},
        {"from", out->from, sizeof out->from},
        {"reason", out->reason, sizeof out->reason},
    };
    int rc = parse_object(body, len, f, sizeof f / sizeof f[0], error);
    if (rc)
        return rc;
    if (!strcmp(kind, "guest"))
        out->exemption = false;
    else if (!strcmp(kind, "exemption"))
        out->exemption = true;
    else {
        *error = "kind must be guest or exemption";
        return -EINVAL;
    }
    if (!admin_text_ok(out->reason, ADMIN_TEXT_MAX)) {
        *error = "a reason is required (one line, no control characters)";
        return -EINVAL;
    }
    if (!out->duration[0]) {
        *error = "a duration is required: every grant ends";
        return -EINVAL;
    }
    return 0;
}

int admin_parse_revoke(const char *body, size_t len, char reason[ADMIN_TEXT_MAX + 1],
                       const char **error)
{
    const struct jfield f[] = {{"reason", reason, ADMIN_TEXT_MAX + 1}};
    int rc = parse_object(body, len, f, 1, error);
    if (rc == 0 && reason[0] && !admin_text_ok(reason, ADMIN_TEXT_MAX)) {
        *error = "the reason must be one line without control characters";
        rc = -EINVAL;
    }
    return rc;
}

/* --- search -------------------------------------------------------------- */

static bool copy_small(char *dst, size_t size, const char *v)
{
    size_t n = strnlen(v, size);
    if (n >= size)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

int admin_parse_search(const struct admin_kv *kv, size_t n, uint64_t now_us,
                       struct admin_search *out, const char **error)
{
    memset(out, 0, sizeof *out);
    out->f.limit = ADMIN_SEARCH_DEFAULT;
    *error = NULL;
    if (n > 32) {
        *error = "too many parameters";
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[i].key, *v = kv[i].value ? kv[i].value : "";
        if (!k)
            continue;
        if (strnlen(v, ADMIN_FIELD_MAX + 1) > ADMIN_FIELD_MAX) {
            *error = "a parameter is too long";
            return -EINVAL;
        }
        if (!*v && strcmp(k, "blocked"))
            continue; /* an empty form field means "any" */
        if (!strcmp(k, "client")) {
            uint8_t fam;
            if (qlog_parse_addr(v, out->f.client, &fam) < 0) {
                *error = "client: not an IPv4 or IPv6 address";
                return -EINVAL;
            }
            out->f.has_client = true;
        } else if (!strcmp(k, "segment")) {
            if (!admin_text_ok(v, 63) || !copy_small(out->segment, sizeof out->segment, v)) {
                *error = "segment: not a segment name";
                return -EINVAL;
            }
        } else if (!strcmp(k, "category")) {
            if (!admin_text_ok(v, 63) || !copy_small(out->category, sizeof out->category, v)) {
                *error = "category: not a category name";
                return -EINVAL;
            }
        } else if (!strcmp(k, "name")) {
            if (qlog_parse_name(v, out->f.name, &out->f.name_len, &out->f.name_suffix) < 0) {
                *error = "name: not a domain name (www.example.com or *.example.com)";
                return -EINVAL;
            }
        } else if (!strcmp(k, "since") || !strcmp(k, "until")) {
            uint64_t t;
            if (qlog_parse_time(v, now_us, &t) < 0) {
                *error = "since/until: not a time (2026-11-23 10:15, today, 2h)";
                return -EINVAL;
            }
            if (k[0] == 's')
                out->f.since_us = t;
            else
                out->f.until_us = t;
        } else if (!strcmp(k, "blocked")) {
            out->f.blocked_only = !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "on");
        } else if (!strcmp(k, "limit")) {
            char *end;
            errno = 0;
            unsigned long long l = strtoull(v, &end, 10);
            if (errno || *end || v[0] == '-' || l < 1 || l > ADMIN_SEARCH_LIMIT) {
                *error = "limit: a number from 1 to 5000";
                return -EINVAL;
            }
            out->f.limit = l;
        } else if (!strcmp(k, "format")) {
            if (!strcmp(v, "csv"))
                out->csv = true;
            else if (strcmp(v, "json")) {
                *error = "format: json or csv";
                return -EINVAL;
            }
        } else {
            *error = "unknown search parameter";
            return -EINVAL;
        }
    }
    if (out->f.until_us && out->f.since_us >= out->f.until_us) {
        *error = "since must be before until";
        return -EINVAL;
    }
    return 0;
}

int admin_parse_date(const char *s, int *y, int *m, int *d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
        return -EINVAL;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -EINVAL;
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[5] - '0') * 10 + (s[6] - '0');
    *d = (s[8] - '0') * 10 + (s[9] - '0');
    if (*y < 1970 || *y > 9999 || *m < 1 || *m > 12 || *d < 1 || *d > mdays[*m - 1])
        return -EINVAL;
    bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    if (*m == 2 && *d == 29 && !leap)
        return -EINVAL;
    return 0;
}
