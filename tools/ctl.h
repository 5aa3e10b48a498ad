/*
 * ctl.h - gatehousectl subcommands.  Each lives in its own tools/ctl_*.c and
 * is listed in the table in gatehousectl.c.  A subcommand gets argv with
 * argv[0] = its own name, returns the process exit status (0 ok, 1 failure,
 * 2 usage), and prints errors to stderr as "gatehousectl NAME: message".
 */
#ifndef GATEHOUSE_CTL_H
#define GATEHOUSE_CTL_H

#include "config.h"

/* Options every subcommand shares, parsed by gatehousectl.c before argv is
 * handed on: -c FILE (default /etc/gatehouse/gatehouse.yaml, else built-in). */
struct ctl_global {
    const char *config_path; /* NULL: built-in default */
    struct config *cfg;      /* loaded; owned by gatehousectl.c */
};

typedef int (*ctl_fn)(const struct ctl_global *g, int argc, char **argv);

#endif
