/*
 * fuzz_control.c - libFuzzer target: the control socket's request-line
 * parser and the metrics endpoint's HTTP request parser (control.c), fed
 * the same arbitrary bytes, plus the name conversion behind "flush".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct control_request r;
    struct control_http_request h;
    uint8_t wire[256];

    /* Copies, so that ASan catches any read past the given length. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (control_parse_request(buf, size, &r) == 0 && r.verb == CONTROL_FLUSH &&
        (r.name_len == 0 || r.name_len > 255 || r.name[r.name_len - 1] != 0))
        abort(); /* a flush name is always a whole wire name */
    int n = control_http_parse(buf, size, &h);
    if (n > 0) {
        if ((size_t)n > size || n > CONTROL_HTTP_MAX || memchr(h.path, 0, sizeof h.path) == NULL)
            abort();
        int code = control_http_status(&h);
        if (code != 200 && code != 404 && code != 405)
            abort();
    }
    int w = control_name_to_wire(buf, size, wire);
    if (w > 255)
        abort();
    free(buf);
    return 0;
}
