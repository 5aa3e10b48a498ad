/*
 * test_hints.c - root hints: the built-in IANA copy and zone files, good and
 * bad (fixtures in tests/data/hints/), with "FILE:LINE: message" errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hints.h"
#include "unit.h"

/* The fixtures, found from this file's path (the tests run from the top of
 * the tree). */
static const char *fixture(const char *name)
{
    static char path[512];
    const char *dir = getenv("GATEHOUSE_TEST_DATA");
    if (dir)
        snprintf(path, sizeof(path), "%s/hints/%s", dir, name);
    else
        snprintf(path, sizeof(path), "tests/data/hints/%s", name);
    return path;
}

static size_t count_addrs(const struct hints *h, ldns_rr_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(h->addrs); i++)
        n += ldns_rr_get_type(ldns_rr_list_rr(h->addrs, i)) == type;
    return n;
}

static bool has_addr(const struct hints *h, const char *owner, const char *addr)
{
    ldns_rdf *o = ldns_dname_new_frm_str(owner);
    bool found = false;
    for (size_t i = 0; i < ldns_rr_list_rr_count(h->addrs); i++) {
        ldns_rr *rr = ldns_rr_list_rr(h->addrs, i);
        char *a = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        if (ldns_dname_compare(ldns_rr_owner(rr), o) == 0 && strcmp(a, addr) == 0)
            found = true;
        free(a);
    }
    ldns_rdf_deep_free(o);
    return found;
}

static void test_builtin(void)
{
    char err[256] = "x";
    struct hints *h = hints_load(NULL, err, sizeof(err));
    CHECK(h != NULL);
    if (!h)
        return;
    CHECK_STR(err, "");
    CHECK_EQ(ldns_rr_list_rr_count(h->ns), 13);
    CHECK_EQ(count_addrs(h, LDNS_RR_TYPE_A), 13);
    CHECK_EQ(count_addrs(h, LDNS_RR_TYPE_AAAA), 13);
    CHECK(has_addr(h, "a.root-servers.net.", "198.41.0.4"));
    CHECK(has_addr(h, "b.root-servers.net.", "170.247.170.2"));
    CHECK(has_addr(h, "m.root-servers.net.", "2001:dc3::35"));
    for (size_t i = 0; i < ldns_rr_list_rr_count(h->ns); i++) {
        ldns_rr *rr = ldns_rr_list_rr(h->ns, i);
        CHECK_EQ(ldns_dname_label_count(ldns_rr_owner(rr)), 0);
        CHECK_EQ(ldns_rr_get_type(rr), LDNS_RR_TYPE_NS);
    }
    hints_free(h);
}

static void test_good_file(void)
{
    char err[256];
    struct hints *h = hints_load(fixture("good.hints"), err, sizeof(err));
    CHECK(h != NULL);
    if (!h) {
        printf("# %s\n", err);
        return;
    }
    CHECK_EQ(ldns_rr_list_rr_count(h->ns), 2);
    CHECK_EQ(ldns_rr_list_rr_count(h->addrs), 3);     /* elsewhere.test is not a root server */
    CHECK(has_addr(h, "a.root.test.", "127.53.0.1")); /* lower-cased */
    CHECK(has_addr(h, "b.root.test.", "fd53::1"));
    char *target = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(h->ns, 0), 0));
    CHECK_STR(target, "a.root.test.");
    free(target);
    CHECK_EQ(ldns_rr_ttl(ldns_rr_list_rr(h->ns, 0)), 3600000);
    hints_free(h);
}

static void expect_error(const char *file, const char *want_suffix)
{
    char err[256];
    char want[512];
    struct hints *h = hints_load(fixture(file), err, sizeof(err));
    CHECK(h == NULL);
    hints_free(h);
    snprintf(want, sizeof(want), "%s%s", fixture(file), want_suffix);
    if (strncmp(err, want, strlen(want)) != 0)
        printf("# got \"%s\", want prefix \"%s\"\n", err, want);
    CHECK(strncmp(err, want, strlen(want)) == 0);
}

static void test_bad_syntax_names_line(void)
{
    expect_error("bad-syntax.hints", ":3: ");
}

static void test_ns_without_address(void)
{
    expect_error("ns-without-address.hints", ":3: NS b.root.test. has no A or AAAA record");
}

static void test_no_ns(void)
{
    expect_error("no-ns.hints", ":");
    char err[256];
    CHECK(hints_load(fixture("no-ns.hints"), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "no root NS records") != NULL);
}

static void test_ns_not_at_root(void)
{
    expect_error("ns-not-root.hints", ":3: NS record not at the root");
}

static void test_missing_file(void)
{
    char err[256];
    CHECK(hints_load("/nonexistent/gatehouse.hints", err, sizeof(err)) == NULL);
    CHECK(strncmp(err, "/nonexistent/gatehouse.hints:0: ", 32) == 0);
    CHECK(hints_load("/nonexistent/gatehouse.hints", NULL, 0) == NULL);
}

int main(void)
{
    UNIT_RUN(test_builtin);
    UNIT_RUN(test_good_file);
    UNIT_RUN(test_bad_syntax_names_line);
    UNIT_RUN(test_ns_without_address);
    UNIT_RUN(test_no_ns);
    UNIT_RUN(test_ns_not_at_root);
    UNIT_RUN(test_missing_file);
    return unit_done();
}
