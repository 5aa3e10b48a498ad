/*
 * ctl_logs.h - gatehousectl logs, top, report and audit: reviewing the query
 * log (resolver/qlog.h).  Every review appends an audit record; the audit
 * table itself is never erased.
 */
#ifndef GATEHOUSE_CTL_LOGS_H
#define GATEHOUSE_CTL_LOGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

struct qlog_store;

/* gatehousectl logs [search options] | logs export | logs erase | logs purge */
int ctl_logs(const struct ctl_global *g, int argc, char **argv);
/* gatehousectl top [names|blocked|clients|categories|asns|countries] [--since T] [--until T]
 * [--limit N] (asns, countries: of the first answer address) */
int ctl_top(const struct ctl_global *g, int argc, char **argv);
/* gatehousectl report daily [--date D] [--format text|html] [--out FILE] */
int ctl_report(const struct ctl_global *g, int argc, char **argv);
/* gatehousectl audit [--since T] [--limit N] */
int ctl_audit(const struct ctl_global *g, int argc, char **argv);

/* The daily safeguarding report for the local day starting at DAY_US:
 * every record in the categories named in CATS (any verdict), grouped by
 * client and segment, with counts, first and last time and the names;
 * those attempts and the blocked queries by country of the answer address;
 * the HTML form is self-contained (inline CSS and SVG, no external
 * reference).
 * 0 or a negative errno. */
int ctl_report_daily_write(struct qlog_store *s, uint64_t day_us, char *const *cats, size_t ncats,
                           bool html, FILE *out);

/* Load the DHCP leases named by cfg (dhcp.leases), once per process, so
 * records and reports name the device (MAC, host name) behind an address.
 * A file that cannot be read is reported on stderr and names are omitted. */
void ctl_logs_use_leases(const struct config *cfg);

#endif
