/*
 * session.h - who is logged in to gatehouse-admin, and who may try.
 *
 * Sessions: a fixed table of SESSION_MAX slots in memory (a restart logs
 * everyone out, which is the safe direction).  A session is named by 32
 * random bytes (libsodium randombytes_buf) sent as the cookie, and carries
 * its own random CSRF token that every change must echo in X-CSRF-Token.
 * It ends after SESSION_IDLE without a request, SESSION_MAX_AGE after
 * log-in, at log-out, or when the account is removed or its password or
 * role changes (the caller checks the account at every request).
 *
 * Log-in limits: failures are counted per account name and per client
 * address in two bounded tables (LIMIT_SLOTS each, the oldest entry
 * recycled); LIMIT_ACCOUNT failures for a name, or LIMIT_ADDR from an
 * address, inside LIMIT_WINDOW refuse further attempts until the window
 * has passed, before the password is even hashed.  A success clears the
 * name's count, not the address's.
 *
 * Not thread-safe: gatehouse-admin serves from one thread (main.c).
 * Times are monotonic seconds (CLOCK_MONOTONIC), so a clock change neither
 * ends nor extends sessions.
 */
#ifndef GATEHOUSE_ADMIN_SESSION_H
#define GATEHOUSE_ADMIN_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http.h"
#include "users.h"

#define SESSION_MAX 256
#define SESSION_IDLE (30 * 60)      /* seconds without a request */
#define SESSION_MAX_AGE (10 * 3600) /* seconds after log-in, whatever happens */
#define LIMIT_SLOTS 1024
#define LIMIT_WINDOW (15 * 60)
#define LIMIT_ACCOUNT 5
#define LIMIT_ADDR 20

struct session {
    bool used;
    char token[ADMIN_TOKEN_HEX + 1];
    char csrf[ADMIN_TOKEN_HEX + 1];
    char name[USERS_NAME_MAX + 1];
    enum users_role role;
    char hash[USERS_HASH_MAX]; /* the password hash at log-in: a new password ends it */
    int64_t created, last;
};

struct session_table;

struct session_table *session_table_new(void);
void session_table_free(struct session_table *t);

/* A new session for account A at NOW; borrowed until the next call that
 * may end sessions.  NULL if out of memory (when full, the least recently
 * used session ends). */
struct session *session_create(struct session_table *t, const struct users_account *a, int64_t now);
/* The live session TOKEN names, touched at NOW; NULL if none or expired. */
struct session *session_find(struct session_table *t, const char *token, int64_t now);
void session_end(struct session_table *t, struct session *s);
/* Sessions alive now (for status). */
unsigned session_count(struct session_table *t, int64_t now);
/* Whether CSRF (the header value, may be NULL) is the session's token;
 * constant time. */
bool session_csrf_ok(const struct session *s, const char *csrf);

/* Log-in limits.  ADDR is the client's address (sockaddr).  Whether an
 * attempt may go ahead at NOW (-EAGAIN: refused, *retry_after seconds). */
int session_limit_check(struct session_table *t, const char *name, const struct sockaddr *addr,
                        int64_t now, unsigned *retry_after);
void session_limit_fail(struct session_table *t, const char *name, const struct sockaddr *addr,
                        int64_t now);
void session_limit_ok(struct session_table *t, const char *name);
/* Failed log-ins since start (for status and tests). */
uint64_t session_failures(const struct session_table *t);

#endif
