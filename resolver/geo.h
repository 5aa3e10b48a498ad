/*
 * geo.h - who owns the network an answer points into: AS number, AS owner
 * and country from MaxMind or DB-IP .mmdb files, and the per-policy rules
 * that block answers by network owner (block-asn), country
 * (block-countries) or address range (block-networks).
 *
 * Why: VPN and proxy services rotate through fresh domain names faster than
 * any list, but their servers sit in a small set of networks.  So the final
 * answer's A/AAAA records are checked against the asking segment's policy,
 * also for answers served from the cache (one cache serves every segment).
 *
 * Three parts, with different owners and threads:
 *
 *   struct geo         the open databases, one per process, owned by main.
 *                      geo_open at start-up, geo_configure on SIGHUP,
 *                      geo_maybe_reopen from main's one-second timer (a
 *                      replaced file, by inode/size/mtime, is reopened).
 *                      A reopen builds a new snapshot and publishes it; the
 *                      old one is freed when the last reader drops it.
 *   struct geo_reader  one per worker thread: that thread's reference to a
 *                      snapshot, taken again by geo_reader_refresh (the
 *                      worker's one-second tick), so a lookup touches no
 *                      lock, no atomic and no allocation.
 *   struct geo_ruleset the rules of one configuration generation, indexed by
 *                      segment: NULL for a segment whose policy has no geo
 *                      rules, so such queries pay one branch.
 *
 * Not here: answering (the worker synthesizes the block answer), the query
 * log (the worker copies struct geo_match into its record), reading lists of
 * domain names (blocklist.c).
 *
 * A missing or corrupt database never crashes: with geo.required false it is
 * a warning and that database is off (rules needing it match nothing); with
 * geo.required true it is a start-up error (a reload keeps the old state).
 */
#ifndef GATEHOUSE_GEO_H
#define GATEHOUSE_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define GEO_ORG_MAX 64         /* bytes of an AS owner kept, with the NUL */
#define GEO_CHECK_MAX 16       /* answer addresses checked per answer */
#define GEO_LIST_MAX_ASNS 4096 /* ASNs in one list of geo.asn-lists */
#define GEO_LISTS_MAX 64       /* lists in geo.asn-lists */

/* What the databases say about one address.  Fixed size: no allocation. */
struct geo_info {
    uint32_t asn; /* 0 = unknown */
    char org[GEO_ORG_MAX];
    char country[3]; /* ISO 3166-1 alpha-2, "" = unknown */
};

enum geo_by {
    GEO_BY_NONE = 0,
    GEO_BY_ASN,
    GEO_BY_COUNTRY,
    GEO_BY_NETWORK,
};

/* Why an answer was blocked: the first answer address a rule matched. */
struct geo_match {
    enum geo_by by;
    int family; /* 4 or 6 */
    uint8_t addr[16];
    struct geo_info info;
    const struct config_net *net; /* GEO_BY_NETWORK: the entry that matched (config-owned) */
};

/* --- the databases (main thread) ------------------------------------------ */

struct geo;

/* Opens cfg's geo.asn-database and geo.country-database (either may be
 * unset).  Returns 0 with *out set (close with geo_close), also when a file is
 * missing or corrupt and geo.required is false: then err holds the warning
 * to log ("" when none) and geo_status says so.  With geo.required true such
 * a file fails with a negative errno (-ENOENT, -EACCES, -EINVAL for a corrupt
 * file, -ENOMEM) and the message in err. */
int geo_open(const struct config *cfg, struct geo **out, char *err, size_t errlen);

/* SIGHUP: takes the new generation's paths and reopens both files.  Same
 * errors as geo_open; on failure with geo.required true the old databases
 * stay in use. */
int geo_configure(struct geo *g, const struct config *cfg, char *err, size_t errlen);

/* From main's one-second timer: reopens a database whose file was replaced
 * or appeared since (inode, size or mtime changed).  Returns 1 when a new
 * snapshot was published, 0 when nothing changed, or a negative errno with
 * the message in err (the old snapshot stays in use). */
int geo_maybe_reopen(struct geo *g, char *err, size_t errlen);

/* One line for gatehousectl status, e.g.
 * "asn GeoLite2-ASN (2019-12-31, /var/lib/geo/asn.mmdb); country off (not configured)".
 * Thread-safe; returns buf. */
const char *geo_status(struct geo *g, char *buf, size_t len);

/* Whether any database is open now. */
bool geo_enabled(struct geo *g);

/* Only after every reader is freed. */
void geo_close(struct geo *g);

/* --- lookups (worker threads) ------------------------------------------- */

struct geo_reader;

/* A reader for the calling thread (NULL on ENOMEM).  Free it on that thread
 * or after it stopped, before geo_close. */
struct geo_reader *geo_reader_new(struct geo *g);
/* Picks up a snapshot published since (cheap when none was: one atomic
 * load).  Call from the worker's tick. */
void geo_reader_refresh(struct geo_reader *r);
void geo_reader_free(struct geo_reader *r);

/* Looks up one address (family 4: 4 bytes; 6: 16 bytes).  Fills what the
 * open databases know (out is zeroed first).  Returns 0, -ENOENT when no
 * database is open, -EINVAL for a bad family, or -EIO for a record the
 * database cannot decode.  Never allocates. */
int geo_lookup(struct geo_reader *r, int family, const uint8_t *addr, struct geo_info *out);

/* --- rules (one configuration generation) ------------------------------- */

struct geo_rules;
struct geo_ruleset;

/* The rules of each segment's policy.  Returns 0 and *out (free with
 * geo_ruleset_free; NULL-safe), or -ENOMEM. */
int geo_ruleset_build(const struct config *cfg, struct geo_ruleset **out);
void geo_ruleset_free(struct geo_ruleset *rs);
/* NULL when the segment's policy has no geo rules (or rs is NULL or the
 * index is out of range): the caller's one branch. */
const struct geo_rules *geo_rules_of_segment(const struct geo_ruleset *rs, int segment);
/* The rules of cfg->policies[i], NULL when it has none (gatehousectl geo). */
const struct geo_rules *geo_rules_of_policy(const struct geo_ruleset *rs, size_t i);
/* The config policy the rules belong to (its action and block TTL answer a
 * match; borrowed from the config). */
const struct config_policy *geo_rules_config(const struct geo_rules *rules);
/* The policy the rules belong to (borrowed from the config). */
const char *geo_rules_policy(const struct geo_rules *rules);

/* Checks the A and AAAA records of msg's answer section (at most
 * GEO_CHECK_MAX) against rules, in order; networks first (no lookup needed),
 * then AS numbers, then countries.  Returns true with *m set for the first
 * address a rule matches.  A malformed message matches nothing.  Never
 * allocates. */
bool geo_check_answer(struct geo_reader *r, const struct geo_rules *rules, const uint8_t *msg,
                      size_t len, struct geo_match *m);

/* Same for one address (family 4 or 6). */
bool geo_check_address(struct geo_reader *r, const struct geo_rules *rules, int family,
                       const uint8_t *addr, struct geo_match *m);

/* The Extended DNS Error text (RFC 8914) for a match, e.g.
 * "network AS9009 (M247) blocked (policy pupil)",
 * "country RU blocked (policy pupil)",
 * "network 9.9.9.0/24 blocked (policy pupil)".  Returns buf. */
const char *geo_match_text(const struct geo_match *m, const char *policy, char *buf, size_t len);

/* --- geo.asn-lists: named lists of AS numbers ---------------------------- */

struct geo_lists;

/* Loads the YAML file of curated lists (blocklists/vpn_networks.yaml):
 *   lists:
 *     NAME:
 *       description: TEXT
 *       entries:
 *         - {asn: 9009, name: M247, source: URL, confidence: high|medium|low}
 * Returns 0 and *out (free with geo_lists_free), or a negative errno with
 * "FILE:LINE:COL: message" in err. */
int geo_lists_load(const char *path, struct geo_lists **out, char *err, size_t errlen);
/* The AS numbers of list name (sorted, unique; borrowed until
 * geo_lists_free), or NULL when there is no such list. */
const uint32_t *geo_lists_find(const struct geo_lists *l, const char *name, size_t *n);
/* The names of the lists, comma-separated, for messages. */
const char *geo_lists_names(const struct geo_lists *l, char *buf, size_t len);
void geo_lists_free(struct geo_lists *l);

/* Parses "9009" or "AS9009" (1..4294967295, not AS_TRANS 23456): 0 or
 * -EINVAL.  Shared with config.c and gatehousectl. */
int geo_parse_asn(const char *s, uint32_t *out);

#endif
