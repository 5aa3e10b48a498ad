/*
 * fuzz_qlog_filter.c - the parsers of review filters typed by staff
 * (gatehousectl logs --since/--until/--name/--client): times and durations,
 * name patterns, addresses, and the presentation of what they produce.
 * The first byte picks the parser; the rest is the argument.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[512];
    if (size < 1 || size > sizeof s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0; /* a command-line argument is a C string */
    uint64_t t;
    uint8_t wire[256], len, addr[16], fam;
    bool sfx;
    char text[1100];
    switch (data[0] % 3) {
    case 0:
        if (qlog_parse_time(s, 1795392000ull * 1000000, &t) == 0 && t > 7300000000ull * 1000000)
            abort(); /* beyond the end of 2200 */
        break;
    case 1:
        if (qlog_parse_name(s, wire, &len, &sfx) == 0) {
            if (len < 1 || wire[len - 1] != 0)
                abort();
            qlog_name_text(wire, len, text, sizeof text);
            /* presentation round trip (a name whose first label is a literal
             * "*" reads back as a pattern: skip those) */
            uint8_t w2[256], l2;
            bool s2;
            if (!(text[0] == '*' && text[1] == '.') && qlog_parse_name(text, w2, &l2, &s2) == 0 &&
                (l2 != len || memcmp(w2, wire, len)))
                abort();
        }
        /* the presentation code on arbitrary wire bytes */
        qlog_name_text(data, size > 255 ? 255 : size, text, sizeof text);
        qlog_name_text(data, size > 255 ? 255 : size, text, 7);
        break;
    default:
        if (qlog_parse_addr(s, addr, &fam) == 0) {
            qlog_addr_text(addr, fam, text, sizeof text);
            uint8_t a2[16], f2;
            if (qlog_parse_addr(text, a2, &f2) != 0 || memcmp(a2, addr, 16) != 0)
                abort();
        }
        break;
    }
    return 0;
}
