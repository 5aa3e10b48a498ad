/*
 * synth.c - block answers, safe-search rewrites and CNAME chain walking.
 * See synth.h.
 *
 * Block answers are built by hand: they are small and fixed in shape.  The
 * rewrite copies records out of another stored answer, whose names may be
 * compressed against that message, so it decompresses every name it copies
 * (owner names, and the names inside CNAME/DNAME/NS/PTR/MX/SOA data), and
 * writes them uncompressed.
 */
#include <errno.h>
#include <string.h>

#include "synth.h"

#define TYPE_CNAME 5
#define TYPE_DNAME 39
#define TYPE_NS 2
#define TYPE_PTR 12
#define TYPE_MX 15
#define TYPE_SOA 6

/* Writes the stored-form header and question for q; returns the offset
 * after the question, or 0. */
static size_t put_question(const struct wire_query *q, unsigned rcode, uint8_t *out, size_t cap)
{
    size_t end = WIRE_HEADER_LEN + q->qname_len + 4;

    if (q->qname_len == 0 || end > cap)
        return 0;
    memset(out, 0, WIRE_HEADER_LEN);
    wire_put16(out + 2, (uint16_t)(WIRE_QR | WIRE_RA | (rcode & 0xf)));
    wire_put16(out + 4, 1);
    memcpy(out + WIRE_HEADER_LEN, q->qname_lc, q->qname_len);
    wire_put16(out + WIRE_HEADER_LEN + q->qname_len, q->qtype);
    wire_put16(out + WIRE_HEADER_LEN + q->qname_len + 2, q->qclass);
    return end;
}

/* Appends "<question name> TYPE IN TTL rdata" with the owner as a pointer to
 * the question. */
static size_t put_rr_at_qname(uint8_t *out, size_t off, size_t cap, uint16_t type, uint32_t ttl,
                              const uint8_t *rdata, size_t rdlen)
{
    if (off + 12 + rdlen > cap)
        return 0;
    wire_put16(out + off, 0xc000 | WIRE_HEADER_LEN);
    wire_put16(out + off + 2, type);
    wire_put16(out + off + 4, WIRE_CLASS_IN);
    wire_put32(out + off + 6, ttl);
    wire_put16(out + off + 10, (uint16_t)rdlen);
    memcpy(out + off + 12, rdata, rdlen);
    return off + 12 + rdlen;
}

/* The authority SOA of a made-up negative answer.  RFC 2308 section 5: a
 * resolver caches NXDOMAIN and NODATA for min(SOA TTL, SOA MINIMUM), and
 * without an SOA it should not cache them at all, so the policy's TTL
 * reaches clients only through this record.  The owner is the question's
 * name (a pointer to it); the zone is nobody's, so the names say so. */
static size_t put_negative_soa(uint8_t *out, size_t off, size_t cap, uint32_t ttl)
{
    static const uint8_t names[] = "\11gatehouse\7invalid\0\12hostmaster\7invalid";
    uint8_t rdata[sizeof names + 20];

    memcpy(rdata, names, sizeof names);           /* MNAME, RNAME (the NUL closes RNAME) */
    wire_put32(rdata + sizeof names, 1);          /* SERIAL */
    wire_put32(rdata + sizeof names + 4, 3600);   /* REFRESH */
    wire_put32(rdata + sizeof names + 8, 600);    /* RETRY */
    wire_put32(rdata + sizeof names + 12, 86400); /* EXPIRE */
    wire_put32(rdata + sizeof names + 16, ttl);   /* MINIMUM: the negative TTL */
    return put_rr_at_qname(out, off, cap, TYPE_SOA, ttl, rdata, sizeof rdata);
}

size_t synth_block(const struct wire_query *q, const struct config_action *action, uint32_t ttl,
                   uint8_t *out, size_t cap)
{
    static const uint8_t zero[16];
    unsigned rcode = action->kind == CONFIG_ACTION_NXDOMAIN ? WIRE_NXDOMAIN : WIRE_NOERROR;
    size_t off = put_question(q, rcode, out, cap);
    const uint8_t *addr = NULL;
    size_t alen = 0;

    if (off == 0)
        return 0;
    if (action->kind == CONFIG_ACTION_NULL) {
        alen = q->qtype == WIRE_TYPE_A ? 4 : q->qtype == WIRE_TYPE_AAAA ? 16 : 0;
        addr = zero;
    } else if (action->kind == CONFIG_ACTION_ADDRESS) {
        if (q->qtype == WIRE_TYPE_A && action->have_a4) {
            addr = action->a4;
            alen = 4;
        } else if (q->qtype == WIRE_TYPE_AAAA && action->have_a6) {
            addr = action->a6;
            alen = 16;
        }
    }
    if (alen) {
        off = put_rr_at_qname(out, off, cap, q->qtype, ttl, addr, alen);
        if (off == 0)
            return 0;
        wire_put16(out + 6, 1);
    } else {
        off = put_negative_soa(out, off, cap, ttl);
        if (off == 0)
            return 0;
        wire_put16(out + 8, 1);
    }
    return off;
}

/* Reads a possibly compressed name at msg[off] into out (uncompressed, lower
 * case).  Returns the offset just after the name in place, or 0.  Pointers
 * must point backwards, which bounds the walk. */
static size_t read_name(const uint8_t *msg, size_t len, size_t off, uint8_t *out, size_t *out_len)
{
    size_t o = 0, after = 0, pos = off;

    for (unsigned hops = 0; hops < 128; hops++) {
        if (pos >= len)
            return 0;
        uint8_t c = msg[pos];
        if ((c & 0xc0) == 0xc0) {
            if (pos + 2 > len)
                return 0;
            size_t target = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
            if (target >= pos)
                return 0;
            if (!after)
                after = pos + 2;
            pos = target;
            continue;
        }
        if (c & 0xc0)
            return 0;
        if (pos + 1 + c > len || o + 1 + c > WIRE_MAX_NAME)
            return 0;
        memcpy(out + o, msg + pos, (size_t)c + 1);
        o += (size_t)c + 1;
        pos += (size_t)c + 1;
        if (c == 0) {
            wire_name_lower(out, o);
            *out_len = o;
            return after ? after : pos;
        }
    }
    return 0;
}

/* Skips the question section; returns the offset of the answer section. */
static size_t skip_question(const uint8_t *msg, size_t len)
{
    uint8_t name[WIRE_MAX_NAME];
    size_t nlen, off = WIRE_HEADER_LEN;

    for (unsigned i = wire_get16(msg + 4); i > 0; i--) {
        off = read_name(msg, len, off, name, &nlen);
        if (off == 0 || off + 4 > len)
            return 0;
        off += 4;
    }
    return off;
}

int synth_cname_targets(const uint8_t *msg, size_t len, synth_name_fn fn, void *arg)
{
    uint8_t name[WIRE_MAX_NAME];
    size_t nlen;

    if (len < WIRE_HEADER_LEN)
        return -EINVAL;
    size_t off = skip_question(msg, len);
    if (off == 0)
        return -EINVAL;
    for (unsigned i = wire_get16(msg + 6); i > 0; i--) {
        off = read_name(msg, len, off, name, &nlen);
        if (off == 0 || off + 10 > len)
            return -EINVAL;
        uint16_t type = wire_get16(msg + off);
        size_t rdlen = wire_get16(msg + off + 8);
        size_t rdata = off + 10;
        if (rdata + rdlen > len)
            return -EINVAL;
        if (type == TYPE_CNAME) {
            if (read_name(msg, rdata + rdlen, rdata, name, &nlen) == 0)
                return -EINVAL;
            int rc = fn(arg, name, nlen);
            if (rc)
                return rc;
        }
        off = rdata + rdlen;
    }
    return 0;
}

/* Copies one record from src at *off into out at o with every name written
 * out uncompressed.  Returns the new o, or 0. */
static size_t copy_rr(const uint8_t *src, size_t slen, size_t *off, uint8_t *out, size_t o,
                      size_t cap)
{
    uint8_t name[WIRE_MAX_NAME];
    size_t nlen, p = read_name(src, slen, *off, name, &nlen);

    if (p == 0 || p + 10 > slen || o + nlen + 10 > cap)
        return 0;
    memcpy(out + o, name, nlen);
    o += nlen;
    uint16_t type = wire_get16(src + p);
    size_t rdlen = wire_get16(src + p + 8);
    size_t rdata = p + 10, rend = rdata + rdlen;
    if (rend > slen)
        return 0;
    memcpy(out + o, src + p, 8); /* type, class, TTL */
    size_t rdlen_at = o + 8;
    o += 10;
    size_t start = o;

    /* Names in these types' data may be compressed (RFC 3597 section 4). */
    size_t r = rdata;
    if (type == TYPE_MX) {
        if (r + 2 > rend || o + 2 > cap)
            return 0;
        memcpy(out + o, src + r, 2);
        o += 2;
        r += 2;
    }
    int names = type == TYPE_CNAME || type == TYPE_DNAME || type == TYPE_NS || type == TYPE_PTR ||
                        type == TYPE_MX
                    ? 1
                : type == TYPE_SOA ? 2
                                   : 0;
    for (int k = 0; k < names; k++) {
        r = read_name(src, rend, r, name, &nlen);
        if (r == 0 || o + nlen > cap)
            return 0;
        memcpy(out + o, name, nlen);
        o += nlen;
    }
    if (r > rend || o + (rend - r) > cap)
        return 0;
    memcpy(out + o, src + r, rend - r);
    o += rend - r;
    wire_put16(out + rdlen_at, (uint16_t)(o - start));
    *off = rend;
    return o;
}

size_t synth_rewrite(const struct wire_query *q, const uint8_t *target, size_t target_len,
                     uint32_t ttl, const uint8_t *target_msg, size_t target_msg_len, uint8_t *out,
                     size_t cap)
{
    unsigned rcode = target_msg && target_msg_len >= WIRE_HEADER_LEN
                         ? WIRE_RCODE(wire_get16(target_msg + 2))
                         : WIRE_NOERROR;
    size_t off = put_question(q, rcode, out, cap);

    if (off == 0)
        return 0;
    off = put_rr_at_qname(out, off, cap, TYPE_CNAME, ttl, target, target_len);
    if (off == 0)
        return 0;
    unsigned count = 1;
    if (target_msg && target_msg_len >= WIRE_HEADER_LEN) {
        size_t src = skip_question(target_msg, target_msg_len);
        if (src == 0)
            return 0;
        for (unsigned i = wire_get16(target_msg + 6); i > 0; i--) {
            off = copy_rr(target_msg, target_msg_len, &src, out, off, cap);
            if (off == 0)
                return 0;
            count++;
        }
    }
    wire_put16(out + 6, (uint16_t)count);
    return off;
}

unsigned synth_answer_addresses(const uint8_t *msg, size_t len, uint8_t (*addrs)[16], uint8_t *lens,
                                unsigned max)
{
    uint8_t name[WIRE_MAX_NAME];
    size_t nlen;
    unsigned found = 0;

    if (len < WIRE_HEADER_LEN)
        return 0;
    size_t off = skip_question(msg, len);
    for (unsigned i = wire_get16(msg + 6); off && i > 0 && found < max; i--) {
        off = read_name(msg, len, off, name, &nlen);
        if (off == 0 || off + 10 > len)
            break;
        uint16_t type = wire_get16(msg + off);
        size_t rdlen = wire_get16(msg + off + 8);
        size_t rdata = off + 10;
        if (rdata + rdlen > len)
            break;
        if ((type == WIRE_TYPE_A && rdlen == 4) || (type == WIRE_TYPE_AAAA && rdlen == 16)) {
            memset(addrs[found], 0, 16);
            memcpy(addrs[found], msg + rdata, rdlen);
            lens[found++] = (uint8_t)rdlen;
        }
        off = rdata + rdlen;
    }
    return found;
}
