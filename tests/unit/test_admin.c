/*
 * test_admin.c - the pure parts of gatehouse-admin: routes, static names,
 * the session cookie, JSON bodies, search parameters, dates, free text,
 * the accounts file and password hashes, sessions, CSRF and the log-in
 * limits.  The sources are compiled in (the daemon is not a library).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/admin/http.c"
#include "../../tools/admin/session.c"
#include "../../tools/admin/users.c"
#include "unit.h"

static void test_routes(void)
{
    uint64_t id;
    CHECK_EQ(admin_route("POST", "/api/login", &id), ADMIN_R_LOGIN);
    CHECK_EQ(admin_route("GET", "/api/login", &id), ADMIN_R_BAD_METHOD);
    CHECK_EQ(admin_route("GET", "/api/grants", &id), ADMIN_R_GRANTS);
    CHECK_EQ(admin_route("POST", "/api/grants", &id), ADMIN_R_GRANT);
    CHECK_EQ(admin_route("POST", "/api/grants/42/revoke", &id), ADMIN_R_REVOKE);
    CHECK_EQ(id, 42);
    CHECK_EQ(admin_route("GET", "/api/grants/42/revoke", &id), ADMIN_R_BAD_METHOD);
    CHECK_EQ(admin_route("POST", "/api/grants/0/revoke", &id), ADMIN_R_NOT_FOUND);
    CHECK_EQ(admin_route("POST", "/api/grants/042/revoke", &id), ADMIN_R_NOT_FOUND);
    CHECK_EQ(admin_route("POST", "/api/grants/12345678901234567890/revoke", &id),
             ADMIN_R_NOT_FOUND);
    CHECK_EQ(admin_route("POST", "/api/grants/4/revoke/", &id), ADMIN_R_NOT_FOUND);
    CHECK_EQ(admin_route("GET", "/", &id), ADMIN_R_STATIC);
    CHECK_EQ(admin_route("HEAD", "/app.js", &id), ADMIN_R_STATIC);
    CHECK_EQ(admin_route("POST", "/app.js", &id), ADMIN_R_BAD_METHOD);
    CHECK_EQ(admin_route("GET", "/api/nosuch", &id), ADMIN_R_NOT_FOUND);
    CHECK(admin_route_changes(ADMIN_R_GRANT) && admin_route_changes(ADMIN_R_REVOKE));
    CHECK(!admin_route_changes(ADMIN_R_SEARCH) && !admin_route_changes(ADMIN_R_LOGIN));
}

static void test_static_names(void)
{
    char n[64];
    CHECK_EQ(admin_static_name("/", n, sizeof n), 0);
    CHECK_STR(n, "index.html");
    CHECK_EQ(admin_static_name("/style.css", n, sizeof n), 0);
    static const char *const bad[] = {"/../etc/passwd", "/..",    "/.hidden.js",   "/a/b.js",
                                      "/a.b.js",        "/x.exe", "/%2e%2e/x.js",  "/A.js",
                                      "/app.js/",       "app.js", "/index.html?x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(admin_static_name(bad[i], n, sizeof n), -ENOENT);
    CHECK_STR(admin_static_type("a.js"), "text/javascript; charset=utf-8");
}

static void test_cookie(void)
{
    char tok[ADMIN_TOKEN_HEX + 1], hdr[300];
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    snprintf(hdr, sizeof hdr, "a=b; gh_session=%s; c=d", hex);
    CHECK_EQ(admin_cookie_token(hdr, tok), 0);
    CHECK_STR(tok, hex);
    CHECK_EQ(admin_cookie_token("a=b", tok), -ENOENT);
    CHECK_EQ(admin_cookie_token(NULL, tok), -ENOENT);
    CHECK_EQ(admin_cookie_token("gh_session=abc", tok), -EINVAL);
    snprintf(hdr, sizeof hdr, "gh_session=%s; gh_session=%s", hex, hex);
    CHECK_EQ(admin_cookie_token(hdr, tok), -EINVAL); /* two: refused */
    snprintf(hdr, sizeof hdr, "gh_session=%.63sG", hex);
    CHECK_EQ(admin_cookie_token(hdr, tok), -EINVAL);
    snprintf(hdr, sizeof hdr, "xgh_session=%s", hex);
    CHECK_EQ(admin_cookie_token(hdr, tok), -ENOENT);
}

static void test_text(void)
{
    CHECK(admin_text_ok("visiting speaker", 400));
    CHECK(admin_text_ok("caf\xc3\xa9", 400));
    CHECK(!admin_text_ok("", 400));
    CHECK(!admin_text_ok("a\nb", 400));
    CHECK(!admin_text_ok("a\tb", 400));
    CHECK(!admin_text_ok("\xc3", 400));         /* cut short */
    CHECK(!admin_text_ok("\xc0\xaf", 400));     /* overlong */
    CHECK(!admin_text_ok("\xed\xa0\x80", 400)); /* surrogate */
    CHECK(!admin_text_ok("abcd", 3));
}

static void test_json_bodies(void)
{
    struct admin_login l;
    struct admin_grant_req g;
    char reason[ADMIN_TEXT_MAX + 1];
    const char *e;
#define B(s) s, strlen(s)
    CHECK_EQ(admin_parse_login(B("{\"name\":\"a\",\"password\":\"b\"}"), &l, &e), 0);
    CHECK_STR(l.name, "a");
    CHECK_EQ(admin_parse_login(B("{\"name\":\"a\"}"), &l, &e), -EINVAL);
    CHECK_EQ(admin_parse_login(B("{\"name\":\"a\",\"password\":\"b\",\"x\":1}"), &l, &e), -EINVAL);
    CHECK_EQ(admin_parse_login(B("{\"name\":\"a\",\"name\":\"c\",\"password\":\"b\"}"), &l, &e),
             -EINVAL);
    CHECK_EQ(admin_parse_login(B("{\"name\":\"a\\u0000b\",\"password\":\"b\"}"), &l, &e), -EINVAL);
    CHECK_EQ(admin_parse_login(B("[1]"), &l, &e), -EINVAL);
    CHECK_EQ(admin_parse_login(B("{\"name\":\"a\",\"password\":\"b\"} x"), &l, &e), -EINVAL);
    CHECK_EQ(admin_parse_login(NULL, 0, &l, &e), -EINVAL);
    char big[400];
    snprintf(big, sizeof big, "{\"name\":\"%0300d\",\"password\":\"b\"}", 0);
    CHECK_EQ(admin_parse_login(B(big), &l, &e), -EINVAL);
    CHECK_EQ(admin_parse_grant(B("{\"kind\":\"guest\",\"client\":\"10.0.0.1\",\"duration\":\"1h\","
                                 "\"reason\":\"r\"}"),
                               &g, &e),
             0);
    CHECK(!g.exemption);
    CHECK_STR(g.client, "10.0.0.1");
    CHECK_EQ(admin_parse_grant(B("{\"kind\":\"guest\",\"duration\":\"1h\"}"), &g, &e), -EINVAL);
    CHECK(strstr(e, "reason") != NULL);
    CHECK_EQ(admin_parse_grant(B("{\"kind\":\"x\",\"duration\":\"1h\",\"reason\":\"r\"}"), &g, &e),
             -EINVAL);
    CHECK_EQ(admin_parse_grant(B("{\"kind\":\"guest\",\"reason\":\"r\"}"), &g, &e), -EINVAL);
    CHECK_EQ(admin_parse_revoke(B("{}"), reason, &e), 0);
    CHECK_STR(reason, "");
    CHECK_EQ(admin_parse_revoke(B("{\"reason\":\"a\\nb\"}"), reason, &e), -EINVAL);
#undef B
}

static void test_search(void)
{
    struct admin_search s;
    const char *e;
    uint64_t now = 1795339000ull * 1000000;
    struct admin_kv kv[] = {{"client", "10.0.0.1"}, {"name", "*.example.org"}, {"since", "1h"},
                            {"blocked", "1"},       {"limit", "10"},           {"format", "csv"}};
    CHECK_EQ(admin_parse_search(kv, 6, now, &s, &e), 0);
    CHECK(s.f.has_client && s.f.name_suffix && s.f.blocked_only && s.csv);
    CHECK_EQ(s.f.limit, 10);
    CHECK_EQ(s.f.since_us, now - 3600ull * 1000000);
    struct admin_kv bad[][1] = {{{"limit", "0"}},    {{"limit", "5001"}},   {{"limit", "-1"}},
                                {{"client", "x"}},   {{"since", "soon"}},   {{"bogus", "1"}},
                                {{"format", "xml"}}, {{"segment", "a\x01"}}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(admin_parse_search(bad[i], 1, now, &s, &e), -EINVAL);
    struct admin_kv order[] = {{"since", "1h"}, {"until", "2h"}};
    CHECK_EQ(admin_parse_search(order, 2, now, &s, &e), -EINVAL);
    CHECK_EQ(admin_parse_search(kv, 0, now, &s, &e), 0);
    CHECK_EQ(s.f.limit, ADMIN_SEARCH_DEFAULT);
}

static void test_dates(void)
{
    int y, m, d;
    CHECK_EQ(admin_parse_date("2024-02-29", &y, &m, &d), 0);
    CHECK_EQ(y * 10000 + m * 100 + d, 20240229);
    CHECK_EQ(admin_parse_date("2026-02-29", &y, &m, &d), -EINVAL);
    CHECK_EQ(admin_parse_date("2026-13-01", &y, &m, &d), -EINVAL);
    CHECK_EQ(admin_parse_date("2026-1-01", &y, &m, &d), -EINVAL);
    CHECK_EQ(admin_parse_date("2026-01-011", &y, &m, &d), -EINVAL);
    CHECK_EQ(admin_parse_date(NULL, &y, &m, &d), -EINVAL);
}

static void test_users_file(void)
{
    char dir[] = "/tmp/test_admin.XXXXXX", path[128], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/users", dir);
    struct users_table *t;
    CHECK_EQ(users_load(path, &t, err, sizeof err), -ENOENT);
    CHECK_EQ(users_add(path, "mrs.head", USERS_HEAD, "a long passphrase", 100), 0);
    CHECK_EQ(users_add(path, "mrs.head", USERS_DSL, "a long passphrase", 100), -EEXIST);
    CHECK_EQ(users_add(path, "Bad Name", USERS_DSL, "a long passphrase", 100), -EINVAL);
    CHECK_EQ(users_add(path, "dsl", USERS_DSL, "short", 100), -EINVAL);
    CHECK_EQ(users_add(path, "dsl", USERS_DSL, "another passphrase", 100), 0);
    CHECK_EQ(users_load(path, &t, err, sizeof err), 0);
    CHECK_EQ(t->n, 2);
    const struct users_account *a = users_find(t, "mrs.head");
    CHECK(a && a->role == USERS_HEAD && a->created == 100);
    CHECK(a && users_verify(a, "a long passphrase"));
    CHECK(a && !users_verify(a, "a long passphrasE"));
    users_free(t);
    CHECK_EQ(users_passwd(path, "mrs.head", "a new passphrase"), 0);
    CHECK_EQ(users_passwd(path, "nobody", "a new passphrase"), -ENOENT);
    CHECK_EQ(users_load(path, &t, err, sizeof err), 0);
    CHECK(users_verify(users_find(t, "mrs.head"), "a new passphrase"));
    users_free(t);
    CHECK_EQ(users_remove(path, "dsl"), 0);
    CHECK_EQ(users_remove(path, "dsl"), -ENOENT);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, USERS_FILE_MODE);
    char lock[160];
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(path);
    unlink(lock);
    rmdir(dir);
}

static void test_users_parse(void)
{
    struct users_table *t;
    char err[200];
#define P(s) users_parse(s, strlen(s), &t, err, sizeof err)
    CHECK_EQ(P("# nothing\n\n"), 0);
    CHECK_EQ(t->n, 0);
    users_free(t);
    CHECK_EQ(P("a:head:$argon2id$v=19$x:5\n"), 0);
    users_free(t);
    CHECK_EQ(P("a:boss:$argon2id$v=19$x:5\n"), -EINVAL);
    CHECK_EQ(P("a:head:$2y$10$abc:5\n"), -EINVAL);
    CHECK_EQ(P("a:head:$argon2id$x\n"), -EINVAL);
    CHECK_EQ(P("a:head:$argon2id$x:5:6\n"), -EINVAL);
    CHECK_EQ(P("a:head:$argon2id$x:5\na:dsl:$argon2id$x:5\n"), -EINVAL);
    CHECK_EQ(P("A:head:$argon2id$x:5\n"), -EINVAL);
    CHECK_EQ(P("a:head:$argon2id$x:-5\n"), -EINVAL);
    CHECK_EQ(users_parse("a:head:$argon2id$x:5\0", 21, &t, err, sizeof err), -EINVAL);
#undef P
    CHECK(users_may(USERS_HEAD, USERS_CAP_GRANTS) && !users_may(USERS_HEAD, USERS_CAP_SAFEGUARD));
    CHECK(users_may(USERS_DSL, USERS_CAP_SAFEGUARD) && !users_may(USERS_DSL, USERS_CAP_GRANTS));
    CHECK(users_may(USERS_TECHNICIAN, USERS_CAP_STATUS) && !users_may(USERS_DSL, USERS_CAP_STATUS));
}

static void test_sessions(void)
{
    struct session_table *t = session_table_new();
    struct users_account a = {.name = "x", .role = USERS_DSL, .hash = "h"};
    CHECK(t != NULL);
    struct session *s = session_create(t, &a, 1000);
    char tok[ADMIN_TOKEN_HEX + 1], csrf[ADMIN_TOKEN_HEX + 1];
    memcpy(tok, s->token, sizeof tok);
    memcpy(csrf, s->csrf, sizeof csrf);
    CHECK(admin_token_valid(tok) && strcmp(tok, csrf));
    CHECK(session_find(t, tok, 1000 + SESSION_IDLE - 1) == s);
    CHECK(session_csrf_ok(s, csrf));
    CHECK(!session_csrf_ok(s, tok));
    CHECK(!session_csrf_ok(s, NULL));
    /* idle: touched at +IDLE-1, so alive until +2*IDLE-1 */
    CHECK(session_find(t, tok, 1000 + 2 * SESSION_IDLE - 2) == s);
    CHECK(session_find(t, tok, 1000 + 3 * SESSION_IDLE) == NULL);
    s = session_create(t, &a, 5000);
    memcpy(tok, s->token, sizeof tok);
    for (int64_t now = 5000; now < 5000 + SESSION_MAX_AGE; now += SESSION_IDLE / 2)
        CHECK(session_find(t, tok, now) != NULL);
    CHECK(session_find(t, tok, 5000 + SESSION_MAX_AGE) == NULL); /* whatever the activity */
    CHECK(session_find(t, "zz", 5000) == NULL);

    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.62.0.9", &sin.sin_addr);
    unsigned retry;
    for (int i = 0; i < LIMIT_ACCOUNT; i++) {
        CHECK_EQ(session_limit_check(t, "x", (struct sockaddr *)&sin, 100, &retry), 0);
        session_limit_fail(t, "x", (struct sockaddr *)&sin, 100);
    }
    CHECK_EQ(session_limit_check(t, "x", (struct sockaddr *)&sin, 101, &retry), -EAGAIN);
    CHECK_EQ(retry, LIMIT_WINDOW - 1);
    CHECK_EQ(session_limit_check(t, "y", (struct sockaddr *)&sin, 101, &retry), 0);
    CHECK_EQ(session_limit_check(t, "x", (struct sockaddr *)&sin, 100 + LIMIT_WINDOW, &retry), 0);
    /* the address limit: many names from one address */
    for (int i = 0; i < LIMIT_ADDR; i++) {
        char n[16];
        snprintf(n, sizeof n, "n%d", i);
        session_limit_fail(t, n, (struct sockaddr *)&sin, 20000);
    }
    CHECK_EQ(session_limit_check(t, "fresh", (struct sockaddr *)&sin, 20001, &retry), -EAGAIN);
    CHECK(session_failures(t) == LIMIT_ACCOUNT + LIMIT_ADDR);
    /* the tables stay bounded under a flood */
    for (int i = 0; i < 5 * LIMIT_SLOTS; i++) {
        char n[16];
        snprintf(n, sizeof n, "f%d", i);
        sin.sin_addr.s_addr = htonl(0x7f3e0000u + (uint32_t)i);
        session_limit_fail(t, n, (struct sockaddr *)&sin, 30000);
    }
    for (int i = 0; i < 2 * SESSION_MAX; i++)
        CHECK(session_create(t, &a, 40000 + i) != NULL);
    CHECK_EQ(session_count(t, 40000 + 2 * SESSION_MAX), SESSION_MAX);
    session_table_free(t);
}

int main(void)
{
    UNIT_RUN(test_routes);
    UNIT_RUN(test_static_names);
    UNIT_RUN(test_cookie);
    UNIT_RUN(test_text);
    UNIT_RUN(test_json_bodies);
    UNIT_RUN(test_search);
    UNIT_RUN(test_dates);
    UNIT_RUN(test_users_file);
    UNIT_RUN(test_users_parse);
    UNIT_RUN(test_sessions);
    return unit_done();
}
