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
#include <stdatomic.h>
#include <time.h>

#include "cache.h"
#include "config.h"
#include "hints.h"
#include "infra.h"
#include "iterator.h"

struct daemon_env {
    atomic_int refs;
    unsigned generation;
    struct config *cfg;   /* owned */
    struct hints *hints;  /* owned */
    struct iter_env iter; /* points at cfg, hints and the daemon's caches */
};

struct worker;

struct daemon {
    struct daemon_env *env;   /* current generation; the daemon holds a ref */
    pthread_mutex_t env_lock; /* guards env against a reload between load and ref */
    struct cache *cache;
    struct infra *infra;
    struct worker **workers;
    unsigned nworkers;
    time_t started;
};

/* Takes ownership of cfg and hints (both freed with the generation, also when
 * this fails and returns NULL).  refs starts at 1. */
struct daemon_env *daemon_env_new(struct daemon *d, struct config *cfg, struct hints *hints,
                                  unsigned generation);
/* A new reference to the current generation. */
struct daemon_env *daemon_env_get(struct daemon *d);
void daemon_env_ref(struct daemon_env *e);
void daemon_env_unref(struct daemon_env *e);
/* Makes e current (consuming the caller's reference) and drops the daemon's
 * reference to the previous one. */
void daemon_env_publish(struct daemon *d, struct daemon_env *e);

#endif
