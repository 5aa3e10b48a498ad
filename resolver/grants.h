/*
 * grants.h - guest access and dispensations: written, time-limited grants
 * kept in their own LMDB environment (grants.path), made and revoked by
 * gatehousectl, read by the daemon.
 *
 * Two kinds:
 *   guest      a device (by address, or by MAC resolved through the DHCP
 *              leases to the address it holds now) or a whole segment may
 *              use a "guest-access: grant-required" segment under that
 *              segment's policy until the grant ends.
 *   exemption  a dispensation: for one client or segment, inside a window,
 *              a category (never statutory) or a name (and the names below
 *              it) passes even if the policy would block it; every query it
 *              lets through is logged with its grant id.
 * Every grant has a start, an end (no open-ended grants), who granted it
 * (--by and the unix user) and why.  Revoking ends a grant early and records
 * who, when and why.  Nothing is deleted except by grants_purge, after the
 * retention; every grant, revocation and purge is also written to an audit
 * table.
 *
 * How the daemon uses it (allocation-free on the query path):
 *
 *   start:   grants_open(cfg->grants_path, 0, &store)   (creates it if absent)
 *            grants_snapshot(store, now, &set); gen = grants_generation(store)
 *   each second (one thread, e.g. the main loop's timer):
 *            g = grants_generation(store);   one short read transaction
 *            if (g != gen || now >= grant_set_valid_until(set)) {
 *                grants_snapshot(store, now, &next); publish next (an atomic
 *                pointer swap, RCU-like), free the old set once no worker
 *                can still hold it; gen = g;
 *            }
 *   per query, on the published set (any number of threads):
 *            grant_set_guest(...)          on grant-required segments
 *            grant_set_dispensation(...)   when grant_set_has_exemptions()
 *
 * LMDB caveats obeyed: one environment per process (open the store once and
 * share the handle), read transactions are short (one per call), and a
 * handle is never used across fork(): a child opens its own.
 *
 * Not here: deciding the answer (policy.h: a dispensation ranks below the
 * statutory category and above everything else), the DHCP file format
 * (leases.h), the command line (tools/ctl_grants.c).
 */
#ifndef GATEHOUSE_GRANTS_H
#define GATEHOUSE_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "policy.h"

#define GRANTS_FILE_MODE 0660           /* data.mdb and lock.mdb: daemon and admin group */
#define GRANTS_DIR_MODE 0770            /* the grants.path directory */
#define GRANTS_MAP_SIZE (64u << 20)     /* about 30,000 grants of 2 KiB */
#define GRANTS_LOOKAHEAD 86400          /* a snapshot holds grants starting within a day */
#define GRANTS_SNAPSHOT_MAX 65536       /* grants in one snapshot at most */
#define GRANTS_MAX_FUTURE (366 * 86400) /* --from at most this far ahead */
#define GRANTS_PAST_SLACK 300           /* --from this far in the past is "now" (clock skew) */

/* Text sizes including the NUL; longer input is refused, never cut. */
#define GRANTS_SEGMENT_SIZE 40
#define GRANTS_CATEGORY_SIZE 40
#define GRANTS_NAME_SIZE 256
#define GRANTS_BY_SIZE 200
#define GRANTS_USER_SIZE 40
#define GRANTS_REASON_SIZE 400

enum grant_kind {
    GRANT_GUEST = 1,
    GRANT_EXEMPTION = 2,
};

enum grant_scope {
    GRANT_SCOPE_CLIENT = 1,  /* one address (in segment) */
    GRANT_SCOPE_SEGMENT = 2, /* every client of segment */
};

/* One grant as stored.  Times are wall-clock seconds; the window is
 * [from, until).  Strings are NUL-terminated. */
struct grant {
    uint64_t id; /* assigned by grants_add, from 1 */
    uint8_t kind;
    uint8_t scope;
    uint8_t family;   /* client scope: 4 or 6 */
    bool has_mac;     /* granted by MAC (mac says which) */
    uint8_t addr[16]; /* client scope: IPv4 as ::ffff:a.b.c.d */
    uint8_t mac[6];
    time_t created;
    time_t from, until;
    time_t revoked;                      /* 0 = not revoked */
    char segment[GRANTS_SEGMENT_SIZE];   /* always set: the scope, or the client's segment */
    char category[GRANTS_CATEGORY_SIZE]; /* exemption: the category it opens, or "" */
    char name[GRANTS_NAME_SIZE];         /* exemption: the name it opens, as given, or "" */
    uint8_t name_wire[256];              /* lower-case wire form of name */
    uint8_t name_len;                    /* 0 = no name */
    char by[GRANTS_BY_SIZE];             /* --by: who authorised it */
    char user[GRANTS_USER_SIZE];         /* the unix user who ran gatehousectl */
    char reason[GRANTS_REASON_SIZE];
    char revoked_by[GRANTS_BY_SIZE];
    char revoked_user[GRANTS_USER_SIZE];
    char revoke_reason[GRANTS_REASON_SIZE];
};

/* In force at NOW: not revoked, and from <= now < until. */
bool grant_in_force(const struct grant *g, time_t now);
/* Ended at NOW: revoked, or until <= now.  The time it ended into *at. */
bool grant_ended(const struct grant *g, time_t now, time_t *at);

/* --- the store (gatehousectl and the daemon) ---------------------------- */

struct grants_store;

/* Open (creating if need be, directory GRANTS_DIR_MODE, files
 * GRANTS_FILE_MODE) the store in directory PATH.  GRANTS_OPEN_RDONLY: never
 * create or write.  0 and *out (close with grants_close), or a negative
 * errno: -EACCES, -ENOENT (read-only and absent), -EPROTO (another format
 * version), -ENOMEM. */
#define GRANTS_OPEN_RDONLY 0x1
int grants_open(const char *path, unsigned flags, struct grants_store **out);
void grants_close(struct grants_store *s);

/* The generation: a counter bumped by every change (grant, revoke, purge).
 * One short read transaction, no allocation.  0 if unreadable (a store
 * always has a generation >= 1 once opened read-write). */
uint64_t grants_generation(struct grants_store *s);

/* Store G (already checked with grants_check) with a new id, which is
 * written back into g->id; G->created is set to NOW.  Records an audit
 * entry.  0 or -EINVAL (a field fails the basic invariants), -ENOSPC. */
int grants_add(struct grants_store *s, struct grant *g, time_t now);

/* End grant ID at NOW.  BY and REASON as given (REASON may be NULL or ""),
 * USER the unix user.  0, -ENOENT (no such grant), -EALREADY (already
 * revoked, or already expired: nothing to end). */
int grants_revoke(struct grants_store *s, uint64_t id, time_t now, const char *by, const char *user,
                  const char *reason);

/* One grant by id: 0 and *out, or -ENOENT. */
int grants_get(struct grants_store *s, uint64_t id, struct grant *out);

/* Every stored grant, oldest first, in one read transaction.  G is
 * borrowed for the call; return 0 to go on, non-zero to stop.  The number
 * delivered, or a negative errno. */
typedef int (*grants_cb)(const struct grant *g, void *arg);
long grants_list(struct grants_store *s, grants_cb cb, void *arg);

/* Delete grants that ended before NOW - RETENTION_S, and audit entries
 * older than that; live and recently ended grants stay.  Writes an audit
 * entry naming WHO.  Returns the number of grants deleted, or -errno. */
long grants_purge(struct grants_store *s, time_t now, uint32_t retention_s, const char *who);

/* The audit trail, oldest first: TIME (microseconds), WHO ("--by (as
 * user)"), ACTION ("grant", "revoke", "purge"), DETAIL. */
typedef int (*grants_audit_cb)(uint64_t time_us, const char *who, const char *action,
                               const char *detail, void *arg);
long grants_audit_list(struct grants_store *s, grants_audit_cb cb, void *arg);

/* --- the daemon's in-memory snapshot ------------------------------------ */

struct grant_set;

/* Everything in force at NOW or starting within GRANTS_LOOKAHEAD, read in
 * one transaction into memory.  0 and *out (free with grant_set_free), or
 * a negative errno (keep the old set). */
int grants_snapshot(struct grants_store *s, time_t now, struct grant_set **out);
void grant_set_free(struct grant_set *set);

/* When the snapshot must be taken again even if the generation has not
 * moved (grants starting after the lookahead become visible then). */
time_t grant_set_valid_until(const struct grant_set *set);
/* Grants in force at NOW (for metrics: daemon_status.grants_live). */
size_t grant_set_live(const struct grant_set *set, time_t now);
bool grant_set_has_exemptions(const struct grant_set *set);

/* The guest grant letting CLIENT (AF_INET or AF_INET6, v4-mapped taken as
 * IPv4) use SEGMENT (its name as in the config) at NOW: a grant for that
 * address in that segment, or for the whole segment.  NULL if none.  The
 * grant is borrowed until grant_set_free.  Never allocates. */
const struct grant *grant_set_guest(const struct grant_set *set, const struct sockaddr *client,
                                    const char *segment, time_t now);

/* Merges every exemption in force at NOW for CLIENT in SEGMENT into *OUT
 * and returns true, or returns false (and zeroes *out) when there is none.
 *   out->categories  the union of the categories opened, each mapped by
 *                    CATEGORY_BIT (policy_category_fn: the bit, or -1 when
 *                    the index has no such category; then it opens nothing);
 *   out->name        a name opened: the one covering QNAME if QNAME (wire,
 *                    lower case) is given and one does, else the first in
 *                    id order (several names at once: only one is passed on;
 *                    give QNAME to get the right one).  Borrowed until
 *                    grant_set_free;
 *   out->grant_id    the grant to log: the name grant covering QNAME, else
 *                    the first category grant whose bit is in QCATS (the
 *                    name's categories), else the first in force.
 * QNAME may be NULL and QCATS 0.  Never allocates; CATEGORY_BIT is called
 * once per exemption in force for this client (usually none). */
bool grant_set_dispensation(const struct grant_set *set, const struct sockaddr *client,
                            const char *segment, time_t now, const uint8_t *qname, size_t qname_len,
                            uint64_t qcats, policy_category_fn category_bit, void *arg,
                            struct policy_dispensation *out);

/* Whether an ungranted device on a grant-required segment may still resolve
 * QNAME (wire, lower case): it is one of grants.unauthorised-allow, or below
 * a "*." entry.  Everything else gets cfg->grants_block (the block page, or
 * NXDOMAIN) with an Extended DNS Error saying guest access is not granted
 * (RFC 8914: info-code 15 "Blocked" with EXTRA-TEXT, GRANTS_EDE_TEXT).
 * Pure; never allocates. */
#define GRANTS_EDE_TEXT "guest access not granted"
bool grants_unauthorised_allowed(const struct config *cfg, const uint8_t *qname, size_t qname_len);

/* --- checks and parsers for gatehousectl (outside input: fuzzed) -------- */

/* Check G against CFG before grants_add: kind and scope; segment known
 * (and grant-required for a guest grant); a client address inside the
 * segment's networks (the segment found from the address when G->segment
 * is ""; filled in); category declared (blocklists.categories or doh,
 * vpn_proxy), never statutory; name well formed (name_wire filled in);
 * window not in the past, not open-ended, not longer than the maximum,
 * not more than GRANTS_MAX_FUTURE ahead; by and reason given.  0, or
 * -EINVAL with a message for a member of staff in err. */
int grants_check(const struct config *cfg, struct grant *g, time_t now, char *err, size_t errlen);

/* Durations: "90m", "2h", "1d", "1w", "45s", combined "1h30m"; at least one
 * second, at most 400 days.  0 and *out, or -EINVAL. */
int grants_parse_duration(const char *s, uint32_t *out);
/* Local date and time: "2026-11-24 09:00", "2026-11-24T09:00",
 * "2026-11-24 09:00:30", "2026-11-24" (midnight), "now".  0 or -EINVAL. */
int grants_parse_time(const char *s, time_t now, time_t *out);
/* A client address: IPv4 or IPv6 text into the 16-byte form.  0 or -EINVAL. */
int grants_parse_addr(const char *s, uint8_t addr[16], uint8_t *family);
/* "10.30.0.57" or "2001:db8::1" from the 16-byte form. */
void grants_addr_text(const uint8_t addr[16], uint8_t family, char *buf, size_t len);

/* Whether the real user may grant: a member of GROUP (primary group, the
 * process's supplementary groups, or listed in /etc/group), or root.
 * 0, or -EPERM with "you are not in the GROUP group" in err, or -ENOENT
 * when the group does not exist. */
int grants_check_admin(const char *group, char *err, size_t errlen);
/* The membership rule alone, for tests: GID is the group's, RGID the real
 * group, GROUPS the supplementary groups, MEMBER whether /etc/group lists
 * the user. */
bool grants_in_group(gid_t gid, gid_t rgid, const gid_t *groups, int ngroups, bool member);

/* An LMDB error translated once: MDB_MAP_FULL -> -ENOSPC and so on. */
int grants_errno(int mdb_rc);

#endif
