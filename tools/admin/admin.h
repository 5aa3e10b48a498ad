/*
 * admin.h - gatehouse-admin's shared state and the API handlers (api.c),
 * called by the HTTP front (main.c) with the request already parsed and
 * the session checked.
 *
 * One lock (admin.lock) serialises every handler: libmicrohttpd runs one
 * thread per listening address, and the stores, the session table and the
 * users table are used by one request at a time.  Handlers are short (one
 * LMDB read transaction, one control-socket round trip, one password hash
 * at log-in), and the web pages are used by a few people at once.
 *
 * Not here: HTTP (main.c), request parsing (http.c), sessions (session.c).
 */
#ifndef GATEHOUSE_ADMIN_H
#define GATEHOUSE_ADMIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "http.h"
#include "session.h"
#include "users.h"

struct grants_store;
struct qlog_store;

#define ADMIN_RATE_SAMPLES 32

struct admin {
    pthread_mutex_t lock;
    struct config *cfg;
    struct qlog_store *qlog;
    struct grants_store *grants;
    struct session_table *sessions;
    struct users_table *users; /* NULL: no accounts yet */
    struct stat users_st;      /* what users was read from, to notice changes */
    /* status samples: per-minute rates between two of them */
    struct {
        int64_t t;
        uint64_t queries, blocked;
    } samples[ADMIN_RATE_SAMPLES];
    unsigned nsamples;
};

/* A handler's answer: HTTP status and either a JSON value (owned, freed by
 * the caller) or a body of bytes (malloc'd, freed by the caller) with its
 * type and extra headers. */
struct admin_reply {
    int status;
    json_t *json;
    char *body;
    size_t len;
    const char *type;
    const char *disposition; /* Content-Disposition, or NULL */
    const char *csp;         /* Content-Security-Policy override, or NULL */
    char cookie[200];        /* Set-Cookie, or "" */
};

struct admin_request {
    enum admin_route route;
    uint64_t id; /* ADMIN_R_REVOKE */
    const char *body;
    size_t len;
    const struct sockaddr *client;
    struct session *session;     /* NULL for log-in */
    const struct admin_kv *args; /* query string */
    size_t nargs;
};

/* Re-read the accounts file if it changed.  0 or -errno (the old table is
 * kept on error). */
int admin_users_refresh(struct admin *a);

/* Wall-clock and monotonic seconds. */
int64_t admin_mono(void);
uint64_t admin_now_us(void);

/* Sets r to {"error": MSG} with STATUS. */
void admin_error(struct admin_reply *r, int status, const char *msg);

/* Writes an audit record "NAME (web)", ACTION, DETAIL.  0 or -errno: the
 * caller must then refuse the action (no audit, no action). */
int admin_audit(struct admin *a, const char *name, const char *action, const char *detail);

/* The API calls (api.c).  Each fills r. */
void api_login(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_logout(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_me(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_visitors(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_grants(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_grant(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_revoke(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_options(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_reports(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_report(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_search(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_status(struct admin *a, const struct admin_request *q, struct admin_reply *r);
void api_audit(struct admin *a, const struct admin_request *q, struct admin_reply *r);

#endif
