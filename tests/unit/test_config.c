/*
 * test_config.c - the YAML configuration loader: defaults, every key, every
 * class of error with its exact position, print/load round trips, the golden
 * printout, reload rules, and the address and network helpers.
 *
 * Fixtures live in tests/data/config/ (the repository root is the working
 * directory when tests run).
 */
#include "config.h"
#include "trust.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DATA "tests/data/config/"

static char err[1024];

static struct config *load(const char *text)
{
    struct config *cfg = NULL;
    int rc = config_load_buffer("gh.yaml", text, strlen(text), &cfg, err, sizeof(err));
    if (rc != 0) {
        printf("#   unexpected error %d: %s\n", rc, err);
        return NULL;
    }
    return cfg;
}

/* Load text that must fail; returns the message. */
static const char *load_err(const char *text)
{
    struct config *cfg = (struct config *)1;
    int rc = config_load_buffer("gh.yaml", text, strlen(text), &cfg, err, sizeof(err));
    if (rc != -EINVAL || cfg != NULL) {
        printf("#   expected -EINVAL, got %d for: %s\n", rc, text);
        config_free(rc == 0 ? cfg : NULL);
        return "(loaded)";
    }
    return err;
}

/* ------------------------------------------------------------------------ */
/* Equality written out field by field, independent of config.c's table, so
 * the round trip test does not trust the code it tests. */

static bool sa_eq(const struct config_sockaddr *a, const struct config_sockaddr *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].len != b[i].len || memcmp(&a[i].ss, &b[i].ss, a[i].len) != 0)
            return false;
    return true;
}

static bool s_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool strs_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!s_eq(a[i], b[i]))
            return false;
    return true;
}

static bool nets_eq(const struct config_net *a, size_t na, const struct config_net *b, size_t nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof(*a)));
}

static bool action_eq(const struct config_action *a, const struct config_action *b)
{
    return a->kind == b->kind && a->have_a4 == b->have_a4 && a->have_a6 == b->have_a6 &&
           !memcmp(a->a4, b->a4, 4) && !memcmp(a->a6, b->a6, 16);
}

/* Allow and deny entries; the line is where the entry was, so a printed
 * config (laid out differently) keeps everything but the line. */
static bool names_eq(const struct config_name *a, size_t na, const struct config_name *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].len != b[i].len || memcmp(a[i].wire, b[i].wire, a[i].len) ||
            a[i].subtree != b[i].subtree || !s_eq(a[i].text, b[i].text))
            return false;
    return true;
}

static bool policy_eq(const struct config_policy *a, const struct config_policy *b)
{
    if (!s_eq(a->name, b->name) || !strs_eq(a->block, a->nblock, b->block, b->nblock) ||
        !names_eq(a->allow, a->nallow, b->allow, b->nallow) ||
        !names_eq(a->deny, a->ndeny, b->deny, b->ndeny) || a->safe_search != b->safe_search ||
        a->nrules != b->nrules || !action_eq(&a->action, &b->action) ||
        a->ncategory_actions != b->ncategory_actions || a->block_ttl != b->block_ttl ||
        a->default_block != b->default_block || a->bypass_protection != b->bypass_protection)
        return false;
    for (size_t i = 0; i < a->nrules; i++)
        if (a->rules[i].kind != b->rules[i].kind || a->rules[i].inside != b->rules[i].inside ||
            !s_eq(a->rules[i].schedule, b->rules[i].schedule) ||
            !strs_eq(a->rules[i].categories, a->rules[i].ncategories, b->rules[i].categories,
                     b->rules[i].ncategories))
            return false;
    for (size_t i = 0; i < a->ncategory_actions; i++)
        if (!s_eq(a->category_actions[i].category, b->category_actions[i].category) ||
            !action_eq(&a->category_actions[i].action, &b->category_actions[i].action))
            return false;
    return true;
}

static bool schedule_eq(const struct config_schedule *a, const struct config_schedule *b)
{
    if (!s_eq(a->name, b->name) || a->nwindows != b->nwindows || a->nterms != b->nterms ||
        a->nholidays != b->nholidays)
        return false;
    for (size_t i = 0; i < a->nwindows; i++)
        if (a->windows[i].days != b->windows[i].days ||
            a->windows[i].start != b->windows[i].start || a->windows[i].end != b->windows[i].end)
            return false;
    for (size_t i = 0; i < a->nterms; i++)
        if (a->terms[i].from != b->terms[i].from || a->terms[i].to != b->terms[i].to)
            return false;
    for (size_t i = 0; i < a->nholidays; i++)
        if (a->holidays[i].from != b->holidays[i].from || a->holidays[i].to != b->holidays[i].to)
            return false;
    return true;
}

static bool segment_eq(const struct config_segment *a, const struct config_segment *b)
{
    return s_eq(a->name, b->name) &&
           nets_eq(a->networks, a->nnetworks, b->networks, b->nnetworks) &&
           nets_eq(a->local_addresses, a->nlocal_addresses, b->local_addresses,
                   b->nlocal_addresses) &&
           strs_eq(a->interfaces, a->ninterfaces, b->interfaces, b->ninterfaces) &&
           s_eq(a->policy, b->policy) && a->grant_required == b->grant_required;
}

static bool cfg_eq(const struct config *a, const struct config *b)
{
    bool ok = true;
#define SAME(expr)                                                                                 \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            printf("#   differs: %s\n", #expr);                                                    \
            ok = false;                                                                            \
        }                                                                                          \
    } while (0)
    SAME(a->nlisten == b->nlisten && sa_eq(a->listen, b->listen, a->nlisten));
    SAME(a->threads == b->threads);
    SAME(s_eq(a->state_dir, b->state_dir));
    SAME(s_eq(a->user, b->user));
    SAME(a->verbosity == b->verbosity);
    SAME(a->nclient_networks == b->nclient_networks &&
         (a->nclient_networks == 0 || !memcmp(a->client_networks, b->client_networks,
                                              a->nclient_networks * sizeof(*a->client_networks))));
    SAME(a->edns_buffer_size == b->edns_buffer_size);
    SAME(a->tcp_idle_timeout_ms == b->tcp_idle_timeout_ms);
    SAME(a->tcp_max_connections == b->tcp_max_connections);
    SAME(s_eq(a->root_hints, b->root_hints));
    SAME(a->qname_minimisation == b->qname_minimisation);
    SAME(a->nforwards == b->nforwards);
    for (size_t i = 0; ok && i < a->nforwards; i++) {
        const struct config_forward *x = &a->forwards[i], *y = &b->forwards[i];
        SAME(s_eq(x->zone, y->zone));
        SAME(x->zone_wire_len == y->zone_wire_len &&
             !memcmp(x->zone_wire, y->zone_wire, x->zone_wire_len));
        SAME(x->nservers == y->nservers && sa_eq(x->servers, y->servers, x->nservers));
    }
    SAME(a->noutgoing == b->noutgoing && sa_eq(a->outgoing, b->outgoing, a->noutgoing));
    SAME(a->ipv4 == b->ipv4);
    SAME(a->ipv6 == b->ipv6);
    SAME(a->query_loopback == b->query_loopback);
    SAME(a->upstream_timeout_ms == b->upstream_timeout_ms);
    SAME(a->query_deadline_ms == b->query_deadline_ms);
    SAME(a->max_referrals == b->max_referrals);
    SAME(a->max_cname == b->max_cname);
    SAME(a->max_work == b->max_work);
    SAME(a->max_outstanding == b->max_outstanding);
    SAME(a->max_per_client == b->max_per_client);
    SAME(a->cache_size == b->cache_size);
    SAME(a->cache_min_ttl == b->cache_min_ttl);
    SAME(a->cache_max_ttl == b->cache_max_ttl);
    SAME(a->cache_max_negative_ttl == b->cache_max_negative_ttl);
    SAME(a->serve_stale == b->serve_stale);
    SAME(a->stale_max_age == b->stale_max_age);
    SAME(a->prefetch == b->prefetch);
    SAME(s_eq(a->blocklist_index, b->blocklist_index));
    SAME(a->ncategories == b->ncategories);
    for (size_t i = 0; ok && i < a->ncategories; i++) {
        SAME(s_eq(a->categories[i].name, b->categories[i].name));
        SAME(strs_eq(a->categories[i].sources, a->categories[i].nsources, b->categories[i].sources,
                     b->categories[i].nsources));
    }
    SAME(a->log_enabled == b->log_enabled);
    SAME(s_eq(a->log_path, b->log_path));
    SAME(a->log_map_size == b->log_map_size);
    SAME(a->log_retention == b->log_retention);
    SAME(a->log_retention_flagged == b->log_retention_flagged);
    SAME(strs_eq(a->safeguarding, a->nsafeguarding, b->safeguarding, b->nsafeguarding));
    SAME(s_eq(a->timezone, b->timezone));
    SAME(a->nschedules == b->nschedules);
    for (size_t i = 0; ok && i < a->nschedules; i++)
        SAME(schedule_eq(&a->schedules[i], &b->schedules[i]));
    SAME(a->npolicies == b->npolicies);
    for (size_t i = 0; ok && i < a->npolicies; i++)
        SAME(policy_eq(&a->policies[i], &b->policies[i]));
    SAME(s_eq(a->grants_path, b->grants_path));
    SAME(a->grants_max_guest == b->grants_max_guest);
    SAME(a->grants_max_exemption == b->grants_max_exemption);
    SAME(a->grants_retention == b->grants_retention);
    SAME(s_eq(a->grants_admin_group, b->grants_admin_group));
    SAME(names_eq(a->grants_unauthorised_allow, a->ngrants_unauthorised_allow,
                  b->grants_unauthorised_allow, b->ngrants_unauthorised_allow));
    SAME(action_eq(&a->grants_block, &b->grants_block));
    SAME(s_eq(a->dhcp_leases, b->dhcp_leases));
    SAME(a->dhcp_format == b->dhcp_format);
    SAME(a->nsegments == b->nsegments);
    for (size_t i = 0; ok && i < a->nsegments; i++)
        SAME(segment_eq(&a->segments[i], &b->segments[i]));
#undef SAME
    return ok;
}

static char *print_to_string(const struct config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    config_print(f, cfg);
    fclose(f);
    return buf;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static const char *sa_str(const struct config_sockaddr *sa, char *buf, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    if (sa->ss.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const void *)&sa->ss;
        inet_ntop(AF_INET, &v4->sin_addr, addr, sizeof(addr));
        snprintf(buf, len, "%s@%u", addr, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const void *)&sa->ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, addr, sizeof(addr));
        snprintf(buf, len, "%s@%u", addr, ntohs(v6->sin6_port));
    }
    return buf;
}

/* ------------------------------------------------------------------------ */

static void check_defaults(const struct config *c)
{
    char b[64];
    CHECK_EQ(c->nlisten, 2);
    if (c->nlisten == 2) {
        CHECK_STR(sa_str(&c->listen[0], b, sizeof(b)), "127.0.0.1@5353");
        CHECK_EQ(c->listen[0].len, sizeof(struct sockaddr_in));
        CHECK_STR(sa_str(&c->listen[1], b, sizeof(b)), "::1@5353");
        CHECK_EQ(c->listen[1].len, sizeof(struct sockaddr_in6));
    }
    CHECK_EQ(c->threads, 1);
    CHECK_STR(c->state_dir, "/var/lib/gatehouse");
    CHECK(c->user == NULL);
    CHECK_EQ(c->verbosity, 2);
    CHECK_EQ(c->nclient_networks, 2);
    if (c->nclient_networks == 2) {
        CHECK_EQ(c->client_networks[0].family, AF_INET);
        CHECK_EQ(c->client_networks[0].prefix, 8);
        CHECK_EQ(c->client_networks[0].addr[0], 127);
        CHECK_EQ(c->client_networks[1].family, AF_INET6);
        CHECK_EQ(c->client_networks[1].prefix, 128);
        CHECK_EQ(c->client_networks[1].addr[15], 1);
    }
    CHECK_EQ(c->edns_buffer_size, 1232);
    CHECK_EQ(c->tcp_idle_timeout_ms, 10000);
    CHECK_EQ(c->tcp_max_connections, 256);
    CHECK(c->root_hints == NULL);
    CHECK(c->qname_minimisation);
    CHECK_EQ(c->nforwards, 0);
    CHECK_EQ(c->noutgoing, 0);
    CHECK(c->ipv4);
    CHECK(c->ipv6);
    CHECK(!c->query_loopback);
    CHECK_EQ(c->upstream_timeout_ms, 400);
    CHECK_EQ(c->query_deadline_ms, 10000);
    CHECK_EQ(c->max_referrals, 30);
    CHECK_EQ(c->max_cname, 12);
    CHECK_EQ(c->max_work, 64);
    CHECK_EQ(c->max_outstanding, 4096);
    CHECK_EQ(c->max_per_client, 1024);
    CHECK_EQ(c->cache_size, 64 << 20);
    CHECK_EQ(c->cache_min_ttl, 0);
    CHECK_EQ(c->cache_max_ttl, 86400);
    CHECK_EQ(c->cache_max_negative_ttl, 3600);
    CHECK(c->serve_stale);
    CHECK_EQ(c->stale_max_age, 86400);
    CHECK(c->prefetch);
    CHECK_STR(c->blocklist_index, "/var/lib/gatehouse/blocklists.mdb");
    CHECK_EQ(c->ncategories, 0);
    CHECK(c->log_enabled);
    CHECK_STR(c->log_path, "/var/lib/gatehouse/querylog");
    CHECK_EQ(c->log_map_size, 4ULL << 30);
    CHECK_EQ(c->log_retention, 90 * 86400);
    CHECK_EQ(c->log_retention_flagged, 365 * 86400);
    CHECK_EQ(c->nsafeguarding, 6);
    if (c->nsafeguarding == 6) {
        CHECK_STR(c->safeguarding[0], "adult");
        CHECK_STR(c->safeguarding[1], "extremism");
        CHECK_STR(c->safeguarding[2], "self_harm");
        CHECK_STR(c->safeguarding[3], "violence");
        CHECK_STR(c->safeguarding[4], "drugs");
        CHECK_STR(c->safeguarding[5], "weapons");
    }
    CHECK_STR(c->timezone, "Europe/London");
    CHECK_EQ(c->nschedules, 0);
    CHECK(c->schedules == NULL);
    CHECK_EQ(c->npolicies, 0);
    CHECK(c->policies == NULL);
    CHECK_EQ(c->nsegments, 0);
    CHECK(c->segments == NULL);
    CHECK_STR(c->grants_path, "/var/lib/gatehouse/grants");
    CHECK_EQ(c->grants_max_guest, 12 * 3600);
    CHECK_EQ(c->grants_max_exemption, 7 * 86400);
    CHECK_EQ(c->grants_retention, 90 * 86400);
    CHECK_STR(c->grants_admin_group, "gatehouse-admin");
    /* Nothing by default: the school adds its own site.  Captive-portal
     * probes are built in (policy.c) and answered NXDOMAIN. */
    CHECK_EQ(c->ngrants_unauthorised_allow, 0);
    CHECK(c->grants_unauthorised_allow == NULL);
    CHECK_EQ(c->grants_block.kind, CONFIG_ACTION_NXDOMAIN);
    CHECK(c->dhcp_leases == NULL);
    CHECK_EQ(c->dhcp_format, CONFIG_DHCP_ISC);
}

static void test_defaults(void)
{
    struct config *c = config_default();
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_STR(c->path, "(built-in)");
    check_defaults(c);
    config_free(c);
}

static void test_empty_is_default(void)
{
    static const char *const empty[] = {
        "",           "\n\n", "# only a comment\n", "---\n",
        "---\n...\n", "~\n",  "server:\n",          "server:\n  # threads: 4\nlog: ~\n",
        "{}\n",
    };
    struct config *d = config_default();
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        struct config *c = load(empty[i]);
        CHECK(c != NULL);
        if (!c)
            continue;
        CHECK_STR(c->path, "gh.yaml");
        check_defaults(c);
        CHECK(cfg_eq(c, d));
        config_free(c);
    }
    /* A NULL buffer of length 0 is an empty file too. */
    struct config *c = NULL;
    CHECK_EQ(config_load_buffer("x", NULL, 0, &c, err, sizeof(err)), 0);
    CHECK(c != NULL);
    config_free(c);
    config_free(d);
}

static void test_example_is_default(void)
{
    struct config *c = NULL, *d = config_default();
    int rc = config_load("docs/gatehouse.example.yaml", &c, err, sizeof(err));
    CHECK_EQ(rc, 0);
    if (rc)
        printf("#   %s\n", err);
    if (c) {
        CHECK_STR(c->path, "docs/gatehouse.example.yaml");
        CHECK(cfg_eq(c, d)); /* the example shows every default */
    }
    config_free(c);
    config_free(d);
}

static void test_full_fixture(void)
{
    struct config *c = NULL;
    char b[64];
    int rc = config_load(DATA "full.yaml", &c, err, sizeof(err));
    CHECK_EQ(rc, 0);
    if (rc) {
        printf("#   %s\n", err);
        return;
    }
    CHECK_EQ(c->nlisten, 2);
    CHECK_STR(sa_str(&c->listen[0], b, sizeof(b)), "192.0.2.1@53");
    CHECK_STR(sa_str(&c->listen[1], b, sizeof(b)), "2001:db8::1@5300");
    CHECK_EQ(c->threads, 4);
    CHECK_STR(c->state_dir, "/srv/gatehouse/");
    CHECK_STR(c->user, "gatehouse");
    CHECK_EQ(c->verbosity, 3);
    CHECK_EQ(c->nclient_networks, 3);
    CHECK_EQ(c->client_networks[0].prefix, 16);
    CHECK_EQ(c->client_networks[0].addr[0], 10);
    CHECK_EQ(c->client_networks[0].addr[1], 20);
    CHECK_EQ(c->client_networks[1].family, AF_INET6);
    CHECK_EQ(c->client_networks[1].prefix, 48);
    CHECK_EQ(c->client_networks[2].family, AF_INET);
    CHECK_EQ(c->client_networks[2].prefix, 32); /* a bare address */
    CHECK_EQ(c->edns_buffer_size, 1400);
    CHECK_EQ(c->tcp_idle_timeout_ms, 30000);
    CHECK_EQ(c->tcp_max_connections, 512);
    CHECK_STR(c->root_hints, "/etc/gatehouse/root.hints");
    CHECK(!c->qname_minimisation);
    CHECK_EQ(c->nforwards, 2);
    if (c->nforwards == 2) {
        CHECK_STR(c->forwards[0].zone, "school.local.");
        CHECK_EQ(c->forwards[0].zone_wire_len, 14);
        CHECK(!memcmp(c->forwards[0].zone_wire, "\006school\005local\000", 14));
        CHECK_EQ(c->forwards[0].nservers, 2);
        CHECK_STR(sa_str(&c->forwards[0].servers[0], b, sizeof(b)), "10.0.0.53@53");
        CHECK_STR(sa_str(&c->forwards[0].servers[1], b, sizeof(b)), "10.0.0.54@5300");
        CHECK_STR(c->forwards[1].zone, ".");
        CHECK_EQ(c->forwards[1].zone_wire_len, 1);
        CHECK_EQ(c->forwards[1].zone_wire[0], 0);
        CHECK_EQ(c->forwards[1].nservers, 1);
        CHECK_STR(sa_str(&c->forwards[1].servers[0], b, sizeof(b)), "2001:db8::53@53");
    }
    CHECK_EQ(c->noutgoing, 2);
    CHECK_EQ(c->outgoing[0].ss.ss_family, AF_INET);
    CHECK_EQ(c->outgoing[1].ss.ss_family, AF_INET6);
    CHECK(c->ipv4);
    CHECK(!c->ipv6);
    CHECK(c->query_loopback);
    CHECK_EQ(c->upstream_timeout_ms, 250);
    CHECK_EQ(c->query_deadline_ms, 120000);
    CHECK_EQ(c->max_referrals, 20);
    CHECK_EQ(c->max_cname, 8);
    CHECK_EQ(c->max_work, 100);
    CHECK_EQ(c->max_outstanding, 8192);
    CHECK_EQ(c->max_per_client, 32);
    CHECK_EQ(c->cache_size, 512 << 20);
    CHECK_EQ(c->cache_min_ttl, 30);
    CHECK_EQ(c->cache_max_ttl, 2 * 86400);
    CHECK_EQ(c->cache_max_negative_ttl, 900);
    CHECK(!c->serve_stale);
    CHECK_EQ(c->stale_max_age, 7 * 86400);
    CHECK(!c->prefetch);
    CHECK_STR(c->blocklist_index, "/srv/blocklists/index.mdb");
    CHECK_EQ(c->ncategories, 2);
    if (c->ncategories == 2) {
        CHECK_STR(c->categories[0].name, "adult");
        CHECK_EQ(c->categories[0].nsources, 2);
        CHECK_STR(c->categories[0].sources[0], "/etc/gatehouse/lists/adult.txt");
        CHECK_STR(c->categories[0].sources[1], "https://lists.example.org/adult.txt");
        CHECK_STR(c->categories[1].name, "self_harm");
        CHECK_EQ(c->categories[1].nsources, 1);
    }
    CHECK(!c->log_enabled);
    CHECK_STR(c->log_path, "/srv/log/queries");
    CHECK_EQ(c->log_map_size, 1ULL << 30);
    CHECK_EQ(c->log_retention, 30 * 86400);
    CHECK_EQ(c->log_retention_flagged, 52 * 7 * 86400);
    CHECK_EQ(c->nsafeguarding, 2);
    CHECK_STR(c->safeguarding[1], "self_harm");
    config_free(c);
}

/* Each value form the loader promises, checked against the number it
 * means. */
static void test_value_forms(void)
{
    static const struct {
        const char *yaml;
        size_t off, size;
        unsigned long long want;
    } cases[] = {
#define V(y, field, w) {y, offsetof(struct config, field), sizeof(((struct config *)0)->field), w}
        V("cache:\n  size: 1048576\n", cache_size, 1048576),
        V("cache:\n  size: 512k\n", cache_size, 0), /* below 1m: rejected, below */
        V("cache:\n  size: 1024k\n", cache_size, 1 << 20),
        V("cache:\n  size: 64M\n", cache_size, 64 << 20),
        V("cache:\n  size: 1g\n", cache_size, 1 << 30),
        V("cache:\n  size: 3G\n", cache_size, 3ULL << 30),
        V("cache:\n  max-ttl: 30s\n", cache_max_ttl, 30),
        V("cache:\n  max-ttl: 5m\n", cache_max_ttl, 300),
        V("cache:\n  max-ttl: 1h\n", cache_max_ttl, 3600),
        V("cache:\n  max-ttl: 90d\n", cache_max_ttl, 90 * 86400),
        V("cache:\n  max-ttl: 1w\n", cache_max_ttl, 604800),
        V("cache:\n  max-ttl: 7200\n", cache_max_ttl, 7200),
        V("cache:\n  max-negative-ttl: 0\n", cache_max_negative_ttl, 0),
        V("resolver:\n  timeout: 10ms\n", upstream_timeout_ms, 10),
        V("resolver:\n  timeout: 2s\n", upstream_timeout_ms, 2000),
        V("resolver:\n  timeout: 1m\n  deadline: 1m\n", upstream_timeout_ms, 60000),
        V("server:\n  tcp-idle-timeout: 10m\n", tcp_idle_timeout_ms, 600000),
        V("server:\n  tcp-idle-timeout: 1500ms\n", tcp_idle_timeout_ms, 1500),
        V("server:\n  verbosity: 0\n", verbosity, 0),
        V("server:\n  verbosity: 4\n", verbosity, 4),
        V("server:\n  threads: 64\n", threads, 64),
        V("server:\n  edns-buffer-size: 512\n", edns_buffer_size, 512),
        V("server:\n  edns-buffer-size: 4096\n", edns_buffer_size, 4096),
        V("log:\n  retention: 1d\n  retention-flagged: 1d\n", log_retention_flagged, 86400),
#undef V
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *c = NULL;
        int rc = config_load_buffer("gh.yaml", cases[i].yaml, strlen(cases[i].yaml), &c, err,
                                    sizeof(err));
        if (cases[i].want == 0 && cases[i].off == offsetof(struct config, cache_size)) {
            CHECK_EQ(rc, -EINVAL);
            continue;
        }
        CHECK_EQ(rc, 0);
        if (rc) {
            printf("#   %s: %s\n", cases[i].yaml, err);
            continue;
        }
        unsigned long long got = 0;
        if (cases[i].size == 8) {
            uint64_t v;
            memcpy(&v, (char *)c + cases[i].off, 8);
            got = v;
        } else {
            uint32_t v;
            memcpy(&v, (char *)c + cases[i].off, 4);
            got = v;
        }
        if (got != cases[i].want)
            printf("#   case %zu: %s", i, cases[i].yaml);
        CHECK_EQ(got, cases[i].want);
        config_free(c);
    }
}

static void test_bools(void)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "YES", "On"};
    static const char *const no[] = {"false", "no", "off", "False", "NO", "Off"};
    char text[128];
    for (size_t i = 0; i < 6; i++) {
        snprintf(text, sizeof(text), "cache:\n  prefetch: %s\n  serve-stale: %s\n", no[i], yes[i]);
        struct config *c = load(text);
        CHECK(c && !c->prefetch && c->serve_stale);
        config_free(c);
    }
    CHECK_STR(load_err("cache:\n  prefetch: 1\n"),
              "gh.yaml:2:13: cache.prefetch: expected true or false, got '1'");
    CHECK_STR(load_err("cache:\n  prefetch: enabled\n"),
              "gh.yaml:2:13: cache.prefetch: expected true or false, got 'enabled'");
}

static void test_addresses_in_yaml(void)
{
    char b[64];
    /* Unquoted IPv6 in block and flow lists. */
    struct config *c = load("server:\n  listen:\n    - ::1@53\n    - 0.0.0.0@5353\n"
                            "resolver:\n  outgoing-address: 2001:db8::7\n");
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ(c->nlisten, 2);
        CHECK_STR(sa_str(&c->listen[0], b, sizeof(b)), "::1@53");
        CHECK_STR(sa_str(&c->listen[1], b, sizeof(b)), "0.0.0.0@5353");
        CHECK_EQ(c->noutgoing, 1); /* a single scalar address */
        CHECK_STR(sa_str(&c->outgoing[0], b, sizeof(b)), "2001:db8::7@0");
    }
    config_free(c);
    /* A bare listen address gets the default port. */
    c = load("server:\n  listen: [\"192.0.2.1\"]\n");
    CHECK(c && c->nlisten == 1 && !strcmp(sa_str(&c->listen[0], b, sizeof(b)), "192.0.2.1@5353"));
    config_free(c);
    /* An empty client list refuses everyone; allowed, and kept empty. */
    c = load("server:\n  client-networks: []\n");
    CHECK(c && c->nclient_networks == 0);
    config_free(c);
    c = load("resolver:\n  outgoing-address: []\n");
    CHECK(c && c->noutgoing == 0);
    config_free(c);
}

static void test_derived_paths(void)
{
    struct config *c = load("server:\n  state-dir: /srv/gh\n");
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->blocklist_index, "/srv/gh/blocklists.mdb");
        CHECK_STR(c->log_path, "/srv/gh/querylog");
    }
    config_free(c);
    /* Given before state-dir in the file: still derived from the final one. */
    c = load("log:\n  enabled: true\nserver:\n  state-dir: /srv/gh/\n");
    CHECK(c && !strcmp(c->log_path, "/srv/gh/querylog"));
    config_free(c);
    c = load("server:\n  state-dir: /srv/gh\nblocklists:\n  index: /data/bl.mdb\n");
    CHECK(c && !strcmp(c->blocklist_index, "/data/bl.mdb") &&
          !strcmp(c->log_path, "/srv/gh/querylog"));
    config_free(c);
}

static void test_forward_zones(void)
{
    struct config *c = load("resolver:\n  forward-zones:\n"
                            "    - {zone: EXAMPLE.org., servers: [192.0.2.53@5300]}\n"
                            "    - {zone: _tcp.x-y.example, servers: ['2001:db8::1']}\n");
    CHECK(c != NULL);
    if (c && c->nforwards == 2) {
        CHECK_STR(c->forwards[0].zone, "example.org.");
        CHECK_EQ(c->forwards[0].zone_wire_len, 13);
        CHECK(!memcmp(c->forwards[0].zone_wire, "\007example\003org", 13));
        CHECK_STR(c->forwards[1].zone, "_tcp.x-y.example.");
    }
    config_free(c);

    /* 63-byte labels and a 255-byte name are the limits (RFC 1035 2.3.4). */
    char text[1024], l63[64], name[300];
    memset(l63, 'a', 63);
    l63[63] = '\0';
    snprintf(name, sizeof(name), "%s.%s.%s.%.61s", l63, l63, l63, l63);
    snprintf(text, sizeof(text),
             "resolver:\n  forward-zones:\n    - zone: %s\n      servers: "
             "[192.0.2.1]\n",
             name);
    c = load(text);
    CHECK(c && c->nforwards == 1 && c->forwards[0].zone_wire_len == 255);
    config_free(c);
    snprintf(name, sizeof(name), "%s.%s.%s.%.62s", l63, l63, l63, l63);
    snprintf(text, sizeof(text),
             "resolver:\n  forward-zones:\n    - zone: %s\n      servers: "
             "[192.0.2.1]\n",
             name);
    CHECK(!strncmp(load_err(text),
                   "gh.yaml:3:13: resolver.forward-zones[0].zone: expected a "
                   "domain name, got 'aaaa",
                   77));
    snprintf(text, sizeof(text),
             "resolver:\n  forward-zones:\n    - zone: %sa.b\n      servers: "
             "[192.0.2.1]\n",
             l63);
    CHECK(!strncmp(load_err(text), "gh.yaml:3:13: resolver.forward-zones[0].zone: expected", 52));

    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"resolver:\n  forward-zones:\n    - zone: a..b\n      servers: [192.0.2.1]\n",
         "gh.yaml:3:13: resolver.forward-zones[0].zone: expected a domain name, got 'a..b'"},
        {"resolver:\n  forward-zones:\n    - zone: .example\n      servers: [192.0.2.1]\n",
         "gh.yaml:3:13: resolver.forward-zones[0].zone: expected a domain name, got '.example'"},
        {"resolver:\n  forward-zones:\n    - zone: 'a b'\n      servers: [192.0.2.1]\n",
         "gh.yaml:3:13: resolver.forward-zones[0].zone: expected a domain name, got 'a b'"},
        {"resolver:\n  forward-zones:\n    - zone: ''\n      servers: [192.0.2.1]\n",
         "gh.yaml:3:13: resolver.forward-zones[0].zone: expected a domain name, got ''"},
        {"resolver:\n  forward-zones:\n    - zone: a\n",
         "gh.yaml:3:7: resolver.forward-zones[0]: missing 'servers'"},
        {"resolver:\n  forward-zones:\n    - servers: [192.0.2.1]\n",
         "gh.yaml:3:7: resolver.forward-zones[0]: missing 'zone'"},
        {"resolver:\n  forward-zones:\n    - zone: a\n      servers: []\n",
         "gh.yaml:4:16: resolver.forward-zones[0].servers: expected at least one entry"},
        {"resolver:\n  forward-zones:\n    - zone: a\n      servers: 192.0.2.1\n",
         "gh.yaml:4:16: resolver.forward-zones[0].servers: expected a list, got a scalar"},
        {"resolver:\n  forward-zones:\n    - zone: a\n      servers: [192.0.2.1@0]\n",
         "gh.yaml:4:17: resolver.forward-zones[0].servers[0]: expected ADDR or ADDR@PORT, e.g. "
         "192.0.2.53 or 192.0.2.53@5300, got '192.0.2.1@0'"},
        {"resolver:\n  forward-zones:\n    - zone: a\n      servers: [1.2.3.4]\n      port: 5\n",
         "gh.yaml:5:7: unknown key 'resolver.forward-zones[0].port'"},
        {"resolver:\n  forward-zones:\n    - zone: a\n      zone: b\n",
         "gh.yaml:4:7: resolver.forward-zones[0]: duplicate key 'zone'"},
        {"resolver:\n  forward-zones:\n    - {zone: A., servers: [1.2.3.4]}\n"
         "    - {zone: a, servers: [1.2.3.5]}\n",
         "gh.yaml:4:7: resolver.forward-zones[1]: zone 'a.' is already forwarded"},
        {"resolver:\n  forward-zones:\n    - school.local\n",
         "gh.yaml:3:7: resolver.forward-zones[0]: expected a mapping, got a scalar"},
        {"resolver:\n  forward-zones:\n    zone: a\n",
         "gh.yaml:3:5: resolver.forward-zones: expected a list, got a mapping"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_STR(load_err(bad[i].yaml), bad[i].msg);
}

static void test_categories(void)
{
    /* 64 categories are allowed, 65 are not. */
    char *text = malloc(8192);
    size_t o = (size_t)snprintf(text, 8192, "blocklists:\n  categories:\n");
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(text + o, 8192 - o, "    cat-%d: [/l/%d]\n", i, i);
    struct config *c = load(text);
    CHECK(c && c->ncategories == 64 && !strcmp(c->categories[63].name, "cat-63") &&
          !strcmp(c->categories[63].sources[0], "/l/63"));
    config_free(c);
    snprintf(text + o, 8192 - o, "    extra: [/l/x]\n");
    CHECK_STR(load_err(text), "gh.yaml:3:5: blocklists.categories: more than 64 categories");
    free(text);

    c = load("blocklists:\n  categories:\n    abcdefghijklmnopqrstuvwxyz012345: [/x]\n");
    CHECK(c && c->ncategories == 1);
    config_free(c);
    CHECK_STR(load_err("blocklists:\n  categories:\n    abcdefghijklmnopqrstuvwxyz0123456: [/x]\n"),
              "gh.yaml:3:5: blocklists.categories: category name "
              "'abcdefghijklmnopqrstuvwxyz0123456' must be 1 to 32 characters from a-z, 0-9, _ "
              "and -");
    CHECK_STR(load_err("blocklists:\n  categories:\n    Adult: [/x]\n"),
              "gh.yaml:3:5: blocklists.categories: category name 'Adult' must be 1 to 32 "
              "characters from a-z, 0-9, _ and -");
    CHECK_STR(load_err("blocklists:\n  categories:\n    adult: [/x]\n    adult: [/y]\n"),
              "gh.yaml:4:5: blocklists.categories: duplicate key 'blocklists.categories.adult'");
    CHECK_STR(load_err("blocklists:\n  categories:\n    adult: []\n"),
              "gh.yaml:3:12: blocklists.categories.adult: expected at least one entry");
    CHECK_STR(load_err("blocklists:\n  categories:\n    adult: [lists/adult.txt]\n"),
              "gh.yaml:3:13: blocklists.categories.adult[0]: expected an absolute path or an "
              "http:// or https:// URL, got 'lists/adult.txt'");
    CHECK_STR(load_err("blocklists:\n  categories:\n    adult: [ftp://x/y]\n"),
              "gh.yaml:3:13: blocklists.categories.adult[0]: expected an absolute path or an "
              "http:// or https:// URL, got 'ftp://x/y'");
    CHECK_STR(load_err("blocklists:\n  categories: [adult]\n"),
              "gh.yaml:2:15: blocklists.categories: expected a mapping, got a list");
    CHECK_STR(load_err("log:\n  safeguarding-categories: [adult, Drugs]\n"),
              "gh.yaml:2:36: log.safeguarding-categories[1]: expected a category name of 1 to 32 "
              "characters from a-z, 0-9, _ and -, got 'Drugs'");
    CHECK_STR(load_err("log:\n  safeguarding-categories: [adult, adult]\n"),
              "gh.yaml:2:36: log.safeguarding-categories[1]: duplicate entry 'adult'");
}

/* ------------------------------------------------------------------------ */
/* Schedules, policies and segments                                         */

static bool wire_is(const struct config_name *n, const char *wire, size_t len)
{
    return n->len == len && !memcmp(n->wire, wire, len);
}

static bool net_is(const struct config_net *n, const char *text)
{
    struct config_net want;
    return config_parse_net(text, &want) == 0 && n->family == want.family &&
           n->prefix == want.prefix && !memcmp(n->addr, want.addr, sizeof(want.addr));
}

static void test_school_fixture(void)
{
    struct config *c = NULL;
    int rc = config_load(DATA "school.yaml", &c, err, sizeof(err));
    CHECK_EQ(rc, 0);
    if (rc) {
        printf("#   %s\n", err);
        return;
    }
    /* The AD domain goes to the domain controllers. */
    CHECK_EQ(c->nforwards, 1);
    CHECK_STR(c->forwards[0].zone, "ad.st-aidans.sch.uk.");
    CHECK_EQ(c->forwards[0].nservers, 2);
    CHECK_EQ(c->ncategories, 5);
    CHECK_STR(c->categories[4].name, "malware");
    CHECK_EQ(c->categories[4].nsources, 2);
    CHECK_STR(c->categories[4].sources[1], "/etc/gatehouse/lists/phishing.txt");
    /* Segments decide who is served; client-networks holds nothing. */
    CHECK_EQ(c->nclient_networks, 0);
    CHECK(c->client_networks == NULL);
    CHECK_STR(c->timezone, "Europe/London");

    CHECK_EQ(c->nschedules, 2);
    if (c->nschedules == 2) {
        const struct config_schedule *l = &c->schedules[0], *d = &c->schedules[1];
        CHECK_STR(l->name, "lessons");
        CHECK_EQ(l->nwindows, 2);
        if (l->nwindows == 2) {
            CHECK_EQ(l->windows[0].days, 0x1f); /* Monday to Friday */
            CHECK_EQ(l->windows[0].start, 8 * 60 + 50);
            CHECK_EQ(l->windows[0].end, 12 * 60 + 15);
            CHECK_EQ(l->windows[1].days, 0x1f);
            CHECK_EQ(l->windows[1].start, 13 * 60 + 5);
            CHECK_EQ(l->windows[1].end, 15 * 60 + 20);
        }
        CHECK_EQ(l->nterms, 2);
        if (l->nterms == 2) {
            CHECK_EQ(l->terms[0].from, 20699); /* 2026-09-03 */
            CHECK_EQ(l->terms[0].to, 20805);   /* 2026-12-18 */
            CHECK_EQ(l->terms[1].from, 20823); /* 2027-01-05 */
            CHECK_EQ(l->terms[1].to, 20903);   /* 2027-03-26 */
        }
        CHECK_EQ(l->nholidays, 2);
        if (l->nholidays == 2) {
            CHECK_EQ(l->holidays[0].from, 20752); /* 2026-10-26 */
            CHECK_EQ(l->holidays[0].to, 20756);   /* 2026-10-30 */
            CHECK_EQ(l->holidays[1].from, 20784); /* 2026-11-27, one day */
            CHECK_EQ(l->holidays[1].to, 20784);
        }
        CHECK_STR(d->name, "school-day");
        CHECK_EQ(d->nwindows, 2);
        if (d->nwindows == 2) {
            CHECK_EQ(d->windows[0].days, 0x1f); /* "mon-thu,fri" */
            CHECK_EQ(d->windows[0].start, 7 * 60 + 30);
            CHECK_EQ(d->windows[0].end, 18 * 60);
            CHECK_EQ(d->windows[1].days, 0x20); /* Saturday */
            CHECK_EQ(d->windows[1].start, 9 * 60);
            CHECK_EQ(d->windows[1].end, 12 * 60);
        }
        CHECK_EQ(d->nterms, 0);
        CHECK(d->terms == NULL);
        CHECK_EQ(d->nholidays, 0);
    }

    CHECK_EQ(c->npolicies, 3);
    if (c->npolicies == 3) {
        const struct config_policy *st = &c->policies[0], *pu = &c->policies[1],
                                   *vi = &c->policies[2];
        CHECK_STR(st->name, "staff");
        CHECK(strs_eq(st->block, st->nblock, (char *[]){"adult", "malware"}, 2));
        CHECK_EQ(st->nallow, 0);
        CHECK_EQ(st->ndeny, 0);
        CHECK_EQ(st->safe_search, CONFIG_SAFE_SEARCH_OFF);
        CHECK_EQ(st->nrules, 1);
        if (st->nrules == 1) {
            CHECK_EQ(st->rules[0].kind, CONFIG_RULE_BLOCK);
            CHECK(st->rules[0].inside);
            CHECK_STR(st->rules[0].schedule, "lessons");
            CHECK(strs_eq(st->rules[0].categories, st->rules[0].ncategories,
                          (char *[]){"social_networks"}, 1));
        }
        CHECK_EQ(st->action.kind, CONFIG_ACTION_NXDOMAIN);
        CHECK_EQ(st->block_ttl, 30);
        CHECK_EQ(st->ncategory_actions, 0);
        CHECK(!st->default_block);
        CHECK(!st->bypass_protection);

        CHECK_STR(pu->name, "pupil");
        CHECK(strs_eq(
            pu->block, pu->nblock,
            (char *[]){"adult", "gambling", "social_networks", "malware", "doh", "vpn_proxy"}, 6));
        CHECK_EQ(pu->nallow, 3);
        if (pu->nallow == 3) {
            CHECK(wire_is(&pu->allow[0], "\003bbc\002co\002uk", 11));
            CHECK(!pu->allow[0].subtree);
            CHECK_STR(pu->allow[0].text, "bbc.co.uk");
            CHECK_EQ(pu->allow[0].line, 54);
            CHECK(wire_is(&pu->allow[1], "\003bbc\002co\002uk", 11));
            CHECK(pu->allow[1].subtree);
            CHECK_STR(pu->allow[1].text, "*.bbc.co.uk");
            CHECK_EQ(pu->allow[1].line, 54);
            /* Lower case on the wire, as written in the text. */
            CHECK(wire_is(&pu->allow[2], "\011wikipedia\003org", 15));
            CHECK(pu->allow[2].subtree);
            CHECK_STR(pu->allow[2].text, "*.Wikipedia.org");
        }
        CHECK_EQ(pu->ndeny, 2);
        if (pu->ndeny == 2) {
            CHECK(wire_is(&pu->deny[0], "\006tiktok\003com", 12));
            CHECK(pu->deny[0].subtree);
            CHECK_STR(pu->deny[0].text, "*.tiktok.com");
            CHECK_EQ(pu->deny[0].line, 55);
            CHECK(wire_is(&pu->deny[1], "\005games\007example", 15));
            CHECK(!pu->deny[1].subtree);
        }
        CHECK_EQ(pu->safe_search, CONFIG_SAFE_SEARCH_STRICT);
        CHECK_EQ(pu->nrules, 2);
        if (pu->nrules == 2) { /* in file order */
            CHECK_EQ(pu->rules[0].kind, CONFIG_RULE_ALLOW_ONLY);
            CHECK(!pu->rules[0].inside);
            CHECK_STR(pu->rules[0].schedule, "school-day");
            CHECK_EQ(pu->rules[0].ncategories, 0);
            CHECK_EQ(pu->rules[1].kind, CONFIG_RULE_BLOCK);
            CHECK(pu->rules[1].inside);
            CHECK_STR(pu->rules[1].schedule, "lessons");
            CHECK(
                strs_eq(pu->rules[1].categories, pu->rules[1].ncategories, (char *[]){"games"}, 1));
        }
        CHECK_EQ(pu->action.kind, CONFIG_ACTION_ADDRESS);
        CHECK(pu->action.have_a4 && pu->action.have_a6);
        CHECK(!memcmp(pu->action.a4, "\xc0\x00\x02\x50", 4)); /* 192.0.2.80 */
        CHECK(!memcmp(pu->action.a6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x80", 16));
        CHECK_EQ(pu->block_ttl, 300);
        CHECK_EQ(pu->ncategory_actions, 3);
        if (pu->ncategory_actions == 3) {
            const struct config_category_action *ca = pu->category_actions;
            CHECK_STR(ca[0].category, "adult");
            CHECK_EQ(ca[0].action.kind, CONFIG_ACTION_ADDRESS);
            CHECK(ca[0].action.have_a4 && !ca[0].action.have_a6);
            CHECK(!memcmp(ca[0].action.a4, "\xc0\x00\x02\x51", 4));
            CHECK_STR(ca[1].category, "malware");
            CHECK_EQ(ca[1].action.kind, CONFIG_ACTION_NODATA);
            CHECK_STR(ca[2].category, "doh");
            CHECK_EQ(ca[2].action.kind, CONFIG_ACTION_NXDOMAIN);
        }
        CHECK(!pu->default_block);
        CHECK(pu->bypass_protection);

        CHECK_STR(vi->name, "visitor");
        CHECK_EQ(vi->nblock, 0);
        CHECK_EQ(vi->nallow, 3);
        CHECK_EQ(vi->safe_search, CONFIG_SAFE_SEARCH_MODERATE);
        CHECK_EQ(vi->nrules, 0);
        CHECK_EQ(vi->action.kind, CONFIG_ACTION_NULL);
        CHECK_EQ(vi->block_ttl, 60);
        CHECK(vi->default_block);
        CHECK(vi->bypass_protection);
    }

    CHECK_EQ(c->nsegments, 3);
    if (c->nsegments == 3) {
        const struct config_segment *s = c->segments;
        CHECK_STR(s[0].name, "staff");
        CHECK_EQ(s[0].nnetworks, 2);
        CHECK(net_is(&s[0].networks[0], "10.10.0.0/16"));
        CHECK(net_is(&s[0].networks[1], "fd00:10::/64"));
        CHECK_EQ(s[0].nlocal_addresses, 0);
        CHECK_EQ(s[0].ninterfaces, 0);
        CHECK_STR(s[0].policy, "staff");
        CHECK(!s[0].grant_required);
        CHECK_STR(s[1].name, "pupil");
        CHECK_EQ(s[1].nnetworks, 2);
        CHECK(net_is(&s[1].networks[0], "10.20.0.0/16"));
        CHECK_EQ(s[1].nlocal_addresses, 1);
        CHECK(net_is(&s[1].local_addresses[0], "10.20.0.1/32"));
        CHECK_STR(s[1].policy, "pupil");
        CHECK(!s[1].grant_required);
        CHECK_STR(s[2].name, "visitor");
        CHECK_EQ(s[2].nnetworks, 0);
        CHECK_EQ(s[2].nlocal_addresses, 2);
        CHECK(net_is(&s[2].local_addresses[1], "fd00:30::1"));
        CHECK(strs_eq(s[2].interfaces, s[2].ninterfaces, (char *[]){"eth0.30"}, 1));
        CHECK_STR(s[2].policy, "visitor");
        CHECK(s[2].grant_required);
    }
    config_free(c);
}

/* The prefix most policy tests build on: two declared categories and a
 * schedule, lines 1 to 7. */
#define CATS "blocklists:\n  categories:\n    adult: [/l/a]\n    games: [/l/g]\n"
#define SCHED "schedules:\n  lessons:\n    windows: [\"mon-fri 09:00-15:00\"]\n"

static void test_windows_and_dates(void)
{
    static const struct {
        const char *text;
        unsigned days, start, end;
    } good[] = {
        {"mon 00:00-24:00", 0x01, 0, 1440},          {"sun 23:59-24:00", 0x40, 1439, 1440},
        {"mon-sun 08:00-09:00", 0x7f, 480, 540},     {"mon,wed,fri 08:00-09:00", 0x15, 480, 540},
        {"mon-wed,fri 08:00-09:00", 0x17, 480, 540}, {"sat-sun 10:00-16:30", 0x60, 600, 990},
        {"fri,mon 08:00-09:00", 0x11, 480, 540},
    };
    char text[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "schedules:\n  s:\n    windows: [\"%s\"]\n", good[i].text);
        struct config *c = load(text);
        CHECK(c && c->nschedules == 1 && c->schedules[0].nwindows == 1);
        if (!c || c->nschedules != 1 || c->schedules[0].nwindows != 1) {
            config_free(c);
            continue;
        }
        CHECK_EQ(c->schedules[0].windows[0].days, good[i].days);
        CHECK_EQ(c->schedules[0].windows[0].start, good[i].start);
        CHECK_EQ(c->schedules[0].windows[0].end, good[i].end);
        config_free(c);
    }

    /* Day numbers, leap years included. */
    static const struct {
        const char *text;
        int32_t from, to;
    } dates[] = {
        {"1970-01-01", 0, 0},
        {"2026-09-03", 20699, 20699},
        {"2000-02-29", 11016, 11016},
        {"2100-03-01", 47541, 47541},
        {"9999-12-31", 2932896, 2932896},
        {"2026-10-26..2026-10-30", 20752, 20756},
        {"2026-09-03..2026-09-03", 20699, 20699},
    };
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        snprintf(text, sizeof(text),
                 "schedules:\n  s:\n    windows: [\"mon 09:00-10:00\"]\n"
                 "    holidays: [\"%s\"]\n",
                 dates[i].text);
        struct config *c = load(text);
        CHECK(c && c->schedules[0].nholidays == 1);
        if (c && c->schedules[0].nholidays == 1) {
            CHECK_EQ(c->schedules[0].holidays[0].from, dates[i].from);
            CHECK_EQ(c->schedules[0].holidays[0].to, dates[i].to);
        }
        config_free(c);
    }

    static const struct {
        const char *yaml, *msg;
    } bad[] = {
#define W "schedules:\n  s:\n    windows: "
#define WHY_W "expected DAYS HH:MM-HH:MM, e.g. mon-fri 08:50-15:20"
        {W "[\"mon 09:00-09:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: a window must end after it starts (24:00 is "
         "midnight at the end of the day), got 'mon 09:00-09:00'"},
        {W "[\"mon 10:00-09:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: a window must end after it starts (24:00 is "
         "midnight at the end of the day), got 'mon 10:00-09:00'"},
        {W "[\"mon 24:00-24:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: a window must end after it starts (24:00 is "
         "midnight at the end of the day), got 'mon 24:00-24:00'"},
        {W "[\"mon 09:00-24:01\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'mon 09:00-24:01'"},
        {W "[\"mon 9:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'mon 9:00-10:00'"},
        {W "[\"mon 09:60-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'mon 09:60-10:00'"},
        {W "[\"mon 09:00-10:00 \"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'mon 09:00-10:00 '"},
        {W "[\"monday 09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'monday 09:00-10:00'"},
        {W "[\"Mon 09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'Mon 09:00-10:00'"},
        {W "[\"09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got '09:00-10:00'"},
        {W "[\"mon,09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'mon,09:00-10:00'"},
        {W "[\"mon  09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: " WHY_W ", got 'mon  09:00-10:00'"},
        {W "[\"fri-mon 09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: a day range runs forwards from Monday to Sunday "
         "(e.g. mon-fri, sat-sun), got 'fri-mon 09:00-10:00'"},
        {W "[\"mon-mon 09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: a day range runs forwards from Monday to Sunday "
         "(e.g. mon-fri, sat-sun), got 'mon-mon 09:00-10:00'"},
        {W "[\"mon-fri,wed 09:00-10:00\"]\n",
         "gh.yaml:3:15: schedules.s.windows[0]: a day is named twice, got 'mon-fri,wed "
         "09:00-10:00'"},
        {W "[\"mon 09:00-10:00\", \"mon 09:00-10:00\"]\n",
         "gh.yaml:3:34: schedules.s.windows[1]: duplicate entry 'mon 09:00-10:00'"},
        {W "[]\n", "gh.yaml:3:14: schedules.s.windows: expected at least one entry"},
        {W "\"mon 09:00-10:00\"\n", "gh.yaml:3:14: schedules.s.windows: expected a list, got a "
                                    "scalar"},
#undef W
#define H "schedules:\n  s:\n    windows: [\"mon 09:00-10:00\"]\n    holidays: "
        {H "[2026-02-29]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: not a calendar date from 1970 on, got "
         "'2026-02-29'"},
        {H "[2026-13-01]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: not a calendar date from 1970 on, got "
         "'2026-13-01'"},
        {H "[2026-04-31]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: not a calendar date from 1970 on, got "
         "'2026-04-31'"},
        {H "[1969-12-31]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: not a calendar date from 1970 on, got "
         "'1969-12-31'"},
        {H "[2026-00-10]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: not a calendar date from 1970 on, got "
         "'2026-00-10'"},
        {H "[2026-9-3]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, "
         "got '2026-9-3'"},
        {H "[\"2026-09-03..\"]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, "
         "got '2026-09-03..'"},
        {H "[\"2026-09-03 - 2026-09-05\"]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, "
         "got '2026-09-03 - 2026-09-05'"},
        {H "[\"2026-09-05..2026-09-03\"]\n",
         "gh.yaml:4:16: schedules.s.holidays[0]: a date range must not end before it starts, got "
         "'2026-09-05..2026-09-03'"},
#undef H
        {"schedules:\n  s:\n    windows: [\"mon 09:00-10:00\"]\n    terms: "
         "[2026-09-03..2026-02-30]\n",
         "gh.yaml:4:13: schedules.s.terms[0]: not a calendar date from 1970 on, got "
         "'2026-09-03..2026-02-30'"},
        {"schedules:\n  s:\n    terms: [2026-09-03]\n",
         "gh.yaml:3:5: schedules.s: missing 'windows'"},
        {"schedules:\n  s:\n    windows: [\"mon 09:00-10:00\"]\n    weeks: [a]\n",
         "gh.yaml:4:5: unknown key 'schedules.s.weeks'"},
        {"schedules:\n  s:\n    windows: [\"mon 09:00-10:00\"]\n    windows: [\"tue "
         "09:00-10:00\"]\n",
         "gh.yaml:4:5: schedules.s: duplicate key 'windows'"},
        {"schedules:\n  s: \"mon 09:00-10:00\"\n",
         "gh.yaml:2:6: schedules.s: expected a mapping, got a scalar"},
        {"schedules:\n  Lessons:\n    windows: [\"mon 09:00-10:00\"]\n",
         "gh.yaml:2:3: schedules: schedule name 'Lessons' must be 1 to 32 characters from a-z, "
         "0-9, _ and -"},
        {"schedules:\n  s:\n    windows: [\"mon 09:00-10:00\"]\n  s:\n    windows: [\"tue "
         "09:00-10:00\"]\n",
         "gh.yaml:4:3: schedules: duplicate key 'schedules.s'"},
        {"schedules: [lessons]\n", "gh.yaml:1:12: schedules: expected a mapping, got a list"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_STR(load_err(bad[i].yaml), bad[i].msg);
}

static void test_policy_values(void)
{
    /* Defaults of an empty policy. */
    struct config *c = load("policies:\n  p: {}\n");
    CHECK(c && c->npolicies == 1);
    if (c && c->npolicies == 1) {
        const struct config_policy *p = &c->policies[0];
        CHECK_STR(p->name, "p");
        CHECK_EQ(p->nblock + p->nallow + p->ndeny + p->nrules + p->ncategory_actions, 0);
        CHECK_EQ(p->safe_search, CONFIG_SAFE_SEARCH_OFF);
        CHECK_EQ(p->action.kind, CONFIG_ACTION_NXDOMAIN);
        CHECK(!p->action.have_a4 && !p->action.have_a6);
        CHECK_EQ(p->block_ttl, 60);
        CHECK(!p->default_block);
        CHECK(p->bypass_protection);
    }
    /* Policies without segments are fine; client-networks still decides. */
    CHECK(c && c->nsegments == 0 && c->nclient_networks == 2);
    config_free(c);

    static const struct {
        const char *action;
        enum config_action_kind kind;
        bool a4, a6;
        uint8_t b4[4];
        uint8_t b6[16];
    } actions[] = {
        {"nxdomain", CONFIG_ACTION_NXDOMAIN, false, false, {0}, {0}},
        {"nodata", CONFIG_ACTION_NODATA, false, false, {0}, {0}},
        {"null", CONFIG_ACTION_NULL, false, false, {0}, {0}},
        {"\"192.0.2.80\"", CONFIG_ACTION_ADDRESS, true, false, {192, 0, 2, 80}, {0}},
        {"\"2001:db8::80\"",
         CONFIG_ACTION_ADDRESS,
         false,
         true,
         {0},
         {0x20, 1, 0xd, 0xb8, [15] = 0x80}},
        {"\"2001:db8::80 192.0.2.80\"",
         CONFIG_ACTION_ADDRESS,
         true,
         true,
         {192, 0, 2, 80},
         {0x20, 1, 0xd, 0xb8, [15] = 0x80}},
        {"{default: nodata}", CONFIG_ACTION_NODATA, false, false, {0}, {0}},
        {"{ttl: 0}", CONFIG_ACTION_NXDOMAIN, false, false, {0}, {0}},
    };
    char text[512];
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        snprintf(text, sizeof(text), "policies:\n  p:\n    action: %s\n", actions[i].action);
        c = load(text);
        CHECK(c && c->npolicies == 1);
        if (!c || c->npolicies != 1) {
            config_free(c);
            continue;
        }
        const struct config_action *a = &c->policies[0].action;
        CHECK_EQ(a->kind, actions[i].kind);
        CHECK_EQ(a->have_a4, actions[i].a4);
        CHECK_EQ(a->have_a6, actions[i].a6);
        CHECK(!a->have_a4 || !memcmp(a->a4, actions[i].b4, 4));
        CHECK(!a->have_a6 || !memcmp(a->a6, actions[i].b6, 16));
        CHECK_EQ(c->policies[0].block_ttl, strstr(actions[i].action, "ttl") ? 0 : 60);
        config_free(c);
    }
    c = load("policies:\n  p:\n    action: {ttl: 1d}\n    safe-search: moderate\n"
             "    default: block\n    bypass-protection: off\n");
    CHECK(c && c->policies[0].block_ttl == 86400 &&
          c->policies[0].safe_search == CONFIG_SAFE_SEARCH_MODERATE &&
          c->policies[0].default_block && !c->policies[0].bypass_protection);
    config_free(c);
    /* Built-in categories need no declaration. */
    c = load("policies:\n  p:\n    block: [doh, vpn_proxy]\n"
             "    action:\n      categories: {doh: nodata}\n");
    CHECK(c && c->policies[0].nblock == 2 && c->policies[0].ncategory_actions == 1);
    config_free(c);
    /* Names: "*." means the name and below; case folds on the wire only. */
    c = load("policies:\n  p:\n    allow:\n      - Example.ORG.\n      - \"*.a-b_c.example\"\n");
    CHECK(c && c->policies[0].nallow == 2);
    if (c && c->policies[0].nallow == 2) {
        CHECK(wire_is(&c->policies[0].allow[0], "\007example\003org", 13));
        CHECK_STR(c->policies[0].allow[0].text, "Example.ORG.");
        CHECK_EQ(c->policies[0].allow[0].line, 4);
        CHECK(wire_is(&c->policies[0].allow[1], "\005a-b_c\007example", 15));
        CHECK(c->policies[0].allow[1].subtree);
        CHECK_EQ(c->policies[0].allow[1].line, 5);
    }
    config_free(c);
    /* The file's order does not matter: segments may come first. */
    c = load("segments:\n  - {name: all, policy: p}\npolicies:\n  p:\n"
             "    schedules: [{during: s, block: [adult]}]\n"
             "schedules:\n  s:\n    windows: [\"sat 09:00-10:00\"]\n" CATS);
    CHECK(c && c->nsegments == 1 && c->npolicies == 1 && c->nschedules == 1);
    CHECK(c && c->nclient_networks == 0);
    config_free(c);
    /* "segments:" with every entry commented out is no segments. */
    c = load("segments:\n  # - name: staff\n");
    CHECK(c && c->nsegments == 0 && c->nclient_networks == 2);
    config_free(c);
    /* Time zones other than the default. */
    c = load("timezone: America/Argentina/Buenos_Aires\n");
    CHECK(c && !strcmp(c->timezone, "America/Argentina/Buenos_Aires"));
    config_free(c);
    c = load("timezone: Etc/GMT+1\n");
    CHECK(c && !strcmp(c->timezone, "Etc/GMT+1"));
    config_free(c);
}

/* Every validation of the policy layer, at the offending node. */
static void test_policy_errors(void)
{
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        /* references that do not resolve (lines 1-7 are CATS and SCHED) */
        {CATS SCHED
         "policies:\n  p:\n    schedules:\n      - during: lunch\n        block: [games]\n",
         "gh.yaml:11:17: policies.p.schedules[0].during: no schedule named 'lunch'"},
        {CATS SCHED "policies:\n  p:\n    schedules:\n      - block: [games]\n"
                    "        outside: Lessons\n",
         "gh.yaml:12:18: policies.p.schedules[0].outside: no schedule named 'Lessons'"},
        {CATS "policies:\n  p: {}\nsegments:\n  - name: s\n    policy: q\n",
         "gh.yaml:9:13: segments[0].policy: no policy named 'q'"},
        {"policies:\n  p: {}\nsegments:\n  - {name: a, policy: p}\n  - {name: b, policy: p}\n"
         "  - {name: a, policy: p}\n",
         "gh.yaml:6:12: segments[2].name: duplicate segment name 'a'"},
        /* categories: declared or built in */
        {CATS "policies:\n  p:\n    block: [adult, gambling]\n",
         "gh.yaml:7:20: policies.p.block[1]: unknown category 'gambling'; declare it in "
         "blocklists.categories (built in: doh, vpn_proxy)"},
        {CATS SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n"
                    "        block: [games, chat]\n",
         "gh.yaml:12:24: policies.p.schedules[0].block[1]: unknown category 'chat'; declare it in "
         "blocklists.categories (built in: doh, vpn_proxy)"},
        {CATS "policies:\n  p:\n    action:\n      categories:\n        adult: nodata\n"
              "        dating: nodata\n",
         "gh.yaml:10:9: policies.p.action.categories.dating: unknown category 'dating'; declare "
         "it in blocklists.categories (built in: doh, vpn_proxy)"},
        /* statutory: never in a policy, declared or not */
        {"policies:\n  p:\n    block: [statutory]\n",
         "gh.yaml:3:13: policies.p.block[0]: statutory is always blocked; a policy cannot name "
         "it"},
        {"blocklists:\n  categories:\n    statutory: [/l/iwf]\n"
         "policies:\n  p:\n    block: [doh, statutory]\n",
         "gh.yaml:6:18: policies.p.block[1]: statutory is always blocked; a policy cannot name "
         "it"},
        {SCHED "policies:\n  p:\n    schedules:\n      - outside: lessons\n"
               "        block: [statutory]\n",
         "gh.yaml:8:17: policies.p.schedules[0].block[0]: statutory is always blocked; a policy "
         "cannot name it"},
        {"policies:\n  p:\n    action:\n      categories: {statutory: nxdomain}\n",
         "gh.yaml:4:20: policies.p.action.categories.statutory: statutory is always blocked; a "
         "policy cannot name it"},
        /* segments and client-networks */
        {"server:\n  threads: 1\n  client-networks: [10.0.0.0/8]\npolicies:\n  p: {}\n"
         "segments:\n  - {name: all, policy: p}\n",
         "gh.yaml:3:20: server.client-networks: not used when segments are configured; give each "
         "segment its networks"},
        {"policies:\n  p: {}\nsegments: []\n",
         "gh.yaml:3:11: segments: expected at least one segment"},
        {"segments:\n  - {name: all, policy: p}\n",
         "gh.yaml:2:25: segments[0].policy: no policy named 'p'"},
        /* rules */
        {SCHED "policies:\n  p:\n    schedules:\n      - {during: lessons, outside: lessons, "
               "allow-only: true}\n",
         "gh.yaml:7:36: policies.p.schedules[0]: give 'during' or 'outside', not both"},
        {SCHED "policies:\n  p:\n    schedules:\n      - {allow-only: true}\n",
         "gh.yaml:7:9: policies.p.schedules[0]: missing 'during' or 'outside' (a schedule)"},
        {SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n",
         "gh.yaml:7:9: policies.p.schedules[0]: missing 'block' (categories) or 'allow-only: "
         "true'"},
        {SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n"
               "        allow-only: false\n",
         "gh.yaml:8:21: policies.p.schedules[0]: missing 'block' (categories) or 'allow-only: "
         "true'"},
        {CATS SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n"
                    "        allow-only: true\n        block: [games]\n",
         "gh.yaml:13:16: policies.p.schedules[0]: give 'block' or 'allow-only', not both"},
        {SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n        block: []\n",
         "gh.yaml:8:16: policies.p.schedules[0].block: expected at least one entry"},
        {SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n"
               "        allow-only: sometimes\n",
         "gh.yaml:8:21: policies.p.schedules[0].allow-only: expected true or false, got "
         "'sometimes'"},
        {SCHED "policies:\n  p:\n    schedules:\n      - during: lessons\n        allow: [x]\n",
         "gh.yaml:8:9: unknown key 'policies.p.schedules[0].allow'"},
        {SCHED "policies:\n  p:\n    schedules:\n      during: lessons\n",
         "gh.yaml:7:7: policies.p.schedules: expected a list, got a mapping"},
        /* actions */
        {"policies:\n  p:\n    action: blockpage\n",
         "gh.yaml:3:13: policies.p.action: expected nxdomain, nodata, null, or block page "
         "addresses (one IPv4 and/or one IPv6, separated by a space), got 'blockpage'"},
        {"policies:\n  p:\n    action: \"192.0.2.1 192.0.2.2\"\n",
         "gh.yaml:3:13: policies.p.action: give at most one IPv4 and one IPv6 address, got "
         "'192.0.2.1 192.0.2.2'"},
        {"policies:\n  p:\n    action: \"192.0.2.1  2001:db8::1\"\n",
         "gh.yaml:3:13: policies.p.action: expected nxdomain, nodata, null, or block page "
         "addresses (one IPv4 and/or one IPv6, separated by a space), got '192.0.2.1  "
         "2001:db8::1'"},
        {"policies:\n  p:\n    action: \"192.0.2.1 2001:db8::1 192.0.2.2\"\n",
         "gh.yaml:3:13: policies.p.action: expected nxdomain, nodata, null, or block page "
         "addresses (one IPv4 and/or one IPv6, separated by a space), got '192.0.2.1 "
         "2001:db8::1 192.0.2.2'"},
        {"policies:\n  p:\n    action: NXDOMAIN\n",
         "gh.yaml:3:13: policies.p.action: expected nxdomain, nodata, null, or block page "
         "addresses (one IPv4 and/or one IPv6, separated by a space), got 'NXDOMAIN'"},
        {"policies:\n  p:\n    action: [nxdomain]\n",
         "gh.yaml:3:13: policies.p.action: expected a scalar or a mapping, got a list"},
        {"policies:\n  p:\n    action: {ttl: 2d}\n",
         "gh.yaml:3:19: policies.p.action.ttl: expected a duration (e.g. 30s, 5m, 1h, 90d) from "
         "0s to 1d, got '2d'"},
        {"policies:\n  p:\n    action: {ttl: -1}\n",
         "gh.yaml:3:19: policies.p.action.ttl: expected a duration (e.g. 30s, 5m, 1h, 90d) from "
         "0s to 1d, got '-1'"},
        {"policies:\n  p:\n    action: {default: drop}\n",
         "gh.yaml:3:23: policies.p.action.default: expected nxdomain, nodata, null, or block page "
         "addresses (one IPv4 and/or one IPv6, separated by a space), got 'drop'"},
        {"policies:\n  p:\n    action: {page: 192.0.2.1}\n",
         "gh.yaml:3:14: unknown key 'policies.p.action.page'"},
        {CATS "policies:\n  p:\n    action:\n      categories: {adult: nodata, adult: null}\n",
         "gh.yaml:8:35: policies.p.action.categories: duplicate key 'adult'"},
        {CATS "policies:\n  p:\n    action:\n      categories: {adult: blocked}\n",
         "gh.yaml:8:27: policies.p.action.categories.adult: expected nxdomain, nodata, null, or "
         "block page addresses (one IPv4 and/or one IPv6, separated by a space), got 'blocked'"},
        {"policies:\n  p:\n    action:\n      categories: [doh]\n",
         "gh.yaml:4:19: policies.p.action.categories: expected a mapping, got a list"},
        /* the other keys */
        {"policies:\n  p:\n    safe-search: on\n",
         "gh.yaml:3:18: policies.p.safe-search: expected off, moderate or strict, got 'on'"},
        {"policies:\n  p:\n    default: deny\n",
         "gh.yaml:3:14: policies.p.default: expected allow or block, got 'deny'"},
        {"policies:\n  p:\n    bypass-protection: maybe\n",
         "gh.yaml:3:24: policies.p.bypass-protection: expected true or false, got 'maybe'"},
        {"policies:\n  p:\n    blocks: [adult]\n", "gh.yaml:3:5: unknown key 'policies.p.blocks'"},
        {"policies:\n  p:\n    default: block\n    default: allow\n",
         "gh.yaml:4:5: policies.p: duplicate key 'default'"},
        {"policies:\n  p: {}\n  p: {}\n", "gh.yaml:3:3: policies: duplicate key 'policies.p'"},
        {"policies:\n  Pupil: {}\n",
         "gh.yaml:2:3: policies: policy name 'Pupil' must be 1 to 32 characters from a-z, 0-9, _ "
         "and -"},
        {"policies:\n  p: block\n", "gh.yaml:2:6: policies.p: expected a mapping, got a scalar"},
        /* allow and deny names */
        {"policies:\n  p:\n    allow: [\"*.\"]\n",
         "gh.yaml:3:13: policies.p.allow[0]: expected a domain name, or *. and a domain name for "
         "it and every name below, got '*.'"},
        {"policies:\n  p:\n    allow: [\".\"]\n",
         "gh.yaml:3:13: policies.p.allow[0]: expected a domain name, or *. and a domain name for "
         "it and every name below, got '.'"},
        {"policies:\n  p:\n    deny: [\"*.*.example.org\"]\n",
         "gh.yaml:3:12: policies.p.deny[0]: expected a domain name, or *. and a domain name for "
         "it and every name below, got '*.*.example.org'"},
        {"policies:\n  p:\n    deny: [\"ex ample.org\"]\n",
         "gh.yaml:3:12: policies.p.deny[0]: expected a domain name, or *. and a domain name for "
         "it and every name below, got 'ex ample.org'"},
        {"policies:\n  p:\n    deny: [\"www.*.org\"]\n",
         "gh.yaml:3:12: policies.p.deny[0]: expected a domain name, or *. and a domain name for "
         "it and every name below, got 'www.*.org'"},
        {"policies:\n  p:\n    allow: [bbc.co.uk, BBC.co.uk.]\n",
         "gh.yaml:3:24: policies.p.allow[1]: duplicate entry 'BBC.co.uk.'"},
        /* segments */
        {"policies:\n  p: {}\nsegments:\n  - policy: p\n",
         "gh.yaml:4:5: segments[0]: missing 'name'"},
        {"policies:\n  p: {}\nsegments:\n  - name: s\n",
         "gh.yaml:4:5: segments[0]: missing 'policy'"},
        {"policies:\n  p: {}\nsegments:\n  - {name: Staff, policy: p}\n",
         "gh.yaml:4:12: segments[0].name: segment name 'Staff' must be 1 to 32 characters from "
         "a-z, 0-9, _ and -"},
        {"policies:\n  p: {}\nsegments:\n  - {name: s, policy: p, networks: [10.0.0.1/8]}\n",
         "gh.yaml:4:37: segments[0].networks[0]: expected ADDR/PREFIX or an address, with no bits "
         "set beyond the prefix, got '10.0.0.1/8'"},
        {"policies:\n  p: {}\nsegments:\n  - {name: s, policy: p, local-addresses: 10.0.0.1}\n",
         "gh.yaml:4:43: segments[0].local-addresses: expected a list, got a scalar"},
        {"policies:\n  p: {}\nsegments:\n  - {name: s, policy: p, interfaces: "
         "[eth0.100.vlan700]}\n",
         "gh.yaml:4:39: segments[0].interfaces[0]: expected an interface name of 1 to 15 "
         "characters from A-Z, a-z, 0-9, ., _ and -, got 'eth0.100.vlan700'"},
        {"policies:\n  p: {}\nsegments:\n  - {name: s, policy: p, interfaces: [\"eth0/1\"]}\n",
         "gh.yaml:4:39: segments[0].interfaces[0]: expected an interface name of 1 to 15 "
         "characters from A-Z, a-z, 0-9, ., _ and -, got 'eth0/1'"},
        {"policies:\n  p: {}\nsegments:\n  - {name: s, policy: p, guest-access: closed}\n",
         "gh.yaml:4:40: segments[0].guest-access: expected open or grant-required, got 'closed'"},
        {"policies:\n  p: {}\nsegments:\n  - {name: s, policy: p, vlan: 10}\n",
         "gh.yaml:4:26: unknown key 'segments[0].vlan'"},
        {"policies:\n  p: {}\nsegments:\n  - staff\n",
         "gh.yaml:4:5: segments[0]: expected a mapping, got a scalar"},
        /* timezone */
        {"timezone: Mars/Olympus_Mons\n",
         "gh.yaml:1:11: timezone: no time zone 'Mars/Olympus_Mons' in /usr/share/zoneinfo/"},
        {"timezone: Europe\n", "gh.yaml:1:11: timezone: no time zone 'Europe' in "
                               "/usr/share/zoneinfo/"},
        {"timezone: zone.tab\n", "gh.yaml:1:11: timezone: no time zone 'zone.tab' in "
                                 "/usr/share/zoneinfo/"},
        {"timezone: ../../../etc/passwd\n",
         "gh.yaml:1:11: timezone: expected a time zone name such as Europe/London, got "
         "'../../../etc/passwd'"},
        {"timezone: /usr/share/zoneinfo/UTC\n",
         "gh.yaml:1:11: timezone: expected a time zone name such as Europe/London, got "
         "'/usr/share/zoneinfo/UTC'"},
        {"timezone: Europe/\n",
         "gh.yaml:1:11: timezone: expected a time zone name such as Europe/London, got 'Europe/'"},
        {"timezone: \"Europe/London \"\n",
         "gh.yaml:1:11: timezone: expected a time zone name such as Europe/London, got 'Europe/"
         "London '"},
        {"timezone:\n",
         "gh.yaml:1:10: timezone: expected a time zone name such as Europe/London, got ''"},
        {"timezone: [Europe/London]\n", "gh.yaml:1:11: timezone: expected a scalar, got a list"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_STR(load_err(bad[i].yaml), bad[i].msg);
}

/* Bounds on the policy layer: windows, rules, and the name lengths. */
static void test_policy_limits(void)
{
    size_t cap = 64 * 1024, o;
    char *text = malloc(cap);
    /* 32 distinct windows: 24 hours on Monday, 8 on Tuesday. */
    o = (size_t)snprintf(text, cap, "schedules:\n  s:\n    windows:\n");
    for (int i = 0; i < 32; i++)
        o += (size_t)snprintf(text + o, cap - o, "      - \"%s %02d:00-%02d:30\"\n",
                              i < 24 ? "mon" : "tue", i % 24, i % 24);
    struct config *c = load(text);
    CHECK(c && c->schedules[0].nwindows == 32);
    config_free(c);
    snprintf(text + o, cap - o, "      - \"sun 00:00-01:00\"\n");
    CHECK_STR(load_err(text), "gh.yaml:4:7: schedules.s.windows: more than 32 entries");

    o = (size_t)snprintf(text, cap, SCHED "policies:\n  p:\n    schedules:\n");
    for (int i = 0; i < 32; i++)
        o += (size_t)snprintf(text + o, cap - o, "      - {during: lessons, allow-only: true}\n");
    c = load(text);
    CHECK(c && c->policies[0].nrules == 32);
    config_free(c);
    snprintf(text + o, cap - o, "      - {outside: lessons, allow-only: true}\n");
    CHECK_STR(load_err(text), "gh.yaml:7:7: policies.p.schedules: more than 32 entries");

    /* 64 policies and 64 schedules are allowed, 65 are not. */
    o = (size_t)snprintf(text, cap, "policies:\n");
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(text + o, cap - o, "  p%d: {}\n", i);
    c = load(text);
    CHECK(c && c->npolicies == 64);
    config_free(c);
    snprintf(text + o, cap - o, "  p64: {}\n");
    CHECK_STR(load_err(text), "gh.yaml:2:3: policies: more than 64 policies");
    o = (size_t)snprintf(text, cap, "schedules:\n");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(text + o, cap - o, "  s%d: {windows: [\"sat 09:00-10:00\"]}\n", i);
    CHECK_STR(load_err(text), "gh.yaml:2:3: schedules: more than 64 schedules");

    /* Names up to 32 characters; interfaces up to 15. */
    c = load(
        "policies:\n  abcdefghijklmnopqrstuvwxyz-_0123: {}\nsegments:\n"
        "  - {name: abcdefghijklmnopqrstuvwxyz-_0123, policy: abcdefghijklmnopqrstuvwxyz-_0123,"
        " interfaces: [abcdefghij.1234]}\n");
    CHECK(c && c->nsegments == 1 && !strcmp(c->segments[0].interfaces[0], "abcdefghij.1234"));
    config_free(c);
    CHECK_STR(load_err("policies:\n  abcdefghijklmnopqrstuvwxyz-_01234: {}\n"),
              "gh.yaml:2:3: policies: policy name 'abcdefghijklmnopqrstuvwxyz-_01234' must be 1 "
              "to 32 characters from a-z, 0-9, _ and -");
    free(text);
}

/* Every class of error, with its exact position. */
static void test_errors(void)
{
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        /* values out of range or malformed */
        {"server:\n  listen: [\"::1@53\"]\n  threads: abc\n",
         "gh.yaml:3:12: server.threads: expected an integer from 1 to 64, got 'abc'"},
        {"server:\n  threads: 0\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got '0'"},
        {"server:\n  threads: 65\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got '65'"},
        {"server:\n  threads: -1\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got '-1'"},
        {"server:\n  threads: 99999999999999999999999\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got "
         "'99999999999999999999999'"},
        {"server:\n  threads: 010\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got '010'"},
        {"server:\n  threads: 0x10\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got '0x10'"},
        {"server:\n  threads: +2\n",
         "gh.yaml:2:12: server.threads: expected an integer from 1 to 64, got '+2'"},
        {"server:\n  threads:\n",
         "gh.yaml:2:11: server.threads: expected an integer from 1 to 64, got ''"},
        {"server:\n  verbosity: 5\n",
         "gh.yaml:2:14: server.verbosity: expected an integer from 0 to 4, got '5'"},
        {"server:\n  edns-buffer-size: 511\n",
         "gh.yaml:2:21: server.edns-buffer-size: expected an integer from 512 to 4096, got "
         "'511'"},
        {"cache:\n  size: 512k\n",
         "gh.yaml:2:9: cache.size: expected a size (bytes, or with k, m, g) from 1m to 1024g, "
         "got '512k'"},
        {"cache:\n  size: 64mb\n",
         "gh.yaml:2:9: cache.size: expected a size (bytes, or with k, m, g) from 1m to 1024g, "
         "got '64mb'"},
        {"cache:\n  max-ttl: 1y\n",
         "gh.yaml:2:12: cache.max-ttl: expected a duration (e.g. 30s, 5m, 1h, 90d) from 1s to "
         "365d, got '1y'"},
        {"cache:\n  max-ttl: 30 s\n",
         "gh.yaml:2:12: cache.max-ttl: expected a duration (e.g. 30s, 5m, 1h, 90d) from 1s to "
         "365d, got '30 s'"},
        {"resolver:\n  timeout: 400\n",
         "gh.yaml:2:12: resolver.timeout: expected a duration (e.g. 400ms, 10s) from 10ms to 1m, "
         "got '400'"},
        {"server:\n  state-dir: var/lib/gh\n",
         "gh.yaml:2:14: server.state-dir: expected an absolute path, got 'var/lib/gh'"},
        {"server:\n  user: ''\n",
         "gh.yaml:2:9: server.user: expected a non-empty string of printable characters"},
        {"server:\n  user: \"a\\0b\"\n", "gh.yaml:2:9: server.user: value contains a NUL byte"},
        /* addresses and networks */
        {"server:\n  listen: [\"[::1]:5353\"]\n",
         "gh.yaml:2:12: server.listen[0]: write ADDR@PORT without brackets, e.g. ::1@5353, got "
         "'[::1]:5353'"},
        {"server:\n  listen: [\"127.0.0.1:53\"]\n",
         "gh.yaml:2:12: server.listen[0]: expected ADDR@PORT, e.g. 127.0.0.1@5353 or ::1@5353, "
         "got '127.0.0.1:53'"},
        {"server:\n  listen: [\"::1@65536\"]\n",
         "gh.yaml:2:12: server.listen[0]: expected ADDR@PORT, e.g. 127.0.0.1@5353 or ::1@5353, "
         "got '::1@65536'"},
        {"server:\n  listen: []\n", "gh.yaml:2:11: server.listen: expected at least one entry"},
        {"server:\n  listen:\n    - ::1@53\n    - \"::1@53\"\n",
         "gh.yaml:4:7: server.listen[1]: duplicate entry '::1@53'"},
        {"server:\n  client-networks: [10.0.0.1/8]\n",
         "gh.yaml:2:21: server.client-networks[0]: expected ADDR/PREFIX or an address, with no "
         "bits set beyond the prefix, got '10.0.0.1/8'"},
        {"server:\n  client-networks: [10.0.0.0/33]\n",
         "gh.yaml:2:21: server.client-networks[0]: expected ADDR/PREFIX or an address, with no "
         "bits set beyond the prefix, got '10.0.0.0/33'"},
        {"server:\n  client-networks: 10.0.0.0/8\n",
         "gh.yaml:2:20: server.client-networks: expected a list, got a scalar"},
        {"resolver:\n  outgoing-address: 192.0.2.1@53\n",
         "gh.yaml:2:21: resolver.outgoing-address: expected an address without a port, got "
         "'192.0.2.1@53'"},
        {"resolver:\n  outgoing-address: [\"localhost\"]\n",
         "gh.yaml:2:22: resolver.outgoing-address[0]: expected an IPv4 or IPv6 address, got "
         "'localhost'"},
        /* unknown and duplicate keys */
        {"server:\n  threads: 2\n\n\n\n\n  lisen: [\"::1@53\"]\n",
         "gh.yaml:7:3: unknown key 'server.lisen'"},
        {"servr:\n  threads: 2\n", "gh.yaml:1:1: unknown key 'servr'"},
        {"segment:\n  - name: staff\n", "gh.yaml:1:1: unknown key 'segment'"},
        {"segments:\n  staff: {}\n", "gh.yaml:2:3: segments: expected a list, got a mapping"},
        {"timezone: Europe/London\nserver: {}\ntimezone: Europe/Paris\n",
         "gh.yaml:3:1: duplicate key 'timezone' (first at line 1)"},
        {"server:\n  threads: 2\n  threads: 3\n",
         "gh.yaml:3:3: duplicate key 'server.threads' (first at line 2)"},
        {"server:\n  threads: 2\nlog: {}\nserver:\n  verbosity: 2\n",
         "gh.yaml:4:1: duplicate key 'server' (first at line 1)"},
        {"server:\n  [a, b]: 1\n", "gh.yaml:2:3: server: keys must be plain strings"},
        /* wrong node kinds */
        {"server:\n  threads: [1, 2]\n",
         "gh.yaml:2:12: server.threads: expected a scalar, got a list"},
        {"server:\n  state-dir: {a: b}\n",
         "gh.yaml:2:14: server.state-dir: expected a scalar, got a mapping"},
        {"server: 4\n", "gh.yaml:1:9: server: expected a mapping, got a scalar"},
        {"server:\n  - threads: 4\n", "gh.yaml:2:3: server: expected a mapping, got a list"},
        {"- server\n", "gh.yaml:1:1: the top level must be a mapping of sections, got a list"},
        {"just text\n", "gh.yaml:1:1: the top level must be a mapping of sections, got a scalar"},
        /* YAML syntax, with libyaml's positions */
        {"server:\n  threads: 2\n threads: 3\n",
         "gh.yaml:3:2: YAML syntax error: did not find expected key while parsing a block "
         "mapping"},
        {"server:\n  listen: [\"::1@53\"\n",
         "gh.yaml:3:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
         "sequence"},
        {"server:\n\tthreads: 2\n",
         "gh.yaml:2:1: YAML syntax error: found character that cannot start any token while "
         "scanning for the next token"},
        {"server: *x\n", "gh.yaml:1:9: YAML syntax error: found undefined alias"},
        {"a: \xff\n", "gh.yaml:1:4: YAML error: invalid leading UTF-8 octet"},
        /* aliases and documents */
        {"server: &s\n  threads: 2\nlog: *s\n", "gh.yaml:3:1: YAML aliases are not supported"},
        {"server:\n  threads: 2\n---\nserver:\n  threads: 3\n",
         "gh.yaml:4:1: only one YAML document is allowed"},
        /* rules between settings */
        {"resolver:\n  ipv4: false\n  ipv6: off\n",
         "gh.yaml:3:9: resolver.ipv4 and resolver.ipv6 cannot both be false"},
        {"log:\n  retention-flagged: 30d\n",
         "gh.yaml:2:22: log.retention-flagged (30d) must be at least log.retention (90d)"},
        {"log:\n  retention-flagged: 100d\n  retention: 101d\n",
         "gh.yaml:3:14: log.retention-flagged (100d) must be at least log.retention (101d)"},
        {"cache:\n  min-ttl: 1h\n  max-ttl: 30m\n",
         "gh.yaml:3:12: cache.min-ttl (1h) must not exceed cache.max-ttl (30m)"},
        {"cache:\n  max-ttl: 30m\n  min-ttl: 1h\n",
         "gh.yaml:3:12: cache.min-ttl (1h) must not exceed cache.max-ttl (30m)"},
        {"cache:\n  min-ttl: 2d\n",
         "gh.yaml:2:12: cache.min-ttl: expected a duration (e.g. 30s, 5m, 1h, 90d) from 0s to "
         "1d, got '2d'"},
        {"resolver:\n  deadline: 300ms\n",
         "gh.yaml:2:13: resolver.timeout (400ms) must not exceed resolver.deadline (300ms)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_STR(load_err(bad[i].yaml), bad[i].msg);
}

static void test_file_errors(void)
{
    struct config *c = (struct config *)1;
    CHECK_EQ(config_load(DATA "no-such-file.yaml", &c, err, sizeof(err)), -ENOENT);
    CHECK(c == NULL);
    CHECK_STR(err, DATA "no-such-file.yaml: cannot open: No such file or directory");
    /* Positions count from the file's first line, named by its path. */
    CHECK_EQ(config_load(DATA "bad-key.yaml", &c, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, DATA "bad-key.yaml:5:3: unknown key 'server.lisen'");
    CHECK_EQ(config_load(DATA "bad-syntax.yaml", &c, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, DATA "bad-syntax.yaml:4:10: YAML syntax error: mapping values are not "
                        "allowed in this context");
    /* A short error buffer is truncated, never overrun. */
    char small[12];
    memset(small, 'x', sizeof(small));
    CHECK_EQ(config_load_buffer("gh.yaml", "x: 1\n", 5, &c, small, 8), -EINVAL);
    CHECK_STR(small, "gh.yaml");
    CHECK_EQ(small[8], 'x');
    CHECK_EQ(config_load_buffer("gh.yaml", "x: 1\n", 5, &c, NULL, 0), -EINVAL);
}

static void test_round_trip(void)
{
    const char *const files[] = {DATA "full.yaml",     DATA "full.golden",
                                 DATA "minimal.yaml",  DATA "school.yaml",
                                 DATA "school.golden", "docs/gatehouse.example.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct config *a = NULL, *b = NULL;
        CHECK_EQ(config_load(files[i], &a, err, sizeof(err)), 0);
        if (!a)
            continue;
        char *text = print_to_string(a);
        CHECK(text != NULL);
        b = text ? load(text) : NULL;
        CHECK(b != NULL);
        if (b) {
            CHECK(cfg_eq(a, b));
            char *again = print_to_string(b);
            CHECK_STR(again, text); /* printing is stable */
            free(again);
        }
        free(text);
        config_free(a);
        config_free(b);
    }
    /* The built-in default round-trips too (user and root-hints unset). */
    struct config *d = config_default(), *e = NULL;
    char *text = print_to_string(d);
    e = load(text);
    CHECK(e && cfg_eq(d, e) && e->user == NULL && e->root_hints == NULL);
    free(text);
    config_free(d);
    config_free(e);
    /* Strings that need YAML quoting come back unchanged. */
    d = load("server:\n  user: \"we\\\"ird: #x\\\\\"\n");
    CHECK(d && !strcmp(d->user, "we\"ird: #x\\"));
    text = d ? print_to_string(d) : NULL;
    e = text ? load(text) : NULL;
    CHECK(e && !strcmp(e->user, "we\"ird: #x\\"));
    free(text);
    config_free(d);
    config_free(e);
}

/* Loads dnssec.trust-anchor-file: [file] (none if NULL) and checks the
 * anchors built: how many zones, how many DS records the root's anchor has,
 * and the key tag of its first. */
static void check_anchors(const char *file, size_t zones, size_t nroot, unsigned tag)
{
    char text[256];
    snprintf(text, sizeof(text), "dnssec:\n  trust-anchor-file: [%s]\n", file ? file : "");
    struct config *c = load(file ? text : "");
    CHECK(c && c->dnssec_enabled && c->dnssec_anchors);
    if (!c || !c->dnssec_anchors) {
        config_free(c);
        return;
    }
    ldns_rdf *dot = ldns_dname_new_frm_str(".");
    const struct trust_anchor *a = trust_find(c->dnssec_anchors, dot);
    CHECK_EQ(trust_count(c->dnssec_anchors), zones);
    CHECK(a != NULL);
    if (a) {
        CHECK_EQ(ldns_rr_list_rr_count(a->rrs), nroot);
        CHECK_EQ(ldns_rdf2native_int16(ldns_rr_rdf(ldns_rr_list_rr(a->rrs, 0), 0)), tag);
    }
    ldns_rdf_deep_free(dot);
    config_free(c);
}

/* dnssec: on by default with the built-in IANA root anchors; a root anchor
 * in trust-anchor-file replaces them, another zone's is added to them;
 * enabled: false builds none. */
static void test_dnssec_anchors(void)
{
    static const char hex[] = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";
    char dir[] = "/tmp/gh-test-config-XXXXXX", root[64], other[64];
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(root, sizeof(root), "%s/root.ds", dir);
    snprintf(other, sizeof(other), "%s/other.ds", dir);
    FILE *f = fopen(root, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "; a test root\n. IN DS 12345 13 2 %s\n", hex);
        fclose(f);
    }
    f = fopen(other, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "school.example. IN DS 54321 13 2 %s\n", hex);
        fclose(f);
    }
    check_anchors(NULL, 1, 2, 20326); /* KSK-2017 and KSK-2024 */
    check_anchors(root, 1, 1, 12345);
    check_anchors(other, 2, 2, 20326);
    struct config *c = load("dnssec:\n  enabled: false\n");
    CHECK(c && !c->dnssec_enabled && !c->dnssec_anchors);
    config_free(c);
    unlink(root);
    unlink(other);
    rmdir(dir);
}

/* A fixture printed equals its NAME.golden, byte for byte. */
static void test_golden(void)
{
    static const char *const names[] = {"full", "minimal", "school"};
    char in[256], golden[256];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct config *c = NULL;
        snprintf(in, sizeof(in), DATA "%s.yaml", names[i]);
        snprintf(golden, sizeof(golden), DATA "%s.golden", names[i]);
        CHECK_EQ(config_load(in, &c, err, sizeof(err)), 0);
        if (!c)
            continue;
        char *got = print_to_string(c);
        char *want = read_file(golden);
        CHECK(want != NULL);
        CHECK_STR(got, want);
        free(got);
        free(want);
        config_free(c);
    }
}

/* grants.* and dhcp.*: values, the log.retention default, and errors. */
static void test_grants_keys(void)
{
    struct config *c = NULL;
    CHECK_EQ(config_load(DATA "full.yaml", &c, err, sizeof(err)), 0);
    if (c) {
        CHECK_STR(c->grants_path, "/srv/grants");
        CHECK_EQ(c->grants_max_guest, 4 * 3600);
        CHECK_EQ(c->grants_max_exemption, 2 * 86400);
        CHECK_EQ(c->grants_retention, 60 * 86400);
        CHECK_STR(c->grants_admin_group, "safeguarding");
        CHECK_EQ(c->ngrants_unauthorised_allow, 2);
        if (c->ngrants_unauthorised_allow == 2) {
            CHECK(c->grants_unauthorised_allow[1].subtree);
            CHECK(!memcmp(c->grants_unauthorised_allow[1].wire, "\6school\7example\3org", 20));
        }
        CHECK_EQ(c->grants_block.kind, CONFIG_ACTION_ADDRESS);
        CHECK(c->grants_block.have_a4 && c->grants_block.have_a6);
        CHECK_EQ(c->grants_block.a4[3], 80);
        CHECK_STR(c->dhcp_leases, "/var/lib/kea/kea-leases4.csv");
        CHECK_EQ(c->dhcp_format, CONFIG_DHCP_KEA);
        config_free(c);
    }
    /* grants.retention follows log.retention unless given. */
    c = load("log:\n  retention: 30d\n");
    CHECK(c && c->grants_retention == 30 * 86400);
    config_free(c);
    c = load("log:\n  retention: 30d\ngrants:\n  retention: 2d\n");
    CHECK(c && c->grants_retention == 2 * 86400);
    config_free(c);
    /* The block page as a list; the format words. */
    c = load("grants:\n  block-address: [\"2001:db8::80\"]\ndhcp:\n  format: dnsmasq\n");
    CHECK(c && c->grants_block.kind == CONFIG_ACTION_ADDRESS && !c->grants_block.have_a4 &&
          c->grants_block.have_a6 && c->dhcp_format == CONFIG_DHCP_DNSMASQ);
    config_free(c);
    c = load("grants:\n  unauthorised-allow: []\n");
    CHECK(c && c->ngrants_unauthorised_allow == 0);
    config_free(c);

    CHECK_STR(load_err("grants:\n  max-guest: 32d\n"),
              "gh.yaml:2:14: grants.max-guest: expected a duration (e.g. 30s, 5m, 1h, 90d) from "
              "1m to 31d, got '32d'");
    CHECK_STR(load_err("grants:\n  max-exemption: 30s\n"),
              "gh.yaml:2:18: grants.max-exemption: expected a duration (e.g. 30s, 5m, 1h, 90d) "
              "from 1m to 366d, got '30s'");
    CHECK_STR(load_err("grants:\n  path: grants\n"),
              "gh.yaml:2:9: grants.path: expected an absolute path, got 'grants'");
    CHECK_STR(load_err("grants:\n  block-address: nxdomain\n"),
              "gh.yaml:2:18: grants.block-address: expected the block page's addresses (one IPv4 "
              "and/or one IPv6, separated by a space), got 'nxdomain'");
    CHECK_STR(load_err("grants:\n  block-address: \"192.0.2.1 192.0.2.2\"\n"),
              "gh.yaml:2:18: grants.block-address: give at most one IPv4 and one IPv6 address, "
              "got '192.0.2.1 192.0.2.2'");
    CHECK_STR(load_err("grants:\n  block-address: [192.0.2.1, 2001:db8::1, 192.0.2.2]\n"),
              "gh.yaml:2:18: grants.block-address: expected the block page's addresses (one IPv4 "
              "and/or one IPv6, separated by a space)");
    CHECK_STR(load_err("grants:\n  unauthorised-allow: [\"bad name!\"]\n"),
              "gh.yaml:2:24: grants.unauthorised-allow[0]: expected a domain name, or *. and a "
              "domain name for it and every name below, got 'bad name!'");
    CHECK_STR(load_err("grants:\n  unauthorised-allow: [a.org, A.org]\n"),
              "gh.yaml:2:31: grants.unauthorised-allow[1]: duplicate entry 'A.org'");
    CHECK_STR(load_err("dhcp:\n  format: udhcpd\n"),
              "gh.yaml:2:11: dhcp.format: expected isc, kea or dnsmasq, got 'udhcpd'");
    CHECK_STR(load_err("grants:\n  max-guests: 1h\n"),
              "gh.yaml:2:3: unknown key 'grants.max-guests'");
}

static void test_reloadable(void)
{
    struct config *old = config_default(), *new = NULL;
    CHECK_EQ(config_reloadable(old, old, err, sizeof(err)), 0);
    /* Everything that can change in place. */
    new = load("server:\n  verbosity: 4\n  client-networks: [10.0.0.0/8]\n"
               "cache:\n  size: 1g\nlog:\n  enabled: false\n");
    CHECK_EQ(config_reloadable(old, new, err, sizeof(err)), 0);
    config_free(new);

    static const struct {
        const char *yaml, *key;
    } fixed[] = {
        {"server:\n  listen: [\"127.0.0.1@5353\"]\n", "server.listen"},
        {"server:\n  listen: [\"::1@5353\", \"127.0.0.1@5353\"]\n", "server.listen"},
        {"server:\n  threads: 2\n", "server.threads"},
        {"server:\n  user: gatehouse\n", "server.user"},
        {"server:\n  state-dir: /srv/gh\n", "server.state-dir"},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        new = load(fixed[i].yaml);
        CHECK(new != NULL);
        if (!new)
            continue;
        CHECK_EQ(config_reloadable(old, new, err, sizeof(err)), -EINVAL);
        char want[256];
        snprintf(want, sizeof(want),
                 "gh.yaml: %s cannot be changed by a reload; restart gatehoused", fixed[i].key);
        CHECK_STR(err, want);
        config_free(new);
    }
    config_free(old);

    /* The policy layer changes in place: from none to the school's, and
     * from the school's to a different one. */
    old = config_default();
    struct config *school = NULL;
    CHECK_EQ(config_load(DATA "school.yaml", &school, err, sizeof(err)), 0);
    if (!school) {
        config_free(old);
        return;
    }
    /* Same listeners, threads and state directory as the school's. */
    new = load("server:\n  listen: [\"10.0.0.2@53\", \"fd00::2@53\"]\n");
    CHECK_EQ(config_reloadable(new, school, err, sizeof(err)), 0);
    CHECK_EQ(config_reloadable(school, new, err, sizeof(err)), 0);
    config_free(new);
    /* The time zone is process-wide (TZ) and read by every worker: a
     * change needs a restart. */
    new = load("server:\n  listen: [\"10.0.0.2@53\", \"fd00::2@53\"]\n"
               "timezone: Europe/Dublin\n");
    CHECK(new != NULL);
    if (new) {
        CHECK_EQ(config_reloadable(school, new, err, sizeof(err)), -EINVAL);
        CHECK_STR(err, "gh.yaml: timezone cannot be changed by a reload; restart gatehoused");
    }
    config_free(new);
    new = load("server:\n  listen: [\"10.0.0.2@53\", \"fd00::2@53\"]\n"
               "schedules:\n  s:\n    windows: [\"sat 09:00-10:00\"]\n"
               "policies:\n  everyone:\n    safe-search: strict\n"
               "    schedules: [{during: s, allow-only: true}]\n    default: block\n"
               "segments:\n  - {name: all, policy: everyone, networks: [10.0.0.0/8]}\n");
    CHECK(new != NULL);
    if (new) {
        CHECK_EQ(config_reloadable(school, new, err, sizeof(err)), 0);
        CHECK_STR(err, "");
    }
    config_free(new);
    config_free(school);
    config_free(old);
}

static struct sockaddr_storage sa_of(const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    return ss;
}

static bool contains(const char *net, const char *addr)
{
    struct config_net n;
    struct sockaddr_storage ss = sa_of(addr);
    if (config_parse_net(net, &n) != 0) {
        printf("#   bad net %s\n", net);
        return false;
    }
    return config_net_contains(&n, (struct sockaddr *)&ss);
}

static void test_net_contains(void)
{
    /* /0 contains everything of its family, and nothing of the other. */
    CHECK(contains("0.0.0.0/0", "0.0.0.0"));
    CHECK(contains("0.0.0.0/0", "255.255.255.255"));
    CHECK(!contains("0.0.0.0/0", "::1"));
    CHECK(contains("::/0", "::"));
    CHECK(contains("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK(!contains("::/0", "10.0.0.1"));
    /* Full-length prefixes and bare addresses. */
    CHECK(contains("192.0.2.7/32", "192.0.2.7"));
    CHECK(!contains("192.0.2.7/32", "192.0.2.6"));
    CHECK(contains("192.0.2.7", "192.0.2.7"));
    CHECK(!contains("192.0.2.7", "192.0.2.8"));
    CHECK(contains("2001:db8::1/128", "2001:db8::1"));
    CHECK(!contains("2001:db8::1/128", "2001:db8::"));
    CHECK(contains("::1", "::1"));
    /* Odd prefixes: the boundary bit decides. */
    CHECK(contains("10.0.0.0/7", "11.255.255.255"));
    CHECK(!contains("10.0.0.0/7", "12.0.0.0"));
    CHECK(!contains("10.0.0.0/7", "9.255.255.255"));
    CHECK(contains("192.168.0.0/23", "192.168.1.255"));
    CHECK(!contains("192.168.0.0/23", "192.168.2.0"));
    CHECK(contains("172.16.0.0/12", "172.31.255.255"));
    CHECK(!contains("172.16.0.0/12", "172.32.0.0"));
    CHECK(contains("192.0.2.128/25", "192.0.2.128"));
    CHECK(!contains("192.0.2.128/25", "192.0.2.127"));
    CHECK(contains("192.0.2.6/31", "192.0.2.7"));
    CHECK(!contains("192.0.2.6/31", "192.0.2.8"));
    CHECK(contains("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK(!contains("2001:db8::/33", "2001:db8:8000::"));
    CHECK(contains("fe80::/10", "febf::1"));
    CHECK(!contains("fe80::/10", "fec0::1"));
    CHECK(contains("2001:db8::/127", "2001:db8::1"));
    CHECK(!contains("2001:db8::/127", "2001:db8::2"));
    CHECK(contains("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff"));
    CHECK(!contains("2001:db8::/65", "2001:db8::8000:0:0:0"));
    /* IPv4 clients seen on a dual-stack socket as ::ffff:a.b.c.d. */
    CHECK(contains("127.0.0.0/8", "::ffff:127.0.0.1"));
    CHECK(!contains("127.0.0.0/8", "::ffff:128.0.0.1"));
    CHECK(!contains("::1/128", "127.0.0.1"));
    /* No network, no address: nobody. */
    struct config_net n;
    CHECK_EQ(config_parse_net("10.0.0.0/8", &n), 0);
    CHECK(!config_net_contains(&n, NULL));
    CHECK(!config_net_contains(NULL, NULL));
    struct sockaddr_storage un;
    memset(&un, 0, sizeof(un));
    un.ss_family = AF_UNIX;
    CHECK(!config_net_contains(&n, (struct sockaddr *)&un));
}

static void test_parse_net(void)
{
    struct config_net n;
    CHECK_EQ(config_parse_net("10.1.0.0/16", &n), 0);
    CHECK_EQ(n.family, AF_INET);
    CHECK_EQ(n.prefix, 16);
    CHECK_EQ(n.addr[0], 10);
    CHECK_EQ(n.addr[1], 1);
    CHECK_EQ(config_parse_net("2001:db8::/32", &n), 0);
    CHECK_EQ(n.family, AF_INET6);
    CHECK_EQ(n.prefix, 32);
    CHECK_EQ(n.addr[0], 0x20);
    CHECK_EQ(n.addr[3], 0xb8);
    CHECK_EQ(config_parse_net("::/0", &n), 0);
    CHECK_EQ(n.prefix, 0);
    static const char *const bad[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/-1",
        "10.0.0.0/8x",
        "10.0.0.0/ 8",
        "10.0.0.1/8",
        "2001:db8::1/64",
        "10.0.0.0/8/8",
        "10.0.0/8",
        "example.org/8",
        "10.0.0.0/0008",
        "fe80::1%eth0/128",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (config_parse_net(bad[i], &n) != -EINVAL)
            printf("#   accepted '%s'\n", bad[i]);
        CHECK_EQ(config_parse_net(bad[i], &n), -EINVAL);
    }
    CHECK_EQ(config_parse_net(NULL, &n), -EINVAL);
}

static void test_parse_sockaddr(void)
{
    struct config_sockaddr sa;
    char b[64];
    CHECK_EQ(config_parse_sockaddr("192.0.2.1", 53, &sa), 0);
    CHECK_STR(sa_str(&sa, b, sizeof(b)), "192.0.2.1@53");
    CHECK_EQ(sa.len, sizeof(struct sockaddr_in));
    CHECK_EQ(config_parse_sockaddr("192.0.2.1@65535", 53, &sa), 0);
    CHECK_STR(sa_str(&sa, b, sizeof(b)), "192.0.2.1@65535");
    CHECK_EQ(config_parse_sockaddr("2001:db8::1@1", 53, &sa), 0);
    CHECK_STR(sa_str(&sa, b, sizeof(b)), "2001:db8::1@1");
    CHECK_EQ(sa.len, sizeof(struct sockaddr_in6));
    CHECK_EQ(config_parse_sockaddr("::", 0, &sa), 0);
    CHECK_STR(sa_str(&sa, b, sizeof(b)), "::@0");
    static const char *const bad[] = {
        "",
        "@53",
        "192.0.2.1@",
        "192.0.2.1@0",
        "192.0.2.1@65536",
        "192.0.2.1@-1",
        "192.0.2.1@53x",
        "192.0.2.1@ 53",
        "192.0.2.1@5@3",
        "192.0.2.1:53",
        "[::1]:53",
        "[::1]@53",
        "::1:53x",
        "localhost@53",
        "192.0.2.256",
        "1.2.3",
        "192.0.2.1@000053",
        " 192.0.2.1",
        "fe80::1%eth0@53",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (config_parse_sockaddr(bad[i], 53, &sa) != -EINVAL)
            printf("#   accepted '%s'\n", bad[i]);
        CHECK_EQ(config_parse_sockaddr(bad[i], 53, &sa), -EINVAL);
    }
    CHECK_EQ(config_parse_sockaddr(NULL, 53, &sa), -EINVAL);
    /* A name too long for any address is rejected before copying. */
    char longs[300];
    memset(longs, '1', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    CHECK_EQ(config_parse_sockaddr(longs, 53, &sa), -EINVAL);
}

/* Bounds: every list is capped, and big inputs fail cleanly. */
static void test_limits(void)
{
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    size_t o = (size_t)snprintf(text, cap, "server:\n  client-networks:\n");
    for (int i = 0; i < 256; i++)
        o += (size_t)snprintf(text + o, cap - o, "    - 10.%d.0.0/16\n", i);
    struct config *c = load(text);
    CHECK(c && c->nclient_networks == 256);
    config_free(c);
    snprintf(text + o, cap - o, "    - 11.0.0.0/8\n");
    CHECK_STR(load_err(text), "gh.yaml:3:5: server.client-networks: more than 256 entries");
    free(text);

    /* Larger than 1 MiB: refused before parsing. */
    size_t big = (1 << 20) + 1;
    text = malloc(big);
    memset(text, '#', big);
    c = NULL;
    CHECK_EQ(config_load_buffer("gh.yaml", text, big, &c, err, sizeof(err)), -EFBIG);
    CHECK_STR(err, "gh.yaml:1:1: file larger than 1048576 bytes");
    CHECK(c == NULL);
    free(text);
}

int main(void)
{
    UNIT_RUN(test_defaults);
    UNIT_RUN(test_empty_is_default);
    UNIT_RUN(test_example_is_default);
    UNIT_RUN(test_full_fixture);
    UNIT_RUN(test_value_forms);
    UNIT_RUN(test_bools);
    UNIT_RUN(test_addresses_in_yaml);
    UNIT_RUN(test_derived_paths);
    UNIT_RUN(test_forward_zones);
    UNIT_RUN(test_categories);
    UNIT_RUN(test_school_fixture);
    UNIT_RUN(test_windows_and_dates);
    UNIT_RUN(test_policy_values);
    UNIT_RUN(test_policy_errors);
    UNIT_RUN(test_policy_limits);
    UNIT_RUN(test_errors);
    UNIT_RUN(test_file_errors);
    UNIT_RUN(test_round_trip);
    UNIT_RUN(test_golden);
    UNIT_RUN(test_grants_keys);
    UNIT_RUN(test_reloadable);
    UNIT_RUN(test_net_contains);
    UNIT_RUN(test_parse_net);
    UNIT_RUN(test_parse_sockaddr);
    UNIT_RUN(test_limits);
    UNIT_RUN(test_dnssec_anchors);
    return unit_done();
}
