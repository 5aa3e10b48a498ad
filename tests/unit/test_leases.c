/*
 * test_leases.c - the DHCP leases parser: each format from a sample file in
 * tests/data/leases/, the current-address and at-a-time lookups, malformed
 * lines counted with FILE:LINE, MAC parsing, and bounds.
 */
#include "leases.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#define DATA "tests/data/leases/"

static const uint8_t MAC1[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01};
static const uint8_t MAC2[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02};

static void v4(uint8_t a[16], int d)
{
    static const uint8_t p[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(a, p, 12);
    a[12] = 10;
    a[13] = 30;
    a[14] = 0;
    a[15] = (uint8_t)d;
}

static struct lease_table *load(const char *file, enum config_dhcp_format fmt)
{
    struct lease_table *t = NULL;
    char err[256];
    int rc = leases_load(file, fmt, &t, err, sizeof err);
    if (rc)
        printf("#   %s\n", err);
    return t;
}

/* 2026-11-24 12:00 UTC */
#define NOON 1795521600

static void test_isc(void)
{
    struct lease_table *t = load(DATA "dhcpd.leases", CONFIG_DHCP_ISC);
    const struct lease *l;
    uint8_t a[16], mac[6];
    CHECK(t != NULL);
    if (!t)
        return;
    /* .57 .58 .59 .62 .62; .60 (no ';') and .61 (bad date) dropped */
    CHECK_EQ(leases_count(t), 5);
    CHECK_EQ(leases_skipped(t), 2);
    CHECK_STR(leases_warning(t, 0), DATA "dhcpd.leases:34: expected a statement ending in ';' "
                                         "(lease at line 33 dropped)");
    CHECK_STR(leases_warning(t, 1), DATA "dhcpd.leases:40: expected 'starts W YYYY/MM/DD "
                                         "HH:MM:SS;' (lease at line 39 dropped)");
    CHECK(leases_warning(t, 2) == NULL);
    CHECK_EQ(leases_current(t, MAC1, NOON, &l), 0);
    v4(a, 57);
    CHECK(l && !memcmp(l->addr, a, 16));
    CHECK(l && !strcmp(l->host, "visitor-laptop"));
    CHECK(l && l->starts == NOON - 4 * 3600 && l->ends == NOON + 8 * 3600);
    /* expired at 20:00 */
    CHECK_EQ(leases_current(t, MAC1, NOON + 9 * 3600, &l), -ETIME);
    /* binding state free: known, not current */
    CHECK_EQ(leases_current(t, MAC2, NOON, &l), -ETIME);
    /* "0:c:29:d:ee:3", ends never */
    CHECK_EQ(leases_parse_mac("00:0c:29:0d:ee:03", 17, false, mac), 0);
    CHECK_EQ(leases_current(t, mac, NOON + 365 * 86400, &l), 0);
    CHECK(l && l->ends == 0 && !strcmp(l->host, "printer"));
    /* .62 moved from ee:06 to ee:07: the old device no longer holds it */
    mac[0] = 0xaa, mac[1] = 0xbb, mac[2] = 0xcc, mac[3] = 0xdd, mac[4] = 0xee, mac[5] = 0x06;
    CHECK_EQ(leases_current(t, mac, NOON - 5 * 3600 - 1800, &l), -ETIME);
    mac[5] = 0x09;
    CHECK_EQ(leases_current(t, mac, NOON, &l), -ENOENT);
    /* who held .62 when */
    v4(a, 62);
    l = leases_at(t, a, NOON - 5 * 3600 - 1800); /* 06:30 */
    CHECK(l && l->mac[5] == 0x06);
    l = leases_at(t, a, NOON - 4 * 3600 - 2700); /* 07:15: between leases */
    CHECK(l == NULL);
    l = leases_at(t, a, NOON);
    CHECK(l && l->mac[5] == 0x07);
    v4(a, 99);
    CHECK(leases_at(t, a, NOON) == NULL);
    leases_free(t);
}

static void test_kea(void)
{
    struct lease_table *t = load(DATA "kea-leases4.csv", CONFIG_DHCP_KEA);
    const struct lease *l;
    uint8_t a[16], mac[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x03};
    time_t t0 = 1795579200 - 43200 + 3600;
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_EQ(leases_count(t), 4);
    CHECK_EQ(leases_skipped(t), 2);
    CHECK_STR(leases_warning(t, 0), DATA "kea-leases4.csv:6: expected ADDRESS,MAC,...,"
                                         "VALID_LIFETIME,EXPIRE,... in the header's order");
    CHECK_STR(leases_warning(t, 1), DATA "kea-leases4.csv:7: expected 12 comma-separated fields");
    CHECK_EQ(leases_current(t, MAC1, t0, &l), 0);
    v4(a, 57);
    CHECK(l && !memcmp(l->addr, a, 16) && !strcmp(l->host, "visitor-laptop"));
    /* deleted by a later row with valid_lifetime 0 */
    CHECK_EQ(leases_current(t, MAC2, t0, &l), -ETIME);
    /* declined (state 1) */
    CHECK_EQ(leases_current(t, mac, t0, &l), -ETIME);
    leases_free(t);
    /* no header */
    const char *bad = "10.30.0.57,aa:bb:cc:dd:ee:01,,43200,1795579200,1,0,0,,0,,0\n";
    CHECK_EQ(leases_parse("k", bad, strlen(bad), CONFIG_DHCP_KEA, &t), 0);
    CHECK(t && leases_count(t) == 0 && leases_skipped(t) == 1);
    CHECK_STR(leases_warning(t, 0), "k:1: expected the Kea header line (address,hwaddr,...)");
    leases_free(t);
}

static void test_dnsmasq(void)
{
    struct lease_table *t = load(DATA "dnsmasq.leases", CONFIG_DHCP_DNSMASQ);
    const struct lease *l;
    uint8_t a[16];
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_EQ(leases_count(t), 2);
    CHECK_EQ(leases_skipped(t), 2); /* 10.30.0.300, garbage; the IPv6 lease is quiet */
    CHECK_STR(leases_warning(t, 0),
              DATA "dnsmasq.leases:3: expected 'EXPIRY MAC ADDRESS HOST [CLIENTID]'");
    CHECK_STR(leases_warning(t, 1),
              DATA "dnsmasq.leases:6: expected 'EXPIRY MAC ADDRESS HOST [CLIENTID]'");
    CHECK_EQ(leases_current(t, MAC1, NOON, &l), 0);
    v4(a, 57);
    CHECK(l && !memcmp(l->addr, a, 16) && !strcmp(l->host, "visitor-laptop"));
    CHECK_EQ(leases_current(t, MAC1, 1795579200, &l), -ETIME);          /* expired */
    CHECK_EQ(leases_current(t, MAC2, NOON + 10 * 365 * 86400L, &l), 0); /* 0 = infinite */
    CHECK(l && l->host[0] == '\0');
    leases_free(t);
}

static void test_mac(void)
{
    uint8_t m[6];
    CHECK_EQ(leases_parse_mac("AA:BB:CC:DD:EE:FF", 17, false, m), 0);
    CHECK(m[0] == 0xaa && m[5] == 0xff);
    CHECK_EQ(leases_parse_mac("aa-bb-cc-dd-ee-0f", 17, false, m), 0);
    CHECK(m[5] == 0x0f);
    CHECK_EQ(leases_parse_mac("aa:bb-cc:dd:ee:ff", 17, false, m), -EINVAL);
    CHECK_EQ(leases_parse_mac("aa:bb:cc:dd:ee", 14, false, m), -EINVAL);
    CHECK_EQ(leases_parse_mac("aa:bb:cc:dd:ee:ff:00", 20, false, m), -EINVAL);
    CHECK_EQ(leases_parse_mac("aa:bb:cc:dd:ee:fg", 17, false, m), -EINVAL);
    CHECK_EQ(leases_parse_mac("a:bb:cc:dd:ee:ff", 16, false, m), -EINVAL);
    CHECK_EQ(leases_parse_mac("a:bb:cc:dd:ee:ff", 16, true, m), 0);
    CHECK(m[0] == 0x0a);
    CHECK_EQ(leases_parse_mac("aabbccddeeff", 12, false, m), -EINVAL);
    CHECK_EQ(leases_parse_mac("", 0, false, m), -EINVAL);
    char buf[18];
    leases_mac_text(MAC1, buf, sizeof buf);
    CHECK_STR(buf, "aa:bb:cc:dd:ee:01");
}

static void test_bounds(void)
{
    struct lease_table *t = NULL;
    /* a long line, a NUL byte, an unclosed block: counted, never a crash */
    size_t n = LEASES_MAX_LINE + 100;
    char *text = malloc(n + 64);
    memset(text, 'x', n);
    memcpy(text + n, "\nlease 10.0.0.1 {\n a\0b;\n", 24);
    CHECK_EQ(leases_parse("big", text, n + 24, CONFIG_DHCP_ISC, &t), 0);
    CHECK(t && leases_count(t) == 0 && leases_skipped(t) == 3);
    CHECK_STR(leases_warning(t, 0), "big:1: line longer than 4096 bytes");
    CHECK_STR(leases_warning(t, 1), "big:3: NUL byte in line");
    CHECK_STR(leases_warning(t, 2), "big:2: lease block not closed at the end of the file "
                                    "(dropped)");
    leases_free(t);
    free(text);
    /* empty input is an empty table */
    CHECK_EQ(leases_parse("e", "", 0, CONFIG_DHCP_DNSMASQ, &t), 0);
    CHECK(t && leases_count(t) == 0);
    const struct lease *l;
    CHECK_EQ(leases_current(t, MAC1, 0, &l), -ENOENT);
    leases_free(t);
    char err[256];
    CHECK_EQ(leases_load(DATA "missing", CONFIG_DHCP_ISC, &t, err, sizeof err), -ENOENT);
    CHECK_STR(err, DATA "missing: cannot open: No such file or directory");
}

int main(void)
{
    UNIT_RUN(test_isc);
    UNIT_RUN(test_kea);
    UNIT_RUN(test_dnsmasq);
    UNIT_RUN(test_mac);
    UNIT_RUN(test_bounds);
    return unit_done();
}
