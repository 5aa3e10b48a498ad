/*
 * leases.h - the DHCP server's leases file, read into a table: which address
 * a device (by MAC) holds now, and which device held an address at a time.
 *
 * Formats (dhcp.format): ISC dhcpd ("lease ADDR { ... }" blocks in
 * dhcpd.leases: binding state, hardware ethernet, starts, ends,
 * client-hostname), Kea memfile CSV (kea-leases4.csv: a header naming the
 * columns, then one lease a row; a later row for an address supersedes an
 * earlier one, and valid_lifetime 0 marks a deleted lease), dnsmasq
 * (dnsmasq.leases: "EXPIRY MAC ADDR HOST CLIENTID", EXPIRY 0 = infinite).
 * Only IPv4 leases carry a MAC; IPv6 leases are skipped without a warning.
 *
 * The file is outside input: every line is bounded, a malformed line is
 * skipped and counted with a "FILE:LINE: message" kept for the first few,
 * and nothing in it can crash the parser (tests/fuzz/fuzz_leases.c).
 *
 * Not here: watching the file for changes (the caller reloads), DHCPv6,
 * host reservations (a reservation is not a lease).
 *
 * A table is immutable once built; lookups never allocate and may run from
 * any number of threads at once.
 */
#ifndef GATEHOUSE_LEASES_H
#define GATEHOUSE_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

#define LEASES_MAX_FILE (64u << 20)   /* bytes read from a leases file */
#define LEASES_MAX_ENTRIES (1u << 20) /* leases kept from one file */
#define LEASES_MAX_LINE 4096          /* longer lines are malformed */
#define LEASES_MAX_HOST 63            /* host names are cut to this */
#define LEASES_MAX_WARNINGS 8         /* messages kept; the rest only counted */
#define LEASES_WARNING_MAX 160        /* bytes in one message */

/* One lease.  The address is in the 16-byte form of the query log: IPv4 as
 * ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2). */
struct lease {
    uint8_t mac[6];
    uint8_t addr[16];
    time_t starts;                  /* 0 = unknown (dnsmasq) */
    time_t ends;                    /* 0 = never (infinite lease) */
    bool active;                    /* ISC "binding state active", Kea state 0, any dnsmasq line */
    char host[LEASES_MAX_HOST + 1]; /* client host name, "" if none */
    uint32_t line;                  /* in the file, for messages */
};

struct lease_table;

/* Read PATH (at most LEASES_MAX_FILE bytes) in format FMT.  0 and *out
 * (free with leases_free), or a negative errno with "PATH: message" in err:
 * -ENOENT, -EACCES, -EFBIG, -ENOMEM.  Malformed lines are not an error:
 * see leases_skipped and leases_warning. */
int leases_load(const char *path, enum config_dhcp_format fmt, struct lease_table **out, char *err,
                size_t errlen);
/* The same from memory; NAME is used in messages. */
int leases_parse(const char *name, const char *text, size_t len, enum config_dhcp_format fmt,
                 struct lease_table **out);
void leases_free(struct lease_table *t);

size_t leases_count(const struct lease_table *t);
/* Lines (or ISC blocks) skipped as malformed, and the first
 * LEASES_MAX_WARNINGS messages ("FILE:LINE: message"); NULL past the end.
 * Borrowed until leases_free. */
size_t leases_skipped(const struct lease_table *t);
const char *leases_warning(const struct lease_table *t, size_t i);

/* The address MAC holds at NOW: the newest active lease for it that is
 * still the latest record of its address and has not ended.  0 and *out
 * (borrowed until leases_free); -ENOENT when the file never mentions MAC;
 * -ETIME when it does but no such lease is current (expired, released,
 * or the address has moved on to another device). */
int leases_current(const struct lease_table *t, const uint8_t mac[6], time_t now,
                   const struct lease **out);

/* Who held ADDR (16-byte form) at time AT: the lease of that address with
 * the latest start not after AT, if it had not ended by AT.  NULL if none.
 * Borrowed until leases_free.  For the query log's device names. */
const struct lease *leases_at(const struct lease_table *t, const uint8_t addr[16], time_t at);

/* "aa:bb:cc:dd:ee:ff" or "AA-BB-CC-DD-EE-FF": exactly six pairs of hex
 * digits with one kind of separator.  0 or -EINVAL.  With LENIENT, an
 * octet may also be one digit ("0:c:29:..", as some servers write them),
 * separators ':' only. */
int leases_parse_mac(const char *s, size_t len, bool lenient, uint8_t mac[6]);
/* "aa:bb:cc:dd:ee:ff" into buf (at least 18 bytes). */
void leases_mac_text(const uint8_t mac[6], char *buf, size_t len);

#endif
