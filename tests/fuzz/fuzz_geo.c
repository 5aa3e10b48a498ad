/*
 * fuzz_geo.c - opening an .mmdb file (outside input: a file someone
 * downloads and drops in place).  The input is written to a temporary file
 * and opened as the ASN and as the country database with geo.required off;
 * when it opens, a few addresses are looked up and checked against rules.
 * Nothing may crash, leak or read outside the mapping; what comes back must
 * be bounded text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void probe(struct config *cfg)
{
    static const uint8_t v4[][4] = {
        {1, 1, 1, 1}, {1, 128, 0, 0}, {81, 2, 69, 160}, {255, 255, 255, 255}};
    static const uint8_t v6[16] = {0x20, 0x01, 0x02, 0x18};
    struct geo *g = NULL;
    char err[512];
    if (geo_open(cfg, &g, err, sizeof(err)) < 0)
        abort(); /* not required: never an error but ENOMEM */
    struct geo_reader *r = geo_reader_new(g);
    struct geo_info info;
    struct geo_match m;
    uint32_t asns[] = {1221, 9009};
    struct config_net net = {.family = 2 /* AF_INET */, .addr = {9, 9, 9, 0}, .prefix = 24};
    struct config_policy p = {.name = "fuzz",
                              .asns = asns,
                              .nasns = 2,
                              .block_countries = (char(*)[3]) "GB",
                              .nblock_countries = 1,
                              .block_networks = &net,
                              .nblock_networks = 1};
    struct config_segment seg = {.name = "s", .policy = "fuzz"};
    struct config rc = {.policies = &p, .npolicies = 1, .segments = &seg, .nsegments = 1};
    struct geo_ruleset *rs = NULL;
    (void)geo_ruleset_build(&rc, &rs);
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        if (geo_lookup(r, 4, v4[i], &info) == 0 && strlen(info.org) >= GEO_ORG_MAX)
            abort();
        if (geo_check_address(r, geo_rules_of_segment(rs, 0), 4, v4[i], &m))
            geo_match_text(&m, "fuzz", err, sizeof(err));
    }
    (void)geo_lookup(r, 6, v6, &info);
    geo_status(g, err, sizeof(err));
    geo_ruleset_free(rs);
    geo_reader_free(r);
    geo_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/fuzz_geo.%d.mmdb", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct config cfg = {.geo_asn_db = path};
    probe(&cfg);
    cfg.geo_asn_db = NULL;
    cfg.geo_country_db = path;
    probe(&cfg);
    unlink(path);
    return 0;
}
