/*
 * siphash.c - SipHash-1-3 and SipHash-2-4 (see siphash.h).
 *
 * Follows the reference implementation by Aumasson and Bernstein: the key and
 * the message are read as little-endian 64-bit words whatever the host order,
 * so a hash is the same on every machine (only the secret key makes it
 * unpredictable).  Does no allocation.
 */
#include "siphash.h"

#include <string.h>

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = ROTL64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL64(s->v2, 32);
}

static inline void sip_absorb(struct sip_state *s, uint64_t m, int crounds)
{
    s->v3 ^= m;
    for (int i = 0; i < crounds; i++)
        sip_round(s);
    s->v0 ^= m;
}

/* The shared core: crounds per 8-byte block, drounds at the end. */
static inline uint64_t siphash_cd(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len,
                                  int crounds, int drounds)
{
    const uint8_t *in = data;
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    struct sip_state s = {
        .v0 = 0x736f6d6570736575ULL ^ k0,
        .v1 = 0x646f72616e646f6dULL ^ k1,
        .v2 = 0x6c7967656e657261ULL ^ k0,
        .v3 = 0x7465646279746573ULL ^ k1,
    };
    size_t whole = len & ~(size_t)7;

    for (size_t i = 0; i < whole; i += 8)
        sip_absorb(&s, load_le64(in + i), crounds);

    /* Last block: the remaining 0-7 bytes, with the length's low byte on top. */
    uint8_t tail[8] = {0};
    memcpy(tail, in + whole, len - whole);
    tail[7] = (uint8_t)len;
    sip_absorb(&s, load_le64(tail), crounds);

    s.v2 ^= 0xff;
    for (int i = 0; i < drounds; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t siphash13(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
    return siphash_cd(key, data, len, 1, 3);
}

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
    return siphash_cd(key, data, len, 2, 4);
}
