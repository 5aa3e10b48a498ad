/*
 * fuzz_listparse.c - libFuzzer target for the blocklist line parser.
 *
 * The input is split into lines and fed to one parser (so RPZ state carries
 * across lines); the first byte picks the declared format.  Every name that
 * comes out must be a valid, normalised name: re-parsing it gives itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listparse.h"

static int check_cb(const struct listparse_name *n, void *arg)
{
    char out[LISTPARSE_NAME_MAX + 1], reason[LISTPARSE_REASON_MAX];
    bool w;
    if (n->len == 0 || n->len > LISTPARSE_NAME_MAX)
        abort();
    int r = listparse_name(n->name, n->len, out, &w, reason);
    if (r != (int)n->len || memcmp(out, n->name, n->len) != 0 || w)
        abort();
    for (size_t i = 0; i < n->len; i++)
        if (n->name[i] >= 'A' && n->name[i] <= 'Z')
            abort();
    (*(size_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct listparse p;
    size_t names = 0;
    if (size == 0)
        return 0;
    listparse_init(&p, (enum listparse_format)(data[0] % 5));
    data++;
    size--;
    while (size > 0) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t len = nl ? (size_t)(nl - data) + 1 : size;
        int k = listparse_line(&p, (const char *)data, len, check_cb, &names);
        if (k < 0 || k > LISTPARSE_BAD)
            abort();
        if (k == LISTPARSE_BAD && p.reason[0] == '\0')
            abort(); /* every bad line says why */
        data += len;
        size -= len;
    }
    return 0;
}
