/*
 * log.c - the daemon's own messages on stderr or the journal.  See log.h.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "gatehoused";
static atomic_int log_level = LOG_LEVEL_NOTICE;
static int log_journal; /* stderr is connected to journald */

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};
/* syslog priorities: err, warning, notice, info, debug */
static const int level_prio[] = {3, 4, 5, 6, 7};

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it only
 * counts if stderr is still that stream (systemd.exec(5)). */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long dev, ino;

    if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return 0;
    return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_init(const char *ident, int verbosity)
{
    if (ident)
        log_ident = ident;
    log_set_verbosity(verbosity);
    log_journal = stderr_is_journal();
}

void log_set_verbosity(int verbosity)
{
    if (verbosity < LOG_LEVEL_ERROR)
        verbosity = LOG_LEVEL_ERROR;
    if (verbosity > LOG_LEVEL_DEBUG)
        verbosity = LOG_LEVEL_DEBUG;
    atomic_store(&log_level, verbosity);
}

int log_verbosity(void)
{
    return atomic_load(&log_level);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    int n;
    va_list ap;

    if ((int)level > atomic_load(&log_level))
        return;
    if (log_journal)
        n = snprintf(line, sizeof line, "<%d>%s: ", level_prio[level], level_names[level]);
    else
        n = snprintf(line, sizeof line, "%s[%d]: %s: ", log_ident, (int)getpid(),
                     level_names[level]);
    if (n < 0)
        return;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* cut long lines rather than lose them */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
