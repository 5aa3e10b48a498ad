/*
 * siphash.h - SipHash, the keyed hash for tables indexed by outside data.
 *
 * Names and addresses that arrive from the network must not choose which
 * bucket they land in, or an attacker can fill one chain and turn every lookup
 * into a list walk (hash flooding).  SipHash with a secret 128-bit key, drawn
 * from getrandom() when the table is made, prevents that at the cost of a few
 * nanoseconds per short key.
 *
 * siphash13 (1 compression round, 3 finalisation rounds) is the variant Rust
 * and CPython chose for hash tables: enough against flooding, faster than 2-4.
 * siphash24 is the original from the paper (Aumasson and Bernstein, 2012),
 * kept so the shared core can be checked against the published test vectors.
 *
 * Pure functions, no state: safe from any thread.
 */
#ifndef GATEHOUSE_SIPHASH_H
#define GATEHOUSE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

uint64_t siphash13(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

#endif
