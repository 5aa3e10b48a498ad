/*
 * latency - a small DNS load generator that records the latency of every
 * query, for bench/compare and bench/dnssec.  Plain UDP sockets on
 * 127.0.0.0/8 only.
 *
 * Two modes:
 *   rate mode (-r QPS): sends the file's queries round-robin at a fixed
 *     offered rate for -d seconds (at most -n queries), then waits up to -t
 *     ms for the last answers.  Reports p50/p90/p99/p99.9 of the answered.
 *   concurrency mode (-c N): sends each line once (at most -n), keeping at
 *     most N queries outstanding; a query unanswered after -t ms counts as a
 *     timeout (no retries).  Reports the time until every query was answered
 *     or timed out.  -d is a hard limit on the whole run.
 *
 * A third mode, -E, is a null server for calibration: it binds ADDR@PORT
 * and echoes every query back with QR set for -d seconds (recvmmsg and
 * sendmmsg, nothing else), which is the floor any resolver's latency and
 * CPU cost sits on.
 *
 * Input lines: "NAME TYPE [EXPECTED-IPV4 [ad|noad]]"; with an expected
 * address the answer must hold an A record with it, else it counts as
 * "wrong" ("-" expects no address).  With "ad" the answer must have the AD
 * flag set, with "noad" it must not (any rcode), else it counts as
 * "ad_wrong" (bench/dnssec).  -A sets AD in the queries (RFC 6840 5.7: a
 * validator sets AD in its answer only if the query had AD or DO), -D sets
 * DO in their OPT record (RFC 3225).  SERVFAIL answers are counted by their
 * Extended DNS Error code (RFC 8914; -1: none), with a few examples.
 * Output: one JSON object on stdout.
 *
 * What it does not do: TCP, EDNS options other than DO, retries, or any
 * address outside 127.0.0.0/8 (refused at start).  Every loop is bounded by
 * -n and -d.
 *
 * Build: cc -O2 -o latency latency.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 64
#define BATCH 64
#define QMAX 300

struct query {
    uint8_t wire[QMAX];
    uint16_t len;  /* whole query */
    uint16_t qlen; /* question section (name + type + class) */
    uint8_t want[4];
    int has_want;
    int want_ad; /* 1: AD must be set, 0: must not, -1: not checked */
    char *name;
};

struct slot {
    uint64_t sent_ns;
    uint32_t line;
    uint32_t gen; /* 0 = free */
};

struct fifo_ent {
    uint32_t gen;
    uint16_t sock, id;
    uint64_t sent_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int encode_name(const char *name, uint8_t *out, size_t cap)
{
    size_t o = 0;
    const char *p = name;
    if (strcmp(name, ".") == 0) {
        out[0] = 0;
        return 1;
    }
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n > 63 || o + n + 2 > cap)
            return -1;
        out[o++] = (uint8_t)n;
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            out[o++] = (uint8_t)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        p += n;
        if (*p == '.')
            p++;
    }
    out[o++] = 0;
    return (int)o;
}

static int qtype_num(const char *t)
{
    static const struct {
        const char *n;
        int v;
    } types[] = {{"A", 1},   {"NS", 2},   {"CNAME", 5}, {"SOA", 6},  {"PTR", 12},
                 {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {NULL, 0}};
    for (int i = 0; types[i].n; i++)
        if (strcasecmp(t, types[i].n) == 0)
            return types[i].v;
    return atoi(t);
}

static struct query *load(const char *path, size_t *n_out, size_t max, int set_ad, int set_do)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    struct query *q = calloc(cap, sizeof *q);
    char line[1024];
    while (n < max && fgets(line, sizeof line, f)) {
        char name[512], type[32] = "A", want[64] = "", ad[16] = "";
        int k = sscanf(line, "%511s %31s %63s %15s", name, type, want, ad);
        if (k < 1 || name[0] == '#')
            continue;
        if (n == cap) {
            cap *= 2;
            q = realloc(q, cap * sizeof *q);
            memset(q + n, 0, (cap - n) * sizeof *q);
        }
        struct query *e = &q[n];
        uint8_t *w = e->wire;
        memset(w, 0, 12);
        w[2] = 0x01;                 /* RD */
        w[3] = set_ad ? 0x20 : 0x00; /* AD */
        w[5] = 1;                    /* QDCOUNT */
        w[11] = 1;                   /* ARCOUNT: OPT */
        int nl = encode_name(name, w + 12, QMAX - 12 - 4 - 11);
        if (nl < 0) {
            fprintf(stderr, "bad name: %s\n", name);
            exit(2);
        }
        int t = qtype_num(type);
        size_t o = 12 + (size_t)nl;
        w[o++] = (uint8_t)(t >> 8);
        w[o++] = (uint8_t)t;
        w[o++] = 0;
        w[o++] = 1;
        e->qlen = (uint16_t)(o - 12);
        /* OPT: root, type 41, udp 1232, no flags but DO with -D */
        uint8_t opt[11] = {0, 0, 41, 1232 >> 8, 1232 & 0xff, 0, 0, set_do ? 0x80 : 0, 0, 0, 0};
        memcpy(w + o, opt, 11);
        o += 11;
        e->len = (uint16_t)o;
        if (k >= 3 && inet_pton(AF_INET, want, e->want) == 1)
            e->has_want = 1;
        e->want_ad = k < 4 ? -1 : strcmp(ad, "ad") == 0 ? 1 : strcmp(ad, "noad") == 0 ? 0 : -2;
        if (e->want_ad == -2) {
            fprintf(stderr, "bad AD expectation (ad or noad): %s\n", ad);
            exit(2);
        }
        e->name = strdup(name);
        n++;
    }
    fclose(f);
    *n_out = n;
    return q;
}

/* Skips a (possibly compressed) name; returns the new offset or -1. */
static int skip_name(const uint8_t *m, int len, int o)
{
    for (int i = 0; i < 128; i++) {
        if (o >= len)
            return -1;
        uint8_t c = m[o];
        if (c == 0)
            return o + 1;
        if ((c & 0xC0) == 0xC0)
            return o + 2 <= len ? o + 2 : -1;
        if (c & 0xC0)
            return -1;
        o += 1 + c;
    }
    return -1;
}

/* Reads the record at *o: its type, and its rdata at *rd (*rdlen bytes);
 * moves *o past it.  0, or -1 if it runs past the message. */
static int next_rr(const uint8_t *m, int len, int *o, int *type, int *rd, int *rdlen)
{
    int p = skip_name(m, len, *o);
    if (p < 0 || p + 10 > len)
        return -1;
    *type = (m[p] << 8) | m[p + 1];
    *rdlen = (m[p + 8] << 8) | m[p + 9];
    *rd = p + 10;
    if (*rd + *rdlen > len)
        return -1;
    *o = *rd + *rdlen;
    return 0;
}

/* 1 if the answer section holds an A record with want, 0 if not, -1 if malformed. */
static int has_a(const uint8_t *m, int len, int qlen, const uint8_t *want)
{
    int an = (m[6] << 8) | m[7];
    int o = 12 + qlen, type, rd, rdlen;
    for (int i = 0; i < an && i < 256; i++) {
        if (next_rr(m, len, &o, &type, &rd, &rdlen) < 0)
            return -1;
        if (type == 1 && rdlen == 4 && memcmp(m + rd, want, 4) == 0)
            return 1;
    }
    return 0;
}

/* The first Extended DNS Error (RFC 8914) in the reply's OPT record: 1 with
 * *code and up to cap-1 bytes of its text (NUL-ended), 0 if none, -1 if
 * malformed. */
static int find_ede(const uint8_t *m, int len, int qlen, int *code, char *text, size_t cap)
{
    int n = ((m[6] << 8) | m[7]) + ((m[8] << 8) | m[9]) + ((m[10] << 8) | m[11]);
    int o = 12 + qlen, type, rd, rdlen;
    for (int i = 0; i < n && i < 512; i++) {
        if (next_rr(m, len, &o, &type, &rd, &rdlen) < 0)
            return -1;
        for (int p = rd; type == 41 && p + 4 <= rd + rdlen;) {
            int ocode = (m[p] << 8) | m[p + 1], olen = (m[p + 2] << 8) | m[p + 3];
            p += 4;
            if (p + olen > rd + rdlen)
                return -1;
            if (ocode == 15 && olen >= 2) {
                size_t tl = (size_t)olen - 2 < cap - 1 ? (size_t)olen - 2 : cap - 1;
                *code = (m[p] << 8) | m[p + 1];
                for (size_t k = 0; k < tl; k++) {
                    uint8_t c = m[p + 2 + k];
                    text[k] = (c >= 32 && c < 127 && c != '"' && c != '\\') ? (char)c : '?';
                }
                text[tl] = 0;
                return 1;
            }
            p += olen;
        }
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int echo_server(const struct sockaddr_in *addr, double duration)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buf = 4 << 20;
    if (fd < 0 ||
        (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0 &&
         setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf) < 0) ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        perror("echo: socket/bind");
        return 2;
    }
    fprintf(stderr, "echo server ready\n");
    static uint8_t bufs[BATCH][4096];
    struct sockaddr_in from[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];
    uint64_t end = now_ns() + (uint64_t)(duration * 1e9);
    while (now_ns() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
            memset(&mm[i], 0, sizeof mm[i]);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
            mm[i].msg_hdr.msg_name = &from[i];
            mm[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int n = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (mm[i].msg_len >= 12)
                bufs[i][2] |= 0x80;
            iov[i].iov_len = mm[i].msg_len;
        }
        sendmmsg(fd, mm, (unsigned)n, 0);
    }
    close(fd);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: latency -s ADDR -p PORT -f FILE (-r QPS | -c CONCURRENCY)\n"
                    "               [-d SECONDS] [-n MAXQUERIES] [-t TIMEOUT_MS] [-S SOCKETS]\n"
                    "               [-A] [-D]   (AD in the header, DO in the OPT record)\n"
                    "       latency -E -s ADDR -p PORT -d SECONDS   (null echo server)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *file = NULL;
    int port = 53, nsocks = 16, opt, echo = 0, set_ad = 0, set_do = 0;
    double rate = 0, duration = 10;
    long conc = 0, timeout_ms = 2000;
    size_t maxq = 10000000;
    while ((opt = getopt(argc, argv, "EADs:p:f:r:c:d:n:t:S:")) != -1) {
        switch (opt) {
        case 'E':
            echo = 1;
            break;
        case 'A':
            set_ad = 1;
            break;
        case 'D':
            set_do = 1;
            break;
        case 's':
            addr = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'f':
            file = optarg;
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'c':
            conc = atol(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'n':
            maxq = (size_t)atol(optarg);
            break;
        case 't':
            timeout_ms = atol(optarg);
            break;
        case 'S':
            nsocks = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (echo) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (!addr || inet_pton(AF_INET, addr, &a.sin_addr) != 1 ||
            (ntohl(a.sin_addr.s_addr) >> 24) != 127 || duration <= 0 || duration > 7200)
            usage();
        return echo_server(&a, duration);
    }
    if (!addr || !file || (rate <= 0) == (conc <= 0) || nsocks < 1 || nsocks > MAX_SOCKS ||
        duration <= 0 || duration > 3600 || timeout_ms < 1 || maxq < 1 || maxq > 100000000)
        usage();
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1 || (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "latency: %s is not a 127.0.0.0/8 address\n", addr);
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    size_t nlines;
    struct query *qs = load(file, &nlines, conc > 0 ? maxq : 10000000, set_ad, set_do);
    if (nlines == 0) {
        fprintf(stderr, "latency: no queries in %s\n", file);
        return 2;
    }
    /* Total sends: concurrency mode sends each line once; rate mode at most rate*duration. */
    size_t total = conc > 0 ? nlines : (size_t)(rate * duration) + 1;
    if (total > maxq)
        total = maxq;

    int fds[MAX_SOCKS];
    struct pollfd pfd[MAX_SOCKS];
    for (int i = 0; i < nsocks; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int buf = 4 << 20;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) {
            perror("socket/connect");
            return 2;
        }
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN;
    }
    struct slot *slots = calloc((size_t)nsocks * 65536, sizeof *slots);
    struct fifo_ent *fifo = calloc(total, sizeof *fifo);
    uint32_t *lat = calloc(total, sizeof *lat);
    uint16_t *next_id = calloc((size_t)nsocks, sizeof *next_id);
    if (!slots || !fifo || !lat || !next_id) {
        fprintf(stderr, "latency: out of memory\n");
        return 2;
    }
    for (int i = 0; i < nsocks; i++)
        next_id[i] = (uint16_t)(rand() & 0xffff);

    size_t sent = 0, answered = 0, timeouts = 0, late = 0, wrong = 0, noanswer = 0, malformed = 0,
           send_err = 0, stray = 0, fifo_head = 0, outstanding = 0, ad_set = 0, ad_wrong = 0;
    size_t rcodes[16] = {0};
    char *wrong_names[5];
    int nwrong_names = 0;
    char *ad_wrong_names[5];
    int nad_wrong_names = 0;
    /* SERVFAIL answers: how many carried each EDE code (-1: none), and a
     * few examples (name, code, text) to say why. */
    enum { EDE_KINDS = 16, EDE_EXAMPLES = 5 };
    int ede_code[EDE_KINDS];
    size_t ede_count[EDE_KINDS];
    int nede = 0;
    struct {
        char *name;
        int code;
        char text[80];
    } ede_ex[EDE_EXAMPLES];
    int nede_ex = 0;
    uint32_t gen = 0;
    uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000ull;
    uint64_t start = now_ns();
    uint64_t hard_end = start + (uint64_t)(duration * 1e9) + (conc > 0 ? 0 : timeout_ns);
    uint64_t send_end = start + (uint64_t)(duration * 1e9);
    uint64_t last_done = start;
    size_t line = 0;
    uint8_t rbuf[BATCH][4096];
    struct iovec iov[BATCH];
    struct mmsghdr mm[BATCH];

    for (;;) {
        uint64_t t = now_ns();
        if (t >= hard_end)
            break;
        /* Send what is due. */
        size_t due;
        if (conc > 0) {
            due = sent;
            while (due < total && outstanding + (due - sent) < (size_t)conc)
                due++;
        } else {
            due = t < send_end ? (size_t)((double)(t - start) * rate / 1e9) + 1 : sent;
            if (due > total)
                due = total;
        }
        while (sent < due) {
            int s = (int)(sent % (size_t)nsocks);
            uint16_t id = next_id[s]++;
            struct slot *sl = &slots[(size_t)s * 65536 + id];
            if (sl->gen) { /* wrapped onto a query still outstanding: it is lost */
                sl->gen = 0;
                outstanding--;
                timeouts++;
            }
            struct query *q = &qs[line];
            q->wire[0] = (uint8_t)(id >> 8);
            q->wire[1] = (uint8_t)id;
            uint64_t ts = now_ns();
            if (send(fds[s], q->wire, q->len, 0) < 0) {
                send_err++;
                if (errno == EAGAIN || errno == ENOBUFS)
                    break;
            }
            sl->sent_ns = ts;
            sl->line = (uint32_t)line;
            sl->gen = ++gen ? gen : ++gen;
            fifo[sent] = (struct fifo_ent){sl->gen, (uint16_t)s, id, ts};
            sent++;
            outstanding++;
            line = (line + 1) % nlines;
        }
        /* Expire the oldest outstanding queries. */
        t = now_ns();
        while (fifo_head < sent) {
            struct fifo_ent *fe = &fifo[fifo_head];
            struct slot *sl = &slots[(size_t)fe->sock * 65536 + fe->id];
            if (sl->gen != fe->gen) {
                fifo_head++;
                continue;
            }
            if (t - fe->sent_ns < timeout_ns)
                break;
            sl->gen = 0;
            outstanding--;
            timeouts++;
            last_done = t;
            fifo_head++;
        }
        if (sent >= total && outstanding == 0)
            break;
        if (conc == 0 && t >= send_end && outstanding == 0)
            break;
        /* Wait for answers, or until the next send is due. */
        uint64_t wait_ns = 1000000; /* 1 ms */
        if (conc == 0 && sent < total && t < send_end) {
            uint64_t next = start + (uint64_t)((double)sent * 1e9 / rate);
            wait_ns = next > t ? next - t : 0;
            if (wait_ns > 1000000)
                wait_ns = 1000000;
        }
        struct timespec to = {0, (long)wait_ns};
        int pr = wait_ns ? ppoll(pfd, (nfds_t)nsocks, &to, NULL) : 1;
        if (pr < 0 && errno != EINTR) {
            perror("ppoll");
            return 2;
        }
        for (int s = 0; s < nsocks && pr > 0; s++) {
            if (wait_ns && !(pfd[s].revents & POLLIN))
                continue;
            for (int round = 0; round < 16; round++) {
                for (int i = 0; i < BATCH; i++) {
                    iov[i] = (struct iovec){rbuf[i], sizeof rbuf[i]};
                    memset(&mm[i], 0, sizeof mm[i]);
                    mm[i].msg_hdr.msg_iov = &iov[i];
                    mm[i].msg_hdr.msg_iovlen = 1;
                }
                int n = recvmmsg(fds[s], mm, BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0)
                    break;
                uint64_t rt = now_ns();
                for (int i = 0; i < n; i++) {
                    const uint8_t *m = rbuf[i];
                    int len = (int)mm[i].msg_len;
                    if (len < 12) {
                        malformed++;
                        continue;
                    }
                    uint16_t id = (uint16_t)((m[0] << 8) | m[1]);
                    struct slot *sl = &slots[(size_t)s * 65536 + id];
                    if (!sl->gen) {
                        stray++; /* late answer to an expired query, or a duplicate */
                        continue;
                    }
                    struct query *q = &qs[sl->line];
                    if (!(m[2] & 0x80) || len < 12 + q->qlen ||
                        memcmp(m + 12, q->wire + 12, q->qlen) != 0) {
                        malformed++;
                        continue;
                    }
                    uint64_t l = rt - sl->sent_ns;
                    sl->gen = 0;
                    outstanding--;
                    last_done = rt;
                    if (l >= timeout_ns) {
                        late++;
                        timeouts++;
                        continue;
                    }
                    lat[answered++] = (uint32_t)(l / 1000);
                    int rc = m[3] & 0xF;
                    rcodes[rc]++;
                    if (rc == 0 && ((m[6] << 8) | m[7]) == 0)
                        noanswer++;
                    if (rc == 2) { /* SERVFAIL: why, if it says */
                        int code = -1, k;
                        char text[80] = "";
                        if (find_ede(m, len, q->qlen, &code, text, sizeof text) <= 0)
                            code = -1;
                        for (k = 0; k < nede && ede_code[k] != code; k++)
                            ;
                        if (k == nede && nede < EDE_KINDS) {
                            ede_code[nede] = code;
                            ede_count[nede++] = 0;
                        }
                        if (k < nede)
                            ede_count[k]++;
                        if (nede_ex < EDE_EXAMPLES) {
                            ede_ex[nede_ex].name = q->name;
                            ede_ex[nede_ex].code = code;
                            memcpy(ede_ex[nede_ex++].text, text, sizeof text);
                        }
                    }
                    int has_ad = (m[3] & 0x20) != 0;
                    ad_set += (size_t)has_ad;
                    if (q->want_ad >= 0 && has_ad != q->want_ad) {
                        ad_wrong++;
                        if (nad_wrong_names < 5)
                            ad_wrong_names[nad_wrong_names++] = q->name;
                    }
                    if (rc == 0 && q->has_want) {
                        int h = has_a(m, len, q->qlen, q->want);
                        if (h < 0)
                            malformed++;
                        if (h <= 0) {
                            wrong++;
                            if (nwrong_names < 5)
                                wrong_names[nwrong_names++] = q->name;
                        }
                    }
                }
                if (n < BATCH)
                    break;
            }
        }
    }
    uint64_t end = now_ns();
    size_t unfinished = outstanding; /* hit the hard limit */
    qsort(lat, answered, sizeof *lat, cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < answered; i++)
        sum += lat[i];
#define PCT(p) (answered ? lat[(size_t)((double)(answered - 1) * (p))] : 0)
    static const char *rcn[16] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",  "11",       "12",     "13",      "14",       "15"};
    printf("{\"mode\": \"%s\", \"offered_qps\": %.0f, \"concurrency\": %ld, \"sent\": %zu, "
           "\"answered\": %zu, \"timeouts\": %zu, \"late\": %zu, \"unfinished\": %zu, "
           "\"send_errors\": %zu, \"stray\": %zu, \"malformed\": %zu, \"wrong\": %zu, "
           "\"noanswer\": %zu, \"elapsed_s\": %.4f, \"until_last_answer_s\": %.4f, "
           "\"achieved_qps\": %.1f, \"mean_us\": %.1f, \"p50_us\": %u, \"p90_us\": %u, "
           "\"p99_us\": %u, \"p999_us\": %u, \"max_us\": %u, \"rcodes\": {",
           conc > 0 ? "concurrency" : "rate", rate, conc, sent, answered, timeouts, late,
           unfinished, send_err, stray, malformed, wrong, noanswer, (double)(end - start) / 1e9,
           (double)(last_done - start) / 1e9,
           (double)answered / ((double)(last_done - start) / 1e9 + 1e-9),
           answered ? sum / (double)answered : 0.0, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999),
           answered ? lat[answered - 1] : 0);
    int first = 1;
    for (int i = 0; i < 16; i++)
        if (rcodes[i]) {
            printf("%s\"%s\": %zu", first ? "" : ", ", rcn[i], rcodes[i]);
            first = 0;
        }
    printf("}, \"wrong_names\": [");
    for (int i = 0; i < nwrong_names; i++)
        printf("%s\"%s\"", i ? ", " : "", wrong_names[i]);
    printf("], \"ad_set\": %zu, \"ad_wrong\": %zu, \"ad_wrong_names\": [", ad_set, ad_wrong);
    for (int i = 0; i < nad_wrong_names; i++)
        printf("%s\"%s\"", i ? ", " : "", ad_wrong_names[i]);
    printf("], \"servfail_ede\": {");
    for (int i = 0; i < nede; i++)
        printf("%s\"%d\": %zu", i ? ", " : "", ede_code[i], ede_count[i]);
    printf("}, \"servfail_examples\": [");
    for (int i = 0; i < nede_ex; i++)
        printf("%s[\"%s\", %d, \"%s\"]", i ? ", " : "", ede_ex[i].name, ede_ex[i].code,
               ede_ex[i].text);
    printf("]}\n");
    return 0;
}
