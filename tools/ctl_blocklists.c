/*
 * ctl_blocklists.c - `gatehousectl blocklists ...`: compile the category
 * index from the configured lists, download URL lists, look a name up, show
 * what an index holds.
 *
 *   compile [--out PATH] [--category NAME=FILE ...]
 *       Sources come from blocklists.categories in the config; a source that
 *       is an http(s) URL is read from its downloaded copy in
 *       STATE_DIR/lists/ (see `update`).  --category (repeatable) replaces
 *       the configured sources, for ad-hoc use.  Exit 0 even when lines were
 *       bad (they are reported), 1 on a real error.
 *   update
 *       Download every URL source with curl(1) (spawned, never a shell) to a
 *       temporary file, then rename it over the previous copy, so a failed
 *       download keeps the old list.  Never run by the tests (no network).
 *   lookup NAME [--index PATH]
 *       Categories of NAME and the listed entry, source and line behind them.
 *   stats [--index PATH]
 *       Generation, build time, names per category, per-source counts.
 *
 * Not here: the index format (resolver/blocklist.c), parsing (listparse.c).
 */
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "ctl_blocklists.h"

#define DEFAULT_STATE_DIR "/var/lib/gatehouse"
#define CURL_MAX_TIME "300"       /* seconds per list */
#define CURL_MAX_SIZE "536870912" /* 512 MiB: UT1 adult is ~150 MB */

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f, "usage: gatehousectl blocklists compile [--out PATH] [--category NAME=FILE ...]\n"
               "       gatehousectl blocklists update\n"
               "       gatehousectl blocklists lookup NAME [--index PATH]\n"
               "       gatehousectl blocklists stats [--index PATH]\n");
}

static const char *state_dir(const struct ctl_global *g)
{
    return g->cfg && g->cfg->state_dir ? g->cfg->state_dir : DEFAULT_STATE_DIR;
}

static void index_path(const struct ctl_global *g, const char *opt, char *buf, size_t len)
{
    if (opt)
        snprintf(buf, len, "%s", opt);
    else if (g->cfg && g->cfg->blocklist_index)
        snprintf(buf, len, "%s", g->cfg->blocklist_index);
    else
        snprintf(buf, len, "%s/blocklists.mdb", state_dir(g));
}

static bool is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Where the downloaded copy of url lives: STATE_DIR/lists/<safe name>-<hash>.
 * The readable part helps an admin; the FNV-1a hash keeps two URLs that
 * sanitise alike apart. */
static void url_cache_path(const char *dir, const char *url, char *buf, size_t len)
{
    char safe[96];
    size_t o = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    for (const char *u = url; *u; u++)
        h = (h ^ (uint8_t)*u) * 0x100000001b3ULL;
    for (; *p && o < sizeof safe - 1; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        safe[o++] = ok ? c : '_';
    }
    safe[o] = '\0';
    snprintf(buf, len, "%s/lists/%s-%08x", dir, safe, (unsigned)(h ^ (h >> 32)));
}

static void print_report(const struct blocklist_source *src,
                         const struct blocklist_compile_report *r)
{
    for (size_t i = 0; i < r->nsources; i++) {
        const struct blocklist_source_report *s = &r->sources[i];
        printf("%-16s %s\n", src[i].category, src[i].origin ? src[i].origin : src[i].path);
        printf("%16s %lu lines, %lu names, %lu duplicates, %lu already listed, %lu bad, "
               "%lu addresses skipped, %lu unsupported\n",
               "", s->lines, s->names, s->duplicates, s->overlap, s->bad, s->skipped_ip,
               s->unsupported);
        for (unsigned e = 0; e < s->nerrors; e++)
            printf("%16s %s\n", "", s->errors[e]);
        if (s->bad > s->nerrors)
            printf("%16s ... and %lu more bad lines\n", "", s->bad - s->nerrors);
    }
}

static int cmd_compile(const struct ctl_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"category", required_argument, NULL, 'C'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    struct blocklist_source *src = NULL;
    char **owned = NULL; /* strings this function allocated */
    size_t n = 0, nowned = 0, adhoc = 0;
    int opt, status = 1;

    /* Sized for the worst case up front: ad-hoc args, or every configured source. */
    size_t cap = (size_t)argc;
    if (g->cfg)
        for (size_t c = 0; c < g->cfg->ncategories; c++)
            cap += g->cfg->categories[c].nsources;
    src = calloc(cap + 1, sizeof *src);
    owned = calloc(2 * cap + 1, sizeof *owned);
    if (!src || !owned) {
        fprintf(stderr, "gatehousectl blocklists: out of memory\n");
        goto out;
    }
    optind = 0; /* 0, not 1: glibc re-initialises, so options may follow operands */
    while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (opt == 'o') {
            out = optarg;
        } else if (opt == 'C') {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || eq[1] == '\0') {
                fprintf(stderr, "gatehousectl blocklists: --category wants NAME=FILE\n");
                status = 2;
                goto out;
            }
            char *name = strndup(optarg, (size_t)(eq - optarg));
            if (!name)
                goto out;
            owned[nowned++] = name;
            src[n++] = (struct blocklist_source){name, eq + 1, NULL, LISTPARSE_AUTO};
            adhoc++;
        } else {
            usage(stderr);
            status = 2;
            goto out;
        }
    }
    if (optind != argc) {
        usage(stderr);
        status = 2;
        goto out;
    }
    if (adhoc == 0 && g->cfg) {
        for (size_t c = 0; c < g->cfg->ncategories; c++) {
            const struct config_category *cat = &g->cfg->categories[c];
            for (size_t s = 0; s < cat->nsources; s++) {
                const char *path = cat->sources[s];
                const char *origin = NULL;
                if (is_url(path)) {
                    char buf[4096];
                    url_cache_path(state_dir(g), path, buf, sizeof buf);
                    if (access(buf, R_OK) != 0) {
                        fprintf(stderr,
                                "gatehousectl blocklists: %s: no downloaded copy at %s "
                                "(run gatehousectl blocklists update)\n",
                                path, buf);
                        goto out;
                    }
                    char *copy = strdup(buf);
                    if (!copy)
                        goto out;
                    owned[nowned++] = copy;
                    origin = path;
                    path = copy;
                }
                src[n++] = (struct blocklist_source){cat->name, path, origin, LISTPARSE_AUTO};
            }
        }
    }
    if (n == 0) {
        fprintf(stderr, "gatehousectl blocklists: no sources (blocklists.categories is empty; "
                        "use --category NAME=FILE)\n");
        goto out;
    }

    char path[4096], err[1024];
    index_path(g, out, path, sizeof path);
    struct blocklist_compile_report rep;
    int rc = blocklist_compile(src, n, path, &rep, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "gatehousectl blocklists: %s\n", err);
        blocklist_compile_report_free(&rep);
        goto out;
    }
    print_report(src, &rep);
    printf("compiled %llu names in %u categories from %zu sources into %s "
           "(%.1f MB, generation %016llx) in %.2f s\n",
           (unsigned long long)rep.names, rep.ncategories, n, path, (double)rep.file_size / 1e6,
           (unsigned long long)rep.generation,
           rep.parse_seconds + rep.sort_seconds + rep.write_seconds);
    blocklist_compile_report_free(&rep);
    status = 0;
out:
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(src);
    return status;
}

/* Run curl; returns its exit status or -1. */
static int run_curl(const char *url, const char *tmp)
{
    char *args[] = {"curl",        "--fail",      "--silent",       "--show-error", "--location",
                    "--max-time",  CURL_MAX_TIME, "--max-filesize", CURL_MAX_SIZE,  "--proto",
                    "=http,https", "--output",    (char *)tmp,      (char *)url,    NULL};
    pid_t pid;
    int st, rc = posix_spawnp(&pid, "curl", NULL, NULL, args, environ);
    if (rc != 0) {
        fprintf(stderr, "gatehousectl blocklists: cannot run curl: %s\n", strerror(rc));
        return -1;
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmd_update(const struct ctl_global *g, int argc, char **argv)
{
    char dir[4096];
    int failed = 0, done = 0;
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/lists", state_dir(g));
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "gatehousectl blocklists: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (size_t c = 0; g->cfg && c < g->cfg->ncategories; c++) {
        const struct config_category *cat = &g->cfg->categories[c];
        for (size_t s = 0; s < cat->nsources; s++) {
            const char *url = cat->sources[s];
            if (!is_url(url))
                continue;
            char path[4096], tmp[4200];
            url_cache_path(state_dir(g), url, path, sizeof path);
            snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
            int rc = run_curl(url, tmp);
            if (rc != 0 || rename(tmp, path) < 0) {
                fprintf(stderr, "gatehousectl blocklists: %s: download failed (%d); keeping %s\n",
                        url, rc, path);
                unlink(tmp);
                failed++;
                continue;
            }
            printf("%-16s %s -> %s\n", cat->name, url, path);
            done++;
        }
    }
    printf("%d lists downloaded, %d failed\n", done, failed);
    return failed ? 1 : 0;
}

static int parse_index_opt(int argc, char **argv, const char **index, const char **arg)
{
    static const struct option opts[] = {{"index", required_argument, NULL, 'i'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    optind = 0; /* 0, not 1: glibc re-initialises, so options may follow operands */
    while ((opt = getopt_long(argc, argv, "i:", opts, NULL)) != -1) {
        if (opt != 'i')
            return -1;
        *index = optarg;
    }
    if (arg) {
        if (optind + 1 != argc)
            return -1;
        *arg = argv[optind];
    } else if (optind != argc) {
        return -1;
    }
    return 0;
}

static void print_cats(const struct blocklist *bl, uint64_t bits)
{
    const char *sep = "";
    for (unsigned i = 0; i < BLOCKLIST_MAX_CATEGORIES; i++)
        if (bits & ((uint64_t)1 << i)) {
            const char *nm = blocklist_category_name(bl, i);
            printf("%s%s", sep, nm ? nm : "?");
            sep = ", ";
        }
}

static int cmd_lookup(const struct ctl_global *g, int argc, char **argv)
{
    const char *opt_index = NULL, *name = NULL;
    char path[4096], err[1024], text[LISTPARSE_NAME_MAX + 1], reason[LISTPARSE_REASON_MAX];
    uint8_t wire[256];
    bool wild;
    if (parse_index_opt(argc, argv, &opt_index, &name) < 0) {
        usage(stderr);
        return 2;
    }
    int len = listparse_name(name, strlen(name), text, &wild, reason);
    if (len < 0) {
        fprintf(stderr, "gatehousectl blocklists: %s: %s\n", name, reason);
        return 1;
    }
    /* Text to wire: labels are [a-z0-9_-] and at most 63 long here. */
    size_t o = 0;
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, ".");
        wire[o++] = (uint8_t)l;
        memcpy(wire + o, p, l);
        o += l;
        p += l + (p[l] == '.');
    }
    wire[o++] = 0;

    index_path(g, opt_index, path, sizeof path);
    struct blocklist *bl;
    if (blocklist_open(path, &bl, err, sizeof err) < 0) {
        fprintf(stderr, "gatehousectl blocklists: %s\n", err);
        return 1;
    }
    struct blocklist_match m;
    int rc = blocklist_lookup(bl, wire, o, &m);
    if (rc < 0) {
        fprintf(stderr, "gatehousectl blocklists: lookup: %s\n", strerror(-rc));
        blocklist_close(bl);
        return 1;
    }
    if (rc == 0) {
        printf("%s: not listed\n", text);
    } else {
        /* The matched name is the suffix of the query at match_offset. */
        const char *matched = text;
        for (size_t skip = 0; skip < m.match_offset;) {
            skip += (size_t)wire[skip] + 1;
            matched = strchr(matched, '.') + 1;
        }
        printf("%s: ", text);
        print_cats(bl, m.categories);
        printf("\n  matched %s (listed in ", matched);
        print_cats(bl, m.own);
        struct blocklist_source_info si;
        if (blocklist_get_source(bl, m.source, &si) == 0)
            printf(")\n  first listed by source %u: %s line %u\n", m.source, si.origin, m.line);
        else
            printf(")\n  first listed by source %u line %u\n", m.source, m.line);
        if (m.categories != m.own) {
            printf("  also inherits ");
            print_cats(bl, m.categories & ~m.own);
            printf(" from a listed parent\n");
        }
    }
    blocklist_close(bl);
    return 0;
}

static int cmd_stats(const struct ctl_global *g, int argc, char **argv)
{
    const char *opt_index = NULL;
    char path[4096], err[1024];
    if (parse_index_opt(argc, argv, &opt_index, NULL) < 0) {
        usage(stderr);
        return 2;
    }
    index_path(g, opt_index, path, sizeof path);
    struct blocklist *bl;
    if (blocklist_open(path, &bl, err, sizeof err) < 0) {
        fprintf(stderr, "gatehousectl blocklists: %s\n", err);
        return 1;
    }
    struct blocklist_info info;
    blocklist_get_info(bl, &info);
    struct stat st;
    char when[64] = "?";
    struct tm tm;
    if (gmtime_r(&info.built, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("index       %s (%.1f MB)\n", path,
           stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0.0);
    printf("generation  %016llx\nbuilt       %s\nnames       %llu\n",
           (unsigned long long)info.generation, when, (unsigned long long)info.names);
    printf("categories:\n");
    for (unsigned i = 0; i < info.ncategories; i++)
        printf("  %-3u %-20s %llu names\n", i, blocklist_category_name(bl, i),
               (unsigned long long)info.category_names[i]);
    printf("sources:\n");
    for (uint32_t i = 0; i < info.nsources; i++) {
        struct blocklist_source_info si;
        if (blocklist_get_source(bl, i, &si) < 0)
            continue;
        printf("  %-3u %-16s %s\n      %u lines, %u names, %u duplicates, %u already listed, "
               "%u bad, %u addresses, %u unsupported\n",
               i, blocklist_category_name(bl, si.category), si.origin, si.lines, si.names,
               si.duplicates, si.overlap, si.bad, si.skipped_ip, si.unsupported);
    }
    blocklist_close(bl);
    return 0;
}

int ctl_blocklists(const struct ctl_global *g, int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "compile") == 0)
        return cmd_compile(g, argc - 1, argv + 1);
    if (strcmp(sub, "update") == 0)
        return cmd_update(g, argc - 1, argv + 1);
    if (strcmp(sub, "lookup") == 0)
        return cmd_lookup(g, argc - 1, argv + 1);
    if (strcmp(sub, "stats") == 0)
        return cmd_stats(g, argc - 1, argv + 1);
    if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "gatehousectl blocklists: unknown command '%s'\n", sub);
    usage(stderr);
    return 2;
}
