/*
 * daemon.c - configuration generations shared by the workers.  See daemon.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "daemon.h"

int daemon_index_open(const char *path, struct daemon_index *prev, struct daemon_index **out,
                      char *err, size_t errlen)
{
    struct stat st;
    struct daemon_index *ix;
    int rc;

    *out = NULL;
    if (!path || stat(path, &st) < 0)
        return 0;
    if (prev && prev->dev == st.st_dev && prev->ino == st.st_ino) {
        atomic_fetch_add_explicit(&prev->refs, 1, memory_order_relaxed);
        *out = prev;
        return 0;
    }
    if (!(ix = calloc(1, sizeof *ix))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = blocklist_open(path, &ix->bl, err, errlen)) < 0) {
        free(ix);
        return rc;
    }
    atomic_init(&ix->refs, 1);
    ix->dev = st.st_dev;
    ix->ino = st.st_ino;
    *out = ix;
    return 0;
}

void daemon_index_unref(struct daemon_index *ix)
{
    if (ix && atomic_fetch_sub_explicit(&ix->refs, 1, memory_order_acq_rel) == 1) {
        blocklist_close(ix->bl);
        free(ix);
    }
}

struct daemon_env *daemon_env_new(struct daemon *d, struct config *cfg, struct hints *hints,
                                  struct daemon_index *index, struct policy_set *policies,
                                  unsigned generation)
{
    struct daemon_env *e = calloc(1, sizeof *e);

    if (!e) {
        policy_set_free(policies);
        daemon_index_unref(index);
        config_free(cfg);
        hints_free(hints);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    e->generation = generation;
    e->cfg = cfg;
    e->hints = hints;
    e->index = index;
    e->policies = policies;
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
        policy_set_free(e->policies); /* borrows from cfg: free it first */
        geo_ruleset_free(e->geo_rules);
        daemon_index_unref(e->index);
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
