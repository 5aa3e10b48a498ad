/*
 * session.c - sessions and log-in limits of gatehouse-admin (session.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "session.h"

struct limit {
    bool used;
    bool is_addr;
    char key[USERS_NAME_MAX + 1]; /* account name */
    uint8_t addr[16];             /* or client address (IPv4 mapped) */
    unsigned fails;
    int64_t window_start;
};

struct session_table {
    struct session s[SESSION_MAX];
    struct limit l[LIMIT_SLOTS];
    uint64_t failures;
};

struct session_table *session_table_new(void)
{
    if (sodium_init() < 0)
        return NULL;
    return calloc(1, sizeof(struct session_table));
}

void session_table_free(struct session_table *t)
{
    if (t)
        sodium_memzero(t, sizeof *t);
    free(t);
}

static void random_hex(char out[ADMIN_TOKEN_HEX + 1])
{
    unsigned char b[ADMIN_TOKEN_HEX / 2];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, ADMIN_TOKEN_HEX + 1, b, sizeof b);
    sodium_memzero(b, sizeof b);
}

static bool expired(const struct session *s, int64_t now)
{
    return now - s->last >= SESSION_IDLE || now - s->created >= SESSION_MAX_AGE;
}

struct session *session_create(struct session_table *t, const struct users_account *a, int64_t now)
{
    struct session *slot = NULL;
    for (size_t i = 0; i < SESSION_MAX; i++) {
        struct session *s = &t->s[i];
        if (s->used && expired(s, now))
            session_end(t, s);
        if (!s->used) {
            if (!slot)
                slot = s;
        }
    }
    if (!slot) { /* full: the least recently used goes */
        slot = &t->s[0];
        for (size_t i = 1; i < SESSION_MAX; i++)
            if (t->s[i].last < slot->last)
                slot = &t->s[i];
    }
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    random_hex(slot->token);
    random_hex(slot->csrf);
    memcpy(slot->name, a->name, sizeof slot->name);
    slot->role = a->role;
    memcpy(slot->hash, a->hash, sizeof slot->hash);
    slot->created = slot->last = now;
    return slot;
}

struct session *session_find(struct session_table *t, const char *token, int64_t now)
{
    if (!token || !admin_token_valid(token))
        return NULL;
    for (size_t i = 0; i < SESSION_MAX; i++) {
        struct session *s = &t->s[i];
        if (!s->used || sodium_memcmp(s->token, token, ADMIN_TOKEN_HEX) != 0)
            continue;
        if (expired(s, now)) {
            session_end(t, s);
            return NULL;
        }
        s->last = now;
        return s;
    }
    return NULL;
}

void session_end(struct session_table *t, struct session *s)
{
    (void)t;
    sodium_memzero(s, sizeof *s);
}

unsigned session_count(struct session_table *t, int64_t now)
{
    unsigned n = 0;
    for (size_t i = 0; i < SESSION_MAX; i++)
        n += t->s[i].used && !expired(&t->s[i], now);
    return n;
}

bool session_csrf_ok(const struct session *s, const char *csrf)
{
    if (!csrf || strnlen(csrf, ADMIN_TOKEN_HEX + 1) != ADMIN_TOKEN_HEX)
        return false;
    return sodium_memcmp(s->csrf, csrf, ADMIN_TOKEN_HEX) == 0;
}

/* --- limits -------------------------------------------------------------- */

static void addr_key(const struct sockaddr *sa, uint8_t out[16])
{
    memset(out, 0, 16);
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static struct limit *limit_slot(struct session_table *t, bool is_addr, const char *name,
                                const uint8_t addr[16], bool create, int64_t now)
{
    struct limit *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < LIMIT_SLOTS; i++) {
        struct limit *l = &t->l[i];
        if (l->used && now - l->window_start >= LIMIT_WINDOW)
            l->used = false; /* the window has passed: forget */
        if (!l->used) {
            if (!free_slot)
                free_slot = l;
            continue;
        }
        if (l->is_addr == is_addr && (is_addr ? !memcmp(l->addr, addr, 16) : !strcmp(l->key, name)))
            return l;
        if (!oldest || l->window_start < oldest->window_start)
            oldest = l;
    }
    if (!create)
        return NULL;
    struct limit *l = free_slot ? free_slot : oldest;
    memset(l, 0, sizeof *l);
    l->used = true;
    l->is_addr = is_addr;
    if (is_addr)
        memcpy(l->addr, addr, 16);
    else
        snprintf(l->key, sizeof l->key, "%s", name);
    l->window_start = now;
    return l;
}

int session_limit_check(struct session_table *t, const char *name, const struct sockaddr *addr,
                        int64_t now, unsigned *retry_after)
{
    uint8_t a[16];
    addr_key(addr, a);
    struct limit *ln = limit_slot(t, false, name, a, false, now);
    struct limit *la = limit_slot(t, true, name, a, false, now);
    int64_t until = 0;
    if (ln && ln->fails >= LIMIT_ACCOUNT)
        until = ln->window_start + LIMIT_WINDOW;
    if (la && la->fails >= LIMIT_ADDR && la->window_start + LIMIT_WINDOW > until)
        until = la->window_start + LIMIT_WINDOW;
    if (!until)
        return 0;
    *retry_after = (unsigned)(until - now);
    return -EAGAIN;
}

void session_limit_fail(struct session_table *t, const char *name, const struct sockaddr *addr,
                        int64_t now)
{
    uint8_t a[16];
    addr_key(addr, a);
    t->failures++;
    /* Only names that could be accounts take a slot: garbage names cannot
     * flush the table of real ones faster than the address limit allows. */
    if (users_name_valid(name))
        limit_slot(t, false, name, a, true, now)->fails++;
    limit_slot(t, true, name, a, true, now)->fails++;
}

void session_limit_ok(struct session_table *t, const char *name)
{
    for (size_t i = 0; i < LIMIT_SLOTS; i++)
        if (t->l[i].used && !t->l[i].is_addr && !strcmp(t->l[i].key, name))
            t->l[i].used = false;
}

uint64_t session_failures(const struct session_table *t)
{
    return t->failures;
}
