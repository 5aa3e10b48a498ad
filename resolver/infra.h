/*
 * infra.h - what the resolver knows about upstream servers: smoothed RTT and
 * its variance per address (RFC 6298 style), timeouts with back-off, and
 * lameness per (server, zone).  Shared by every worker; thread safe.
 *
 * Server selection prefers the lowest smoothed RTT, still probing the others
 * now and then, and skips servers that have timed out repeatedly until their
 * back-off has passed.
 */
#ifndef GATEHOUSE_INFRA_H
#define GATEHOUSE_INFRA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct infra;

struct infra *infra_new(void);
void infra_free(struct infra *in);

/* The timeout to use for the next query to sa, in ms (RTO). */
unsigned infra_timeout_ms(struct infra *in, const struct sockaddr *sa, unsigned base_ms);
/* The smoothed RTT used for choosing among servers (unknown servers get a
 * small random value so each is tried). */
unsigned infra_rtt_ms(struct infra *in, const struct sockaddr *sa);
void infra_rtt_update(struct infra *in, const struct sockaddr *sa, unsigned rtt_ms, time_t now);
void infra_timeout(struct infra *in, const struct sockaddr *sa, time_t now);
/* True while sa is considered down (too many consecutive timeouts). */
bool infra_is_down(struct infra *in, const struct sockaddr *sa, time_t now);

/* Lameness: sa answered for zone without authority.  zone is wire, lower case. */
void infra_set_lame(struct infra *in, const struct sockaddr *sa, const uint8_t *zone,
                    size_t zone_len, time_t now);
bool infra_is_lame(struct infra *in, const struct sockaddr *sa, const uint8_t *zone,
                   size_t zone_len, time_t now);

#endif
