/* zmqpool loaded late: a program that already runs threads dlopen()s the
 * library (as a language binding would), then those threads allocate and
 * free across each other. Thread-local storage must work without the static
 * TLS block, and each thread's cache must be handed back when it exits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpool.h"
#include "harness.h"

typedef void *(*alloc_fn) (size_t);
typedef void (*dealloc_fn) (void *);
typedef void (*trim_fn) (void);

static alloc_fn pool_alloc;
static dealloc_fn pool_dealloc;
static pthread_barrier_t loaded;
static void *handed[4][500];

struct worker
{
    int index;
    int ok;
};

static void *work (void *arg)
{
    struct worker *me = (struct worker *) arg;
    int i, peer = (me->index + 1) % 4;
    pthread_barrier_wait (&loaded); /* the library is loaded after we started */
    for (i = 0; i < 500; i++) {
        unsigned char *p = (unsigned char *) pool_alloc ((size_t) 64 << (i % 8));
        if (!p)
            return NULL;
        memset (p, me->index, (size_t) 64 << (i % 8));
        handed[me->index][i] = p;
    }
    pthread_barrier_wait (&loaded);
    for (i = 0; i < 500; i++) {
        unsigned char *p = (unsigned char *) handed[peer][i];
        if (p[((size_t) 64 << (i % 8)) - 1] != (unsigned char) peer)
            return NULL;
        pool_dealloc (p);
    }
    me->ok = 1;
    return NULL;
}

static void threads_started_before_dlopen_use_the_pool (void)
{
    pthread_t threads[4];
    struct worker workers[4];
    void *library;
    int i;
    CHECK_EQ_INT (pthread_barrier_init (&loaded, NULL, 5), 0);
    for (i = 0; i < 4; i++) {
        workers[i].index = i;
        workers[i].ok = 0;
        CHECK_EQ_INT (pthread_create (&threads[i], NULL, work, &workers[i]), 0);
    }
    /* ZMQPOOL_DLOPEN_PATH: another build of the library (make test also
     * loads the no-static-tls build this way). */
    library = dlopen (getenv ("ZMQPOOL_DLOPEN_PATH") ? getenv ("ZMQPOOL_DLOPEN_PATH")
                                                      : ZMQPOOL_SO,
                      RTLD_NOW | RTLD_LOCAL);
    CHECK (library != NULL);
    {
        void *a = dlsym (library, "zmqpool_alloc");
        void *d = dlsym (library, "zmqpool_dealloc");
        CHECK (a && d);
        memcpy (&pool_alloc, &a, sizeof a);
        memcpy (&pool_dealloc, &d, sizeof d);
    }
    pthread_barrier_wait (&loaded);
    pthread_barrier_wait (&loaded);
    for (i = 0; i < 4; i++) {
        CHECK_EQ_INT (pthread_join (threads[i], NULL), 0);
        CHECK (workers[i].ok);
    }
    pthread_barrier_destroy (&loaded);
    {
        /* Every worker handed its cache back when it exited: no thread
         * holds one, nothing is in use, and a trim leaves nothing cached. */
        typedef int (*stats_fn) (zmqpool_stats_t *, size_t);
        void *t = dlsym (library, "zmqpool_trim");
        void *s = dlsym (library, "zmqpool_stats_get");
        trim_fn trim;
        stats_fn stats;
        zmqpool_stats_t now;
        CHECK (t && s);
        memcpy (&trim, &t, sizeof t);
        memcpy (&stats, &s, sizeof s);
        CHECK_EQ_INT (stats (&now, sizeof now), 0);
        CHECK_EQ_INT (now.threads, 0);
        CHECK_EQ_INT (now.bytes_in_use, 0);
        CHECK_EQ_INT (now.allocations, 2000);
        CHECK_EQ_INT (now.frees, 2000);
        CHECK_EQ_INT (now.foreign_frees, 2000);
        CHECK (now.bytes_cached > 0);
        trim ();
        CHECK_EQ_INT (stats (&now, sizeof now), 0);
        CHECK_EQ_INT (now.bytes_cached, 0);
    }
}

int main (void)
{
    RUN (threads_started_before_dlopen_use_the_pool);
    return harness_finish ("test_dlopen");
}
