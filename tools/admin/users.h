/*
 * users.h - the accounts of the admin web pages (gatehouse-admin), kept in
 * one text file (admin.users, default STATE_DIR/admin-users, mode 0640),
 * written by `gatehousectl users` and read by gatehouse-admin.
 *
 * Why a file and not LMDB: a school has a handful of accounts; a text file
 * of one line each is small enough to read whole on every change, can be
 * inspected with cat, and keeps gatehouse-admin down to the two LMDB
 * environments it must share (query log, grants).  Changes are made under
 * an exclusive flock on PATH.lock and land with write-temp, fsync, rename,
 * so a reader sees either the old file or the new one, never half.
 *
 * Format, one account a line ("#" lines and blank lines ignored):
 *
 *     NAME:ROLE:HASH:CREATED
 *
 * NAME [a-z0-9._-], 1..USERS_NAME_MAX; ROLE head, dsl or technician; HASH
 * libsodium's crypto_pwhash_str (argon2id, with its own salt and cost in
 * the string; it never contains ':'); CREATED seconds since the epoch.
 *
 * Roles (what each may do in the web pages):
 *   head        guest access and dispensations
 *   dsl         safeguarding reports and the query log search
 *   technician  everything, including the resolver's status
 *
 * Not here: sessions and log-in limits (tools/admin/session.h), the command
 * line (tools/ctl_users.c).
 */
#ifndef GATEHOUSE_ADMIN_USERS_H
#define GATEHOUSE_ADMIN_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define USERS_NAME_MAX 32           /* bytes in an account name */
#define USERS_HASH_MAX 128          /* crypto_pwhash_STRBYTES, checked in users.c */
#define USERS_MAX 256               /* accounts in one file */
#define USERS_FILE_MAX (256u << 10) /* bytes read from the file */
#define USERS_PASSWORD_MIN 10       /* characters: a passphrase, not a PIN */
#define USERS_PASSWORD_MAX 256      /* bytes; longer is refused, never cut */
#define USERS_FILE_MODE 0640

enum users_role {
    USERS_HEAD = 1,
    USERS_DSL = 2,
    USERS_TECHNICIAN = 3,
};

/* What a page or an API call needs. */
enum users_cap {
    USERS_CAP_GRANTS = 1,    /* guest access, dispensations */
    USERS_CAP_SAFEGUARD = 2, /* reports, log search and export */
    USERS_CAP_STATUS = 3,    /* the resolver's status */
};

struct users_account {
    char name[USERS_NAME_MAX + 1];
    enum users_role role;
    char hash[USERS_HASH_MAX];
    time_t created;
};

struct users_table {
    size_t n;
    struct users_account a[]; /* n of them */
};

/* "head", "dsl", "technician" (also "tech"); 0 or -EINVAL. */
int users_role_parse(const char *s, enum users_role *out);
const char *users_role_text(enum users_role r);
bool users_may(enum users_role r, enum users_cap cap);
/* [a-z0-9._-]{1,USERS_NAME_MAX}, not starting with '.' or '-'. */
bool users_name_valid(const char *s);

/* Parse the file's text (LEN bytes, any bytes safe).  0 and *out (free with
 * users_free), or -EINVAL with "line N: message" in err, -E2BIG (too many
 * accounts or too long), -ENOMEM. */
int users_parse(const char *text, size_t len, struct users_table **out, char *err, size_t errlen);
/* Read and parse PATH.  -ENOENT when there is no file yet (no accounts). */
int users_load(const char *path, struct users_table **out, char *err, size_t errlen);
void users_free(struct users_table *t);
/* The account NAME, borrowed until users_free; NULL if none. */
const struct users_account *users_find(const struct users_table *t, const char *name);

/* Hash PASSWORD (argon2id, interactive cost) into out[USERS_HASH_MAX].
 * 0, -EINVAL (length out of bounds), -ENOMEM. */
int users_hash(const char *password, char out[USERS_HASH_MAX]);
/* Whether PASSWORD matches A's hash (constant time in the password). */
bool users_verify(const struct users_account *a, const char *password);

/* Changes, each under the lock and atomically replacing PATH:
 * add: -EEXIST if NAME exists; remove: -ENOENT if not; passwd: -ENOENT.
 * -EINVAL for a bad name or password length; -EACCES, -ENOSPC, ... */
int users_add(const char *path, const char *name, enum users_role role, const char *password,
              time_t now);
int users_remove(const char *path, const char *name);
int users_passwd(const char *path, const char *name, const char *password);

#endif
