/* The opt-in libzmqpool-malloc.so, preloaded: the C allocator and the
 * zmq_msg_* functions both come from it, and every malloc-family function
 * keeps its C contract (zeroing, contents kept across realloc, alignment,
 * EINVAL/ENOMEM). Without the preload this program checks the same
 * contracts against glibc, which shows they are the C library's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int preloaded;

static const char *object_of (const char *symbol)
{
    Dl_info info;
    void *address = dlsym (RTLD_DEFAULT, symbol);
    if (!address || !dladdr (address, &info) || !info.dli_fname)
        return "";
    return info.dli_fname;
}

static void malloc_and_messages_come_from_the_preload (void)
{
    if (!preloaded) {
        CHECK (strstr (object_of ("malloc"), "libc.so") != NULL);
        return;
    }
    CHECK (strstr (object_of ("malloc"), "zmqpool-malloc") != NULL);
    CHECK (strstr (object_of ("free"), "zmqpool-malloc") != NULL);
    CHECK (strstr (object_of ("posix_memalign"), "zmqpool-malloc") != NULL);
    CHECK (strstr (object_of ("zmq_msg_init_size"), "zmqpool-malloc") != NULL);
    CHECK (strstr (object_of ("zmqpool_stats"), "zmqpool-malloc") != NULL);
}

static void calloc_zeroes_and_realloc_keeps_contents (void)
{
    size_t i;
    unsigned char *p = (unsigned char *) calloc (1000, 3);
    CHECK (p != NULL);
    for (i = 0; i < 3000; i++)
        CHECK (p[i] == 0);
    for (i = 0; i < 3000; i++)
        p[i] = (unsigned char) i;
    p = (unsigned char *) realloc (p, 300000);
    CHECK (p != NULL);
    for (i = 0; i < 3000; i++)
        CHECK (p[i] == (unsigned char) i);
    p = (unsigned char *) realloc (p, 10);
    CHECK (p != NULL);
    for (i = 0; i < 10; i++)
        CHECK (p[i] == (unsigned char) i);
    CHECK (malloc_usable_size (p) >= 10);
    free (p);
    CHECK (malloc_usable_size (NULL) == 0);
    free (NULL);
    p = (unsigned char *) realloc (NULL, 50);
    CHECK (p != NULL);
    free (p);
}

static void alignment_functions_align_and_reject_bad_alignments (void)
{
    void *p = NULL;
    size_t align;
    long page = sysconf (_SC_PAGESIZE);
    for (align = sizeof (void *); align <= 65536; align *= 2) {
        CHECK_EQ_INT (posix_memalign (&p, align, 100), 0);
        CHECK ((uintptr_t) p % align == 0);
        free (p);
        p = aligned_alloc (align, align * 2);
        CHECK (p != NULL && (uintptr_t) p % align == 0);
        free (p);
        p = memalign (align, 33);
        CHECK (p != NULL && (uintptr_t) p % align == 0);
        free (p);
    }
    CHECK_EQ_INT (posix_memalign (&p, 24, 100), EINVAL);
    CHECK_EQ_INT (posix_memalign (&p, 2, 100), EINVAL);
    p = valloc (10);
    CHECK (p != NULL && (uintptr_t) p % (uintptr_t) page == 0);
    free (p);
    p = pvalloc (10);
    CHECK (p != NULL && (uintptr_t) p % (uintptr_t) page == 0);
    CHECK (malloc_usable_size (p) >= (size_t) page);
    free (p);
}

/* volatile: the compiler must not see (and reject) the overflow */
static volatile size_t huge = (size_t) 1 << 62, half = (size_t) 1 << 40;

static void exhaustion_is_null_with_enomem (void)
{
    errno = 0;
    CHECK (malloc (huge) == NULL);
    CHECK_EQ_INT (errno, ENOMEM);
    errno = 0;
    CHECK (calloc (half, half) == NULL);
    CHECK_EQ_INT (errno, ENOMEM);
    errno = 0;
    CHECK (realloc (NULL, huge) == NULL);
    CHECK_EQ_INT (errno, ENOMEM);
    errno = 0;
    CHECK (reallocarray (NULL, half, half) == NULL);
    CHECK_EQ_INT (errno, ENOMEM);
}

static void *churn (void *arg)
{
    void **slots = (void **) arg;
    int i;
    for (i = 0; i < 200000; i++) {
        int k = i % 64;
        free (slots[k]);
        slots[k] = malloc ((size_t) (i * 37) % 20000);
        if (!slots[k])
            return (void *) 1;
        memset (slots[k], k, (size_t) (i * 37) % 20000);
    }
    return NULL;
}

/* Blocks allocated on one thread are freed on another (as libzmq does). */
static void threads_allocate_and_free_each_others_blocks (void)
{
    void *slots[2][64];
    pthread_t threads[2];
    void *result;
    int t, k;
    memset (slots, 0, sizeof slots);
    for (t = 0; t < 2; t++)
        CHECK_EQ_INT (pthread_create (&threads[t], NULL, churn, slots[t]), 0);
    for (t = 0; t < 2; t++) {
        CHECK_EQ_INT (pthread_join (threads[t], &result), 0);
        CHECK (result == NULL);
    }
    for (t = 0; t < 2; t++)
        for (k = 0; k < 64; k++)
            free (slots[t][k]);
}

int main (void)
{
    const char *preload = getenv ("LD_PRELOAD");
    preloaded = preload && strstr (preload, "zmqpool-malloc") != NULL;
    printf ("test_malloc: %s\n", preloaded ? "libzmqpool-malloc.so preloaded"
                                           : "the C library's malloc");
    RUN (malloc_and_messages_come_from_the_preload);
    RUN (calloc_zeroes_and_realloc_keeps_contents);
    RUN (alignment_functions_align_and_reject_bad_alignments);
    RUN (exhaustion_is_null_with_enomem);
    RUN (threads_allocate_and_free_each_others_blocks);
    return harness_finish ("test_malloc");
}
