/*
 * ctl_admin.h - `gatehousectl status`, `reload` and `flush`: talking to the
 * running daemon over its control socket (server.control-socket).
 */
#ifndef GATEHOUSE_CTL_ADMIN_H
#define GATEHOUSE_CTL_ADMIN_H

#include "ctl.h"

/* Exit status when the daemon is not running (no socket, or nobody
 * answering on it), as `systemctl status` and the LSB init scripts use. */
#define CTL_ADMIN_NOT_RUNNING 3
/* Exit status when we may not ask (permission denied on the socket). */
#define CTL_ADMIN_NO_ACCESS 4

int ctl_status(const struct ctl_global *g, int argc, char **argv);
int ctl_reload(const struct ctl_global *g, int argc, char **argv);
int ctl_flush(const struct ctl_global *g, int argc, char **argv);

#endif
