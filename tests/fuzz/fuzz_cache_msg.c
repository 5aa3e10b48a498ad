/*
 * fuzz_cache_msg.c - cache_msg_put on arbitrary bytes, then the round trip.
 *
 * The key is taken from the input's own question when one can be read
 * (uncompressed name at offset 12, then type and class), so most inputs get
 * past the question check and exercise the record walk.  Whatever is stored
 * must come back from cache_msg_get, be no longer than the input, and be
 * accepted again by cache_msg_put: a stored message is always walkable.
 */
#include "cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct cache *cache;

static size_t question_key(const uint8_t *d, size_t n, uint8_t *name, uint16_t *type,
                           uint16_t *klass)
{
    size_t p = 12;
    while (p < n && d[p] != 0 && d[p] <= 63 && p - 12 + d[p] + 1 < 255)
        p += (size_t)d[p] + 1;
    if (p >= n || d[p] != 0 || n - p < 5)
        return 0;
    size_t len = p + 1 - 12;
    memcpy(name, d + 12, len);
    *type = (uint16_t)(d[p + 1] << 8 | d[p + 2]);
    *klass = (uint16_t)(d[p + 3] << 8 | d[p + 4]);
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[65536];
    if (!cache) {
        struct cache_limits l = {
            .max_bytes = 1 << 20,
            .max_ttl = 86400,
            .max_negative_ttl = 3600,
            .stale_max_age = 600,
        };
        cache = cache_new(&l);
        if (!cache)
            abort();
    }
    uint8_t name[256];
    uint16_t type = 1, klass = 1;
    size_t nlen = size >= 12 ? question_key(data, size, name, &type, &klass) : 0;
    if (nlen == 0) {
        name[0] = 0;
        nlen = 1;
    }
    int r = cache_msg_put(cache, name, nlen, type, klass, data, size, 1000);
    if (r != 0 && r != -EINVAL && r != -ENOMEM)
        abort();
    if (r != 0)
        return 0;

    struct cache_msg_hit hit;
    int n = cache_msg_get(cache, name, nlen, type, klass, 1000, true, out, sizeof(out), &hit);
    if (n <= 0 || (size_t)n > size)
        abort();
    /* The stored form is a message cache_msg_put accepts again. */
    if (cache_msg_put(cache, name, nlen, type, klass, out, (size_t)n, 1000) != 0)
        abort();
    int m = cache_msg_get(cache, name, nlen, type, klass, 1000, true, out, sizeof(out), &hit);
    if (m != n)
        abort();
    return 0;
}
