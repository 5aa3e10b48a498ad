/*
 * gatehousectl - the admin command.  This file only parses the global options,
 * loads the config and dispatches to a subcommand (tools/ctl_*.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_admin.h"
#include "ctl_blocklists.h"
#include "ctl_check.h"
#include "ctl_geo.h"
#include "ctl_grants.h"
#include "ctl_logs.h"
#include "ctl_users.h"

#define CTL_DEFAULT_CONFIG "/etc/gatehouse/gatehouse.yaml"

struct ctl_command {
    const char *name;
    ctl_fn fn;
    const char *summary;
};

/* Subcommands: one line each, alphabetical. */
static const struct ctl_command commands[] = {
    {"audit", ctl_audit, "who looked at the query log, when, and for what"},
    {"blocklists", ctl_blocklists, "compile, update, look up and inspect the category index"},
    {"check", ctl_check, "explain what the policy does with a name, and why"},
    {"flush", ctl_flush, "remove a name (or a subtree) from the running daemon's cache"},
    {"geo", ctl_geo, "what the geo databases say about addresses (ASN, owner, country)"},
    {"grant", ctl_grant, "grant guest access or a dispensation, for a time, in writing"},
    {"grants", ctl_grants, "list live (--all: past) grants; purge old ones; the grants audit"},
    {"logs", ctl_logs, "search the query log; export, erase or purge it"},
    {"reload", ctl_reload, "make the running daemon re-read its configuration"},
    {"report", ctl_report, "the daily safeguarding report (text or HTML)"},
    {"revoke", ctl_revoke, "end a grant early, with who and why"},
    {"status", ctl_status, "is the daemon running; its counters, cache, log and index"},
    {"top", ctl_top, "the most frequent names, blocked names, clients or categories"},
    {"users", ctl_users, "accounts of the admin web pages: add, list, remove, passwd"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gatehousectl [-c FILE] COMMAND [ARGS...]\n\n"
               "  -c FILE   configuration (default " CTL_DEFAULT_CONFIG
               " if present, else built-in)\n\ncommands:\n");
    for (const struct ctl_command *c = commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "  %-12s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
    struct ctl_global g = {0};
    int opt;

    while ((opt = getopt(argc, argv, "+c:h")) != -1) {
        switch (opt) {
        case 'c':
            g.config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("gatehousectl %s\n", GATEHOUSE_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    const struct ctl_command *cmd = NULL;
    for (const struct ctl_command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            cmd = c;
    if (!cmd) {
        fprintf(stderr, "gatehousectl: unknown command '%s' (see gatehousectl help)\n", name);
        return 2;
    }

    if (!g.config_path && access(CTL_DEFAULT_CONFIG, F_OK) == 0)
        g.config_path = CTL_DEFAULT_CONFIG;
    char err[512];
    int rc = g.config_path ? config_load(g.config_path, &g.cfg, err, sizeof err)
                           : ((g.cfg = config_default()) ? 0 : -ENOMEM);
    if (rc < 0) {
        fprintf(stderr, "gatehousectl: %s\n", g.config_path ? err : strerror(-rc));
        return 1;
    }
    rc = cmd->fn(&g, argc - optind, argv + optind);
    config_free(g.cfg);
    return rc;
}
