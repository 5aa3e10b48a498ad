/*
 * ctl_blocklists.h - `gatehousectl blocklists compile|update|lookup|stats`.
 */
#ifndef GATEHOUSE_CTL_BLOCKLISTS_H
#define GATEHOUSE_CTL_BLOCKLISTS_H

#include "ctl.h"

int ctl_blocklists(const struct ctl_global *g, int argc, char **argv);

#endif
