/*
 * test_control.c - the control socket's request parser, the metrics
 * endpoint's HTTP parser, and the status and metrics formatters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "unit.h"

static int req(const char *s, struct control_request *r)
{
    return control_parse_request(s, strlen(s), r);
}

static void test_request_verbs(void)
{
    struct control_request r;
    CHECK_EQ(req("status", &r), 0);
    CHECK_EQ(r.verb, CONTROL_STATUS);
    CHECK_EQ(req("status json\r", &r), 0);
    CHECK_EQ(r.verb, CONTROL_STATUS_JSON);
    CHECK_EQ(req("  reload  ", &r), 0);
    CHECK_EQ(r.verb, CONTROL_RELOAD);
    CHECK_EQ(req("flush www.Example.ORG", &r), 0);
    CHECK_EQ(r.verb, CONTROL_FLUSH);
    CHECK(!r.subtree);
    CHECK_EQ(r.name_len, 17);
    CHECK(memcmp(r.name, "\3www\7example\3org\0", 17) == 0);
    CHECK_EQ(req("flush example.org. subtree", &r), 0);
    CHECK(r.subtree);
    CHECK_EQ(r.name_len, 13);
    CHECK_EQ(req("flush . subtree", &r), 0);
    CHECK_EQ(r.name_len, 1);
    CHECK_EQ(r.name[0], 0);
}

static void test_request_refused(void)
{
    struct control_request r;
    static const char *bad[] = {
        "",
        "   ",
        "STATUS",
        "status xml",
        "status json extra",
        "reload now",
        "flush",
        "flush a b",
        "flush a..b",
        "flush .a",
        "flush a\\.b",
        "flush a subtree x",
        "restart",
        "status\tjson",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(req(bad[i], &r), -EINVAL);
        CHECK(r.error && *r.error);
    }
    /* bytes outside printable ASCII, including NUL inside the length */
    CHECK_EQ(control_parse_request("status\0x", 8, &r), -EINVAL);
    CHECK_EQ(control_parse_request("flush \xc3\xa9.fr", 10, &r), -EINVAL);
    /* too long a line */
    char big[CONTROL_LINE_MAX + 10];
    memset(big, 'a', sizeof big);
    memcpy(big, "flush ", 6);
    CHECK_EQ(control_parse_request(big, sizeof big, &r), -EINVAL);
}

static void test_name_bounds(void)
{
    uint8_t w[256];
    char name[300];
    /* a 63-octet label is the most; 64 is refused (RFC 1035 2.3.4) */
    memset(name, 'a', 63);
    CHECK_EQ(control_name_to_wire(name, 63, w), 65);
    memset(name, 'a', 64);
    CHECK_EQ(control_name_to_wire(name, 64, w), -EINVAL);
    /* 127 labels "a." make 254 octets on the wire with the root: fine;
     * one more label of 1 goes to 256: refused */
    size_t o = 0;
    for (int i = 0; i < 127; i++) {
        name[o++] = 'a';
        name[o++] = '.';
    }
    CHECK_EQ(control_name_to_wire(name, o, w), 255);
    name[o++] = 'b';
    CHECK_EQ(control_name_to_wire(name, o, w), -EINVAL);
    CHECK_EQ(control_name_to_wire("", 0, w), -EINVAL);
    CHECK_EQ(control_name_to_wire("..", 2, w), -EINVAL);
    CHECK_EQ(control_name_to_wire("a b", 3, w), -EINVAL);
}

static int http(const char *s, struct control_http_request *r)
{
    return control_http_parse(s, strlen(s), r);
}

static void test_http_good(void)
{
    struct control_http_request r;
    const char *a = "GET /metrics HTTP/1.1\r\nHost: localhost:9153\r\nAccept: */*\r\n\r\n";
    CHECK_EQ(http(a, &r), (int)strlen(a));
    CHECK_EQ(r.method, CONTROL_HTTP_GET);
    CHECK_STR(r.path, "/metrics");
    CHECK_EQ(r.minor, 1);
    CHECK_EQ(r.nheaders, 2);
    CHECK_EQ(control_http_status(&r), 200);
    /* bare LF, HTTP/1.0, a query string, and bytes after the head */
    const char *b = "HEAD /metrics?x=1 HTTP/1.0\n\nbody";
    CHECK_EQ(http(b, &r), (int)strlen(b) - 4);
    CHECK_EQ(r.method, CONTROL_HTTP_HEAD);
    CHECK_EQ(control_http_status(&r), 200);
    CHECK_EQ(http("GET / HTTP/1.0\r\n\r\n", &r), 18);
    CHECK_EQ(control_http_status(&r), 404);
    CHECK_EQ(http("GET /metrics/ HTTP/1.0\r\n\r\n", &r), 26);
    CHECK_EQ(control_http_status(&r), 404);
    CHECK_EQ(http("POST /metrics HTTP/1.0\r\n\r\n", &r), 26);
    CHECK_EQ(control_http_status(&r), 405);
}

static void test_http_incomplete_and_bad(void)
{
    struct control_http_request r;
    CHECK_EQ(http("", &r), CONTROL_HTTP_INCOMPLETE);
    CHECK_EQ(http("GET /metrics HTTP/1.1\r\n", &r), CONTROL_HTTP_INCOMPLETE);
    CHECK_EQ(http("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), CONTROL_HTTP_INCOMPLETE);
    static const char *bad[] = {
        "GET /metrics\r\n\r\n",
        "GET  /metrics HTTP/1.0\r\n\r\n",
        "GET http://x/metrics HTTP/1.0\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET /metrics HTTP/1.0 \r\n\r\n",
        "get /metrics HTTP/1.0\r\n\r\n",
        "GET /met\rrics HTTP/1.0\r\n\r\n",
        "GET /metrics HTTP/1.0\r\nHost : x\r\n\r\n",
        "GET /metrics HTTP/1.0\r\nHost: x\r\n folded\r\n\r\n",
        "GET /metrics HTTP/1.0\r\nNoColon\r\n\r\n",
        "GET /metrics HTTP/1.0\r\nX: a\x01b\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ(http(bad[i], &r), -EINVAL);
    /* too long without an end, and too many headers */
    char *big = malloc(CONTROL_HTTP_MAX + 100);
    CHECK(big != NULL);
    if (!big)
        return;
    memset(big, 'a', CONTROL_HTTP_MAX + 100);
    memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
    CHECK_EQ(control_http_parse(big, CONTROL_HTTP_MAX + 100, &r), -E2BIG);
    size_t o = (size_t)snprintf(big, 64, "GET /metrics HTTP/1.0\r\n");
    for (int i = 0; i <= CONTROL_HTTP_MAX_HEADERS; i++)
        o += (size_t)snprintf(big + o, 16, "A%d: b\r\n", i % 10);
    o += (size_t)snprintf(big + o, 8, "\r\n");
    CHECK(o < CONTROL_HTTP_MAX);
    CHECK_EQ(control_http_parse(big, o, &r), -E2BIG);
    free(big);
}

static struct daemon_status sample(void)
{
    struct daemon_status st;
    memset(&st, 0, sizeof st);
    st.pid = 42;
    st.started = 1000;
    st.now = 1000 + 3 * 3600 + 61;
    st.threads = 2;
    st.generation = 3;
    st.config_path = "/etc/gatehouse/\"odd\".yaml";
    st.queries = 1000;
    st.answered = 990;
    st.blocked = 25;
    st.cache_hits = 750;
    st.cache_misses = 250;
    st.cache_entries = 321;
    st.log_enabled = true;
    st.log_written = 980;
    st.log_dropped = 7;
    st.log_lag_us = 250000;
    st.index_open = true;
    st.index_names = 123456;
    st.index_built = st.now - 7200;
    st.grants_live = 2;
    return st;
}

static void test_format_status(void)
{
    struct daemon_status st = sample();
    char out[8192];
    int n = control_format_status(&st, false, out, sizeof out);
    CHECK(n > 0 && (size_t)n == strlen(out));
    CHECK(strstr(out, "\nqueries: 1000\n") != NULL);
    CHECK(strstr(out, "\nblocked: 25\n") != NULL);
    CHECK(strstr(out, "cache hit rate: 75.0%") != NULL);
    CHECK(strstr(out, "uptime: 3h 1m 1s") != NULL);
    CHECK(strstr(out, "7 dropped") != NULL);
    CHECK(strstr(out, "lag 0.2 s") != NULL || strstr(out, "lag 0.3 s") != NULL);
    CHECK(strstr(out, "123456 names") != NULL && strstr(out, "(2h 0m 0s ago)") != NULL);
    CHECK(strstr(out, "grants: 2 live") != NULL);
    n = control_format_status(&st, true, out, sizeof out);
    CHECK(n > 0);
    CHECK(strstr(out, "\"queries\":1000,") != NULL);
    CHECK(strstr(out, "\"config\":\"/etc/gatehouse/\\\"odd\\\".yaml\"") != NULL);
    CHECK(out[0] == '{' && out[n - 2] == '}' && out[n - 1] == '\n');
    /* too small a buffer: -ENOSPC, still terminated */
    CHECK_EQ(control_format_status(&st, false, out, 40), -ENOSPC);
    CHECK(strlen(out) < 40);
}

static void test_format_metrics(void)
{
    struct daemon_status st = sample();
    char out[CONTROL_REPLY_MAX];
    int n = control_format_metrics(&st, out, sizeof out);
    CHECK(n > 0);
    CHECK(strstr(out, "# TYPE gatehouse_queries_total counter\ngatehouse_queries_total 1000\n"));
    CHECK(strstr(out, "# HELP gatehouse_blocked_total "));
    CHECK(strstr(out, "\ngatehouse_blocked_total 25\n"));
    CHECK(strstr(out, "\ngatehouse_cache_hits_total 750\n"));
    CHECK(strstr(out, "# TYPE gatehouse_cache_entries gauge\ngatehouse_cache_entries 321\n"));
    CHECK(strstr(out, "\ngatehouse_log_lag_seconds 0.250000\n"));
    /* every sample line is preceded by its HELP and TYPE */
    int samples = 0, types = 0;
    for (char *l = out; l && *l;) {
        char *nl = strchr(l, '\n');
        if (strncmp(l, "# TYPE ", 7) == 0)
            types++;
        else if (*l != '#')
            samples++;
        l = nl ? nl + 1 : NULL;
    }
    CHECK_EQ(samples, types);
    CHECK(samples >= 30);
    CHECK_EQ(control_format_metrics(&st, out, 100), -ENOSPC);
    char line[80];
    control_format_summary(&st, line, sizeof line);
    CHECK_STR(line, "1000 queries, 25 blocked, 75% cache hits");
}

int main(void)
{
    UNIT_RUN(test_request_verbs);
    UNIT_RUN(test_request_refused);
    UNIT_RUN(test_name_bounds);
    UNIT_RUN(test_http_good);
    UNIT_RUN(test_http_incomplete_and_bad);
    UNIT_RUN(test_format_status);
    UNIT_RUN(test_format_metrics);
    return unit_done();
}
