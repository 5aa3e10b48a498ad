/*
 * fuzz_grants_args.c - the parsers of gatehousectl arguments typed by staff:
 * for grant, durations (--for), local times (--from), MAC addresses (--mac),
 * client addresses (--client), and the whole check of a grant built from
 * them against a fixed config; for check, its whole command line (NAME,
 * --type, --no-resolve, --segment/--client...), parsed as gatehousectl
 * does, then the name and the type.  The first byte picks the parser; the
 * rest is the argument (for check: the arguments, separated by NUL bytes).
 * Nothing is resolved and nothing is sent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grants.h"
#include "leases.h"
/* check's parsers are static in its file: compiled in, as fuzz_admin_http
 * does with http.c. */
#include "../../tools/ctl_check.c"
#include "../../tools/ctl_resolve.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;

static const char FUZZ_CONF[] = "blocklists:\n  categories:\n    extremism: [/x.txt]\n"
                                "policies:\n  p: {}\n"
                                "segments:\n  - name: visitor\n    networks: [10.30.0.0/16]\n"
                                "    policy: p\n    guest-access: grant-required\n";

/* gatehousectl check's command line: argv from NUL-separated input. */
static void fuzz_check_args(const uint8_t *data, size_t size)
{
    char buf[512], *argv[17];
    int argc = 0;
    struct check_args a = {0};
    uint8_t wire[WIRE_MAX_NAME];
    size_t wlen;
    uint16_t t, t2;
    char text[32];

    memcpy(buf, data, size);
    buf[size] = 0;
    argv[argc++] = "check";
    for (size_t i = 0; i < size && argc < 16; i++) {
        argv[argc++] = buf + i;
        i += strlen(buf + i);
    }
    argv[argc] = NULL;
    opterr = 0; /* getopt's complaints are not findings */
    if (parse_check_args(argc, argv, &a) != 0)
        return;
    if (!a.name || (a.segment && a.client) || (a.no_resolve && !a.segment && !a.client))
        abort();
    if (name_to_wire(a.name, wire, &wlen) == 0 &&
        (wlen == 0 || wlen > WIRE_MAX_NAME || wire[wlen - 1] != 0))
        abort();
    if (a.type && ctl_type_parse(a.type, &t) == 0) {
        /* never a meta type; and the name it prints parses back to it */
        if (t == 0 || t == 41 || (t >= 128 && t <= 255))
            abort();
        if (ctl_type_parse(ctl_type_text(t, text, sizeof text), &t2) != 0 || t2 != t)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[512], e[256];
    const time_t now = 1795521600;
    if (size < 1 || size > sizeof s)
        return 0;
    if (!cfg && config_load_buffer("f", FUZZ_CONF, sizeof FUZZ_CONF - 1, &cfg, e, sizeof e))
        abort();
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0; /* a command-line argument is a C string */
    uint32_t d;
    time_t t;
    uint8_t mac[6], addr[16], fam;
    struct grant g;
    switch (data[0] % 6) {
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
    case 5:
        fuzz_check_args(data + 1, size - 1);
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
