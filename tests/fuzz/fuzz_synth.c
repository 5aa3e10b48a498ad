/*
 * fuzz_synth.c - libFuzzer target: synth.c reading arbitrary stored
 * messages (CNAME walking and the rewrite's record copying).
 */
#include <stddef.h>
#include <stdint.h>

#include "synth.h"

static int count_names(void *arg, const uint8_t *name, size_t len)
{
    (void)name;
    *(size_t *)arg += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0, 1,   0, 0, 0, 0, 0, 0,
                                    3,    'w',  'w',  'w',  1, 'x', 0, 0, 1, 0, 1};
    static const uint8_t target[] = {1, 't', 0};
    struct wire_query q;
    uint8_t out[4096];
    size_t total = 0;

    if (wire_parse_query(query, sizeof query, &q) != WIRE_OK)
        return 0;
    synth_cname_targets(data, size, count_names, &total);
    synth_rewrite(&q, target, sizeof target, 60, data, size, out, sizeof out);
    return 0;
}
