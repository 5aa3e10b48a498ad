/*
 * listparse.c - one blocklist line in, names or a classified reason out.
 *
 * The line is copied into a bounded stack buffer, split into at most
 * LP_MAX_TOKENS blank-separated tokens, and classified by its shape: first
 * character ("||", "@@", "$", comment marks), whether the first token is an
 * address (hosts), and whether a DNS type follows the owner (RPZ).  Every
 * name goes through listparse_name(), which is the only place that decides
 * what a valid list entry is.
 *
 * It does not read files, keep names or allocate, except inside libidn2 for
 * lines carrying non-ASCII names.
 */
#include "listparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LP_MAX_TOKENS 64 /* a hosts line with more names than this is a bad line */

enum lp_detected { LP_DOMAINS, LP_HOSTS, LP_ADBLOCK, LP_RPZ };

static int set_reason(struct listparse *p, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_reason(struct listparse *p, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->reason, sizeof p->reason, fmt, ap);
    va_end(ap);
    return kind;
}

void listparse_init(struct listparse *p, enum listparse_format format)
{
    memset(p, 0, sizeof *p);
    p->format = format;
}

const char *listparse_format_name(enum listparse_format f)
{
    switch (f) {
    case LISTPARSE_AUTO:
        return "auto";
    case LISTPARSE_DOMAINS:
        return "domains";
    case LISTPARSE_HOSTS:
        return "hosts";
    case LISTPARSE_ADBLOCK:
        return "adblock";
    case LISTPARSE_RPZ:
        return "rpz";
    }
    return "?";
}

int listparse_format_parse(const char *s, enum listparse_format *out)
{
    static const enum listparse_format all[] = {LISTPARSE_AUTO, LISTPARSE_DOMAINS, LISTPARSE_HOSTS,
                                                LISTPARSE_ADBLOCK, LISTPARSE_RPZ};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, listparse_format_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -EINVAL;
}

static void describe_byte(char *buf, size_t len, unsigned char c)
{
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, len, "'%c'", c);
    else
        snprintf(buf, len, "byte 0x%02x", c);
}

/* Validate lower-case ASCII text: labels of [a-z0-9_-], 1..63 long, 253 in
 * all.  Underscores appear in real lists (UT1 "_video-bagarre.com", blogger
 * user names), so they are accepted although not hostname syntax (RFC 952). */
static int check_ascii_name(char *s, size_t len, char *reason)
{
    size_t label = 0, last_start = 0;
    bool last_numeric = true;

    if (len == 0)
        return snprintf(reason, LISTPARSE_REASON_MAX, "empty name"), -EINVAL;
    if (len > LISTPARSE_NAME_MAX)
        return snprintf(reason, LISTPARSE_REASON_MAX, "name longer than %d characters",
                        LISTPARSE_NAME_MAX),
               -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            s[i] = (char)(c - 'A' + 'a');
        else if (c == '.') {
            if (label == 0)
                return snprintf(reason, LISTPARSE_REASON_MAX, "empty label"), -EINVAL;
            label = 0;
            last_start = i + 1;
            last_numeric = true;
            continue;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            char b[16];
            describe_byte(b, sizeof b, c);
            snprintf(reason, LISTPARSE_REASON_MAX, "invalid character %s in name", b);
            return -EINVAL;
        }
        if (!(c >= '0' && c <= '9'))
            last_numeric = false;
        if (++label > LISTPARSE_LABEL_MAX)
            return snprintf(reason, LISTPARSE_REASON_MAX, "label longer than %d characters",
                            LISTPARSE_LABEL_MAX),
                   -EINVAL;
    }
    if (label == 0)
        return snprintf(reason, LISTPARSE_REASON_MAX, "empty label"), -EINVAL;
    /* No TLD is numeric; "10.1.2" is a truncated address, not a name. */
    if (last_numeric && last_start < len)
        return snprintf(reason, LISTPARSE_REASON_MAX, "numeric top-level label"), -EINVAL;
    return 0;
}

int listparse_name(const char *in, size_t len, char *out, bool *wildcard, char *reason)
{
    bool ascii = true;

    *wildcard = false;
    if (len >= 2 && in[0] == '*' && in[1] == '.') {
        *wildcard = true;
        in += 2;
        len -= 2;
    }
    if (len > 0 && in[len - 1] == '.')
        len--; /* absolute form: the root label is implied everywhere here */
    if (len == 0)
        return snprintf(reason, LISTPARSE_REASON_MAX, "empty name"), -EINVAL;
    if (memchr(in, '*', len))
        return snprintf(reason, LISTPARSE_REASON_MAX, "wildcard '*' only allowed as \"*.\" prefix"),
               -EINVAL;
    /* UTF-8 names can be longer than their punycode; 4x covers the worst case. */
    if (len > 4 * LISTPARSE_NAME_MAX)
        return snprintf(reason, LISTPARSE_REASON_MAX, "name longer than %d characters",
                        LISTPARSE_NAME_MAX),
               -EINVAL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)in[i] >= 0x80)
            ascii = false;
    if (ascii) {
        if (len > LISTPARSE_NAME_MAX)
            return snprintf(reason, LISTPARSE_REASON_MAX, "name longer than %d characters",
                            LISTPARSE_NAME_MAX),
                   -EINVAL;
        memcpy(out, in, len);
        out[len] = '\0';
        int rc = check_ascii_name(out, len, reason);
        return rc < 0 ? rc : (int)len;
    }

    /* IDN: UTS #46 mapping (case folding, NFC) then IDNA2008 to punycode,
     * which is what browsers send for a U-label (non-transitional). */
    char buf[4 * LISTPARSE_NAME_MAX + 1];
    memcpy(buf, in, len);
    buf[len] = '\0';
    uint8_t *a = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)buf, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc == IDN2_MALLOC)
        return -ENOMEM;
    if (rc != IDN2_OK) {
        snprintf(reason, LISTPARSE_REASON_MAX, "invalid internationalised name: %s",
                 idn2_strerror(rc));
        return -EINVAL;
    }
    size_t alen = strlen((const char *)a);
    if (alen > 0 && a[alen - 1] == '.')
        alen--;
    if (alen > LISTPARSE_NAME_MAX) {
        free(a);
        return snprintf(reason, LISTPARSE_REASON_MAX, "name longer than %d characters",
                        LISTPARSE_NAME_MAX),
               -EINVAL;
    }
    memcpy(out, a, alen);
    out[alen] = '\0';
    idn2_free(a);
    rc = check_ascii_name(out, alen, reason);
    return rc < 0 ? rc : (int)alen;
}

/* An address or CIDR block: "1.2.3.4", "1.2.3.0/24", "::1", "2001:db8::/32". */
static bool is_address(const char *tok)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char bin[16];
    size_t n = strlen(tok);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, tok, n + 1);
    char *slash = strchr(buf, '/');
    if (slash) {
        if (slash[1] == '\0' || strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
            strlen(slash + 1) > 3)
            return false;
        *slash = '\0';
    }
    return inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1;
}

/* Names that hosts files map to loopback for the machine itself. */
static bool is_hosts_local(const char *n)
{
    static const char *const local[] = {"localhost",
                                        "localhost.localdomain",
                                        "local",
                                        "broadcasthost",
                                        "ip6-localhost",
                                        "ip6-loopback",
                                        "ip6-localnet",
                                        "ip6-mcastprefix",
                                        "ip6-allnodes",
                                        "ip6-allrouters",
                                        "ip6-allhosts",
                                        "0.0.0.0",
                                        "localhost4",
                                        "localhost6",
                                        "localhost.",
                                        "localhost4.localdomain4",
                                        "localhost6.localdomain6"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (strcasecmp(n, local[i]) == 0)
            return true;
    return false;
}

static int emit(struct listparse *p, const char *tok, size_t len, listparse_name_cb cb, void *arg,
                bool force_wildcard)
{
    char name[LISTPARSE_NAME_MAX + 1];
    bool wild;
    int n = listparse_name(tok, len, name, &wild, p->reason);
    if (n == -ENOMEM)
        return -ENOMEM;
    if (n < 0)
        return LISTPARSE_BAD;
    struct listparse_name ln = {.name = name, .len = (size_t)n, .wildcard = wild || force_wildcard};
    int rc = cb ? cb(&ln, arg) : 0;
    return rc < 0 ? rc : LISTPARSE_NAMES;
}

/* "||name^$opts" (AdGuard DNS filtering syntax / Adblock Plus).  Only
 * options that do not narrow the rule are harmless when applied to the whole
 * name: anything else ($dnstype, $client, $denyallow, $badfilter, ...) would
 * change its meaning, so the rule is counted as unsupported. */
static int parse_adblock(struct listparse *p, char *s, listparse_name_cb cb, void *arg)
{
    static const char *const harmless[] = {"important", "all",          "document", "doc",
                                           "popup",     "third-party",  "3p",       "first-party",
                                           "1p",        "~third-party", "~3p"};
    bool anchored = s[0] == '|' && s[1] == '|';
    char *d = s + (anchored ? 2 : 1);
    size_t n = strcspn(d, "^$/|:?");
    char *rest = d + n;

    if (!anchored && (strncasecmp(d, "http", 4) == 0))
        return set_reason(p, LISTPARSE_UNSUPPORTED, "adblock URL rule not supported");
    if (*rest == '/' || *rest == ':' || *rest == '?')
        return set_reason(p, LISTPARSE_UNSUPPORTED, "adblock URL rule not supported");
    if (*rest == '^') {
        rest++;
        if (*rest == '|')
            rest++;
    }
    if (*rest == '$') {
        char *opts = rest + 1;
        char *save = NULL;
        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            bool ok = false;
            for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++)
                if (strcasecmp(o, harmless[i]) == 0)
                    ok = true;
            if (!ok)
                return set_reason(p, LISTPARSE_UNSUPPORTED, "adblock option $%.40s not supported",
                                  o);
        }
    } else if (*rest != '\0')
        return set_reason(p, LISTPARSE_UNSUPPORTED,
                          "adblock rule text after the name not supported");
    if (n == 0)
        return set_reason(p, LISTPARSE_BAD, "adblock rule without a name");
    return emit(p, d, n, cb, arg, false);
}

static bool is_class(const char *t)
{
    return strcasecmp(t, "IN") == 0 || strcasecmp(t, "CH") == 0 || strcasecmp(t, "HS") == 0 ||
           strcasecmp(t, "CS") == 0;
}

static bool is_ttl(const char *t)
{
    /* RFC 1035 TTLs are digits; BIND also accepts 1h30m style units. */
    return t[0] >= '0' && t[0] <= '9' && strspn(t, "0123456789smhdwSMHDW") == strlen(t);
}

static bool is_type(const char *t)
{
    static const char *const types[] = {"SOA",  "NS",     "CNAME", "A",     "AAAA",  "TXT", "MX",
                                        "PTR",  "DNAME",  "SRV",   "HINFO", "NAPTR", "DS",  "RRSIG",
                                        "NSEC", "DNSKEY", "CAA",   "HTTPS", "SVCB"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(t, types[i]) == 0)
            return true;
    return false;
}

/* Index of the type token of a zone-file record, or -1.  start is 0 for a
 * line without owner (indented: RFC 1035 section 5.1, same owner as before). */
static int rpz_type_index(char **tok, int ntok, int start)
{
    int i = start;
    while (i < ntok && i < start + 2 && (is_ttl(tok[i]) || is_class(tok[i])))
        i++;
    return i < ntok && is_type(tok[i]) ? i : -1;
}

static int parse_rpz_directive(struct listparse *p, char **tok, int ntok)
{
    if (strcasecmp(tok[0], "$ORIGIN") == 0) {
        if (ntok < 2)
            return set_reason(p, LISTPARSE_BAD, "$ORIGIN without a name");
        if (strcmp(tok[1], ".") == 0) {
            p->origin[0] = '\0';
            return LISTPARSE_EMPTY;
        }
        bool wild;
        char o[LISTPARSE_NAME_MAX + 1];
        if (listparse_name(tok[1], strlen(tok[1]), o, &wild, p->reason) < 0 || wild)
            return set_reason(p, LISTPARSE_BAD, "bad $ORIGIN name");
        memcpy(p->origin, o, sizeof o);
        return LISTPARSE_EMPTY;
    }
    if (strcasecmp(tok[0], "$TTL") == 0)
        return LISTPARSE_EMPTY;
    if (strcasecmp(tok[0], "$INCLUDE") == 0)
        return set_reason(p, LISTPARSE_UNSUPPORTED, "$INCLUDE not supported");
    return set_reason(p, LISTPARSE_BAD, "unknown directive %.40s", tok[0]);
}

/* One RPZ record (draft-vixie-dnsop-dns-rpz section 5: policy triggers and
 * actions).  Only QNAME triggers are names; every action except PASSTHRU
 * (an exception) is a block for the index, the policy decides the answer. */
static int parse_rpz(struct listparse *p, char **tok, int ntok, int ti, bool has_owner,
                     listparse_name_cb cb, void *arg)
{
    const char *type = tok[ti];
    char owner[sizeof p->owner];

    if (has_owner) {
        snprintf(p->owner, sizeof p->owner, "%s", tok[0]);
    } else if (p->owner[0] == '\0') {
        return set_reason(p, LISTPARSE_BAD, "record without an owner name");
    }
    memcpy(owner, p->owner, sizeof owner);
    for (int i = ti; i < ntok; i++)
        if (strchr(tok[i], '(') && !strchr(tok[i], ')'))
            p->in_parens = true; /* multi-line record (RFC 1035 section 5.1) */
    for (int i = ti; i < ntok && p->in_parens; i++)
        if (strchr(tok[i], ')'))
            p->in_parens = false;

    if (strcasecmp(type, "SOA") == 0 || strcasecmp(type, "NS") == 0)
        return LISTPARSE_EMPTY; /* the RPZ zone's own apex records */
    if (strcmp(owner, "@") == 0)
        return LISTPARSE_EMPTY;

    size_t olen = strlen(owner);
    if (olen > 0 && owner[olen - 1] == '.') {
        /* Absolute: must be inside the RPZ zone, then made relative. */
        owner[--olen] = '\0';
        size_t zl = strlen(p->origin);
        if (zl > 0) {
            if (olen == zl && strcasecmp(owner, p->origin) == 0)
                return LISTPARSE_EMPTY;
            if (olen <= zl + 1 || owner[olen - zl - 1] != '.' ||
                strcasecmp(owner + olen - zl, p->origin) != 0)
                return set_reason(p, LISTPARSE_BAD, "owner %.80s. is outside $ORIGIN %.60s", owner,
                                  p->origin);
            olen -= zl + 1;
            owner[olen] = '\0';
        }
    }
    /* Non-QNAME triggers end in a reserved label (section 5.2-5.5). */
    const char *last = strrchr(owner, '.');
    last = last ? last + 1 : owner;
    if (strncasecmp(last, "rpz-", 4) == 0)
        return set_reason(p, LISTPARSE_UNSUPPORTED, "RPZ %.20s trigger not supported", last);
    if (strcasecmp(type, "CNAME") == 0) {
        if (ti + 1 >= ntok)
            return set_reason(p, LISTPARSE_BAD, "CNAME without a target");
        const char *t = tok[ti + 1];
        if (strcasecmp(t, "rpz-passthru.") == 0 || strcasecmp(t, "rpz-passthru") == 0)
            return set_reason(p, LISTPARSE_UNSUPPORTED, "RPZ passthru (exception) not supported");
        if (strncasecmp(t, "rpz-tcp-only", 12) == 0)
            return set_reason(p, LISTPARSE_UNSUPPORTED, "RPZ tcp-only action not supported");
    }
    return emit(p, owner, olen, cb, arg, false);
}

static int detect_mismatch(struct listparse *p, enum lp_detected d)
{
    static const char *const names[] = {"domains", "hosts", "adblock", "rpz"};
    bool ok;
    switch (p->format) {
    case LISTPARSE_DOMAINS:
        ok = d == LP_DOMAINS;
        break;
    case LISTPARSE_HOSTS:
        ok = d == LP_HOSTS;
        break;
    case LISTPARSE_ADBLOCK: /* AdGuard DNS syntax also takes hosts lines and bare names */
        ok = d == LP_ADBLOCK || d == LP_HOSTS || d == LP_DOMAINS;
        break;
    case LISTPARSE_RPZ:
        ok = d == LP_RPZ;
        break;
    default:
        ok = true;
    }
    if (ok)
        return 0;
    return set_reason(p, LISTPARSE_BAD, "%s line in a %s list", names[d],
                      listparse_format_name(p->format));
}

int listparse_line(struct listparse *p, const char *line, size_t len, listparse_name_cb cb,
                   void *arg)
{
    char buf[LISTPARSE_LINE_MAX + 1];
    char *tok[LP_MAX_TOKENS];
    int ntok = 0;

    p->line++;
    p->reason[0] = '\0';
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; /* UTF-8 BOM, written by Windows editors */
        len -= 3;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
        len--;
    if (len > LISTPARSE_LINE_MAX)
        return set_reason(p, LISTPARSE_BAD, "line longer than %d bytes", LISTPARSE_LINE_MAX);
    if (memchr(line, '\0', len))
        return set_reason(p, LISTPARSE_BAD, "NUL byte in line");
    memcpy(buf, line, len);
    buf[len] = '\0';

    bool indented = len > 0 && (buf[0] == ' ' || buf[0] == '\t');
    char *s = buf + strspn(buf, " \t");
    if (*s == '\0')
        return LISTPARSE_EMPTY;
    if (p->in_parens) {
        /* Rest of a multi-line record (in practice the RPZ SOA). */
        char *semi = strchr(s, ';');
        if (semi)
            *semi = '\0';
        if (strchr(s, ')'))
            p->in_parens = false;
        return LISTPARSE_EMPTY;
    }
    if (*s == '#' || *s == '!' || *s == ';')
        return LISTPARSE_EMPTY;
    if (*s == '[' && s[strlen(s) - 1] == ']') /* "[Adblock Plus 2.0]" header */
        return detect_mismatch(p, LP_ADBLOCK) ? LISTPARSE_BAD : LISTPARSE_EMPTY;
    if (s[0] == '@' && s[1] == '@') {
        if (detect_mismatch(p, LP_ADBLOCK))
            return LISTPARSE_BAD;
        return set_reason(p, LISTPARSE_UNSUPPORTED, "adblock exception (@@) not supported");
    }
    if (strstr(s, "##") || strstr(s, "#@#") || strstr(s, "#?#") || strstr(s, "#$#")) {
        if (detect_mismatch(p, LP_ADBLOCK))
            return LISTPARSE_BAD;
        return set_reason(p, LISTPARSE_UNSUPPORTED, "adblock cosmetic rule not supported");
    }
    if (s[0] == '|') {
        if (detect_mismatch(p, LP_ADBLOCK))
            return LISTPARSE_BAD;
        return parse_adblock(p, s, cb, arg);
    }

    /* Tokens; a token starting with '#' (hosts, domains) or ';' (zone
     * files) starts a trailing comment. */
    for (char *save = NULL, *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (t[0] == '#' || t[0] == ';')
            break;
        if (ntok == LP_MAX_TOKENS)
            return set_reason(p, LISTPARSE_BAD, "more than %d fields", LP_MAX_TOKENS);
        tok[ntok++] = t;
    }
    if (ntok == 0)
        return LISTPARSE_EMPTY;
    if (tok[0][0] == '$') {
        if (detect_mismatch(p, LP_RPZ))
            return LISTPARSE_BAD;
        return parse_rpz_directive(p, tok, ntok);
    }
    if (indented) {
        int ti = rpz_type_index(tok, ntok, 0);
        if (ti >= 0) {
            if (detect_mismatch(p, LP_RPZ))
                return LISTPARSE_BAD;
            return parse_rpz(p, tok, ntok, ti, false, cb, arg);
        }
    }
    if (ntok == 1) {
        if (is_address(tok[0]))
            return set_reason(p, LISTPARSE_SKIPPED_IP, "address %.60s is not a name", tok[0]);
        if (detect_mismatch(p, LP_DOMAINS))
            return LISTPARSE_BAD;
        return emit(p, tok[0], strlen(tok[0]), cb, arg, false);
    }
    if (is_address(tok[0])) {
        if (detect_mismatch(p, LP_HOSTS))
            return LISTPARSE_BAD;
        int kind = LISTPARSE_EMPTY;
        char first_bad[LISTPARSE_REASON_MAX] = "";
        for (int i = 1; i < ntok; i++) {
            if (is_hosts_local(tok[i]))
                continue;
            int rc = emit(p, tok[i], strlen(tok[i]), cb, arg, false);
            if (rc < 0)
                return rc;
            if (rc == LISTPARSE_BAD && first_bad[0] == '\0')
                memcpy(first_bad, p->reason, sizeof first_bad);
            if (rc == LISTPARSE_NAMES && kind == LISTPARSE_EMPTY)
                kind = LISTPARSE_NAMES;
        }
        /* A line with one bad name among good ones still reports the bad
         * one: the good names were already passed on. */
        if (first_bad[0]) {
            memcpy(p->reason, first_bad, sizeof first_bad);
            return LISTPARSE_BAD;
        }
        return kind;
    }
    int ti = rpz_type_index(tok, ntok, 1);
    if (ti >= 0) {
        if (detect_mismatch(p, LP_RPZ))
            return LISTPARSE_BAD;
        return parse_rpz(p, tok, ntok, ti, true, cb, arg);
    }
    return set_reason(p, LISTPARSE_BAD, "unexpected text after name: %.60s", tok[1]);
}
