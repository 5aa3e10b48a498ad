/*
 * ctl_grants.h - gatehousectl grant, grants and revoke: guest access and
 * dispensations (resolver/grants.h).  Only members of grants.admin-group may
 * grant or revoke; every grant and revocation is recorded with the --by name
 * and the unix user.
 */
#ifndef GATEHOUSE_CTL_GRANTS_H
#define GATEHOUSE_CTL_GRANTS_H

#include "ctl.h"

/* gatehousectl grant guest (--client IP [--segment NAME] | --mac MAC | --segment NAME)
 *     --for DURATION [--from TIME] --by NAME --reason TEXT
 * gatehousectl grant exemption (--client IP [--segment NAME] | --segment NAME)
 *     (--allow-category CAT | --allow-name NAME) --for DURATION [--from TIME]
 *     --by NAME --reason TEXT */
int ctl_grant(const struct ctl_global *g, int argc, char **argv);
/* gatehousectl grants [--all] | grants purge | grants audit */
int ctl_grants(const struct ctl_global *g, int argc, char **argv);
/* gatehousectl revoke ID --by NAME [--reason TEXT] */
int ctl_revoke(const struct ctl_global *g, int argc, char **argv);

#endif
