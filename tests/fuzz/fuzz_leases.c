/*
 * fuzz_leases.c - the DHCP leases parser (outside input: a file written by
 * another program).  The first byte picks the format; the rest is the file.
 * Every entry found must be consistent, and both lookups must run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "leases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lease_table *t = NULL;
    if (size < 1)
        return 0;
    enum config_dhcp_format fmt = (enum config_dhcp_format)(data[0] % 3);
    if (leases_parse("fuzz", (const char *)data + 1, size - 1, fmt, &t) < 0)
        return 0;
    const struct lease *l;
    const uint8_t mac[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    (void)leases_current(t, mac, 1795521600, &l);
    (void)leases_at(t, addr, 1795521600);
    if (leases_skipped(t) && !leases_warning(t, 0))
        abort();
    for (size_t i = 0; leases_warning(t, i); i++)
        if (strlen(leases_warning(t, i)) >= LEASES_WARNING_MAX)
            abort();
    leases_free(t);
    return 0;
}
