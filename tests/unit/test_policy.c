/*
 * test_policy.c - segments, name lists, schedules (with an injected clock,
 * across the UK clock changes), categories, bypass names, safe search and
 * the fixed precedence.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>

#include "policy.h"
#include "unit.h"

enum { CAT_ADULT = 0, CAT_SOCIAL = 1, CAT_STATUTORY = 5, CAT_GAMES = 7, CAT_DOH = 9, CAT_VPN = 10 };

static int category_id(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "adult") == 0)
        return CAT_ADULT;
    if (strcmp(name, "social_networks") == 0)
        return CAT_SOCIAL;
    if (strcmp(name, "statutory") == 0)
        return CAT_STATUTORY;
    if (strcmp(name, "games") == 0)
        return CAT_GAMES;
    if (strcmp(name, "doh") == 0)
        return CAT_DOH;
    if (strcmp(name, "vpn_proxy") == 0)
        return CAT_VPN;
    return -1;
}

static size_t wire(const char *text, uint8_t *out)
{
    size_t o = 0;
    const char *p = text;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        out[o++] = (uint8_t)l;
        memcpy(out + o, p, l);
        o += l;
        p += l;
        if (*p == '.')
            p++;
    }
    out[o++] = 0;
    return o;
}

static struct config_name name_entry(const char *text, unsigned line)
{
    struct config_name n = {0};
    bool sub = strncmp(text, "*.", 2) == 0;
    n.len = wire(sub ? text + 2 : text, n.wire);
    n.subtree = sub;
    n.text = (char *)text;
    n.line = line;
    return n;
}

/* A school: teaching hours Mon-Fri 08:50-15:20 in term; pupils may use only
 * the allow list outside lessons; staff lose social networks in teaching
 * hours. */
static struct config_window teaching_windows[] = {{0x1f, 8 * 60 + 50, 15 * 60 + 20}};
static struct config_daterange terms[2];
static struct config_daterange holidays[1];
static struct config_schedule schedules[1];
static struct config_name pupil_allow[2], pupil_deny[2];
static char *pupil_block[] = {"adult", "games", "no_such_category"};
static char *staff_rule_cats[] = {"social_networks"};
static struct config_rule pupil_rules[1], staff_rules[1];
static struct config_policy policies[3];
static struct config_segment segments[3];
static struct config_net net_staff, net_pupil, local_visitor;
static char *ifaces_visitor[] = {"lo"};
static struct config cfg;

static int32_t day(int y, int m, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    return (int32_t)(timegm(&tm) / 86400);
}

static void setup(void)
{
    setenv("TZ", "Europe/London", 1);
    tzset();
    terms[0] = (struct config_daterange){day(2026, 2, 23), day(2026, 4, 2)};
    terms[1] = (struct config_daterange){day(2026, 9, 3), day(2026, 12, 18)};
    holidays[0] = (struct config_daterange){day(2026, 10, 26), day(2026, 10, 30)};
    schedules[0] = (struct config_schedule){.name = "teaching",
                                            .windows = teaching_windows,
                                            .nwindows = 1,
                                            .terms = terms,
                                            .nterms = 2,
                                            .holidays = holidays,
                                            .nholidays = 1};
    pupil_allow[0] = name_entry("*.bbc.co.uk", 40);
    pupil_allow[1] = name_entry("games.school.example", 41);
    pupil_deny[0] = name_entry("*.tiktok.com", 50);
    pupil_deny[1] = name_entry("games.school.example", 51);
    pupil_rules[0] = (struct config_rule){CONFIG_RULE_ALLOW_ONLY, "teaching", false, NULL, 0};
    staff_rules[0] = (struct config_rule){CONFIG_RULE_BLOCK, "teaching", true, staff_rule_cats, 1};
    policies[0] = (struct config_policy){.name = "pupil",
                                         .block = pupil_block,
                                         .nblock = 3,
                                         .allow = pupil_allow,
                                         .nallow = 2,
                                         .deny = pupil_deny,
                                         .ndeny = 2,
                                         .safe_search = CONFIG_SAFE_SEARCH_STRICT,
                                         .rules = pupil_rules,
                                         .nrules = 1,
                                         .action = {.kind = CONFIG_ACTION_NXDOMAIN},
                                         .block_ttl = 60,
                                         .bypass_protection = true};
    policies[1] = (struct config_policy){.name = "staff",
                                         .rules = staff_rules,
                                         .nrules = 1,
                                         .safe_search = CONFIG_SAFE_SEARCH_OFF,
                                         .action = {.kind = CONFIG_ACTION_NULL},
                                         .block_ttl = 30};
    policies[2] = (struct config_policy){.name = "visitor",
                                         .default_block = true,
                                         .bypass_protection = true,
                                         .safe_search = CONFIG_SAFE_SEARCH_MODERATE};
    config_parse_net("10.10.0.0/16", &net_staff);
    config_parse_net("10.20.0.0/16", &net_pupil);
    config_parse_net("127.0.0.30/32", &local_visitor);
    segments[0] = (struct config_segment){
        .name = "staff", .networks = &net_staff, .nnetworks = 1, .policy = "staff"};
    segments[1] = (struct config_segment){
        .name = "pupil", .networks = &net_pupil, .nnetworks = 1, .policy = "pupil"};
    segments[2] = (struct config_segment){.name = "visitor",
                                          .local_addresses = &local_visitor,
                                          .nlocal_addresses = 1,
                                          .interfaces = ifaces_visitor,
                                          .ninterfaces = 1,
                                          .policy = "visitor"};
    cfg.schedules = schedules;
    cfg.nschedules = 1;
    cfg.policies = policies;
    cfg.npolicies = 3;
    cfg.segments = segments;
    cfg.nsegments = 3;
}

static struct policy_set *build(void)
{
    struct policy_set *ps = NULL;
    char err[256] = "";
    int rc = policy_set_build(&cfg, category_id, NULL, &ps, err, sizeof err);
    if (rc < 0)
        printf("# build: %s\n", err);
    return ps;
}

/* A UTC instant from local UK time text. */
static time_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_isdst = -1};
    return mktime(&tm);
}

static struct policy_verdict decide(const struct policy *p, const char *name, uint64_t cats,
                                    time_t t)
{
    uint8_t w[256];
    struct policy_clock clk;
    struct policy_verdict v;
    policy_clock_set(&clk, t);
    policy_decide(p, w, wire(name, w), cats, &clk, NULL, &v);
    return v;
}

static struct sockaddr_in sin4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static void test_segments(void)
{
    struct policy_set *ps = build();
    CHECK(ps != NULL);
    if (!ps)
        return;
    struct sockaddr_in staff = sin4("10.10.3.4"), pupil = sin4("10.20.0.9"),
                       other = sin4("192.0.2.1"), vis_local = sin4("127.0.0.30"),
                       other_local = sin4("127.0.0.31");
    CHECK_EQ(policy_segment_match(ps, (struct sockaddr *)&staff, NULL, 0), 0);
    CHECK_EQ(policy_segment_match(ps, (struct sockaddr *)&pupil, NULL, 0), 1);
    /* visitor: local address AND interface (lo) must both match */
    unsigned lo = if_nametoindex("lo");
    CHECK_EQ(
        policy_segment_match(ps, (struct sockaddr *)&other, (struct sockaddr *)&vis_local, (int)lo),
        2);
    CHECK_EQ(policy_segment_match(ps, (struct sockaddr *)&other, (struct sockaddr *)&vis_local,
                                  (int)lo + 1000),
             -1);
    CHECK_EQ(policy_segment_match(ps, (struct sockaddr *)&other, (struct sockaddr *)&other_local,
                                  (int)lo),
             -1);
    CHECK_STR(policy_segment_name(ps, 1), "pupil");
    CHECK_STR(policy_name(policy_of_segment(ps, 2)), "visitor");
    policy_set_free(ps);
}

static void test_precedence(void)
{
    struct policy_set *ps = build();
    if (!ps)
        return;
    const struct policy *pupil = policy_of_segment(ps, 1);
    time_t lesson = at(2026, 11, 23, 10, 15); /* Monday, in term */
    struct policy_verdict v;

    v = decide(pupil, "www.example.org", 0, lesson);
    CHECK_EQ(v.outcome, POLICY_PASS);
    v = decide(pupil, "adult.example", 1u << CAT_ADULT, lesson);
    CHECK_EQ(v.outcome, POLICY_BLOCK);
    CHECK_EQ(v.reason, POLICY_BY_CATEGORY);
    CHECK_EQ(v.category, CAT_ADULT);
    CHECK_EQ(v.action->kind, CONFIG_ACTION_NXDOMAIN);
    CHECK_EQ(v.ttl, 60);
    /* allow beats a category... */
    v = decide(pupil, "news.bbc.co.uk", 1u << CAT_ADULT, lesson);
    CHECK_EQ(v.outcome, POLICY_PASS);
    CHECK_EQ(v.reason, POLICY_BY_ALLOW);
    CHECK_STR(v.rule, "*.bbc.co.uk");
    CHECK_EQ(v.line, 40);
    /* ... and the deny list (allow comes first) */
    v = decide(pupil, "games.school.example", 0, lesson);
    CHECK_EQ(v.reason, POLICY_BY_ALLOW);
    /* ... but never statutory */
    v = decide(pupil, "news.bbc.co.uk", 1u << CAT_STATUTORY, lesson);
    CHECK_EQ(v.outcome, POLICY_BLOCK);
    CHECK_EQ(v.reason, POLICY_BY_STATUTORY);
    /* deny, subtree includes the apex and below, not look-alikes */
    v = decide(pupil, "tiktok.com", 0, lesson);
    CHECK_EQ(v.reason, POLICY_BY_DENY);
    CHECK_EQ(v.line, 50);
    v = decide(pupil, "a.b.tiktok.com", 0, lesson);
    CHECK_EQ(v.reason, POLICY_BY_DENY);
    v = decide(pupil, "nottiktok.com", 0, lesson);
    CHECK_EQ(v.outcome, POLICY_PASS);
    /* an exact allow entry does not cover the subtree */
    v = decide(pupil, "x.games.school.example", 1u << CAT_GAMES, lesson);
    CHECK_EQ(v.reason, POLICY_BY_CATEGORY);
    policy_set_free(ps);
}

static void test_bypass_and_safe_search(void)
{
    struct policy_set *ps = build();
    if (!ps)
        return;
    const struct policy *pupil = policy_of_segment(ps, 1), *staff = policy_of_segment(ps, 0);
    time_t t = at(2026, 11, 23, 10, 15);
    struct policy_verdict v;

    v = decide(pupil, "use-application-dns.net", 0, t);
    CHECK_EQ(v.reason, POLICY_BY_BYPASS);
    CHECK_EQ(v.action->kind, CONFIG_ACTION_NXDOMAIN);
    v = decide(pupil, "mask-h2.icloud.com", 0, t);
    CHECK_EQ(v.reason, POLICY_BY_BYPASS);
    v = decide(pupil, "_dns.resolver.arpa", 0, t);
    CHECK_EQ(v.action->kind, CONFIG_ACTION_NODATA);
    v = decide(staff, "use-application-dns.net", 0, t); /* staff: protection off */
    CHECK_EQ(v.outcome, POLICY_PASS);
    /* the doh and vpn_proxy categories come with bypass protection */
    v = decide(pupil, "dns.example-doh.net", 1ull << CAT_DOH, t);
    CHECK_EQ(v.reason, POLICY_BY_BYPASS);
    CHECK_EQ(v.category, CAT_DOH);
    v = decide(pupil, "hotspot.example", 1ull << CAT_VPN, t);
    CHECK_EQ(v.reason, POLICY_BY_BYPASS);
    CHECK_EQ(v.category, CAT_VPN);
    v = decide(pupil, "news.bbc.co.uk", 1ull << CAT_DOH, t); /* the allow list still wins */
    CHECK_EQ(v.reason, POLICY_BY_ALLOW);
    CHECK_EQ(decide(staff, "dns.example-doh.net", 1ull << CAT_DOH, t).outcome, POLICY_PASS);

    uint8_t want[256];
    v = decide(pupil, "www.google.co.uk", 0, t);
    CHECK_EQ(v.outcome, POLICY_REWRITE);
    size_t n = wire("forcesafesearch.google.com", want);
    CHECK(v.target_len == n && memcmp(v.target, want, n) == 0);
    v = decide(pupil, "www.youtube.com", 0, t);
    n = wire("restrict.youtube.com", want); /* strict */
    CHECK(v.outcome == POLICY_REWRITE && v.target_len == n && memcmp(v.target, want, n) == 0);
    v = decide(pupil, "duckduckgo.com", 0, t);
    CHECK_EQ(v.outcome, POLICY_REWRITE);
    v = decide(pupil, "mail.google.com", 0, t); /* not a search name */
    CHECK_EQ(v.outcome, POLICY_PASS);
    v = decide(staff, "www.google.com", 0, t);
    CHECK_EQ(v.outcome, POLICY_PASS);
    /* visitor: default block, moderate YouTube only if allowed: blocked first */
    v = decide(policy_of_segment(ps, 2), "www.youtube.com", 0, t);
    CHECK_EQ(v.reason, POLICY_BY_DEFAULT);
    policy_set_free(ps);
}

static void test_schedules_and_dst(void)
{
    struct policy_set *ps = build();
    if (!ps)
        return;
    const struct policy *pupil = policy_of_segment(ps, 1), *staff = policy_of_segment(ps, 0);
    uint64_t social = 1u << CAT_SOCIAL;

    /* Staff: social networks blocked in teaching hours only. */
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 11, 23, 10, 15)).reason,
             POLICY_BY_SCHEDULE);
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 11, 23, 15, 20)).outcome,
             POLICY_PASS); /* end is exclusive */
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 11, 23, 8, 49)).outcome, POLICY_PASS);
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 11, 23, 8, 50)).outcome, POLICY_BLOCK);
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 11, 22, 10, 15)).outcome,
             POLICY_PASS); /* Sunday */
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 10, 27, 10, 15)).outcome,
             POLICY_PASS); /* half-term holiday */
    CHECK_EQ(decide(staff, "facebook.com", social, at(2026, 8, 4, 10, 15)).outcome,
             POLICY_PASS); /* summer: outside every term */

    /* Pupils: outside lessons only the allow list. */
    CHECK_EQ(decide(pupil, "www.example.org", 0, at(2026, 11, 23, 18, 0)).reason,
             POLICY_BY_SCHEDULE);
    CHECK_EQ(decide(pupil, "www.bbc.co.uk", 0, at(2026, 11, 23, 18, 0)).outcome, POLICY_PASS);

    /* Daylight saving: BST began on Sunday 29 March 2026 at 01:00 UTC.  On
     * Monday 30 March, 08:50 local is 07:50 UTC; on Friday 27 March (GMT),
     * 08:50 local is 08:50 UTC. */
    time_t mon_0750_utc = 1774857000; /* 2026-03-30 07:50:00 UTC */
    time_t fri_0750_utc = 1774597800; /* 2026-03-27 07:50:00 UTC */
    CHECK_EQ(decide(staff, "facebook.com", social, mon_0750_utc).outcome, POLICY_BLOCK);
    CHECK_EQ(decide(staff, "facebook.com", social, fri_0750_utc).outcome, POLICY_PASS);
    CHECK_EQ(decide(staff, "facebook.com", social, fri_0750_utc + 3600).outcome, POLICY_BLOCK);
    /* GMT again from Sunday 25 October 2026 01:00 UTC (half term, so use the
     * Monday after: 2 November 08:50 GMT = 08:50 UTC). */
    time_t nov2_0850_utc = 1793609400; /* 2026-11-02 08:50:00 UTC */
    CHECK_EQ(decide(staff, "facebook.com", social, nov2_0850_utc - 60).outcome, POLICY_PASS);
    CHECK_EQ(decide(staff, "facebook.com", social, nov2_0850_utc).outcome, POLICY_BLOCK);
    policy_set_free(ps);
}

static void test_dispensation(void)
{
    struct policy_set *ps = build();
    if (!ps)
        return;
    const struct policy *pupil = policy_of_segment(ps, 1);
    uint8_t w[256], dn[256];
    struct policy_clock clk;
    struct policy_verdict v;
    size_t len = wire("forum.example", w);

    policy_clock_set(&clk, at(2026, 11, 23, 10, 15));
    struct policy_dispensation d = {.categories = 1u << CAT_GAMES, .grant_id = 7};
    policy_decide(pupil, w, len, 1u << CAT_GAMES, &clk, &d, &v);
    CHECK_EQ(v.outcome, POLICY_PASS);
    CHECK_EQ(v.reason, POLICY_BY_DISPENSATION);
    /* the other category of a two-category name stays blocked */
    policy_decide(pupil, w, len, (1u << CAT_GAMES) | (1u << CAT_ADULT), &clk, &d, &v);
    CHECK_EQ(v.outcome, POLICY_BLOCK);
    CHECK_EQ(v.category, CAT_ADULT);
    /* a name dispensation covers the subtree at label boundaries only */
    struct policy_dispensation dname = {.name = dn, .name_len = wire("example", dn)};
    policy_decide(pupil, w, len, 1u << CAT_ADULT, &clk, &dname, &v);
    CHECK_EQ(v.reason, POLICY_BY_DISPENSATION);
    len = wire("badexample", w);
    policy_decide(pupil, w, len, 1u << CAT_ADULT, &clk, &dname, &v);
    CHECK_EQ(v.outcome, POLICY_BLOCK);
    /* statutory outranks a dispensation */
    struct policy_dispensation all = {.categories = ~0ull};
    policy_decide(pupil, w, len, 1u << CAT_STATUTORY, &clk, &all, &v);
    CHECK_EQ(v.reason, POLICY_BY_STATUTORY);
    policy_set_free(ps);
}

static void test_bad_reference(void)
{
    struct policy_set *ps = NULL;
    char err[256] = "";
    segments[0].policy = "nobody";
    CHECK_EQ(policy_set_build(&cfg, category_id, NULL, &ps, err, sizeof err), -EINVAL);
    CHECK_STR(err, "segments.staff: no policy named 'nobody'");
    segments[0].policy = "staff";
    staff_rules[0].schedule = "never";
    CHECK_EQ(policy_set_build(&cfg, category_id, NULL, &ps, err, sizeof err), -EINVAL);
    CHECK_STR(err, "policies.staff: no schedule named 'never'");
    staff_rules[0].schedule = "teaching";
}

int main(void)
{
    setup();
    UNIT_RUN(test_segments);
    UNIT_RUN(test_precedence);
    UNIT_RUN(test_bypass_and_safe_search);
    UNIT_RUN(test_schedules_and_dst);
    UNIT_RUN(test_dispensation);
    UNIT_RUN(test_bad_reference);
    return unit_done();
}
