/*
 * ctl_users.c - gatehousectl users add / list / remove / passwd: the
 * accounts of the admin web pages.
 *
 * The password is read from the terminal with echo off (asked twice), or,
 * with --password-stdin, as the first line of standard input (scripts and
 * tests), never from the command line, where ps would show it.  The file
 * itself (tools/admin/users.c) is shared with gatehouse-admin, so both
 * always agree on its format and on the hash.  gatehouse-admin notices a
 * change at the next request: a removed account or a new password ends
 * that account's sessions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "admin/users.h"
#include "ctl_users.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gatehousectl users add NAME --role head|dsl|technician [--password-stdin]\n"
               "       gatehousectl users list\n"
               "       gatehousectl users remove NAME\n"
               "       gatehousectl users passwd NAME [--password-stdin]\n"
               "roles: head (guest access, dispensations), dsl (safeguarding reports, log\n"
               "search), technician (everything, including status)\n");
}

/* One line from F into buf (size bytes), without the newline.  0, or
 * -E2BIG for a longer line, -ENODATA at end of input. */
static int read_line(FILE *f, char *buf, size_t size)
{
    if (!fgets(buf, (int)size, f))
        return -ENODATA;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = 0;
    else if (!feof(f))
        return -E2BIG;
    if (n && buf[n - 1] == '\r')
        buf[--n] = 0;
    return 0;
}

static int ask(const char *prompt, char *buf, size_t size)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return -ENOTTY;
    struct termios old, quiet;
    bool echo_off = tcgetattr(fileno(tty), &old) == 0;
    if (echo_off) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    int rc = read_line(tty, buf, size);
    if (echo_off)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    return rc;
}

static int get_password(bool from_stdin, char *pw, size_t size)
{
    char again[USERS_PASSWORD_MAX + 2];
    int rc;
    if (from_stdin) {
        rc = read_line(stdin, pw, size);
    } else {
        rc = ask("Password: ", pw, size);
        if (rc == 0 && (rc = ask("Password again: ", again, sizeof again)) == 0 &&
            strcmp(pw, again)) {
            fprintf(stderr, "gatehousectl users: the passwords differ; nothing changed\n");
            rc = -EINVAL;
        }
        explicit_bzero(again, sizeof again);
        if (rc == -ENOTTY)
            fprintf(stderr, "gatehousectl users: no terminal to ask on: use --password-stdin\n");
    }
    if (rc == -E2BIG || (rc == 0 && strlen(pw) > USERS_PASSWORD_MAX)) {
        fprintf(stderr, "gatehousectl users: password longer than %d bytes\n", USERS_PASSWORD_MAX);
        return -EINVAL;
    }
    if (rc == -ENODATA)
        fprintf(stderr, "gatehousectl users: no password given\n");
    if (rc == 0 && strlen(pw) < USERS_PASSWORD_MIN) {
        fprintf(stderr, "gatehousectl users: the password must have at least %d characters\n",
                USERS_PASSWORD_MIN);
        return -EINVAL;
    }
    return rc;
}

static int report(const char *what, const char *name, const char *path, int rc)
{
    if (rc == 0)
        return 0;
    if (rc == -EEXIST)
        fprintf(stderr, "gatehousectl users %s: account %s already exists\n", what, name);
    else if (rc == -ENOENT)
        fprintf(stderr, "gatehousectl users %s: no account %s\n", what, name);
    else if (rc == -EACCES || rc == -EPERM)
        fprintf(stderr, "gatehousectl users %s: %s: permission denied (run as root)\n", what, path);
    else if (rc == -E2BIG)
        fprintf(stderr, "gatehousectl users %s: too many accounts (at most %d)\n", what, USERS_MAX);
    else
        fprintf(stderr, "gatehousectl users %s: %s: %s\n", what, path, strerror(-rc));
    return 1;
}

int ctl_users(const struct ctl_global *g, int argc, char **argv)
{
    const char *path = g->cfg ? g->cfg->admin_users : NULL;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!path) {
        fprintf(stderr, "gatehousectl users: admin.users is not set\n");
        return 1;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "list")) {
        if (argc != 2)
            goto bad;
        struct users_table *t;
        char err[512];
        int rc = users_load(path, &t, err, sizeof err);
        if (rc == -ENOENT) {
            printf("no accounts (add one: gatehousectl users add NAME --role ROLE)\n");
            return 0;
        }
        if (rc < 0) {
            fprintf(stderr, "gatehousectl users list: %s\n", err);
            return 1;
        }
        printf("%-32s %-11s %s\n", "NAME", "ROLE", "CREATED");
        for (size_t i = 0; i < t->n; i++) {
            char when[32];
            struct tm tm;
            if (!localtime_r(&t->a[i].created, &tm) ||
                !strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm))
                snprintf(when, sizeof when, "%lld", (long long)t->a[i].created);
            printf("%-32s %-11s %s\n", t->a[i].name, users_role_text(t->a[i].role), when);
        }
        users_free(t);
        return 0;
    }
    if (argc < 3)
        goto bad;
    const char *name = argv[2];
    if (!users_name_valid(name)) {
        fprintf(stderr,
                "gatehousectl users: '%s' is not an account name (a-z, 0-9, '.', '_', '-'; "
                "at most %d)\n",
                name, USERS_NAME_MAX);
        return 2;
    }
    bool from_stdin = false;
    const char *role_text = NULL;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--password-stdin"))
            from_stdin = true;
        else if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role_text = argv[++i];
        else if (!strncmp(argv[i], "--role=", 7))
            role_text = argv[i] + 7;
        else
            goto bad;
    }
    char pw[USERS_PASSWORD_MAX + 2];
    int rc;
    if (!strcmp(sub, "add")) {
        enum users_role role;
        if (!role_text || users_role_parse(role_text, &role) < 0) {
            fprintf(stderr, "gatehousectl users add: --role head, dsl or technician is required\n");
            return 2;
        }
        if (get_password(from_stdin, pw, sizeof pw) < 0)
            return 1;
        rc = users_add(path, name, role, pw, time(NULL));
        explicit_bzero(pw, sizeof pw);
        if (report("add", name, path, rc))
            return 1;
        printf("account %s added (%s)\n", name, users_role_text(role));
        return 0;
    }
    if (role_text)
        goto bad;
    if (!strcmp(sub, "remove")) {
        if (from_stdin)
            goto bad;
        if (report("remove", name, path, users_remove(path, name)))
            return 1;
        printf("account %s removed\n", name);
        return 0;
    }
    if (!strcmp(sub, "passwd")) {
        if (get_password(from_stdin, pw, sizeof pw) < 0)
            return 1;
        rc = users_passwd(path, name, pw);
        explicit_bzero(pw, sizeof pw);
        if (report("passwd", name, path, rc))
            return 1;
        printf("password of %s changed\n", name);
        return 0;
    }
bad:
    usage(stderr);
    return 2;
}
