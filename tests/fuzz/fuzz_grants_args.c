/*
 * fuzz_grants_args.c - the parsers of gatehousectl grant arguments typed by
 * staff: durations (--for), local times (--from), MAC addresses (--mac),
 * client addresses (--client), and the whole check of a grant built from
 * them against a fixed config.  The first byte picks the parser; the rest
 * is the argument.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grants.h"
#include "leases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;

static const char CONF[] = "blocklists:\n  categories:\n    extremism: [/x.txt]\n"
                           "policies:\n  p: {}\n"
                           "segments:\n  - name: visitor\n    networks: [10.30.0.0/16]\n"
                           "    policy: p\n    guest-access: grant-required\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[512], e[256];
    const time_t now = 1795521600;
    if (size < 1 || size > sizeof s)
        return 0;
    if (!cfg && config_load_buffer("f", CONF, sizeof CONF - 1, &cfg, e, sizeof e))
        abort();
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0; /* a command-line argument is a C string */
    uint32_t d;
    time_t t;
    uint8_t mac[6], addr[16], fam;
    struct grant g;
    switch (data[0] % 5) {
    case 0:
        if (grants_parse_duration(s, &d) == 0 && (d == 0 || d > 400u * 86400))
            abort();
        break;
    case 1:
        if (grants_parse_time(s, now, &t) == 0 && strcmp(s, "now") &&
            (t < -86400 || t > 253402300800))
            abort(); /* before 1970 or after 9999 */
        break;
    case 2:
        (void)leases_parse_mac(s, strlen(s), data[0] & 0x80, mac);
        break;
    case 3:
        if (grants_parse_addr(s, addr, &fam) == 0) {
            char text[64];
            grants_addr_text(addr, fam, text, sizeof text);
        }
        break;
    default:
        /* the whole check: segment or name or category from the input */
        memset(&g, 0, sizeof g);
        g.kind = (data[0] & 0x10) ? GRANT_EXEMPTION : GRANT_GUEST;
        g.scope = (data[0] & 0x20) ? GRANT_SCOPE_CLIENT : GRANT_SCOPE_SEGMENT;
        g.family = 4;
        g.addr[10] = g.addr[11] = 0xff;
        g.addr[12] = 10;
        g.addr[13] = 30;
        snprintf(g.by, sizeof g.by, "f");
        snprintf(g.reason, sizeof g.reason, "f");
        snprintf(g.segment, sizeof g.segment, "%.*s", (data[0] & 0x40) ? 39 : 0, s);
        snprintf(g.name, sizeof g.name, "%.255s", s);
        g.from = now;
        g.until = now + 3600;
        if (grants_check(cfg, &g, now, e, sizeof e) == 0 && g.name_len &&
            g.name_wire[g.name_len - 1])
            abort();
        break;
    }
    return 0;
}
