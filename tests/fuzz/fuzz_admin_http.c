/*
 * fuzz_admin_http.c - every request parser of gatehouse-admin
 * (tools/admin/http.c) on arbitrary bytes: the first byte picks the
 * parser, the rest is its input.  Nothing may crash, leak or read out of
 * bounds; results are checked for their invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/admin/http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 8;
    data++;
    size--;
    char *s = malloc(size + 1); /* NUL-terminated copy for the string parsers */
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    const char *e;
    uint64_t id;
    switch (which) {
    case 0: {
        const char *sp = memchr(s, ' ', size);
        char method[16] = "GET";
        if (sp && (size_t)(sp - s) < sizeof method) {
            memcpy(method, s, (size_t)(sp - s));
            method[sp - s] = 0;
        }
        enum admin_route r = admin_route(method, sp ? sp + 1 : s, &id);
        if (r == ADMIN_R_REVOKE && id == 0)
            abort();
        break;
    }
    case 1: {
        char name[64];
        if (admin_static_name(s, name, sizeof name) == 0 &&
            (strstr(name, "..") || strchr(name, '/') || name[0] == '.'))
            abort();
        break;
    }
    case 2: {
        char tok[ADMIN_TOKEN_HEX + 1];
        if (admin_cookie_token(s, tok) == 0 && !admin_token_valid(tok))
            abort();
        break;
    }
    case 3: {
        struct admin_login l;
        admin_parse_login((const char *)data, size, &l, &e);
        break;
    }
    case 4: {
        struct admin_grant_req g;
        if (admin_parse_grant((const char *)data, size, &g, &e) == 0 &&
            !admin_text_ok(g.reason, ADMIN_TEXT_MAX))
            abort();
        break;
    }
    case 5: {
        char reason[ADMIN_TEXT_MAX + 1];
        admin_parse_revoke((const char *)data, size, reason, &e);
        break;
    }
    case 6: { /* "k=v&k=v" split into pairs */
        struct admin_kv kv[40];
        size_t n = 0;
        char *save, *tok = strtok_r(s, "&", &save);
        while (tok && n < 40) {
            char *eq = strchr(tok, '=');
            if (eq)
                *eq++ = 0;
            kv[n].key = tok;
            kv[n].value = eq;
            n++;
            tok = strtok_r(NULL, "&", &save);
        }
        struct admin_search out;
        admin_parse_search(kv, n, 1795339000ull * 1000000, &out, &e);
        break;
    }
    default: {
        int y, m, d;
        admin_parse_date(s, &y, &m, &d);
        admin_text_ok(s, ADMIN_TEXT_MAX);
        break;
    }
    }
    free(s);
    return 0;
}
