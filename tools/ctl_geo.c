/*
 * ctl_geo.c - gatehousectl geo ADDRESS [ADDRESS...]: prints what the
 * configured databases (geo.asn-database, geo.country-database) say about
 * each address, and which policies' block-asn / block-countries /
 * block-networks rules would block an answer pointing there.
 *
 * One line per address, key=value, so people and scripts can both read it:
 *   81.2.69.160 asn=AS20712 org="Andrews & Arnold Ltd" country=GB blocked-by=-
 * "-" means unknown (or, for blocked-by, no policy).  It opens the files
 * itself, read-only, so it works with the daemon stopped; it never talks to
 * the daemon.  --asn-database / --country-database override the config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl_geo.h"
#include "geo.h"

#define CTL_GEO_MAX_ADDRESSES 1024

static void usage(FILE *f)
{
    fprintf(f, "usage: gatehousectl geo [--asn-database FILE] [--country-database FILE] "
               "ADDRESS [ADDRESS...]\n");
}

/* The organisation in double quotes, with quotes and backslashes escaped
 * (geo.c already replaced control bytes). */
static void print_org(const char *org)
{
    if (!org[0]) {
        fputs("-", stdout);
        return;
    }
    putchar('"');
    for (const char *p = org; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        putchar(*p);
    }
    putchar('"');
}

static int one(struct geo_reader *rd, const struct config *cfg, const struct geo_ruleset *rs,
               const char *text)
{
    uint8_t addr[16];
    int family = 0;
    struct geo_info info;
    struct geo_match m;

    if (inet_pton(AF_INET, text, addr) == 1)
        family = 4;
    else if (inet_pton(AF_INET6, text, addr) == 1)
        family = 6;
    else {
        fprintf(stderr, "gatehousectl geo: '%.64s' is not an IPv4 or IPv6 address\n", text);
        return 1;
    }
    int rc = geo_lookup(rd, family, addr, &info);
    if (rc < 0 && rc != -ENOENT) {
        fprintf(stderr, "gatehousectl geo: %s: %s\n", text, strerror(-rc));
        return 1;
    }
    printf("%s asn=", text);
    if (info.asn)
        printf("AS%u", info.asn);
    else
        fputs("-", stdout);
    fputs(" org=", stdout);
    print_org(info.org);
    printf(" country=%s blocked-by=", info.country[0] ? info.country : "-");
    bool any = false;
    for (size_t i = 0; i < cfg->npolicies; i++) {
        const struct geo_rules *gr = geo_rules_of_policy(rs, i);
        if (gr && geo_check_address(rd, gr, family, addr, &m)) {
            printf("%s%s", any ? "," : "", cfg->policies[i].name);
            any = true;
        }
    }
    puts(any ? "" : "-");
    return 0;
}

int ctl_geo(const struct ctl_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"asn-database", required_argument, NULL, 'a'},
        {"country-database", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg = *g->cfg; /* a shallow copy: only the two paths change */
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            cfg.geo_asn_db = optarg;
            break;
        case 'C':
            cfg.geo_country_db = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || argc - optind > CTL_GEO_MAX_ADDRESSES) {
        usage(stderr);
        return 2;
    }

    struct geo *geo = NULL;
    struct geo_reader *rd = NULL;
    struct geo_ruleset *rs = NULL;
    char err[512], status[1024];
    /* Always strict here: asked about a file, a broken one is the answer. */
    cfg.geo_required = true;
    int rc = geo_open(&cfg, &geo, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "gatehousectl geo: %s\n", err);
        return 1;
    }
    if (!geo_enabled(geo)) {
        fprintf(stderr, "gatehousectl geo: no database configured (geo.asn-database, "
                        "geo.country-database)\n");
        geo_close(geo);
        return 1;
    }
    if (!(rd = geo_reader_new(geo)) || geo_ruleset_build(g->cfg, &rs) < 0) {
        fprintf(stderr, "gatehousectl geo: out of memory\n");
        geo_reader_free(rd);
        geo_close(geo);
        return 1;
    }
    printf("# %s\n", geo_status(geo, status, sizeof(status)));
    int status_rc = 0;
    for (int i = optind; i < argc; i++)
        status_rc |= one(rd, g->cfg, rs, argv[i]);
    geo_ruleset_free(rs);
    geo_reader_free(rd);
    geo_close(geo);
    return status_rc;
}
