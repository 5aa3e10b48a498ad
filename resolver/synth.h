/*
 * synth.h - answers the resolver makes up rather than looks up: the answer
 * to a blocked name (NXDOMAIN, NODATA, the null address or a block page
 * host), the safe-search rewrite (a CNAME to the provider's enforcement name
 * followed by that name's own answer), and the names a stored answer's CNAME
 * chain passes through (so policy can check every one of them).
 *
 * Everything here produces the stored-answer form of cache.h (ID 0, the
 * question in lower case, no OPT) for wire_finish_answer to turn into the
 * answer to one client.
 */
#ifndef GATEHOUSE_SYNTH_H
#define GATEHOUSE_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "wire.h"

/* The answer to q when policy blocks it.  Addresses apply to A and AAAA
 * queries (the null address is 0.0.0.0 and ::); a type with no address to
 * give is answered NODATA.  Returns the length, or 0 if cap is too small. */
size_t synth_block(const struct wire_query *q, const struct config_action *action, uint32_t ttl,
                   uint8_t *out, size_t cap);

/* The rewrite of q to target (wire, lower case): a CNAME from the question
 * name to target with ttl, then the answer section of target_msg (a stored
 * answer for target and q's type, or NULL when none is known: the CNAME
 * alone).  The rcode is target_msg's.  Returns the length, or 0. */
size_t synth_rewrite(const struct wire_query *q, const uint8_t *target, size_t target_len,
                     uint32_t ttl, const uint8_t *target_msg, size_t target_msg_len, uint8_t *out,
                     size_t cap);

/* Calls fn for the target of every CNAME in msg's answer section (a DNAME
 * shows up as the CNAME synthesized from it, RFC 6672 section 3.1),
 * uncompressed and in lower case, in order.  Stops early when fn returns nonzero and returns that;
 * returns 0 after the last, or -EINVAL for a message it cannot walk. */
typedef int (*synth_name_fn)(void *arg, const uint8_t *name, size_t len);
int synth_cname_targets(const uint8_t *msg, size_t len, synth_name_fn fn, void *arg);

/* Copies the data of up to max A (4 bytes) and AAAA (16 bytes) records of
 * msg's answer section, in order, into addrs (16 bytes each, IPv4 first in
 * the 4 leading bytes) with their lengths in lens.  Returns how many. */
unsigned synth_answer_addresses(const uint8_t *msg, size_t len, uint8_t (*addrs)[16], uint8_t *lens,
                                unsigned max);

#endif
