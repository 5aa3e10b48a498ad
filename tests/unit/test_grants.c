/*
 * test_grants.c - the grants store on a real LMDB environment in a temporary
 * directory: grant, list, expire, revoke, the generation, the daemon's
 * snapshot and lookups, exemption windows, the checks (maximum durations,
 * past windows, statutory and unknown categories, addresses outside the
 * segment), grants by MAC through each leases format, the audit fields,
 * purge, the admin group, and a writer process seen by a polling reader.
 */
#include "grants.h"
#include "leases.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static int ndirs;
static char err[512];
static const time_t NOW = 1795521600; /* 2026-11-24 12:00 UTC */

static const char CONF[] = "blocklists:\n"
                           "  categories:\n"
                           "    extremism: [/x/extremism.txt]\n"
                           "    games: [/x/games.txt]\n"
                           "policies:\n"
                           "  staff: {}\n"
                           "  visitor: {default: block}\n"
                           "segments:\n"
                           "  - name: staff\n"
                           "    networks: [10.10.0.0/16, \"fd00:10::/64\"]\n"
                           "    policy: staff\n"
                           "  - name: visitor\n"
                           "    networks: [10.30.0.0/16]\n"
                           "    policy: visitor\n"
                           "    guest-access: grant-required\n"
                           "  - name: hall\n"
                           "    interfaces: [eth0.40]\n"
                           "    policy: visitor\n"
                           "    guest-access: grant-required\n";

static struct config *conf(void)
{
    struct config *c = NULL;
    if (config_load_buffer("t.yaml", CONF, strlen(CONF), &c, err, sizeof err))
        printf("#   %s\n", err);
    return c;
}

static const char *newdir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_grants.%d.%d", (int)getpid(), ndirs++);
    return dir;
}

static void rmdir_store(const char *d)
{
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", d);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", d);
    unlink(p);
    rmdir(d);
}

static struct grant guest(const char *addr, const char *segment, time_t from, time_t len)
{
    struct grant g;
    memset(&g, 0, sizeof g);
    g.kind = GRANT_GUEST;
    if (addr) {
        g.scope = GRANT_SCOPE_CLIENT;
        grants_parse_addr(addr, g.addr, &g.family);
    } else {
        g.scope = GRANT_SCOPE_SEGMENT;
    }
    if (segment)
        snprintf(g.segment, sizeof g.segment, "%s", segment);
    g.from = from;
    g.until = from + len;
    snprintf(g.by, sizeof g.by, "J. Smith, Head Teacher");
    snprintf(g.user, sizeof g.user, "jsmith");
    snprintf(g.reason, sizeof g.reason, "Fire safety inspection");
    return g;
}

static struct grant exemption(const char *addr, const char *segment, const char *cat,
                              const char *name, time_t from, time_t len)
{
    struct grant g = guest(addr, segment, from, len);
    g.kind = GRANT_EXEMPTION;
    if (cat)
        snprintf(g.category, sizeof g.category, "%s", cat);
    if (name)
        snprintf(g.name, sizeof g.name, "%s", name);
    snprintf(g.reason, sizeof g.reason, "PSHE lesson on radicalisation");
    return g;
}

/* A socket address for a lookup; a few live at once (rotating). */
static const struct sockaddr *SA(const char *addr)
{
    static struct sockaddr_storage ring[4];
    static int next;
    struct sockaddr_storage *ss = &ring[next++ % 4];
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    return (const struct sockaddr *)ss;
}

/* categories as bits: extremism 3, games 5, else unknown */
static int cat_bit(void *arg, const char *name)
{
    (void)arg;
    return !strcmp(name, "extremism") ? 3 : !strcmp(name, "games") ? 5 : -1;
}

struct ids {
    int n;
    uint64_t ids[16];
};

static int collect_cb(const struct grant *g, void *arg)
{
    struct ids *a = arg;
    if (a->n < 16)
        a->ids[a->n++] = g->id;
    return 0;
}

struct audit_seen {
    int n;
    char lines[8][512];
};

static int audit_cb(uint64_t t, const char *who, const char *action, const char *detail, void *arg)
{
    struct audit_seen *a = arg;
    (void)t;
    if (a->n < 8)
        snprintf(a->lines[a->n++], sizeof a->lines[0], "%s|%s|%s", action, who, detail);
    return 0;
}

/* ------------------------------------------------------------------------ */

static void test_parsers(void)
{
    uint32_t d;
    time_t t;
    uint8_t a[16], fam;
    CHECK_EQ(grants_parse_duration("2h", &d), 0);
    CHECK_EQ(d, 7200);
    CHECK_EQ(grants_parse_duration("1h30m", &d), 0);
    CHECK_EQ(d, 5400);
    CHECK_EQ(grants_parse_duration("1w", &d), 0);
    CHECK_EQ(d, 604800);
    CHECK_EQ(grants_parse_duration("45s", &d), 0);
    CHECK_EQ(grants_parse_duration("0h", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("30m1h", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("1h1h", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("2", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("h", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("-1h", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("401d", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("9999999h", &d), -EINVAL);
    CHECK_EQ(grants_parse_duration("", &d), -EINVAL);

    setenv("TZ", "Europe/London", 1);
    tzset();
    CHECK_EQ(grants_parse_time("2026-11-24 09:00", NOW, &t), 0);
    CHECK_EQ(t, NOW - 3 * 3600);
    CHECK_EQ(grants_parse_time("2026-11-24T09:00:30", NOW, &t), 0);
    CHECK_EQ(t, NOW - 3 * 3600 + 30);
    CHECK_EQ(grants_parse_time("2026-07-01 09:00", NOW, &t), 0); /* BST */
    CHECK_EQ(t, 1782892800);
    CHECK_EQ(grants_parse_time("2026-11-24", NOW, &t), 0);
    CHECK_EQ(t, NOW - 12 * 3600);
    CHECK_EQ(grants_parse_time("now", NOW, &t), 0);
    CHECK_EQ(t, NOW);
    CHECK_EQ(grants_parse_time("2026-02-31 09:00", NOW, &t), -EINVAL);
    CHECK_EQ(grants_parse_time("2026-11-24 25:00", NOW, &t), -EINVAL);
    CHECK_EQ(grants_parse_time("2026-11-24 9:00", NOW, &t), -EINVAL);
    CHECK_EQ(grants_parse_time("2026-11-24 09:00 ", NOW, &t), -EINVAL);
    CHECK_EQ(grants_parse_time("24/11/2026", NOW, &t), -EINVAL);
    CHECK_EQ(grants_parse_time("2026-1-24", NOW, &t), -EINVAL);

    CHECK_EQ(grants_parse_addr("10.30.0.57", a, &fam), 0);
    CHECK(fam == 4 && a[10] == 0xff && a[15] == 57);
    CHECK_EQ(grants_parse_addr("::ffff:10.30.0.57", a, &fam), 0);
    CHECK(fam == 4 && a[15] == 57);
    CHECK_EQ(grants_parse_addr("fd00:10::5", a, &fam), 0);
    CHECK_EQ(fam, 6);
    CHECK_EQ(grants_parse_addr("10.30.0.257", a, &fam), -EINVAL);
}

static void test_checks(void)
{
    struct config *c = conf();
    struct grant g;
    if (!c)
        return;
    /* a guest by address: the segment is found from the address */
    g = guest("10.30.0.57", NULL, NOW, 7200);
    CHECK_EQ(grants_check(c, &g, NOW, err, sizeof err), 0);
    CHECK_STR(g.segment, "visitor");
    /* a segment matched by interface takes any address it is named with */
    g = guest("192.0.2.9", "hall", NOW, 7200);
    CHECK_EQ(grants_check(c, &g, NOW, err, sizeof err), 0);

#define REFUSED(G, MSG)                                                                            \
    do {                                                                                           \
        struct grant g_ = (G);                                                                     \
        CHECK_EQ(grants_check(c, &g_, NOW, err, sizeof err), -EINVAL);                             \
        CHECK_STR(err, MSG);                                                                       \
    } while (0)
    REFUSED(guest("10.10.0.5", "visitor", NOW, 7200),
            "10.10.0.5 is outside the networks of segment 'visitor'");
    REFUSED(guest("10.99.0.5", NULL, NOW, 7200),
            "10.99.0.5 is outside every segment's networks; name the segment with --segment");
    REFUSED(guest(NULL, "gym", NOW, 7200), "unknown segment 'gym'");
    REFUSED(guest("10.10.0.5", NULL, NOW, 7200),
            "segment 'staff' does not require a grant (guest-access: grant-required): its "
            "clients are already served");
    REFUSED(guest(NULL, "visitor", NOW, 13 * 3600),
            "13h is longer than grants.max-guest allows (12h)");
    REFUSED(guest(NULL, "visitor", NOW - 7200, 3600), "the window is in the past");
    REFUSED(guest(NULL, "visitor", NOW - 3600, 7200), "the window is in the past");
    REFUSED(guest(NULL, "visitor", NOW, 0), "a grant needs a duration (--for); none is open-ended");
    REFUSED(guest(NULL, "visitor", NOW + 400 * 86400, 3600), "--from is more than a year ahead");
    g = guest(NULL, "visitor", NOW, 3600);
    g.by[0] = '\0';
    REFUSED(g, "--by is required: the name of who authorised this");
    g = guest(NULL, "visitor", NOW, 3600);
    g.reason[0] = '\0';
    REFUSED(g, "--reason is required: why this is granted");

    REFUSED(exemption(NULL, "staff", "statutory", NULL, NOW, 3600),
            "the statutory category (IWF, police terrorist content lists) is always blocked and "
            "cannot be exempted");
    REFUSED(exemption(NULL, "staff", "gambling", NULL, NOW, 3600),
            "unknown category 'gambling'; declared categories are in blocklists.categories "
            "(built in: doh, vpn_proxy)");
    REFUSED(exemption(NULL, "staff", "extremism", "x.org", NOW, 3600),
            "give one of --allow-category or --allow-name");
    REFUSED(exemption(NULL, "staff", NULL, "org", NOW, 3600),
            "'org' is not a domain name (at least two labels)");
    REFUSED(exemption(NULL, "staff", "extremism", NULL, NOW, 8 * 86400),
            "8d is longer than grants.max-exemption allows (1w)");
    /* within the maximum, in the future, built-in category, name */
    g = exemption(NULL, "staff", "extremism", NULL, NOW + 86400, 7 * 86400);
    CHECK_EQ(grants_check(c, &g, NOW, err, sizeof err), 0);
    g = exemption("fd00:10::5", NULL, "doh", NULL, NOW, 3600);
    CHECK_EQ(grants_check(c, &g, NOW, err, sizeof err), 0);
    CHECK_STR(g.segment, "staff");
    g = exemption(NULL, "staff", NULL, "*.Example.ORG", NOW, 3600);
    CHECK_EQ(grants_check(c, &g, NOW, err, sizeof err), 0);
    CHECK_EQ(g.name_len, 13);
    CHECK(!memcmp(g.name_wire, "\7example\3org", 13));
#undef REFUSED
    config_free(c);
}

static void test_store(void)
{
    const char *d = newdir();
    struct grants_store *s;
    struct grant g, got;
    CHECK_EQ(grants_open(d, GRANTS_OPEN_RDONLY, &s), -ENOENT);
    CHECK_EQ(grants_open(d, 0, &s), 0);
    if (!s)
        return;
    struct stat st;
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", d);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0660);
    CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0770);
    uint64_t g0 = grants_generation(s);
    CHECK(g0 >= 1);

    g = guest("10.30.0.57", "visitor", NOW, 7200);
    CHECK_EQ(grants_add(s, &g, NOW), 0);
    CHECK_EQ(g.id, 1);
    uint64_t g1 = grants_generation(s);
    CHECK(g1 > g0);
    g = exemption(NULL, "staff", "extremism", NULL, NOW, 3600);
    CHECK_EQ(grants_add(s, &g, NOW + 5), 0);
    CHECK_EQ(g.id, 2);
    uint64_t g2 = grants_generation(s);
    CHECK(g2 > g1);
    /* the basic invariants are the store's own too */
    g = guest(NULL, "visitor", NOW, 0);
    CHECK_EQ(grants_add(s, &g, NOW), -EINVAL);
    CHECK_EQ(grants_generation(s), g2);

    /* audit fields kept */
    CHECK_EQ(grants_get(s, 1, &got), 0);
    CHECK_STR(got.by, "J. Smith, Head Teacher");
    CHECK_STR(got.user, "jsmith");
    CHECK_STR(got.reason, "Fire safety inspection");
    CHECK_EQ(got.created, NOW);
    CHECK_EQ(got.from, NOW);
    CHECK_EQ(got.until, NOW + 7200);
    CHECK_EQ(got.revoked, 0);
    CHECK_EQ(grants_get(s, 9, &got), -ENOENT);

    /* revoke: once, with who and why */
    CHECK_EQ(grants_revoke(s, 1, NOW + 60, "J. Smith", "jsmith", "Left early"), 0);
    uint64_t g3 = grants_generation(s);
    CHECK(g3 > g2);
    CHECK_EQ(grants_revoke(s, 1, NOW + 70, "J. Smith", "jsmith", NULL), -EALREADY);
    CHECK_EQ(grants_revoke(s, 7, NOW + 70, "J. Smith", "jsmith", NULL), -ENOENT);
    CHECK_EQ(grants_revoke(s, 2, NOW + 7200, "J. Smith", "jsmith", NULL), -EALREADY); /* expired */
    CHECK_EQ(grants_generation(s), g3);
    CHECK_EQ(grants_get(s, 1, &got), 0);
    CHECK_EQ(got.revoked, NOW + 60);
    CHECK_STR(got.revoked_by, "J. Smith");
    CHECK_STR(got.revoked_user, "jsmith");
    CHECK_STR(got.revoke_reason, "Left early");
    CHECK_STR(got.reason, "Fire safety inspection");
    time_t at;
    CHECK(grant_ended(&got, NOW + 61, &at) && at == NOW + 60);

    /* list: everything, past ones included, oldest first */
    struct ids seen = {.n = 0};
    CHECK_EQ(grants_list(s, collect_cb, &seen), 2);
    CHECK(seen.n == 2 && seen.ids[0] == 1 && seen.ids[1] == 2);

    /* every change is in the audit, with who */
    struct audit_seen as = {.n = 0};
    CHECK_EQ(grants_audit_list(s, audit_cb, &as), 3);
    CHECK_STR(as.lines[0], "grant|J. Smith, Head Teacher (as jsmith)|id 1: guest access for "
                           "10.30.0.57 in visitor from 2026-11-24T12:00:00Z until "
                           "2026-11-24T14:00:00Z; reason: Fire safety inspection");
    CHECK_STR(as.lines[2], "revoke|J. Smith (as jsmith)|id 1 revoked; reason: Left early");
    grants_close(s);

    /* the version key is checked at open */
    CHECK_EQ(grants_open(d, GRANTS_OPEN_RDONLY, &s), 0);
    CHECK(grants_generation(s) == g3);
    grants_close(s);
    rmdir_store(d);
}

static void test_snapshot(void)
{
    const char *d = newdir();
    struct grants_store *s;
    struct grant_set *set;
    struct grant g;
    CHECK_EQ(grants_open(d, 0, &s), 0);
    if (!s)
        return;
    g = guest("10.30.0.57", "visitor", NOW, 7200); /* 1: live */
    grants_add(s, &g, NOW);
    g = guest(NULL, "hall", NOW + 3600, 3600); /* 2: segment, in an hour */
    grants_add(s, &g, NOW);
    g = guest("10.30.0.58", "visitor", NOW, 600); /* 3: revoked */
    grants_add(s, &g, NOW);
    grants_revoke(s, 3, NOW + 1, "J. Smith", "jsmith", "gone");
    g = guest("10.30.0.59", "visitor", NOW + 3 * 86400, 600); /* 4: too far ahead */
    grants_add(s, &g, NOW);
    g = exemption("10.10.0.5", "staff", "extremism", NULL, NOW, 3600); /* 5 */
    grants_add(s, &g, NOW);
    g = exemption(NULL, "staff", NULL, "example.org", NOW, 3600); /* 6 */
    g.name_len = 13;
    memcpy(g.name_wire, "\7example\3org", 13);
    grants_add(s, &g, NOW);
    g = exemption(NULL, "staff", "games", NULL, NOW + 86400 / 2, 3600); /* 7: future window */
    grants_add(s, &g, NOW);
    g = exemption(NULL, "staff", NULL, "bbc.co.uk", NOW, 3600); /* 8 */
    g.name_len = 11;
    memcpy(g.name_wire, "\3bbc\2co\2uk", 11);
    grants_add(s, &g, NOW);

    CHECK_EQ(grants_snapshot(s, NOW + 10, &set), 0);
    if (!set) {
        grants_close(s);
        return;
    }
    CHECK_EQ(grant_set_live(set, NOW + 10), 4); /* 1, 5, 6, 8 */
    CHECK_EQ(grant_set_valid_until(set), NOW + 10 + 86400);
    CHECK(grant_set_has_exemptions(set));
    const struct grant *hit = grant_set_guest(set, SA("10.30.0.57"), "visitor", NOW + 10);
    CHECK(hit && hit->id == 1);
    /* a dual-stack socket's form of the same client */
    hit = grant_set_guest(set, SA("::ffff:10.30.0.57"), "visitor", NOW + 10);
    CHECK(hit && hit->id == 1);
    CHECK(grant_set_guest(set, SA("10.30.0.57"), "hall", NOW + 10) == NULL);
    CHECK(grant_set_guest(set, SA("10.30.0.57"), "visitor", NOW + 7200) == NULL); /* expired */
    CHECK(grant_set_guest(set, SA("10.30.0.58"), "visitor", NOW + 10) == NULL);   /* revoked */
    CHECK(grant_set_guest(set, SA("10.30.0.59"), "visitor", NOW + 3 * 86400 + 1) == NULL);
    /* the segment grant: not before its window, then anyone in the hall */
    CHECK(grant_set_guest(set, SA("192.0.2.1"), "hall", NOW + 10) == NULL);
    hit = grant_set_guest(set, SA("192.0.2.1"), "hall", NOW + 3600);
    CHECK(hit && hit->id == 2);
    CHECK_EQ(grant_set_live(set, NOW + 3600), 2); /* 1 and 2; 5, 6, 8 ended */

    /* dispensations: merged, with the right grant id */
    struct policy_dispensation disp;
    CHECK(grant_set_dispensation(set, SA("10.10.0.5"), "staff", NOW + 10, NULL, 0, 0, cat_bit, NULL,
                                 &disp));
    CHECK_EQ(disp.categories, 1ULL << 3);
    CHECK(disp.name && disp.name_len == 13 && !memcmp(disp.name, "\7example\3org", 13));
    CHECK_EQ(disp.grant_id, 5); /* the first in force */
    CHECK(grant_set_dispensation(set, SA("10.10.0.5"), "staff", NOW + 10,
                                 (const uint8_t *)"\3www\3bbc\2co\2uk", 15, 0, cat_bit, NULL,
                                 &disp));
    CHECK(disp.name_len == 11 && !memcmp(disp.name, "\3bbc\2co\2uk", 11));
    CHECK_EQ(disp.grant_id, 8);
    CHECK(grant_set_dispensation(set, SA("10.10.0.5"), "staff", NOW + 10,
                                 (const uint8_t *)"\3foo\3net", 9, 1ULL << 3, cat_bit, NULL,
                                 &disp));
    CHECK_EQ(disp.grant_id, 5);
    /* another client of staff: only the segment-wide names */
    CHECK(grant_set_dispensation(set, SA("10.10.0.6"), "staff", NOW + 10, NULL, 0, 0, cat_bit, NULL,
                                 &disp));
    CHECK_EQ(disp.categories, 0);
    CHECK_EQ(disp.grant_id, 6);
    /* the future window is not yet in force, then is */
    CHECK(grant_set_dispensation(set, SA("10.10.0.6"), "staff", NOW + 86400 / 2, NULL, 0, 0,
                                 cat_bit, NULL, &disp));
    CHECK_EQ(disp.categories, 1ULL << 5);
    CHECK(!grant_set_dispensation(set, SA("10.30.0.57"), "visitor", NOW + 10, NULL, 0, 0, cat_bit,
                                  NULL, &disp));
    CHECK(disp.name == NULL && disp.categories == 0 && disp.grant_id == 0);
    grant_set_free(set);

    /* a revocation is seen by the next snapshot */
    uint64_t gen = grants_generation(s);
    CHECK_EQ(grants_revoke(s, 1, NOW + 20, "J. Smith", "jsmith", NULL), 0);
    CHECK(grants_generation(s) != gen);
    CHECK_EQ(grants_snapshot(s, NOW + 20, &set), 0);
    CHECK(set && grant_set_guest(set, SA("10.30.0.57"), "visitor", NOW + 20) == NULL);
    grant_set_free(set);
    grants_close(s);
    rmdir_store(d);
}

static void test_purge(void)
{
    const char *d = newdir();
    struct grants_store *s;
    struct grant g;
    CHECK_EQ(grants_open(d, 0, &s), 0);
    if (!s)
        return;
    g = guest(NULL, "visitor", NOW - 100 * 86400, 3600); /* 1: ended 100 days ago */
    grants_add(s, &g, NOW - 100 * 86400);
    g = guest(NULL, "visitor", NOW - 10 * 86400, 3600); /* 2: ended 10 days ago */
    grants_add(s, &g, NOW - 10 * 86400);
    g = guest(NULL, "visitor", NOW - 100 * 86400, 3600); /* 3: revoked 100 days ago */
    grants_add(s, &g, NOW - 100 * 86400);
    grants_revoke(s, 3, NOW - 100 * 86400 + 60, "J. Smith", "jsmith", NULL);
    g = guest(NULL, "visitor", NOW - 60, 7200); /* 4: live */
    grants_add(s, &g, NOW - 60);
    uint64_t gen = grants_generation(s);
    CHECK_EQ(grants_purge(s, NOW, 90 * 86400, "timer"), 2);
    CHECK(grants_generation(s) > gen);
    struct ids seen = {.n = 0};
    CHECK_EQ(grants_list(s, collect_cb, &seen), 2);
    CHECK(seen.ids[0] == 2 && seen.ids[1] == 4);
    CHECK_EQ(grants_purge(s, NOW, 90 * 86400, "timer"), 0);
    /* ids are never reused */
    g = guest(NULL, "visitor", NOW, 60);
    CHECK_EQ(grants_add(s, &g, NOW), 0);
    CHECK_EQ(g.id, 5);
    struct audit_seen as = {.n = 0};
    grants_audit_list(s, audit_cb, &as);
    CHECK(as.n >= 2 && !strncmp(as.lines[as.n - 2], "purge|timer|0 grants", 20));
    grants_close(s);
    rmdir_store(d);
}

/* --mac: each leases format gives the address, which then passes the check */
static void test_mac_through_leases(void)
{
    static const struct {
        const char *file;
        enum config_dhcp_format fmt;
        time_t at;
    } files[] = {
        {"tests/data/leases/dhcpd.leases", CONFIG_DHCP_ISC, NOW},
        {"tests/data/leases/kea-leases4.csv", CONFIG_DHCP_KEA, 1795579200 - 3600},
        {"tests/data/leases/dnsmasq.leases", CONFIG_DHCP_DNSMASQ, NOW},
    };
    struct config *c = conf();
    uint8_t mac[6];
    CHECK_EQ(leases_parse_mac("AA:BB:CC:DD:EE:01", 17, false, mac), 0);
    for (size_t i = 0; c && i < sizeof files / sizeof files[0]; i++) {
        struct lease_table *t = NULL;
        const struct lease *l = NULL;
        CHECK_EQ(leases_load(files[i].file, files[i].fmt, &t, err, sizeof err), 0);
        CHECK_EQ(leases_current(t, mac, files[i].at, &l), 0);
        if (!l) {
            leases_free(t);
            continue;
        }
        struct grant g = guest(NULL, NULL, files[i].at, 3600);
        g.scope = GRANT_SCOPE_CLIENT;
        memcpy(g.addr, l->addr, 16);
        g.family = 4;
        g.has_mac = true;
        memcpy(g.mac, mac, 6);
        CHECK_EQ(grants_check(c, &g, files[i].at, err, sizeof err), 0);
        CHECK_STR(g.segment, "visitor");
        CHECK_EQ(g.addr[15], 57);
        /* a MAC the file does not know */
        mac[5] = 0x77;
        CHECK_EQ(leases_current(t, mac, files[i].at, &l), -ENOENT);
        mac[5] = 0x01;
        leases_free(t);
    }
    config_free(c);
}

static void test_unauthorised_allow(void)
{
    struct config *c = NULL;
    const char *y =
        "grants:\n  unauthorised-allow: [captive.apple.com, \"*.school.example.org\"]\n";
    CHECK_EQ(config_load_buffer("t", y, strlen(y), &c, err, sizeof err), 0);
    CHECK(grants_unauthorised_allowed(c, (const uint8_t *)"\7captive\5apple\3com", 19));
    CHECK(!grants_unauthorised_allowed(c, (const uint8_t *)"\1x\7captive\5apple\3com", 21));
    CHECK(grants_unauthorised_allowed(c, (const uint8_t *)"\6school\7example\3org", 20));
    CHECK(grants_unauthorised_allowed(c, (const uint8_t *)"\3www\6school\7example\3org", 24));
    CHECK(!grants_unauthorised_allowed(c, (const uint8_t *)"\7example\3org", 13));
    CHECK(!grants_unauthorised_allowed(c, (const uint8_t *)"\3bbc\2co\2uk", 11));
    config_free(c);
    /* the default allows nothing: captive-portal probes are not resolved for
     * an ungranted device but answered NXDOMAIN (policy_captive_probe) */
    c = config_default();
    CHECK(!grants_unauthorised_allowed(c, (const uint8_t *)"\3dns\010msftncsi\3com", 18));
    CHECK(policy_captive_probe((const uint8_t *)"\3dns\010msftncsi\3com", 18));
    CHECK(policy_captive_probe((const uint8_t *)"\21connectivitycheck\7gstatic\3com", 31));
    CHECK(!policy_captive_probe((const uint8_t *)"\3www\6school\7example\3org", 24));
    config_free(c);
}

static void test_admin(void)
{
    const gid_t groups[] = {27, 1001};
    CHECK(grants_in_group(1001, 100, groups, 2, false));
    CHECK(grants_in_group(1002, 1002, groups, 2, false)); /* primary group */
    CHECK(grants_in_group(1002, 100, groups, 2, true));   /* listed in /etc/group */
    CHECK(!grants_in_group(1002, 100, groups, 2, false));
    CHECK(!grants_in_group(1002, 100, NULL, 0, false));
    CHECK_EQ(grants_check_admin("no-such-group-here", err, sizeof err),
             getuid() == 0 ? 0 : -ENOENT);

    /* a real process that is not in the group: nobody, with no groups */
    if (getuid() != 0) {
        printf("#   not root: the child process part is skipped\n");
        return;
    }
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char e[256] = "";
        int rc = -1;
        if (setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0)
            rc = grants_check_admin("root", e, sizeof e);
        if (write(fds[1], e, strlen(e) + 1) < 0)
            _exit(3);
        _exit(rc == -EPERM ? 0 : 1);
    }
    close(fds[1]);
    char msg[256] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_STR(msg, "you are not in the root group");
}

/* The CLI's side in one process, the daemon's polling side in another: the
 * reader sees the new grant within a second of the write. */
static void test_two_processes(void)
{
    const char *d = newdir();
    struct grants_store *s;
    CHECK_EQ(grants_open(d, 0, &s), 0); /* create, then close before fork */
    grants_close(s);
    int go[2];
    CHECK_EQ(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char b;
        close(go[1]);
        if (read(go[0], &b, 1) != 1)
            _exit(2);
        struct grants_store *w;
        if (grants_open(d, 0, &w) < 0)
            _exit(3);
        struct grant g = guest("10.30.0.57", "visitor", time(NULL), 3600);
        int rc = grants_add(w, &g, time(NULL));
        grants_close(w);
        _exit(rc == 0 ? 0 : 4);
    }
    close(go[0]);
    CHECK_EQ(grants_open(d, GRANTS_OPEN_RDONLY, &s), 0);
    uint64_t gen = grants_generation(s);
    struct grant_set *set = NULL;
    CHECK_EQ(grants_snapshot(s, time(NULL), &set), 0);
    CHECK(set && grant_set_guest(set, SA("10.30.0.57"), "visitor", time(NULL)) == NULL);
    grant_set_free(set);
    set = NULL;
    CHECK_EQ(write(go[1], "g", 1), 1);
    close(go[1]);
    bool moved = false;
    for (int i = 0; i < 100 && !moved; i++) { /* 5 s at most */
        usleep(50000);
        moved = grants_generation(s) != gen;
    }
    CHECK(moved);
    CHECK_EQ(grants_snapshot(s, time(NULL), &set), 0);
    const struct grant *hit =
        set ? grant_set_guest(set, SA("10.30.0.57"), "visitor", time(NULL)) : NULL;
    CHECK(hit && hit->id == 1 && !strcmp(hit->reason, "Fire safety inspection"));
    grant_set_free(set);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    grants_close(s);
    rmdir_store(d);
}

int main(void)
{
    UNIT_RUN(test_parsers);
    UNIT_RUN(test_checks);
    UNIT_RUN(test_store);
    UNIT_RUN(test_snapshot);
    UNIT_RUN(test_purge);
    UNIT_RUN(test_mac_through_leases);
    UNIT_RUN(test_unauthorised_allow);
    UNIT_RUN(test_admin);
    UNIT_RUN(test_two_processes);
    return unit_done();
}
