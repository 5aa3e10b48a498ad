/*
 * listparse.h - parse blocklist files one line at a time.
 *
 * What it does: turns one line of a public blocklist into zero or more domain
 * names, or into a classified reason why the line gives none.  One line at a
 * time, so a file of any size streams through a fixed buffer; the only state
 * kept between lines is the RPZ $ORIGIN, the owner of the last RPZ record and
 * whether we are inside a parenthesised (multi-line) RPZ record.
 *
 * Formats (auto-detected per line, or declared per source):
 *   domains  "example.com", "*.example.com": the name and its whole subtree
 *            (squidGuard semantics; UT1, hagezi "onlydomains").
 *   hosts    "0.0.0.0 a.example b.example", "127.0.0.1 name"; localhost-style
 *            names are ignored; any address is accepted as the sink.
 *   adblock  "||example.com^" with harmless $options; "@@||x^" exceptions,
 *            URL rules and cosmetic rules are counted as unsupported.
 *   rpz      "name CNAME .", "*.name CNAME ." (RFC draft-vixie-dnsop-dns-rpz
 *            section 5.1, QNAME trigger); $ORIGIN/$TTL honoured; the zone's
 *            own SOA and NS are skipped; rpz-passthru and non-QNAME triggers
 *            (rpz-ip, rpz-nsdname, ...) are unsupported.
 * Common: '#', '!' and ';' comments, blank lines, CRLF, a UTF-8 BOM, IDNs
 * (converted to punycode with libidn2, UTS #46 non-transitional), a trailing
 * dot, upper case folded.
 *
 * What it does not do: read files (the caller does, with getline) or decide
 * what a name means; a wildcard "*.x" and a plain "x" both mean "x and its
 * subtree" to the compiler (the flag is reported for completeness).
 *
 * Names come out as lower-case presentation text without the trailing dot
 * ("www.example.com"), at most LISTPARSE_NAME_MAX characters, labels of
 * [a-z0-9_-] only, 1..63 characters each.
 */
#ifndef GATEHOUSE_LISTPARSE_H
#define GATEHOUSE_LISTPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LISTPARSE_NAME_MAX 253  /* text characters, RFC 1035 section 2.3.4 less the root dot */
#define LISTPARSE_LABEL_MAX 63  /* RFC 1035 section 2.3.4 */
#define LISTPARSE_LINE_MAX 4096 /* longer lines are bad lines, not truncated names */
#define LISTPARSE_REASON_MAX 160

enum listparse_format {
    LISTPARSE_AUTO = 0,
    LISTPARSE_DOMAINS,
    LISTPARSE_HOSTS,
    LISTPARSE_ADBLOCK,
    LISTPARSE_RPZ,
};

/* What a line amounted to. */
enum listparse_kind {
    LISTPARSE_EMPTY = 0,   /* blank, comment, directive, RPZ SOA/NS: nothing to count */
    LISTPARSE_NAMES,       /* one or more names were passed to the callback */
    LISTPARSE_SKIPPED_IP,  /* a bare IP address or CIDR (UT1 has these): not a name */
    LISTPARSE_UNSUPPORTED, /* valid syntax we do not implement (exceptions, URL rules) */
    LISTPARSE_BAD,         /* malformed; reason says why */
};

struct listparse_name {
    const char *name; /* borrowed: valid only during the callback */
    size_t len;
    bool wildcard; /* written as "*.name" / "*.name CNAME ." */
};

/* Called once per name on a line (a hosts line may carry several).  Return 0
 * to go on, or a negative errno to stop parsing; listparse_line returns it. */
typedef int (*listparse_name_cb)(const struct listparse_name *n, void *arg);

/* Parser state for one source.  Initialise with listparse_init; no
 * allocation, nothing to free. */
struct listparse {
    enum listparse_format format;      /* declared; AUTO detects per line */
    unsigned long line;                /* 1-based number of the line just parsed */
    char reason[LISTPARSE_REASON_MAX]; /* why the last line was BAD/UNSUPPORTED/SKIPPED */
    /* RPZ state */
    char origin[LISTPARSE_NAME_MAX + 1]; /* "" until $ORIGIN; lower case, no trailing dot */
    char owner[LISTPARSE_NAME_MAX + 3];  /* last owner as written, for blank-owner lines */
    bool in_parens;                      /* inside "( ... )" of a multi-line record */
};

void listparse_init(struct listparse *p, enum listparse_format format);

/* Parse one line (with or without its "\n"/"\r\n"; NUL bytes are not
 * special: len counts).  Increments p->line first, so reasons can be
 * reported as "FILE:<p->line>: <p->reason>".  Returns a listparse_kind (>= 0)
 * or the negative errno a callback returned (or -ENOMEM from libidn2). */
int listparse_line(struct listparse *p, const char *line, size_t len, listparse_name_cb cb,
                   void *arg);

/* Normalise and validate one name as found in a list (any case, optional
 * "*." and trailing dot, UTF-8 IDN allowed).  Writes the lower-case ASCII
 * form to out (LISTPARSE_NAME_MAX + 1 bytes, NUL-terminated) and returns its
 * length, or -EINVAL with a reason in reason[LISTPARSE_REASON_MAX]. */
int listparse_name(const char *in, size_t len, char *out, bool *wildcard, char *reason);

/* "domains", "hosts", "adblock", "rpz", "auto"; and back (-EINVAL if unknown). */
const char *listparse_format_name(enum listparse_format f);
int listparse_format_parse(const char *s, enum listparse_format *out);

#endif
