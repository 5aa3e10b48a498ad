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
    char *zone;             /* presentation form, e.g. "school.local." */
    uint8_t zone_wire[256]; /* uncompressed wire form, lower case */
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

/* --- segments, policies and schedules (policy.h builds the runtime form) ---
 *
 * Plain data, already parsed and checked: names in wire form, times in
 * minutes, dates as day numbers, references by name checked to resolve. */

/* One weekly window: days is a bit set, bit 0 = Monday .. bit 6 = Sunday;
 * start and end are minutes after local midnight, start < end (end
 * exclusive; 1440 = midnight at the end of the day). */
struct config_window {
    uint8_t days;
    uint16_t start, end;
};

/* Local calendar days since 1970-01-01, both ends included. */
struct config_daterange {
    int32_t from, to;
};

/* schedules.NAME: active at a moment when the moment is in one of the windows,
 * on a day inside a term (when terms are given) and not in a holiday. */
struct config_schedule {
    char *name;
    struct config_window *windows;
    size_t nwindows;
    struct config_daterange *terms;
    size_t nterms;
    struct config_daterange *holidays;
    size_t nholidays;
};

enum config_action_kind {
    CONFIG_ACTION_NXDOMAIN = 0,
    CONFIG_ACTION_NODATA,
    CONFIG_ACTION_NULL,    /* 0.0.0.0 and :: */
    CONFIG_ACTION_ADDRESS, /* a block page host */
};

struct config_action {
    enum config_action_kind kind;
    bool have_a4, have_a6;
    uint8_t a4[4], a6[16];
};

struct config_category_action {
    char *category;
    struct config_action action;
};

/* policies.NAME.schedules entry: "during" (inside = true) or "outside" a
 * schedule, either block categories or allow only the allow list. */
enum config_rule_kind {
    CONFIG_RULE_BLOCK = 0,
    CONFIG_RULE_ALLOW_ONLY,
};

struct config_rule {
    enum config_rule_kind kind;
    char *schedule;
    bool inside;
    char **categories; /* CONFIG_RULE_BLOCK */
    size_t ncategories;
};

enum config_safe_search {
    CONFIG_SAFE_SEARCH_OFF = 0,
    CONFIG_SAFE_SEARCH_MODERATE,
    CONFIG_SAFE_SEARCH_STRICT,
};

/* dhcp.format: how the DHCP server writes its leases file (leases.h). */
enum config_dhcp_format {
    CONFIG_DHCP_ISC = 0, /* ISC dhcpd: dhcpd.leases lease blocks */
    CONFIG_DHCP_KEA,     /* Kea: kea-leases4.csv (memfile) */
    CONFIG_DHCP_DNSMASQ, /* dnsmasq: dnsmasq.leases, one lease a line */
};

/* An allow or deny entry: "example.org" is that name only, "*.example.org"
 * that name and everything below it. */
struct config_name {
    uint8_t wire[256]; /* lower case, without the "*." */
    size_t len;
    bool subtree;
    char *text;    /* as written */
    unsigned line; /* in the config file, for explanations */
};

/* policies.NAME.block-asn entry: an AS number, or the name of a list in
 * geo.asn-lists (then asn is 0).  line/col locate it for later messages. */
struct config_asn {
    uint32_t asn;
    char *list;
    unsigned line, col; /* 0-based, as libyaml marks */
};

struct config_policy {
    char *name;
    char **block; /* categories always blocked */
    size_t nblock;
    struct config_name *allow;
    size_t nallow;
    struct config_name *deny;
    size_t ndeny;
    enum config_safe_search safe_search;
    struct config_rule *rules;
    size_t nrules;
    struct config_action action; /* how blocked names are answered */
    struct config_category_action *category_actions;
    size_t ncategory_actions;
    uint32_t block_ttl;     /* TTL of synthesized block answers, default 60 */
    bool default_block;     /* "default: block": only the allow list passes */
    bool bypass_protection; /* DoH canary, Private Relay, DDR: default true */
    /* geo rules (geo.h): an answer whose address is in one of these networks
     * is blocked like a blocked name. */
    struct config_asn *block_asn; /* block-asn, as written */
    size_t nblock_asn;
    uint32_t *asns; /* block-asn with the lists expanded: sorted, unique */
    size_t nasns;
    char (*block_countries)[3]; /* block-countries: ISO 3166-1 alpha-2, upper case */
    size_t nblock_countries;
    struct config_net *block_networks; /* block-networks */
    size_t nblock_networks;
};

/* segments entry.  A query matches when every kind of criterion given
 * matches (any one network of the list, any one local address, any one
 * interface); a segment with none matches everything. */
struct config_segment {
    char *name;
    struct config_net *networks;
    size_t nnetworks;
    struct config_net *local_addresses;
    size_t nlocal_addresses;
    char **interfaces;
    size_t ninterfaces;
    char *policy;        /* a name in policies */
    bool grant_required; /* guest-access: grant-required */
};

struct trust_anchors;

struct config {
    char *path; /* file it came from; "(built-in)" for the default */

    /* server */
    struct config_sockaddr *listen; /* server.listen */
    size_t nlisten;
    unsigned threads;                   /* server.threads, 1..CONFIG_MAX_THREADS */
    char *state_dir;                    /* server.state-dir */
    char *user;                         /* server.user: drop to it after binding; NULL = stay */
    int verbosity;                      /* server.verbosity 0 (errors) .. 4 (debug) */
    struct config_net *client_networks; /* server.client-networks; default loopback */
    size_t nclient_networks;
    unsigned edns_buffer_size;    /* server.edns-buffer-size, default 1232 */
    unsigned tcp_idle_timeout_ms; /* server.tcp-idle-timeout, default 10s */
    unsigned tcp_max_connections; /* server.tcp-max-connections (per thread), default 256 */
    char *control_socket;         /* server.control-socket, default STATE_DIR/control.sock */
    struct config_sockaddr
        *metrics_listen; /* server.metrics: Prometheus /metrics, none by default */
    size_t nmetrics_listen;

    /* resolver */
    char *root_hints;                /* resolver.root-hints; NULL = built-in IANA hints */
    bool qname_minimisation;         /* resolver.qname-minimisation, default true */
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
    unsigned max_per_client;      /* resolver.max-per-client in flight, default 1024 */

    /* cache */
    size_t cache_size;               /* cache.size in bytes, default 64 MiB */
    uint32_t cache_min_ttl;          /* cache.min-ttl, default 0 */
    uint32_t cache_max_ttl;          /* cache.max-ttl, default 1 day */
    uint32_t cache_max_negative_ttl; /* cache.max-negative-ttl, default 1 hour */
    bool serve_stale;                /* cache.serve-stale, default true */
    uint32_t stale_max_age;          /* cache.serve-stale-max-age, default 1 day (RFC 8767) */
    bool prefetch;                   /* cache.prefetch, default true */

    /* blocklists (the policy issue builds on these) */
    char *blocklist_index;              /* blocklists.index: the compiled LMDB file;
                                         * default STATE_DIR/blocklists.mdb */
    struct config_category *categories; /* blocklists.categories: NAME -> [sources] */
    size_t ncategories;

    /* query log */
    bool log_enabled;               /* log.enabled, default true */
    char *log_path;                 /* log.path: LMDB directory; default STATE_DIR/querylog */
    size_t log_map_size;            /* log.map-size, default 4 GiB */
    uint32_t log_retention;         /* log.retention in seconds, default 90 days */
    uint32_t log_retention_flagged; /* log.retention-flagged: blocked and safeguarding
                                     * records, default 365 days; >= log.retention */
    char **safeguarding;            /* log.safeguarding-categories; default adult, extremism,
                                     * self_harm, violence, drugs, weapons */
    size_t nsafeguarding;

    /* grants: guest access and dispensations (grants.h) */
    char *grants_path;             /* grants.path: LMDB directory; default STATE_DIR/grants */
    uint32_t grants_max_guest;     /* grants.max-guest: longest guest grant, default 12h */
    uint32_t grants_max_exemption; /* grants.max-exemption: longest exemption, default 1w */
    uint32_t grants_retention;     /* grants.retention: keep ended grants this long for the
                                    * audit; default log.retention */
    char *grants_admin_group;      /* grants.admin-group: who may grant, default gatehouse-admin */
    struct config_name *grants_unauthorised_allow; /* grants.unauthorised-allow: what an
                                                    * ungranted guest may still resolve */
    size_t ngrants_unauthorised_allow;
    struct config_action grants_block; /* grants.block-address: CONFIG_ACTION_ADDRESS with the
                                        * block page, or CONFIG_ACTION_NXDOMAIN when unset */

    /* dhcp (leases.h) */
    char *dhcp_leases;                   /* dhcp.leases: the server's leases file; NULL = none */
    enum config_dhcp_format dhcp_format; /* dhcp.format, default isc */

    /* admin: the web pages' daemon, gatehouse-admin (tools/admin/) */
    struct config_sockaddr *admin_listen; /* admin.listen: HTTPS ADDR@PORT list; none by default */
    size_t nadmin_listen;
    char *admin_certificate; /* admin.certificate: PEM, default /etc/gatehouse/admin.crt */
    char *admin_key;         /* admin.key: PEM, default /etc/gatehouse/admin.key */
    char *admin_users;       /* admin.users: the accounts file, default STATE_DIR/admin-users */

    /* dnssec (validator.h, trust.h) */
    bool dnssec_enabled;        /* dnssec.enabled */
    char **dnssec_anchor_files; /* dnssec.trust-anchor-file: DS/DNSKEY files */
    size_t ndnssec_anchor_files;
    struct config_name *dnssec_nta; /* dnssec.negative-trust-anchors (subtrees) */
    size_t ndnssec_nta;
    struct trust_anchors *dnssec_anchors; /* built at load when enabled (owned; trust.h) */

    /* geo (geo.h): network owner and country of answer addresses */
    char *geo_asn_db;     /* geo.asn-database: .mmdb with autonomous_system_*; NULL = none */
    char *geo_country_db; /* geo.country-database: .mmdb with country.iso_code; NULL = none */
    bool geo_required;    /* geo.required: a missing or corrupt file stops start-up */
    char *geo_asn_lists;  /* geo.asn-lists: named ASN lists (vpn_networks.yaml); NULL = none */

    /* policy */
    char *timezone; /* the school's time zone for schedules, default Europe/London */
    struct config_schedule *schedules;
    size_t nschedules;
    struct config_policy *policies;
    size_t npolicies;
    struct config_segment *segments; /* none: server.client-networks, no policy */
    size_t nsegments;
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
int config_reloadable(const struct config *old, const struct config *new, char *err, size_t errlen);

/* Helpers shared with the other modules. */
bool config_net_contains(const struct config_net *net, const struct sockaddr *sa);

/* The resolver.outgoing-address of this address family to send upstream
 * queries from, or NULL (the kernel chooses).  Borrowed from cfg. */
const struct sockaddr *config_outgoing_for(const struct config *cfg, int family);
/* Parse "ADDR" or "ADDR@PORT"; 0 or -EINVAL. */
int config_parse_sockaddr(const char *s, uint16_t default_port, struct config_sockaddr *out);
/* Parse "ADDR/PREFIX" or a bare address (full-length prefix); 0 or -EINVAL. */
int config_parse_net(const char *s, struct config_net *out);

#endif
