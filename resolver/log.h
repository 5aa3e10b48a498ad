/*
 * log.h - the daemon's own messages (not the query log: that is qlog.h).
 *
 * Lines go to stderr as "gatehoused[PID]: LEVEL: message".  Under systemd
 * (JOURNAL_STREAM set and stderr is that stream) each line starts with a
 * "<N>" syslog priority instead, which journald turns into the entry's level.
 * Thread safe: each message is one write(2).
 */
#ifndef GATEHOUSE_LOG_H
#define GATEHOUSE_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARNING = 1,
    LOG_LEVEL_NOTICE = 2,
    LOG_LEVEL_INFO = 3,
    LOG_LEVEL_DEBUG = 4,
};

void log_init(const char *ident, int verbosity);
void log_set_verbosity(int verbosity);
int log_verbosity(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_verbosity() >= LOG_LEVEL_DEBUG)                                                    \
            log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                                 \
    } while (0)

#endif
