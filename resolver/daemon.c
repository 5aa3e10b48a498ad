/*
 * daemon.c - configuration generations shared by the workers.  See daemon.h.
 */
#include <stdlib.h>

#include "daemon.h"

struct daemon_env *daemon_env_new(struct daemon *d, struct config *cfg, struct hints *hints,
                                  unsigned generation)
{
    struct daemon_env *e = calloc(1, sizeof *e);

    if (!e) {
        config_free(cfg);
        hints_free(hints);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    e->generation = generation;
    e->cfg = cfg;
    e->hints = hints;
    e->iter.cache = d->cache;
    e->iter.infra = d->infra;
    e->iter.hints = hints;
    e->iter.cfg = cfg;
    return e;
}

void daemon_env_ref(struct daemon_env *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void daemon_env_unref(struct daemon_env *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        config_free(e->cfg);
        hints_free(e->hints);
        free(e);
    }
}

/* The lock makes "load the pointer, take a reference" one step against a
 * publish that drops the old generation's last reference.  Workers take it
 * only at start and on a reload, never per query. */
struct daemon_env *daemon_env_get(struct daemon *d)
{
    pthread_mutex_lock(&d->env_lock);
    struct daemon_env *e = d->env;
    daemon_env_ref(e);
    pthread_mutex_unlock(&d->env_lock);
    return e;
}

void daemon_env_publish(struct daemon *d, struct daemon_env *e)
{
    pthread_mutex_lock(&d->env_lock);
    struct daemon_env *old = d->env;
    d->env = e;
    pthread_mutex_unlock(&d->env_lock);
    daemon_env_unref(old);
}
