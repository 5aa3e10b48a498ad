/* ctl_check.h - gatehousectl check: explain the policy's verdict for a name. */
#ifndef GATEHOUSE_CTL_CHECK_H
#define GATEHOUSE_CTL_CHECK_H

#include "ctl.h"

int ctl_check(const struct ctl_global *g, int argc, char **argv);

#endif
