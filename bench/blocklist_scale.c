/*
 * blocklist_scale.c - measure the blocklist index at scale (not a test).
 *
 *   blocklist_scale OUT.mdb CATEGORY=FILE ...
 *
 * Compiles the files, then reports compile time (parse/sort/write), file
 * size, open time and lookup cost for hits, misses and 5-label misses that
 * walk every parent.  Names to probe are taken from the first source (hits)
 * and generated (misses).  Driven by bench/blocklist_scale.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocklist.h"

#define PROBES 200000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t to_wire(const char *name, uint8_t *out)
{
    size_t o = 0;
    while (*name) {
        size_t l = strcspn(name, ".");
        out[o++] = (uint8_t)l;
        memcpy(out + o, name, l);
        o += l;
        name += l + (name[l] == '.');
    }
    out[o++] = 0;
    return o;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over 5 rounds of ns per lookup. */
static double bench(struct blocklist *bl, uint8_t (*w)[256], size_t *len, size_t n, int *hits)
{
    double r[5];
    struct blocklist_match m;
    for (int round = 0; round < 5; round++) {
        int h = 0;
        double t = now();
        for (size_t i = 0; i < n; i++)
            h += blocklist_lookup(bl, w[i], len[i], &m) == 1;
        r[round] = (now() - t) / (double)n * 1e9;
        *hits = h;
    }
    qsort(r, 5, sizeof r[0], cmp_double);
    return r[2];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT.mdb CATEGORY=FILE ...\n", argv[0]);
        return 2;
    }
    size_t n = (size_t)argc - 2;
    struct blocklist_source *src = calloc(n, sizeof *src);
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(argv[i + 2], '=');
        if (!eq)
            return 2;
        *eq = '\0';
        src[i] = (struct blocklist_source){argv[i + 2], eq + 1, NULL, LISTPARSE_AUTO};
    }
    char err[1024];
    struct blocklist_compile_report rep;
    double t0 = now();
    if (blocklist_compile(src, n, argv[1], &rep, err, sizeof err) < 0) {
        fprintf(stderr, "compile: %s\n", err);
        return 1;
    }
    double tc = now() - t0;
    unsigned long lines = 0, bad = 0, ips = 0;
    for (size_t i = 0; i < n; i++) {
        lines += rep.sources[i].lines;
        bad += rep.sources[i].bad;
        ips += rep.sources[i].skipped_ip;
    }
    printf("sources %zu, lines %lu, bad %lu, addresses %lu, distinct names %llu, categories %u\n",
           n, lines, bad, ips, (unsigned long long)rep.names, rep.ncategories);
    printf("compile %.2f s (parse %.2f, sort+merge %.2f, write+sync+rename %.2f), map grows %u\n",
           tc, rep.parse_seconds, rep.sort_seconds, rep.write_seconds, rep.map_grows);
    printf("file size %.1f MB (%.1f bytes/name)\n", (double)rep.file_size / 1e6,
           (double)rep.file_size / (double)rep.names);
    blocklist_compile_report_free(&rep);

    struct blocklist *bl;
    double t1 = now();
    if (blocklist_open(argv[1], &bl, err, sizeof err) < 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    printf("open %.3f ms\n", (now() - t1) * 1e3);

    /* Probe sets: hits from the first source, random misses. */
    static uint8_t hit[PROBES][256], miss[PROBES][256], miss5[PROBES][256], sub[PROBES][256];
    static size_t hl[PROBES], ml[PROBES], m5l[PROBES], sl[PROBES];
    size_t nh = 0;
    FILE *f = fopen(src[0].path, "r");
    char line[512];
    while (f && nh < PROBES && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#' || strspn(line, "0123456789.") == strlen(line))
            continue;
        hl[nh] = to_wire(line, hit[nh]);
        char s[600];
        snprintf(s, sizeof s, "www.cdn.%s", line);
        sl[nh] = strlen(s) < 250 ? to_wire(s, sub[nh]) : to_wire(line, sub[nh]);
        nh++;
    }
    if (f)
        fclose(f);
    srand(42);
    for (size_t i = 0; i < PROBES; i++) {
        char s[300];
        snprintf(s, sizeof s, "q%08xz.org", (unsigned)rand());
        ml[i] = to_wire(s, miss[i]);
        snprintf(s, sizeof s, "a%x.b%x.c%x.q%08xz.org", (unsigned)rand() & 0xfff,
                 (unsigned)rand() & 0xfff, (unsigned)rand() & 0xfff, (unsigned)rand());
        m5l[i] = to_wire(s, miss5[i]);
    }
    /* Shuffle the hits so the order does not follow the key order. */
    for (size_t i = nh; i > 1; i--) {
        size_t j = (size_t)rand() % i;
        uint8_t tmp[256];
        size_t tl = hl[i - 1];
        memcpy(tmp, hit[i - 1], 256);
        memcpy(hit[i - 1], hit[j], 256);
        memcpy(hit[j], tmp, 256);
        hl[i - 1] = hl[j];
        hl[j] = tl;
    }
    int h;
    double ns = bench(bl, hit, hl, nh, &h);
    printf("lookup hit (exact, %zu names):          %.0f ns  (%d hits)\n", nh, ns, h);
    ns = bench(bl, sub, sl, nh, &h);
    printf("lookup hit via parent (www.cdn.NAME):   %.0f ns  (%d hits)\n", ns, h);
    ns = bench(bl, miss, ml, PROBES, &h);
    printf("lookup miss (2 labels):                 %.0f ns  (%d hits)\n", ns, h);
    ns = bench(bl, miss5, m5l, PROBES, &h);
    printf("lookup miss (5 labels, parent walk):    %.0f ns  (%d hits)\n", ns, h);
    blocklist_close(bl);
    free(src);
    return 0;
}
