/*
 * ctl_admin.c - `gatehousectl status [--json]`, `gatehousectl reload` and
 * `gatehousectl flush NAME [--subtree]`.
 *
 * Each sends one request line to the daemon's control socket (the path from
 * the configuration, server.control-socket), prints the reply and exits:
 * 0 ok, 1 the daemon said no (the reason is printed), 2 usage,
 * 3 (CTL_ADMIN_NOT_RUNNING) the daemon is not running, 4 (CTL_ADMIN_NO_ACCESS)
 * permission denied on the socket.  The protocol is in resolver/control.h.
 *
 * What this does not do: change anything itself.  The daemon does the work
 * and says what happened; this only carries the words.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctl_admin.h"

/* A reload re-reads the config, root hints and index: allow it a while.
 * Bounded all the same, so a wedged daemon does not hang a cron job. */
#define CTL_ADMIN_TIMEOUT_MS 30000
#define CTL_ADMIN_REPLY_MAX (CONTROL_REPLY_MAX + 64)

static void errmsg(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errmsg(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gatehousectl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Explains a refused connection: who may use the socket. */
static void explain_access(const char *cmd, const char *path)
{
    struct stat st;
    const char *group = "gatehouse";
    if (stat(path, &st) == 0) {
        struct group *gr = getgrgid(st.st_gid);
        if (gr)
            group = gr->gr_name;
    }
    errmsg(cmd,
           "permission denied on the control socket %s: run as root or as a member of the "
           "'%s' group (usermod -aG %s USER, then log in again)",
           path, group, group);
}

/* Sends request (a line without the newline) and reads the whole reply into
 * buf (NUL-terminated).  Returns 0, or the exit status to return with the
 * reason printed. */
static int ctl_request(const struct ctl_global *g, const char *cmd, const char *request, char *buf,
                       size_t cap)
{
    const char *path = g->cfg ? g->cfg->control_socket : NULL;
    struct sockaddr_un sun;
    socklen_t slen;
    int dirfd = -1, rc;

    if (!path || !*path) {
        errmsg(cmd, "server.control-socket is not set in %s",
               g->config_path ? g->config_path : "the built-in configuration");
        return 1;
    }
    if ((rc = control_unix_addr(path, &sun, &slen, &dirfd)) < 0) {
        if (rc == -ENOENT) {
            printf("gatehoused is not running (no directory for %s)\n", path);
            return CTL_ADMIN_NOT_RUNNING;
        }
        errmsg(cmd, "%s: %s", path, strerror(-rc));
        return rc == -EACCES ? CTL_ADMIN_NO_ACCESS : 1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errmsg(cmd, "socket: %s", strerror(errno));
        if (dirfd >= 0)
            close(dirfd);
        return 1;
    }
    rc = connect(fd, (struct sockaddr *)&sun, slen);
    int saved = errno;
    if (dirfd >= 0)
        close(dirfd);
    if (rc < 0) {
        close(fd);
        if (saved == ENOENT || saved == ECONNREFUSED) {
            /* stdout, like `systemctl status`: it is the answer, not a fault */
            printf("gatehoused is not running (%s at %s)\n",
                   saved == ENOENT ? "no control socket" : "nobody answering", path);
            return CTL_ADMIN_NOT_RUNNING;
        }
        if (saved == EACCES || saved == EPERM) {
            explain_access(cmd, path);
            return CTL_ADMIN_NO_ACCESS;
        }
        errmsg(cmd, "cannot connect to %s: %s", path, strerror(saved));
        return 1;
    }

    char line[CONTROL_LINE_MAX];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (n < 0 || (size_t)n >= sizeof line) {
        close(fd);
        errmsg(cmd, "request too long");
        return 2;
    }
    /* The daemon may already have closed on us; SIGPIPE would kill us
     * silently, MSG_NOSIGNAL gives EPIPE to report instead. */
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        errmsg(cmd, "cannot send to %s: %s", path, strerror(errno));
        close(fd);
        return 1;
    }
    size_t len = 0;
    long long deadline = now_ms() + CTL_ADMIN_TIMEOUT_MS;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            errmsg(cmd, "no answer from gatehoused within %d s", CTL_ADMIN_TIMEOUT_MS / 1000);
            close(fd);
            return 1;
        }
        if (len + 1 >= cap) {
            errmsg(cmd, "reply too long");
            close(fd);
            return 1;
        }
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            errmsg(cmd, "reading from %s: %s", path, strerror(errno));
            close(fd);
            return 1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    if (len == 0) {
        errmsg(cmd, "gatehoused closed the connection without answering (too many clients?)");
        return 1;
    }
    return 0;
}

/* The reply's first line is "ok" or "error: ..."; prints the rest to
 * stdout (ok) or the error to stderr.  Returns the exit status. */
static int ctl_print_reply(const char *cmd, const char *reply, const char *prefix)
{
    if (strncmp(reply, "ok\n", 3) == 0) {
        if (prefix)
            fputs(prefix, stdout);
        fputs(reply + 3, stdout);
        return 0;
    }
    if (strncmp(reply, "error: ", 7) == 0) {
        const char *nl = strchr(reply, '\n');
        int l = nl ? (int)(nl - reply - 7) : (int)strlen(reply + 7);
        errmsg(cmd, "%.*s", l, reply + 7);
        return 1;
    }
    errmsg(cmd, "unexpected reply from gatehoused");
    return 1;
}

int ctl_status(const struct ctl_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        if (opt == 'j') {
            json = true;
        } else {
            fprintf(opt == 'h' ? stdout : stderr, "usage: gatehousectl status [--json]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "usage: gatehousectl status [--json]\n");
        return 2;
    }
    char *buf = malloc(CTL_ADMIN_REPLY_MAX);
    if (!buf) {
        errmsg("status", "out of memory");
        return 1;
    }
    int rc = ctl_request(g, "status", json ? "status json" : "status", buf, CTL_ADMIN_REPLY_MAX);
    if (rc == 0)
        rc = ctl_print_reply("status", buf, json ? NULL : "gatehoused is running\n");
    free(buf);
    return rc;
}

int ctl_reload(const struct ctl_global *g, int argc, char **argv)
{
    char buf[2 * CONTROL_LINE_MAX];
    if (argc != 1) {
        fprintf(stderr, "usage: gatehousectl reload\n");
        return 2;
    }
    int rc = ctl_request(g, "reload", "reload", buf, sizeof buf);
    return rc ? rc : ctl_print_reply("reload", buf, NULL);
}

int ctl_flush(const struct ctl_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"subtree", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char usage[] = "usage: gatehousectl flush NAME [--subtree]\n";
    bool subtree = false;
    int opt;
    optind = 0; /* glibc re-initialises, so --subtree may follow NAME */
    while ((opt = getopt_long(argc, argv, "sh", opts, NULL)) != -1) {
        if (opt == 's') {
            subtree = true;
        } else {
            fputs(usage, opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *name = argv[optind];
    uint8_t wire[256];
    /* Checked here too, so a typo gets a clear message and a newline in an
     * argument can never smuggle a second request. */
    if (control_name_to_wire(name, strlen(name), wire) < 0) {
        errmsg("flush", "'%s' is not a domain name", name);
        return 2;
    }
    char req[CONTROL_LINE_MAX], buf[2 * CONTROL_LINE_MAX];
    int n = snprintf(req, sizeof req, "flush %s%s", name, subtree ? " subtree" : "");
    if (n < 0 || (size_t)n >= sizeof req) {
        errmsg("flush", "name too long");
        return 2;
    }
    int rc = ctl_request(g, "flush", req, buf, sizeof buf);
    return rc ? rc : ctl_print_reply("flush", buf, NULL);
}
