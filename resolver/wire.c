/*
 * wire.c - client-side DNS wire format by hand: parse a query, finish a cached
 * answer for one client, build error answers.  See wire.h.
 *
 * Nothing here allocates.  Every read is preceded by a bounds check against
 * the packet length; every write by one against the buffer's capacity.
 */
#include <string.h>

#include "wire.h"

/* Skips a possibly compressed name in an additional-section record owner.
 * Returns the offset after it, or 0 if it is malformed.  Pointers must point
 * backwards (RFC 1035 section 4.1.4), which also bounds the loop. */
static size_t skip_name(const uint8_t *pkt, size_t len, size_t off)
{
    size_t total = 0;

    for (unsigned labels = 0; labels < 128; labels++) {
        if (off >= len)
            return 0;
        uint8_t c = pkt[off];
        if ((c & 0xc0) == 0xc0) {
            if (off + 2 > len)
                return 0;
            return off + 2; /* where it points is not our concern here */
        }
        if (c & 0xc0)
            return 0; /* extended label types (RFC 6891 section 5) are obsolete */
        total += (size_t)c + 1;
        if (total > WIRE_MAX_NAME)
            return 0;
        off += (size_t)c + 1;
        if (c == 0)
            return off;
    }
    return 0;
}

size_t wire_name_len(const uint8_t *pkt, size_t len, size_t off)
{
    size_t start = off;

    while (off < len) {
        uint8_t c = pkt[off];
        if (c & 0xc0)
            return 0;
        off += (size_t)c + 1;
        if (off - start > WIRE_MAX_NAME)
            return 0;
        if (c == 0)
            return off <= len ? off - start : 0;
    }
    return 0;
}

void wire_name_lower(uint8_t *name, size_t len)
{
    /* Label length bytes are at most 63, below 'A', so lower-casing the whole
     * buffer leaves them alone. */
    for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] |= 0x20;
}

/* Reads an OPT record's fields (RFC 6891 section 6.1.2-6.1.3).  rdata is
 * rdlen bytes long; its options must tile it exactly. */
static bool parse_opt(struct wire_query *q, uint16_t rclass, uint32_t ttl, const uint8_t *rdata,
                      size_t rdlen)
{
    size_t off = 0;

    while (off < rdlen) {
        if (off + 4 > rdlen)
            return false;
        size_t optlen = wire_get16(rdata + off + 2);
        off += 4 + optlen;
        if (off > rdlen)
            return false;
    }
    q->edns = true;
    q->edns_udp_size = rclass;
    q->edns_version = (uint8_t)(ttl >> 16);
    q->edns_do = (ttl & 0x8000) != 0;
    return true;
}

/* Walks the additional section: at most one OPT, owned by the root.  Other
 * records (e.g. TSIG, which we do not support) are skipped. */
static enum wire_verdict parse_additional(struct wire_query *q, size_t off, unsigned count)
{
    const uint8_t *pkt = q->pkt;
    size_t len = q->len;

    for (unsigned i = 0; i < count; i++) {
        size_t owner = off;
        off = skip_name(pkt, len, off);
        if (off == 0 || off + 10 > len)
            return WIRE_BAD_FORMAT;
        uint16_t type = wire_get16(pkt + off);
        uint16_t rclass = wire_get16(pkt + off + 2);
        uint32_t ttl = wire_get32(pkt + off + 4);
        size_t rdlen = wire_get16(pkt + off + 8);
        off += 10;
        if (off + rdlen > len)
            return WIRE_BAD_FORMAT;
        if (type == WIRE_TYPE_OPT) {
            /* RFC 6891 section 6.1.1: one OPT, owner the root. */
            if (q->edns || pkt[owner] != 0 || off - owner != 11)
                return WIRE_BAD_FORMAT;
            if (!parse_opt(q, rclass, ttl, pkt + off, rdlen))
                return WIRE_BAD_FORMAT;
        }
        off += rdlen;
    }
    return WIRE_OK;
}

enum wire_verdict wire_parse_query(const uint8_t *pkt, size_t len, struct wire_query *q)
{
    q->pkt = pkt;
    q->len = len;
    q->id = 0;
    q->flags = 0;
    q->qname_len = 0;
    q->qtype = q->qclass = 0;
    q->question_end = 0;
    q->edns = false;
    q->edns_udp_size = 0;
    q->edns_version = 0;
    q->edns_do = false;

    if (len < WIRE_HEADER_LEN)
        return WIRE_DROP;
    q->id = wire_get16(pkt);
    q->flags = wire_get16(pkt + 2);
    if (q->flags & WIRE_QR)
        return WIRE_DROP; /* never answer an answer: that is how loops start */

    unsigned qdcount = wire_get16(pkt + 4);
    unsigned ancount = wire_get16(pkt + 6);
    unsigned nscount = wire_get16(pkt + 8);
    unsigned arcount = wire_get16(pkt + 10);

    if (qdcount != 1)
        return WIRE_OPCODE(q->flags) != 0 ? WIRE_BAD_OPCODE : WIRE_BAD_FORMAT;

    size_t nlen = wire_name_len(pkt, len, WIRE_HEADER_LEN);
    if (nlen == 0 || WIRE_HEADER_LEN + nlen + 4 > len)
        return WIRE_OPCODE(q->flags) != 0 ? WIRE_BAD_OPCODE : WIRE_BAD_FORMAT;
    memcpy(q->qname_lc, pkt + WIRE_HEADER_LEN, nlen);
    wire_name_lower(q->qname_lc, nlen);
    q->qname_len = nlen;
    q->qtype = wire_get16(pkt + WIRE_HEADER_LEN + nlen);
    q->qclass = wire_get16(pkt + WIRE_HEADER_LEN + nlen + 2);
    q->question_end = WIRE_HEADER_LEN + nlen + 4;

    if (WIRE_OPCODE(q->flags) != 0)
        return WIRE_BAD_OPCODE;
    if (ancount != 0 || nscount != 0)
        return WIRE_BAD_FORMAT;
    enum wire_verdict v = parse_additional(q, q->question_end, arcount);
    if (v != WIRE_OK)
        return v;
    if (q->edns && q->edns_version > 0)
        return WIRE_BAD_VERSION;
    return WIRE_OK;
}

size_t wire_udp_limit(const struct wire_query *q, uint16_t our_edns_size)
{
    if (!q->edns)
        return 512;
    size_t theirs = q->edns_udp_size < 512 ? 512 : q->edns_udp_size;
    return theirs < our_edns_size ? theirs : our_edns_size;
}

/* Length of the OPT record put_opt would write. */
static size_t opt_len(uint16_t ede_code, const char *ede_text)
{
    size_t n = 11;
    if (ede_code != WIRE_EDE_NONE)
        n += 4 + 2 + (ede_text ? strlen(ede_text) : 0);
    return n;
}

/* Writes an OPT record at out[off]; returns the new offset, or 0 if it does
 * not fit in cap.  ext_rcode is the upper 8 bits of a 12-bit rcode. */
static size_t put_opt(uint8_t *out, size_t off, size_t cap, uint16_t udp_size, uint8_t ext_rcode,
                      bool do_bit, uint16_t ede_code, const char *ede_text)
{
    size_t textlen = ede_text ? strlen(ede_text) : 0;
    size_t rdlen = ede_code != WIRE_EDE_NONE ? 4 + 2 + textlen : 0;

    if (rdlen > 0xffff || off + 11 + rdlen > cap)
        return 0;
    out[off] = 0; /* the root */
    wire_put16(out + off + 1, WIRE_TYPE_OPT);
    wire_put16(out + off + 3, udp_size);
    wire_put32(out + off + 5, ((uint32_t)ext_rcode << 24) | (do_bit ? 0x8000u : 0));
    wire_put16(out + off + 9, (uint16_t)rdlen);
    off += 11;
    if (rdlen) {
        wire_put16(out + off, WIRE_OPT_EDE);
        wire_put16(out + off + 2, (uint16_t)(2 + textlen));
        wire_put16(out + off + 4, ede_code);
        memcpy(out + off + 6, ede_text ? ede_text : "", textlen);
        off += rdlen;
    }
    return off;
}

/* Answer flags for q: QR, RA, the query's opcode, RD and CD, and rcode. */
static uint16_t answer_flags(const struct wire_query *q, uint16_t keep, unsigned rcode)
{
    return (uint16_t)(WIRE_QR | WIRE_RA | (q->flags & (0x7800 | WIRE_RD | WIRE_CD)) | keep |
                      (rcode & 0xf));
}

size_t wire_reply_error(const struct wire_query *q, unsigned rcode, uint16_t ede_code,
                        const char *ede_text, uint16_t our_edns_size, uint8_t *out, size_t cap)
{
    size_t qlen = q->question_end ? q->question_end - WIRE_HEADER_LEN : 0;
    size_t off = WIRE_HEADER_LEN + qlen;

    if (off > cap)
        return 0;
    wire_put16(out, q->id);
    wire_put16(out + 2, answer_flags(q, 0, rcode));
    wire_put16(out + 4, qlen ? 1 : 0);
    wire_put16(out + 6, 0);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, 0);
    memcpy(out + WIRE_HEADER_LEN, q->pkt + WIRE_HEADER_LEN, qlen);

    /* RFC 6891 section 7: answer with OPT when the query had one; BADVERS
     * needs it to carry the upper rcode bits at all. */
    if (q->edns || rcode > 0xf) {
        size_t end = put_opt(out, off, cap, our_edns_size, (uint8_t)(rcode >> 4), q->edns_do,
                             ede_code, ede_text);
        if (end == 0)
            end = put_opt(out, off, cap, our_edns_size, (uint8_t)(rcode >> 4), q->edns_do,
                          WIRE_EDE_NONE, NULL);
        if (end == 0)
            return 0;
        wire_put16(out + 10, 1);
        off = end;
    }
    return off;
}

size_t wire_finish_answer(const struct wire_query *q, uint8_t *buf, size_t len, size_t cap,
                          size_t limit, uint16_t our_edns_size, uint16_t ede_code,
                          const char *ede_text)
{
    size_t qend = WIRE_HEADER_LEN + q->qname_len + 4;

    if (len < qend || wire_get16(buf + 4) != 1 || q->qname_len == 0)
        return 0;
    uint16_t stored = wire_get16(buf + 2);
    uint16_t keep = stored & WIRE_AA;
    /* RFC 6840 section 5.8: AD only for a client that asked with DO or AD. */
    if ((stored & WIRE_AD) && (q->edns_do || (q->flags & WIRE_AD)))
        keep |= WIRE_AD;
    wire_put16(buf, q->id);
    wire_put16(buf + 2, answer_flags(q, keep, WIRE_RCODE(stored)));
    memcpy(buf + WIRE_HEADER_LEN, q->pkt + WIRE_HEADER_LEN, q->qname_len);

    size_t extra = q->edns ? opt_len(ede_code, ede_text) : 0;
    if (len + extra > limit || len + extra > cap) {
        /* Too big for this client: header and question only, TC set. */
        len = qend;
        wire_put16(buf + 2, wire_get16(buf + 2) | WIRE_TC);
        wire_put16(buf + 6, 0);
        wire_put16(buf + 8, 0);
        wire_put16(buf + 10, 0);
        if (len + extra > limit || len + extra > cap)
            ede_code = WIRE_EDE_NONE; /* drop the text before the OPT itself */
    }
    if (q->edns) {
        size_t end = put_opt(buf, len, cap < limit ? cap : limit, our_edns_size, 0, q->edns_do,
                             ede_code, ede_text);
        if (end == 0)
            return len; /* no room even for a bare OPT: answer without */
        wire_put16(buf + 10, (uint16_t)(wire_get16(buf + 10) + 1));
        len = end;
    }
    return len;
}

size_t wire_any_answer(const struct wire_query *q, uint8_t *out, size_t cap)
{
    static const uint8_t hinfo_rdata[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
    size_t qend = WIRE_HEADER_LEN + q->qname_len + 4;
    size_t len = qend + 2 + 10 + sizeof hinfo_rdata;

    if (q->qname_len == 0 || len > cap)
        return 0;
    memset(out, 0, WIRE_HEADER_LEN);
    wire_put16(out + 2, WIRE_QR | WIRE_RA);
    wire_put16(out + 4, 1);
    wire_put16(out + 6, 1);
    memcpy(out + WIRE_HEADER_LEN, q->qname_lc, q->qname_len);
    wire_put16(out + WIRE_HEADER_LEN + q->qname_len, q->qtype);
    wire_put16(out + WIRE_HEADER_LEN + q->qname_len + 2, q->qclass);

    uint8_t *rr = out + qend;
    wire_put16(rr, 0xc000 | WIRE_HEADER_LEN); /* the question's name */
    wire_put16(rr + 2, WIRE_TYPE_HINFO);
    wire_put16(rr + 4, WIRE_CLASS_IN);
    wire_put32(rr + 6, 3600); /* RFC 8482 section 4.2: the operator's choice */
    wire_put16(rr + 10, sizeof hinfo_rdata);
    memcpy(rr + 12, hinfo_rdata, sizeof hinfo_rdata);
    return len;
}

char *wire_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap)
{
    size_t o = 0, i = 0;

    if (cap == 0)
        return out;
    while (i < len && name[i] != 0) {
        size_t l = name[i++];
        for (size_t k = 0; k < l && i < len; k++, i++) {
            uint8_t c = name[i];
            char esc[5];
            size_t n;
            if (c == '.' || c == '\\') {
                esc[0] = '\\';
                esc[1] = (char)c;
                n = 2;
            } else if (c <= 0x20 || c >= 0x7f) {
                esc[0] = '\\';
                esc[1] = (char)('0' + c / 100);
                esc[2] = (char)('0' + (c / 10) % 10);
                esc[3] = (char)('0' + c % 10);
                n = 4;
            } else {
                esc[0] = (char)c;
                n = 1;
            }
            if (o + n + 2 > cap)
                goto out;
            memcpy(out + o, esc, n);
            o += n;
        }
        if (o + 2 > cap)
            goto out;
        out[o++] = '.';
    }
    if (o == 0 && cap >= 2)
        out[o++] = '.';
out:
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}
