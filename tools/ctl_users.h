/*
 * ctl_users.h - gatehousectl users: the accounts of the admin web pages
 * (gatehouse-admin), kept in admin.users (tools/admin/users.h).
 */
#ifndef GATEHOUSE_CTL_USERS_H
#define GATEHOUSE_CTL_USERS_H

#include "ctl.h"

/* gatehousectl users add NAME --role head|dsl|technician [--password-stdin]
 * gatehousectl users list
 * gatehousectl users remove NAME
 * gatehousectl users passwd NAME [--password-stdin] */
int ctl_users(const struct ctl_global *g, int argc, char **argv);

#endif
