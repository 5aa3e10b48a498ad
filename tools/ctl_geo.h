/* ctl_geo.h - gatehousectl geo: what the geo databases say about addresses. */
#ifndef GATEHOUSE_CTL_GEO_H
#define GATEHOUSE_CTL_GEO_H

#include "ctl.h"

int ctl_geo(const struct ctl_global *g, int argc, char **argv);

#endif
