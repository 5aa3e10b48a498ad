/*
 * fuzz_qlog_filter.c - the parsers of review filters typed by staff
 * (gatehousectl logs --since/--until/--name/--client/--country): times and
 * durations, name patterns, addresses, country codes, and the presentation
 * of what they produce.  The first byte picks the parser (0 time, 1 name,
 * 2 address, 3 country); the rest is the argument.
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
    char cc[2], cctext[8];
    switch (data[0] % 4) {
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
    case 3:
        if (qlog_parse_country(s, cc) == 0) {
            /* two upper-case ASCII letters that read back the same */
            if (cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z')
                abort();
            qlog_country_text(cc, cctext, sizeof cctext);
            if (strlen(cctext) != 2 || memcmp(cctext, cc, 2) != 0)
                abort();
            char c2[2];
            if (qlog_parse_country(cctext, c2) != 0 || memcmp(c2, cc, 2) != 0)
                abort();
        }
        /* the presentation of any two bytes (a damaged record): a code or "" */
        if (size >= 3) {
            qlog_country_text((const char *)data + 1, cctext, sizeof cctext);
            if (cctext[0] && (strlen(cctext) != 2 || memcmp(cctext, data + 1, 2) != 0))
                abort();
        }
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
