/*
 * wire.h - the DNS wire format on the client side, by hand.
 *
 * Every client packet goes through wire_parse_query() before anything else
 * looks at it, and every answer goes out through wire_finish_answer() or
 * wire_reply_error().  They are written by hand, not with ldns, because they
 * are on the cache-hit path: no allocation, no objects, bounds checked before
 * every byte read (RFC 1035 section 4.1, RFC 6891 for EDNS(0), RFC 8914 for
 * Extended DNS Errors).
 *
 * Upstream packets are not parsed here: the iterator uses ldns for those.
 */
#ifndef GATEHOUSE_WIRE_H
#define GATEHOUSE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HEADER_LEN 12
#define WIRE_MAX_NAME 255
#define WIRE_MAX_UDP 65535

/* Header flag bits in the 16-bit flags word. */
#define WIRE_QR 0x8000
#define WIRE_AA 0x0400
#define WIRE_TC 0x0200
#define WIRE_RD 0x0100
#define WIRE_RA 0x0080
#define WIRE_AD 0x0020
#define WIRE_CD 0x0010
#define WIRE_OPCODE(f) (((f) >> 11) & 0xf)
#define WIRE_RCODE(f) ((f)&0xf)

enum wire_rcode {
    WIRE_NOERROR = 0,
    WIRE_FORMERR = 1,
    WIRE_SERVFAIL = 2,
    WIRE_NXDOMAIN = 3,
    WIRE_NOTIMP = 4,
    WIRE_REFUSED = 5,
    WIRE_BADVERS = 16, /* extended: upper 8 bits go into the OPT TTL */
};

enum wire_type {
    WIRE_TYPE_A = 1,
    WIRE_TYPE_NS = 2,
    WIRE_TYPE_CNAME = 5,
    WIRE_TYPE_SOA = 6,
    WIRE_TYPE_HINFO = 13,
    WIRE_TYPE_AAAA = 28,
    WIRE_TYPE_OPT = 41,
    WIRE_TYPE_IXFR = 251,
    WIRE_TYPE_AXFR = 252,
    WIRE_TYPE_MAILB = 253,
    WIRE_TYPE_MAILA = 254,
    WIRE_TYPE_ANY = 255,
};
#define WIRE_CLASS_IN 1

/* EDNS option codes and Extended DNS Error info codes (RFC 8914 section 4). */
#define WIRE_OPT_EDE 15
#define WIRE_EDE_NONE 0xffff
#define WIRE_EDE_OTHER 0
#define WIRE_EDE_STALE_ANSWER 3
#define WIRE_EDE_PROHIBITED 18
#define WIRE_EDE_BLOCKED 15
#define WIRE_EDE_FILTERED 17
#define WIRE_EDE_NOT_READY 14
#define WIRE_EDE_NO_REACHABLE_AUTHORITY 22
#define WIRE_EDE_NETWORK_ERROR 23

/* What wire_parse_query makes of a packet. */
enum wire_verdict {
    WIRE_OK = 0,      /* a well-formed standard query */
    WIRE_DROP,        /* not worth an answer: shorter than a header, or QR set */
    WIRE_BAD_FORMAT,  /* answer FORMERR */
    WIRE_BAD_OPCODE,  /* answer NOTIMP */
    WIRE_BAD_VERSION, /* EDNS version > 0: answer BADVERS (RFC 6891 section 6.1.3) */
};

/* A parsed client query.  Pointers point into the packet, which must outlive
 * the struct.  qname_lc is the lower-cased copy used as the cache key. */
struct wire_query {
    const uint8_t *pkt;
    size_t len;
    uint16_t id;
    uint16_t flags;
    size_t qname_len; /* wire length, root label included; 0 if unparsed */
    uint16_t qtype;
    uint16_t qclass;
    size_t question_end; /* offset just after the question; 0 if unparsed */
    bool edns;           /* an OPT record was present */
    uint16_t edns_udp_size;
    uint8_t edns_version;
    bool edns_do;
    uint8_t qname_lc[WIRE_MAX_NAME];
};

/* Parses and checks a client query.  Always fills q as far as it got, so an
 * error answer can echo the ID and, where parsed, the question. */
enum wire_verdict wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q);

/* The most a UDP answer to q may hold: the client's EDNS size (at least 512)
 * capped by ours, or 512 without EDNS (RFC 6891 section 6.2.3-5). */
size_t wire_udp_limit(const struct wire_query *q, uint16_t our_edns_size);

/* An answer to q with no records and the given rcode, EDNS mirrored when the
 * query had it, with an Extended DNS Error unless ede_code is WIRE_EDE_NONE.
 * Returns the length written to out, or 0 if cap is too small (never for
 * cap >= 512 and a short ede_text). */
size_t wire_reply_error(const struct wire_query *q, unsigned rcode, uint16_t ede_code,
                        const char *ede_text, uint16_t our_edns_size, uint8_t *out, size_t cap);

/* Turns a stored answer (the cache.h message form: ID 0, lower-case question)
 * in buf[0..len) into the answer to q, in place: ID, RD and CD from the query,
 * the client's spelling of the name (RFC 4343, and 0x20 probing clients),
 * an OPT record when the query had EDNS (with an EDE unless WIRE_EDE_NONE).
 * If the result would exceed limit, the answer is cut to the header and
 * question with TC set (RFC 2181 section 9).  buf must hold cap bytes.
 * Returns the new length, or 0 if the stored answer does not fit the
 * question (which cannot happen for a matching cache entry). */
size_t wire_finish_answer(const struct wire_query *q, uint8_t *buf, size_t len, size_t cap,
                          size_t limit, uint16_t our_edns_size, uint16_t ede_code,
                          const char *ede_text);

/* Writes the RFC 8482 section 4.2 answer to an ANY query: a synthesized
 * HINFO "RFC8482" "" for the name, in the stored-answer form, so that it can
 * go through wire_finish_answer.  Returns the length or 0. */
size_t wire_any_answer(const struct wire_query *q, uint8_t *out, size_t cap);

/* Lower-case a wire-format name in place (ASCII only, as RFC 4343 says). */
void wire_name_lower(uint8_t *name, size_t len);

/* Length of the uncompressed wire name at pkt[off], checking label and name
 * bounds; 0 if it is malformed, compressed or runs past len. */
size_t wire_name_len(const uint8_t *pkt, size_t len, size_t off);

/* Formats a wire name as text with a trailing dot into out (at least 1024
 * bytes for any name with escapes).  Returns out. */
char *wire_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap);

static inline uint16_t wire_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint32_t wire_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
