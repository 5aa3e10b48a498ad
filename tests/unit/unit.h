/*
 * unit.h - the smallest test harness that does the job.
 *
 * A unit test file defines test functions and lists them in main with
 * UNIT_RUN.  Each check that fails prints "not ok" with file and line; each
 * test prints one line, "ok NAME" or "not ok NAME", which tests/run counts.
 * The process exits 1 if any test failed.
 *
 *     static void test_parse(void) { CHECK(parse("x") == 0); CHECK_EQ(n, 3); }
 *     int main(void) { UNIT_RUN(test_parse); return unit_done(); }
 */
#ifndef GATEHOUSE_UNIT_H
#define GATEHOUSE_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_checks; /* in the current test */
static int unit_passed, unit_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            unit_failed_checks++;                                                                  \
            printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                              \
        if (unit_a_ != unit_b_) {                                                                  \
            unit_failed_checks++;                                                                  \
            printf("#   %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, unit_a_,     \
                   unit_b_);                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *unit_a_ = (a), *unit_b_ = (b);                                                 \
        if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) {                               \
            unit_failed_checks++;                                                                  \
            printf("#   %s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,          \
                   unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)");                    \
        }                                                                                          \
    } while (0)

#define UNIT_RUN(fn)                                                                               \
    do {                                                                                           \
        unit_failed_checks = 0;                                                                    \
        fn();                                                                                      \
        if (unit_failed_checks == 0) {                                                             \
            unit_passed++;                                                                         \
            printf("ok %s\n", #fn);                                                                \
        } else {                                                                                   \
            unit_failed++;                                                                         \
            printf("not ok %s\n", #fn);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static inline int unit_done(void)
{
    printf("# %d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}

#endif
