/*
 * daemon.h - what every worker thread shares: the cache, the infra cache, and
 * the current configuration generation.
 *
 * A generation (struct daemon_env) is a loaded config with what is derived
 * from it (root hints, the iterator's environment).  It is reference counted:
 * the daemon holds one reference to the current generation, each worker holds
 * one to the generation it serves from, and each in-flight resolution holds
 * one to the generation it started with.  A reload makes a new generation,
 * swaps it in and tells the workers; the old one is freed when its last
 * in-flight query ends.  So nothing ever reads a freed config.
 */
#ifndef GATEHOUSE_DAEMON_H
#define GATEHOUSE_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdatomic.h>
#include <time.h>

#include "blocklist.h"
#include "cache.h"
#include "geo.h"
#include "grants.h"
#include "config.h"
#include "hints.h"
#include "infra.h"
#include "iterator.h"
#include "policy.h"
#include "qlog.h"

/* The compiled blocklist index, shared by the generations that use the same
 * file: LMDB must not have one file open twice in a process, so a reload
 * reopens the index only when the file was replaced. */
struct daemon_index {
    atomic_int refs;
    struct blocklist *bl;
    dev_t dev;
    ino_t ino;
};

struct daemon_env {
    atomic_int refs;
    unsigned generation;
    struct config *cfg;            /* owned */
    struct hints *hints;           /* owned */
    struct daemon_index *index;    /* a reference, or NULL: no index (no categories) */
    struct policy_set *policies;   /* owned; NULL when no segments are configured */
    struct geo_ruleset *geo_rules; /* owned; per-policy network rules, NULL-safe */
    struct iter_env iter;          /* points at cfg, hints and the daemon's caches */
};

struct worker;

struct daemon {
    struct daemon_env *env;   /* current generation; the daemon holds a ref */
    pthread_mutex_t env_lock; /* guards env against a reload between load and ref */
    struct cache *cache;
    struct infra *infra;
    struct worker **workers;
    unsigned nworkers;
    struct qlog_store *qlog;     /* the query log, or NULL when log.enabled is off or it failed */
    struct grants_store *grants; /* guest access and dispensations, or NULL when unavailable */
    struct geo *geo;             /* ASN and country databases (main owns), or NULL */
    time_t started;
};

/* What `gatehousectl status` and the metrics endpoint report, gathered by
 * the main thread from the workers, the cache, the query log and the index
 * (daemon_status_get in main.c).  Plain numbers: formatting is control.c's. */
struct daemon_status {
    uint64_t pid;
    int64_t started; /* wall-clock seconds */
    int64_t now;
    unsigned threads;
    unsigned generation; /* configuration generation (reloads + 1) */
    const char *config_path;
    /* queries, summed over the workers */
    uint64_t queries, answered, blocked, rewritten, refused, servfail, dropped;
    uint64_t cache_hits, cache_misses, stale, prefetches, joined, requests_now;
    uint64_t upstream_joined;
    uint64_t upstream_sent, upstream_timeouts, upstream_errors;
    /* cache */
    uint64_t cache_entries, cache_bytes, cache_max_bytes, cache_evictions;
    uint64_t nsec_records, nsec_answers; /* RFC 8198 */
    /* query log */
    bool log_enabled;
    uint64_t log_written, log_dropped, log_lost, log_pending, log_lag_us;
    int log_error; /* negative errno of the last failure, 0 if none */
    bool log_stopped;
    /* blocklist index */
    bool index_open;
    uint64_t index_generation;
    int64_t index_built; /* when it was compiled (wall clock), 0 if unknown */
    uint64_t index_names;
    /* grants (guest access and dispensations) in force */
    uint64_t grants_live;
    /* geo databases, as geo_status() describes them */
    char geo[512];
};

/* Takes ownership of cfg, hints and policies, and the caller's reference to
 * index (all freed with the generation, also when this fails and returns
 * NULL).  refs starts at 1. */
struct daemon_env *daemon_env_new(struct daemon *d, struct config *cfg, struct hints *hints,
                                  struct daemon_index *index, struct policy_set *policies,
                                  unsigned generation);

/* Opens the index at path, or takes another reference to prev when path is
 * still the same file.  Returns 0 with *out set (NULL when there is no file:
 * -ENOENT is not an error here, categories then match nothing), or a negative
 * errno with a message in err for a file that is there but unusable. */
int daemon_index_open(const char *path, struct daemon_index *prev, struct daemon_index **out,
                      char *err, size_t errlen);
void daemon_index_unref(struct daemon_index *ix);
/* A new reference to the current generation. */
struct daemon_env *daemon_env_get(struct daemon *d);
void daemon_env_ref(struct daemon_env *e);
void daemon_env_unref(struct daemon_env *e);
/* Makes e current (consuming the caller's reference) and drops the daemon's
 * reference to the previous one. */
void daemon_env_publish(struct daemon *d, struct daemon_env *e);

#endif
