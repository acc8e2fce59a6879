/* A tiny test harness: each test is a function named after the behaviour it
 * checks; CHECK records a failure and returns from the test. The run ends
 * with the line "N passed, M failed" and exits non-zero on any failure. */
#ifndef ZMQPOOL_HARNESS_H
#define ZMQPOOL_HARNESS_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int harness_failed_checks;
static int harness_passed;
static int harness_failed;
static int harness_skipped;
static int harness_skipping;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "  %s:%d: check failed: %s\n", __FILE__,          \
                     __LINE__, #cond);                                         \
            harness_failed_checks++;                                           \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(actual, expected)                                         \
    do {                                                                       \
        long long check_a_ = (long long) (actual);                             \
        long long check_e_ = (long long) (expected);                           \
        if (check_a_ != check_e_) {                                            \
            fprintf (stderr, "  %s:%d: %s == %lld, expected %lld\n",           \
                     __FILE__, __LINE__, #actual, check_a_, check_e_);         \
            harness_failed_checks++;                                           \
            return;                                                            \
        }                                                                      \
    } while (0)

/* A call that must fail with -1 (or the given failure value) and errno. */
#define CHECK_FAILS(call, failure, expected_errno)                             \
    do {                                                                       \
        errno = 0;                                                             \
        long long check_r_ = (long long) (call);                               \
        int check_errno_ = errno;                                              \
        if (check_r_ != (long long) (failure)                                  \
            || check_errno_ != (expected_errno)) {                             \
            fprintf (stderr,                                                   \
                     "  %s:%d: %s gave %lld errno %d (%s), expected %lld "     \
                     "errno %d (%s)\n",                                        \
                     __FILE__, __LINE__, #call, check_r_, check_errno_,        \
                     strerror (check_errno_), (long long) (failure),           \
                     (expected_errno), strerror (expected_errno));             \
            harness_failed_checks++;                                           \
            return;                                                            \
        }                                                                      \
    } while (0)

#define RUN(test)                                                              \
    do {                                                                       \
        int before_ = harness_failed_checks;                                   \
        harness_skipping = 0;                                                  \
        test ();                                                               \
        if (harness_failed_checks != before_) {                                \
            harness_failed++;                                                  \
            printf ("FAIL %s\n", #test);                                       \
        } else if (harness_skipping) {                                         \
            harness_skipped++;                                                 \
            printf ("skip %s\n", #test);                                       \
        } else {                                                               \
            harness_passed++;                                                  \
            printf ("ok   %s\n", #test);                                       \
        }                                                                      \
    } while (0)

/* Ends the running test as skipped, with the reason (counted apart: a
 * test that could not run is not a pass). */
#define SKIP_TEST(why)                                                         \
    do {                                                                       \
        printf ("     skipped: %s\n", why);                                    \
        harness_skipping = 1;                                                  \
        return;                                                                \
    } while (0)

/* Looks a function up by name (POSIX's blessed object-to-function cast). */
#define LOOKUP(var, name)                                                      \
    do {                                                                       \
        void *lookup_sym_ = dlsym (RTLD_DEFAULT, name);                        \
        memcpy (&(var), &lookup_sym_, sizeof lookup_sym_);                     \
    } while (0)

#define SKIP(test, why)                                                        \
    do {                                                                       \
        harness_skipped++;                                                     \
        printf ("skip %s (%s)\n", #test, why);                                 \
    } while (0)

static inline int harness_finish (const char *suite)
{
    fflush (stdout);
    printf ("%s: %d passed, %d failed, %d skipped\n", suite, harness_passed,
            harness_failed, harness_skipped);
    return harness_failed == 0 ? 0 : 1;
}

/* A body of `size` bytes that depends on `seed`, and its check. */
static inline void harness_fill (unsigned char *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        data[i] = (unsigned char) (i * 31 + seed);
}

static inline int harness_intact (const unsigned char *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        if (data[i] != (unsigned char) (i * 31 + seed))
            return 0;
    return 1;
}

/* The process's resident set in KiB, from /proc/self/statm; -1 if it
 * cannot be read. */
static inline long resident_kib (void)
{
    long pages = 0, resident = 0;
    FILE *statm = fopen ("/proc/self/statm", "r");
    if (!statm)
        return -1;
    if (fscanf (statm, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose (statm);
    return resident < 0 ? -1 : resident * (sysconf (_SC_PAGESIZE) / 1024);
}

#endif
