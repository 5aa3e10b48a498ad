/*
 * test_infra.c - the infrastructure cache: RFC 6298 RTT arithmetic, timeout
 * back-off, "down" servers, lameness per zone with expiry, the bound on the
 * table, and concurrent use.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include "infra.h"
#include "unit.h"

#define NOW ((time_t)1700000000)

static struct sockaddr_storage v4(const char *a, uint16_t port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof(ss));
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    inet_pton(AF_INET, a, &s4->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(53);
    inet_pton(AF_INET6, a, &s6->sin6_addr);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static const uint8_t zone_example[] = "\7example\4test"; /* + the final 0 */
static const uint8_t zone_EXAMPLE[] = "\7EXAMPLE\4TEST";
static const uint8_t zone_other[] = "\5other\4test";

static void test_unknown_server(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage a = v4("192.0.2.1", 53);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 400), 400);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 0), 400); /* 0: the default base */
    unsigned rtt = infra_rtt_ms(in, SA(a));
    CHECK(rtt >= 1 && rtt <= 10); /* ranked to be tried */
    CHECK(!infra_is_down(in, SA(a), NOW));
    CHECK(!infra_is_lame(in, SA(a), zone_example, sizeof(zone_example), NOW));
    infra_free(in);
}

static void test_rfc6298_arithmetic(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage a = v4("192.0.2.1", 53);
    infra_rtt_update(in, SA(a), 200, NOW); /* SRTT 200, RTTVAR 100 */
    CHECK_EQ(infra_rtt_ms(in, SA(a)), 200);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 600);
    infra_rtt_update(in, SA(a), 100,
                     NOW); /* RTTVAR (3*100+100)/4 = 100, SRTT (7*200+100)/8 = 187 */
    CHECK_EQ(infra_rtt_ms(in, SA(a)), 187);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 587);
    /* Clamped to [base, 3000]. */
    CHECK_EQ(infra_timeout_ms(in, SA(a), 800), 800);
    struct sockaddr_storage b = v4("192.0.2.2", 53);
    infra_rtt_update(in, SA(b), 2000, NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(b), 400), 3000);
    infra_free(in);
}

static void test_timeout_backoff(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage a = v4("192.0.2.1", 53);
    infra_rtt_update(in, SA(a), 200, NOW); /* RTO 600 */
    infra_timeout(in, SA(a), NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 1200);
    infra_timeout(in, SA(a), NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 2400);
    infra_timeout(in, SA(a), NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 4800);
    infra_timeout(in, SA(a), NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 4800); /* doubling stops */
    CHECK(infra_rtt_ms(in, SA(a)) > 1000);            /* ranked behind good servers */
    /* An answer resets the back-off (RTTVAR (3*100+0)/4 = 75: RTO 500). */
    infra_rtt_update(in, SA(a), 200, NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(a), 100), 500);
    /* Unknown server timing out: base doubled, capped. */
    struct sockaddr_storage b = v4("192.0.2.2", 53);
    for (int i = 0; i < 10; i++)
        infra_timeout(in, SA(b), NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(b), 3000), 12000);
    infra_free(in);
}

static void test_down_after_three_timeouts(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage a = v4("192.0.2.1", 53);
    infra_timeout(in, SA(a), NOW);
    infra_timeout(in, SA(a), NOW);
    CHECK(!infra_is_down(in, SA(a), NOW));
    infra_timeout(in, SA(a), NOW);
    CHECK(infra_is_down(in, SA(a), NOW));
    CHECK(infra_is_down(in, SA(a), NOW + 4));
    CHECK(!infra_is_down(in, SA(a), NOW + 5)); /* back-off over: a probe */
    infra_timeout(in, SA(a), NOW + 5);         /* the probe fails: longer */
    CHECK(infra_is_down(in, SA(a), NOW + 14));
    CHECK(!infra_is_down(in, SA(a), NOW + 15));
    infra_rtt_update(in, SA(a), 30, NOW + 15);
    infra_timeout(in, SA(a), NOW + 15);
    CHECK(!infra_is_down(in, SA(a), NOW + 15));
    infra_free(in);
}

static void test_lame_per_zone(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage a = v4("192.0.2.1", 53), b = v4("192.0.2.2", 53);
    infra_set_lame(in, SA(a), zone_example, sizeof(zone_example), NOW);
    CHECK(infra_is_lame(in, SA(a), zone_example, sizeof(zone_example), NOW));
    CHECK(infra_is_lame(in, SA(a), zone_EXAMPLE, sizeof(zone_EXAMPLE), NOW + 60));
    CHECK(!infra_is_lame(in, SA(a), zone_other, sizeof(zone_other), NOW));
    CHECK(!infra_is_lame(in, SA(b), zone_example, sizeof(zone_example), NOW));
    CHECK(infra_is_lame(in, SA(a), zone_example, sizeof(zone_example), NOW + 899));
    CHECK(!infra_is_lame(in, SA(a), zone_example, sizeof(zone_example), NOW + 900));
    /* Lameness does not touch the RTT entry. */
    CHECK_EQ(infra_timeout_ms(in, SA(a), 400), 400);
    CHECK(!infra_is_down(in, SA(a), NOW));
    infra_free(in);
}

static void test_ports_and_families_distinct(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage a53 = v4("192.0.2.1", 53), a5300 = v4("192.0.2.1", 5300);
    struct sockaddr_storage six = v6("2001:db8::1");
    infra_rtt_update(in, SA(a53), 200, NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(a53), 100), 600);
    CHECK_EQ(infra_timeout_ms(in, SA(a5300), 100), 100);
    infra_rtt_update(in, SA(six), 20, NOW);
    CHECK_EQ(infra_rtt_ms(in, SA(six)), 20);
    /* Other families are ignored, not crashed on. */
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    infra_rtt_update(in, (struct sockaddr *)&un, 10, NOW);
    infra_timeout(in, (struct sockaddr *)&un, NOW);
    CHECK_EQ(infra_timeout_ms(in, (struct sockaddr *)&un, 400), 400);
    CHECK(!infra_is_down(in, (struct sockaddr *)&un, NOW));
    /* An over-long zone is refused. */
    uint8_t longzone[300];
    memset(longzone, 1, sizeof(longzone));
    infra_set_lame(in, SA(a53), longzone, sizeof(longzone), NOW);
    CHECK(!infra_is_lame(in, SA(a53), longzone, sizeof(longzone), NOW));
    infra_free(in);
}

static void test_table_is_bounded(void)
{
    struct infra *in = infra_new();
    struct sockaddr_storage first = v4("10.0.0.0", 53);
    infra_rtt_update(in, SA(first), 200, NOW);
    CHECK_EQ(infra_timeout_ms(in, SA(first), 100), 600);
    for (uint32_t i = 1; i < 40000; i++) {
        struct sockaddr_storage ss;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        s4->sin_family = AF_INET;
        s4->sin_port = htons(53);
        s4->sin_addr.s_addr = htonl(0x0a000000u + i);
        infra_rtt_update(in, SA(ss), 50, NOW);
    }
    /* The oldest entry was evicted: unknown again. */
    CHECK_EQ(infra_timeout_ms(in, SA(first), 100), 100);
    struct sockaddr_storage last = v4("10.0.156.63", 53); /* 10.0.0.0 + 39999 */
    CHECK_EQ(infra_rtt_ms(in, SA(last)), 50);
    infra_free(in);
}

struct worker_arg {
    struct infra *in;
    int id;
};

static void *worker(void *p)
{
    struct worker_arg *w = p;
    for (int i = 0; i < 20000; i++) {
        struct sockaddr_storage ss = v4("192.0.2.1", (uint16_t)(53 + (i % 50)));
        infra_rtt_update(w->in, SA(ss), (unsigned)(i % 300), NOW);
        if (i % 7 == w->id)
            infra_timeout(w->in, SA(ss), NOW);
        (void)infra_timeout_ms(w->in, SA(ss), 400);
        infra_set_lame(w->in, SA(ss), zone_example, sizeof(zone_example), NOW);
        (void)infra_is_lame(w->in, SA(ss), zone_example, sizeof(zone_example), NOW);
    }
    return NULL;
}

static void test_threads(void)
{
    struct infra *in = infra_new();
    pthread_t t[4];
    struct worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].in = in;
        args[i].id = i;
        CHECK_EQ(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct sockaddr_storage ss = v4("192.0.2.1", 53);
    unsigned rto = infra_timeout_ms(in, SA(ss), 400);
    CHECK(rto >= 400 && rto <= 12000);
    infra_free(in);
}

int main(void)
{
    UNIT_RUN(test_unknown_server);
    UNIT_RUN(test_rfc6298_arithmetic);
    UNIT_RUN(test_timeout_backoff);
    UNIT_RUN(test_down_after_three_timeouts);
    UNIT_RUN(test_lame_per_zone);
    UNIT_RUN(test_ports_and_families_distinct);
    UNIT_RUN(test_table_is_bounded);
    UNIT_RUN(test_threads);
    return unit_done();
}
