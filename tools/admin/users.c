/*
 * users.c - the admin accounts file (users.h): parse, look up, hash and
 * verify passwords with libsodium, and change the file under a lock.
 *
 * Not here: who is logged in (session.c), the terminal (ctl_users.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "users.h"

_Static_assert(crypto_pwhash_STRBYTES <= USERS_HASH_MAX, "raise USERS_HASH_MAX");

static const char *const role_words[] = {NULL, "head", "dsl", "technician"};

int users_role_parse(const char *s, enum users_role *out)
{
    if (!s)
        return -EINVAL;
    for (int i = 1; i <= 3; i++)
        if (!strcmp(s, role_words[i])) {
            *out = (enum users_role)i;
            return 0;
        }
    if (!strcmp(s, "tech")) {
        *out = USERS_TECHNICIAN;
        return 0;
    }
    return -EINVAL;
}

const char *users_role_text(enum users_role r)
{
    return r >= USERS_HEAD && r <= USERS_TECHNICIAN ? role_words[r] : "?";
}

bool users_may(enum users_role r, enum users_cap cap)
{
    switch (r) {
    case USERS_TECHNICIAN:
        return true;
    case USERS_HEAD:
        return cap == USERS_CAP_GRANTS;
    case USERS_DSL:
        return cap == USERS_CAP_SAFEGUARD;
    }
    return false;
}

bool users_name_valid(const char *s)
{
    size_t n = 0;
    if (!s || s[0] == '.' || s[0] == '-')
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= USERS_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

/* Copies the field [p, end) into dst (size bytes) if it fits. */
static bool field(const char *p, const char *end, char *dst, size_t size)
{
    size_t n = (size_t)(end - p);
    if (n >= size)
        return false;
    memcpy(dst, p, n);
    dst[n] = 0;
    return true;
}

int users_parse(const char *text, size_t len, struct users_table **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > USERS_FILE_MAX) {
        snprintf(err, errlen, "file larger than %u bytes", USERS_FILE_MAX);
        return -E2BIG;
    }
    struct users_table *t = calloc(1, sizeof *t + USERS_MAX * sizeof t->a[0]);
    if (!t)
        return -ENOMEM;
    const char *p = text, *end = text + len;
    unsigned line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p || *p == '#') {
            p = nl ? nl + 1 : end;
            continue;
        }
        if (t->n >= USERS_MAX) {
            snprintf(err, errlen, "line %u: more than %d accounts", line, USERS_MAX);
            free(t);
            return -E2BIG;
        }
        if (memchr(p, 0, (size_t)(le - p))) {
            snprintf(err, errlen, "line %u: NUL byte", line);
            free(t);
            return -EINVAL;
        }
        /* NAME:ROLE:HASH:CREATED - exactly four fields */
        const char *f[5];
        int nf = 0;
        f[nf++] = p;
        for (const char *q = p; q < le && nf < 5; q++)
            if (*q == ':')
                f[nf++] = q + 1;
        struct users_account *a = &t->a[t->n];
        char role[16], created[24];
        char *ep;
        if (nf != 4 || !field(f[0], f[1] - 1, a->name, sizeof a->name) ||
            !field(f[1], f[2] - 1, role, sizeof role) ||
            !field(f[2], f[3] - 1, a->hash, sizeof a->hash) ||
            !field(f[3], le, created, sizeof created)) {
            snprintf(err, errlen, "line %u: expected NAME:ROLE:HASH:CREATED", line);
            free(t);
            return -EINVAL;
        }
        if (!users_name_valid(a->name)) {
            snprintf(err, errlen, "line %u: bad account name", line);
            free(t);
            return -EINVAL;
        }
        if (users_role_parse(role, &a->role) < 0) {
            snprintf(err, errlen, "line %u: unknown role (head, dsl or technician)", line);
            free(t);
            return -EINVAL;
        }
        /* Only argon2id: a hash of another kind would be a file not written
         * by gatehousectl. */
        if (strncmp(a->hash, "$argon2id$", 10) != 0) {
            snprintf(err, errlen, "line %u: not an argon2id hash", line);
            free(t);
            return -EINVAL;
        }
        errno = 0;
        long long c = strtoll(created, &ep, 10);
        if (errno || *ep || ep == created || c < 0) {
            snprintf(err, errlen, "line %u: bad creation time", line);
            free(t);
            return -EINVAL;
        }
        a->created = (time_t)c;
        if (users_find(t, a->name)) {
            snprintf(err, errlen, "line %u: account %s given twice", line, a->name);
            free(t);
            return -EINVAL;
        }
        t->n++;
        p = nl ? nl + 1 : end;
    }
    *out = t;
    return 0;
}

int users_load(const char *path, struct users_table **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *buf = malloc(USERS_FILE_MAX + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t len = 0;
    for (;;) { /* bounded: at most USERS_FILE_MAX + 1 bytes are read */
        ssize_t r = read(fd, buf + len, USERS_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            free(buf);
            close(fd);
            return -e;
        }
        if (r == 0 || (len += (size_t)r) > USERS_FILE_MAX)
            break;
    }
    close(fd);
    char e2[200];
    int rc = users_parse(buf, len, out, e2, sizeof e2);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, e2);
    free(buf);
    return rc;
}

void users_free(struct users_table *t)
{
    if (t)
        sodium_memzero(t, sizeof *t + t->n * sizeof t->a[0]);
    free(t);
}

const struct users_account *users_find(const struct users_table *t, const char *name)
{
    if (!t || !name)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->a[i].name, name))
            return &t->a[i];
    return NULL;
}

int users_hash(const char *password, char out[USERS_HASH_MAX])
{
    size_t n = strnlen(password, USERS_PASSWORD_MAX + 1);
    if (n < USERS_PASSWORD_MIN || n > USERS_PASSWORD_MAX)
        return -EINVAL;
    if (sodium_init() < 0)
        return -ENOMEM;
    /* Interactive cost (64 MiB, a fraction of a second): log-ins are rare
     * and rate-limited, and the hash must not stall the web pages. */
    if (crypto_pwhash_str(out, password, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -ENOMEM;
    return 0;
}

bool users_verify(const struct users_account *a, const char *password)
{
    size_t n = strnlen(password, USERS_PASSWORD_MAX + 1);
    if (n > USERS_PASSWORD_MAX || sodium_init() < 0)
        return false;
    return crypto_pwhash_str_verify(a->hash, password, n) == 0;
}

/* --- changes ------------------------------------------------------------- */

enum change { CHANGE_ADD, CHANGE_REMOVE, CHANGE_PASSWD };

static int write_table(const char *path, const struct users_table *t)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, USERS_FILE_MODE);
    if (fd < 0)
        return -errno;
    /* Keep the owner and group of the file it replaces, so that root running
     * gatehousectl does not take it away from the daemon's group. */
    struct stat st;
    if (stat(path, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) < 0) {
        /* not root: the file is ours anyway */
    }
    if (fchmod(fd, USERS_FILE_MODE) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return -e;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return -e;
    }
    fprintf(f, "# gatehouse-admin accounts: NAME:ROLE:HASH:CREATED (gatehousectl users)\n");
    for (size_t i = 0; i < t->n; i++)
        fprintf(f, "%s:%s:%s:%lld\n", t->a[i].name, users_role_text(t->a[i].role), t->a[i].hash,
                (long long)t->a[i].created);
    int rc = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (fclose(f) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

static int change(const char *path, enum change what, const char *name, enum users_role role,
                  const char *password, time_t now)
{
    if (!users_name_valid(name))
        return -EINVAL;
    char hash[USERS_HASH_MAX] = "";
    if (what != CHANGE_REMOVE) {
        int rc = users_hash(password, hash);
        if (rc < 0)
            return rc;
    }
    char lock[4096];
    if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
        return -ENAMETOOLONG;
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, USERS_FILE_MODE);
    if (lfd < 0)
        return -errno;
    if (flock(lfd, LOCK_EX) < 0) {
        int e = errno;
        close(lfd);
        return -e;
    }
    struct users_table *t = NULL;
    char err[256];
    int rc = users_load(path, &t, err, sizeof err);
    if (rc == -ENOENT) {
        t = calloc(1, sizeof *t + USERS_MAX * sizeof t->a[0]);
        rc = t ? 0 : -ENOMEM;
    } else if (t) { /* room to add one */
        struct users_table *g = realloc(t, sizeof *t + USERS_MAX * sizeof t->a[0]);
        if (!g)
            rc = -ENOMEM;
        else
            t = g;
    }
    if (rc == 0) {
        struct users_account *a = (struct users_account *)users_find(t, name);
        if (what == CHANGE_ADD && a)
            rc = -EEXIST;
        else if (what != CHANGE_ADD && !a)
            rc = -ENOENT;
        else if (what == CHANGE_ADD && t->n >= USERS_MAX)
            rc = -E2BIG;
        else if (what == CHANGE_ADD) {
            a = &t->a[t->n++];
            memset(a, 0, sizeof *a);
            memcpy(a->name, name, strlen(name) + 1);
            a->role = role;
            memcpy(a->hash, hash, sizeof hash);
            a->created = now;
        } else if (what == CHANGE_PASSWD) {
            memcpy(a->hash, hash, sizeof hash);
        } else {
            size_t i = (size_t)(a - t->a);
            memmove(&t->a[i], &t->a[i + 1], (t->n - i - 1) * sizeof t->a[0]);
            t->n--;
        }
        if (rc == 0)
            rc = write_table(path, t);
    }
    users_free(t);
    close(lfd); /* releases the lock */
    return rc;
}

int users_add(const char *path, const char *name, enum users_role role, const char *password,
              time_t now)
{
    return change(path, CHANGE_ADD, name, role, password, now);
}

int users_remove(const char *path, const char *name)
{
    return change(path, CHANGE_REMOVE, name, 0, NULL, 0);
}

int users_passwd(const char *path, const char *name, const char *password)
{
    return change(path, CHANGE_PASSWD, name, 0, password, 0);
}
