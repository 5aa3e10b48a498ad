/*
 * config.h - the gatehoused configuration: one YAML file, validated strictly.
 *
 * Every setting lives in one table in config.c (name, type, bounds, default,
 * whether a reload may change it); parsing, checking and printing all come from
 * that table.  Errors name the place: "FILE:LINE:COL: message".
 *
 * A struct config is immutable once loaded.  Workers hold a pointer to the
 * current one; SIGHUP loads a new one and swaps it in, or keeps the old one
 * and says why.  config_free() releases everything a config owns.
 */
#ifndef GATEHOUSE_CONFIG_H
#define GATEHOUSE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_DEFAULT_PORT 5353
#define CONFIG_MAX_THREADS 64

/* An address with a port, as written "ADDR@PORT" (IPv6 without brackets). */
struct config_sockaddr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* A network in CIDR form: family AF_INET or AF_INET6, address in network
 * byte order (4 or 16 bytes used), prefix length. */
struct config_net {
    int family;
    uint8_t addr[16];
    uint8_t prefix;
};

/* resolver.forward-zones entry: queries at or below zone go to servers (with
 * RD set), never iterated.  zone "." forwards everything. */
struct config_forward {
    char *zone;                /* presentation form, e.g. "school.local." */
    uint8_t zone_wire[256];    /* uncompressed wire form, lower case */
    size_t zone_wire_len;
    struct config_sockaddr *servers; /* port 53 unless "ADDR@PORT" given */
    size_t nservers;
};

/* blocklists.categories entry: a category name and where its lists come from
 * (local paths or http(s) URLs; the compiler merges them). */
struct config_category {
    char *name;
    char **sources;
    size_t nsources;
};

struct config {
    char *path; /* file it came from; "(built-in)" for the default */

    /* server */
    struct config_sockaddr *listen; /* server.listen */
    size_t nlisten;
    unsigned threads;             /* server.threads, 1..CONFIG_MAX_THREADS */
    char *state_dir;              /* server.state-dir */
    char *user;                   /* server.user: drop to it after binding; NULL = stay */
    int verbosity;                /* server.verbosity 0 (errors) .. 4 (debug) */
    struct config_net *client_networks; /* server.client-networks; default loopback */
    size_t nclient_networks;
    unsigned edns_buffer_size;    /* server.edns-buffer-size, default 1232 */
    unsigned tcp_idle_timeout_ms; /* server.tcp-idle-timeout, default 10s */
    unsigned tcp_max_connections; /* server.tcp-max-connections (per thread), default 256 */

    /* resolver */
    char *root_hints;             /* resolver.root-hints; NULL = built-in IANA hints */
    bool qname_minimisation;      /* resolver.qname-minimisation, default true */
    struct config_forward *forwards; /* resolver.forward-zones */
    size_t nforwards;
    struct config_sockaddr *outgoing; /* resolver.outgoing-address (port ignored) */
    size_t noutgoing;
    bool ipv4;                    /* resolver.ipv4, default true */
    bool ipv6;                    /* resolver.ipv6, default true */
    bool query_loopback;          /* resolver.query-loopback, default false */
    unsigned upstream_timeout_ms; /* resolver.timeout: first try, default 400ms; backs off */
    unsigned query_deadline_ms;   /* resolver.deadline: whole resolution, default 10s */
    unsigned max_referrals;       /* resolver.max-referrals, default 30 */
    unsigned max_cname;           /* resolver.max-cname-chain, default 12 */
    unsigned max_work;            /* resolver.max-upstream-queries per client query, default 64 */
    unsigned max_outstanding;     /* resolver.max-outstanding (per thread), default 4096 */
    unsigned max_per_client;      /* resolver.max-per-client in flight, default 64 */

    /* cache */
    size_t cache_size;            /* cache.size in bytes, default 64 MiB */
    uint32_t cache_min_ttl;       /* cache.min-ttl, default 0 */
    uint32_t cache_max_ttl;       /* cache.max-ttl, default 1 day */
    uint32_t cache_max_negative_ttl; /* cache.max-negative-ttl, default 1 hour */
    bool serve_stale;             /* cache.serve-stale, default true */
    uint32_t stale_max_age;       /* cache.serve-stale-max-age, default 1 day (RFC 8767) */
    bool prefetch;                /* cache.prefetch, default true */

    /* blocklists (the policy issue builds on these) */
    char *blocklist_index;        /* blocklists.index: the compiled LMDB file;
                                   * default STATE_DIR/blocklists.mdb */
    struct config_category *categories; /* blocklists.categories: NAME -> [sources] */
    size_t ncategories;

    /* query log */
    bool log_enabled;             /* log.enabled, default true */
    char *log_path;               /* log.path: LMDB directory; default STATE_DIR/querylog */
    size_t log_map_size;          /* log.map-size, default 4 GiB */
    uint32_t log_retention;       /* log.retention in seconds, default 90 days */
    uint32_t log_retention_flagged; /* log.retention-flagged: blocked and safeguarding
                                     * records, default 365 days; >= log.retention */
    char **safeguarding;          /* log.safeguarding-categories; default adult, extremism,
                                   * self_harm, violence, drugs, weapons */
    size_t nsafeguarding;
};

/* Load and validate FILE.  On success returns 0 and sets *out (caller frees
 * with config_free).  On failure returns a negative errno and writes
 * "FILE:LINE:COL: message" (no newline) into err. */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* Parse from a memory buffer; name is used in messages.  Same contract. */
int config_load_buffer(const char *name, const char *text, size_t len, struct config **out,
                       char *err, size_t errlen);

/* The built-in default: listen on 127.0.0.1@5353 and ::1@5353, built-in
 * root hints, loopback clients only.  Never fails except on ENOMEM (NULL). */
struct config *config_default(void);

void config_free(struct config *cfg);

/* Print the effective configuration as YAML that config_load accepts. */
void config_print(FILE *f, const struct config *cfg);

/* Whether the change from old to new can be applied by a reload (listeners,
 * threads and user cannot change without a restart).  0 if yes, else -EINVAL
 * with the setting named in err. */
int config_reloadable(const struct config *old, const struct config *new, char *err,
                      size_t errlen);

/* Helpers shared with the other modules. */
bool config_net_contains(const struct config_net *net, const struct sockaddr *sa);
/* Parse "ADDR" or "ADDR@PORT"; 0 or -EINVAL. */
int config_parse_sockaddr(const char *s, uint16_t default_port, struct config_sockaddr *out);
/* Parse "ADDR/PREFIX" or a bare address (full-length prefix); 0 or -EINVAL. */
int config_parse_net(const char *s, struct config_net *out);

#endif
