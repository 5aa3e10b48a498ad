/*
 * fuzz_query.c - libFuzzer target for the client query parser and the
 * answers built from whatever it accepted (wire.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_query q;
    uint8_t out[4096];

    enum wire_verdict v = wire_parse_query(data, size, &q);
    if (v == WIRE_DROP)
        return 0;
    wire_reply_error(&q, v == WIRE_OK ? WIRE_REFUSED : WIRE_FORMERR, WIRE_EDE_BLOCKED, "fuzz", 1232,
                     out, sizeof out);
    if (v == WIRE_OK) {
        size_t n = wire_any_answer(&q, out, sizeof out);
        if (n)
            wire_finish_answer(&q, out, n, sizeof out, wire_udp_limit(&q, 1232), 1232,
                               WIRE_EDE_NONE, NULL);
        char text[1024];
        wire_name_to_text(q.qname_lc, q.qname_len, text, sizeof text);
    }
    return 0;
}
