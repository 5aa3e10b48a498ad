/*
 * blocklist.h - the compiled category index: one LMDB file mapping domain
 * names to a 64-bit category bitmap.
 *
 * The compiler (blocklist_compile, run by `gatehousectl blocklists compile`)
 * streams every source list through listparse, merges them in memory, writes
 * a NEW file beside the target and rename()s it into place.  The daemon only
 * reads (blocklist_open, blocklist_lookup): an index file is never modified
 * after the rename, so readers need no locks and never see half an index; a
 * reload opens the new file while lookups on the old handle go on working on
 * the old (unlinked) inode until blocklist_close.
 *
 * A name is blocked when it or any parent is listed ("example.com" covers
 * "www.example.com" but not "badexample.com").  Category 0 is always
 * "statutory": the policy layer treats it as always on, whatever a segment
 * allows.
 *
 * Not here: what a segment allows (policy), allow-lists, downloading lists.
 */
#ifndef GATEHOUSE_BLOCKLIST_H
#define GATEHOUSE_BLOCKLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "listparse.h"

#define BLOCKLIST_FORMAT_VERSION 1
#define BLOCKLIST_MAX_CATEGORIES 64 /* one bit each in a uint64_t */
#define BLOCKLIST_CATEGORY_NAME_MAX 31
#define BLOCKLIST_CAT_STATUTORY 0 /* reserved id; its name is "statutory" */
#define BLOCKLIST_STATUTORY_NAME "statutory"
#define BLOCKLIST_MAX_READERS 64 /* concurrent lookups; >= CONFIG_MAX_THREADS */
#define BLOCKLIST_MAX_SOURCES 65535
#define BLOCKLIST_REPORT_ERRORS 10 /* "FILE:LINE: reason" messages kept per source */
#define BLOCKLIST_ERROR_MAX 512

struct blocklist;

/* ---- reading (the daemon) ---- */

/* Open the index at path read-only.  On success *out is set; the caller
 * closes it with blocklist_close.  On failure returns a negative errno and a
 * message in err: -ENOENT (no file), -EINVAL (not a Gatehouse index),
 * -EPROTO (index written by another format version: recompile). */
int blocklist_open(const char *path, struct blocklist **out, char *err, size_t errlen);

/* Wait-free for up to BLOCKLIST_MAX_READERS threads; after the last lookup
 * has returned.  NULL is ignored. */
void blocklist_close(struct blocklist *bl);

struct blocklist_match {
    uint64_t categories; /* union over the matched entry and every listed parent */
    uint64_t own;        /* categories the matched entry itself is listed in */
    size_t match_offset; /* the matched (most specific listed) name is qname + match_offset */
    uint32_t source;     /* first source that listed the matched entry */
    uint32_t line;       /* and its line there */
};

/* Look up a name in uncompressed wire form (lower case expected; A-Z are
 * folded anyway).  Returns 1 and fills m when the name or a parent is listed,
 * 0 when not (m->categories == 0), or a negative errno: -EINVAL for a
 * malformed wire name, -EBUSY when BLOCKLIST_MAX_READERS lookups are already
 * running, -EIO/-EBADMSG for a damaged file.  Does not allocate; thread-safe.
 * Cost: one B-tree probe per label until the most specific listed name is
 * found (parents' categories are folded into each entry at compile time, so
 * the first hit is the answer). */
int blocklist_lookup(struct blocklist *bl, const uint8_t *qname, size_t len,
                     struct blocklist_match *m);

/* Category id for a name (0..63), or -ENOENT. */
int blocklist_category_id(const struct blocklist *bl, const char *name);
/* Name of category id, borrowed until blocklist_close; NULL if unused. */
const char *blocklist_category_name(const struct blocklist *bl, unsigned id);
/* Random 64-bit stamp of this compiled index: a cached verdict carrying a
 * different generation is stale. */
uint64_t blocklist_generation(const struct blocklist *bl);

struct blocklist_info {
    uint64_t generation;
    time_t built;         /* when compiled, wall clock */
    uint64_t names;       /* distinct listed names */
    unsigned ncategories; /* ids 0..ncategories-1 (some may have no names) */
    uint32_t nsources;
    uint64_t category_names[BLOCKLIST_MAX_CATEGORIES]; /* entries listed in each */
};
void blocklist_get_info(const struct blocklist *bl, struct blocklist_info *info);

/* What the compiler recorded about one source. */
struct blocklist_source_info {
    unsigned category;
    enum listparse_format format;
    uint32_t lines, names, duplicates, overlap, bad, skipped_ip, unsupported;
    char origin[1024]; /* path or URL as configured */
};
/* 0, -ENOENT (no such id), -EBUSY, -EIO. */
int blocklist_get_source(struct blocklist *bl, uint32_t id, struct blocklist_source_info *out);

/* ---- writing (gatehousectl) ---- */

struct blocklist_source {
    const char *category;         /* [a-z0-9_-]{1,31} */
    const char *path;             /* local file to read */
    const char *origin;           /* recorded for explain (e.g. the URL); NULL: path */
    enum listparse_format format; /* LISTPARSE_AUTO detects per line */
};

struct blocklist_source_report {
    unsigned long lines;       /* lines read */
    unsigned long names;       /* names found (including repeats) */
    unsigned long duplicates;  /* repeats of a name earlier in the same source */
    unsigned long overlap;     /* names an earlier source already listed */
    unsigned long bad;         /* malformed lines */
    unsigned long skipped_ip;  /* bare addresses */
    unsigned long unsupported; /* exceptions, URL rules, non-QNAME RPZ triggers */
    unsigned nerrors;          /* messages kept below, <= BLOCKLIST_REPORT_ERRORS */
    char errors[BLOCKLIST_REPORT_ERRORS][BLOCKLIST_ERROR_MAX]; /* "FILE:LINE: reason" */
};

struct blocklist_compile_report {
    size_t nsources;
    struct blocklist_source_report *sources; /* one per source, same order */
    uint64_t names;                          /* distinct names written */
    unsigned ncategories;
    uint64_t generation;
    uint64_t file_size;
    unsigned map_grows; /* times the LMDB map had to be enlarged */
    double parse_seconds, sort_seconds, write_seconds;
};

/* Compile sources into a new index at out_path, replacing any file there
 * atomically (written to "OUT.tmp.PID", synced, renamed).  Bad lines are
 * counted and reported, not errors.  Returns 0, or a negative errno with a
 * message in err (unreadable source, too many categories, cannot write);
 * then out_path is untouched.  rep may be NULL; if not, its sources array is
 * allocated here and freed by the caller with blocklist_compile_report_free
 * (also after a failure). */
int blocklist_compile(const struct blocklist_source *sources, size_t n, const char *out_path,
                      struct blocklist_compile_report *rep, char *err, size_t errlen);
void blocklist_compile_report_free(struct blocklist_compile_report *rep);

#endif
