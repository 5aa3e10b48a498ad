/*
 * safesearch.h - the providers' safe-search enforcement names (safesearch.c
 * says where each comes from).  Rewriting a search name to one of these, as a
 * CNAME the resolver then resolves, makes the provider enforce safe search
 * for every device on the network.
 */
#ifndef GATEHOUSE_SAFESEARCH_H
#define GATEHOUSE_SAFESEARCH_H

enum safesearch_level {
    SAFESEARCH_OFF = 0,
    SAFESEARCH_MODERATE, /* YouTube restricted mode, moderate */
    SAFESEARCH_STRICT,   /* YouTube restricted mode, strict */
};

/* Calls fn(arg, name, target) for every rewrite at level (names in text,
 * lower case, no trailing dot). */
typedef void (*safesearch_fn)(void *arg, const char *name, const char *target);
void safesearch_each(enum safesearch_level level, safesearch_fn fn, void *arg);

#endif
