/*
 * http.h - the request parsing of gatehouse-admin, as pure functions: the
 * route of a method and path, the session cookie, static file names, the
 * JSON bodies of the API (bounded, strictly typed, unknown keys refused)
 * and the search parameters.  No sockets, no stores, no globals, so that
 * the unit tests (tests/unit/test_admin.c) and the fuzz target
 * (tests/fuzz/fuzz_admin_http.c) reach every byte path.
 *
 * libmicrohttpd parses HTTP itself (request line, headers, chunking) with
 * its own limits (main.c sets them); what reaches these functions is
 * already split into a method, a path, header values and a body of at most
 * ADMIN_BODY_MAX bytes.  All of it is still outside input: every function
 * takes any bytes and fails with -EINVAL and a message for a person in
 * `error` (a static string), never crashes.
 *
 * Not here: who may do what (main.c checks the session's role), the stores.
 */
#ifndef GATEHOUSE_ADMIN_HTTP_H
#define GATEHOUSE_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qlog.h"

#define ADMIN_BODY_MAX (16u << 10) /* a JSON body; larger gets 413 */
#define ADMIN_URL_MAX 1024         /* a path; longer gets 414 */
#define ADMIN_TOKEN_HEX 64         /* session and CSRF tokens: 32 random bytes in hex */
#define ADMIN_COOKIE "gh_session"
#define ADMIN_TEXT_MAX 400  /* reasons: GRANTS_REASON_SIZE - 1 */
#define ADMIN_FIELD_MAX 256 /* any other string field */

enum admin_route {
    ADMIN_R_NOT_FOUND = 0,
    ADMIN_R_BAD_METHOD, /* a known path with another method: 405 */
    ADMIN_R_STATIC,     /* GET a page, script or style sheet */
    ADMIN_R_LOGIN,      /* POST /api/login */
    ADMIN_R_LOGOUT,     /* POST /api/logout */
    ADMIN_R_ME,         /* GET /api/me */
    ADMIN_R_VISITORS,   /* GET /api/visitors */
    ADMIN_R_GRANTS,     /* GET /api/grants */
    ADMIN_R_GRANT,      /* POST /api/grants */
    ADMIN_R_REVOKE,     /* POST /api/grants/ID/revoke */
    ADMIN_R_OPTIONS,    /* GET /api/options: segments and categories */
    ADMIN_R_REPORTS,    /* GET /api/reports: the days there are */
    ADMIN_R_REPORT,     /* GET /api/report?date=YYYY-MM-DD: the HTML report */
    ADMIN_R_SEARCH,     /* GET /api/search?...: JSON, or CSV with format=csv */
    ADMIN_R_STATUS,     /* GET /api/status */
    ADMIN_R_AUDIT,      /* GET /api/audit */
};

/* The route of METHOD and URL (the path, without the query string); for
 * ADMIN_R_REVOKE the grant id in *id.  Any bytes. */
enum admin_route admin_route(const char *method, const char *url, uint64_t *id);
/* Whether the route changes something (needs the CSRF token). */
bool admin_route_changes(enum admin_route r);

/* The static file URL names: "/" is "index.html"; otherwise one path
 * segment [a-z0-9-]+ "." (html|css|js|svg).  0 and the name in out, or
 * -ENOENT.  No "..", no "/", no "%", no other directory: nothing else on
 * the disk can be named. */
int admin_static_name(const char *url, char *out, size_t outlen);
/* The Content-Type for a static name. */
const char *admin_static_type(const char *name);

/* The session token from a Cookie header value ("a=b; gh_session=HEX").
 * 0 and the 64 hex digits (NUL-terminated) in out, -ENOENT (no such
 * cookie), -EINVAL (malformed or not 64 lower-case hex digits). */
int admin_cookie_token(const char *header, char out[ADMIN_TOKEN_HEX + 1]);
/* Whether S is exactly ADMIN_TOKEN_HEX lower-case hex digits. */
bool admin_token_valid(const char *s);

/* Free text from a form: 1..MAX bytes of UTF-8 without control characters
 * (a tab or newline in a reason would break the audit's one-line form).
 * Leading and trailing spaces are not significant but kept. */
bool admin_text_ok(const char *s, size_t max);

struct admin_login {
    char name[64];
    char password[260];
};

/* {"name": "...", "password": "..."}.  0, or -EINVAL with *error. */
int admin_parse_login(const char *body, size_t len, struct admin_login *out, const char **error);

/* A grant request: {"kind": "guest"|"exemption", "client": IP, "mac": MAC,
 * "segment": NAME, "category": CAT, "name": DNAME, "duration": "1h",
 * "from": "2026-11-24 09:00", "reason": TEXT}.  Which keys a kind needs is
 * checked by grants_check; here only types and lengths. */
struct admin_grant_req {
    bool exemption;
    char client[64];
    char mac[32];
    char segment[40];
    char category[40];
    char name[256];
    char duration[32];
    char from[32];
    char reason[ADMIN_TEXT_MAX + 1];
};
int admin_parse_grant(const char *body, size_t len, struct admin_grant_req *out,
                      const char **error);

/* {"reason": TEXT} (reason optional for a revocation, "" when absent). */
int admin_parse_revoke(const char *body, size_t len, char reason[ADMIN_TEXT_MAX + 1],
                       const char **error);

/* Search parameters, as key/value pairs from the query string:
 * client, segment, name, category, since, until, blocked (1/true),
 * limit (1..ADMIN_SEARCH_LIMIT), format (json or csv).  Segment and
 * category stay names here (the store maps them to ids).  Times go through
 * qlog_parse_time at NOW_US. */
#define ADMIN_SEARCH_LIMIT 5000
#define ADMIN_SEARCH_DEFAULT 500
struct admin_search {
    struct qlog_filter f;
    char segment[64];
    char category[64];
    bool csv;
};
struct admin_kv {
    const char *key, *value;
};
int admin_parse_search(const struct admin_kv *kv, size_t n, uint64_t now_us,
                       struct admin_search *out, const char **error);

/* A date "YYYY-MM-DD": 0 and *y *m *d, or -EINVAL. */
int admin_parse_date(const char *s, int *y, int *m, int *d);

#endif
