/* Message allocation benchmarks: zmqpool against libzmq and allocator
 * baselines, all inside one process so every figure is comparable.
 *
 *   msg_bench same    IMPL SIZE ITERS   same-thread init_size + touch + close
 *   msg_bench handoff IMPL SIZE ITERS   built on thread A, closed on thread B
 *   msg_bench handoff-data IMPL SIZE ITERS   same with zmq_msg_init_data
 *   msg_bench handoff-floor IMPL SIZE ITERS  init_data without a free function:
 *                                             no allocation at all (the floor)
 *   msg_bench burst   IMPL SIZE         10,000 messages, then all closed
 *
 * IMPL: zmqpool  (this library's zmq_msg_*, linked)
 *       libzmq   (Debian's libzmq.so.5, dlopen'ed privately; run under
 *                 LD_PRELOAD=libmimalloc/libjemalloc for those baselines)
 *       mimalloc (mi_malloc of a 16-byte size header + body, Debian's
 *                 libmimalloc dlopen'ed privately)
 *       pmr      (the replaced design: thread-local
 *                 std::pmr::unsynchronized_pool_resource over mimalloc with
 *                 a size header; same-thread only, since cross-thread
 *                 release is undefined behaviour there)
 * Touch = write the first and last byte of the body.
 * MSG_BENCH_PIN=1 pins the threads (see pin_to).
 * Prints one line: "ns_per_msg N" or, for burst, "rss_kib start peak after_trim". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "zmqpool.h"

/* The replaced design (benches/pmr_baseline.cpp). */
void *pmr_alloc (size_t size);
void pmr_free (void *ptr);
void pmr_set_upstream (void *(*alloc) (size_t), void (*release) (void *));

typedef struct
{
    int (*init_size) (zmq_msg_t *, size_t);
    int (*init_data) (zmq_msg_t *, void *, size_t, zmq_free_fn *, void *);
    int (*close) (zmq_msg_t *);
    void *(*data) (zmq_msg_t *);
} msg_api;

static msg_api api;
static void *(*mi_malloc_fn) (size_t);
static void (*mi_free_fn) (void *);

static void *must_dlsym (void *handle, const char *name)
{
    void *symbol = dlsym (handle, name);
    if (!symbol) {
        fprintf (stderr, "msg_bench: %s: %s\n", name, dlerror ());
        exit (2);
    }
    return symbol;
}

#define BIND(field, handle, name)                                              \
    do {                                                                       \
        void *sym_ = must_dlsym (handle, name);                                \
        memcpy (&(field), &sym_, sizeof sym_);                                 \
    } while (0)

static void load_mimalloc (void)
{
    void *mimalloc = dlopen ("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!mimalloc) {
        fprintf (stderr, "msg_bench: libmimalloc.so.2: %s\n", dlerror ());
        exit (2);
    }
    BIND (mi_malloc_fn, mimalloc, "mi_malloc");
    BIND (mi_free_fn, mimalloc, "mi_free");
}

static void choose (const char *impl)
{
    if (strcmp (impl, "zmqpool") == 0) {
        api.init_size = zmq_msg_init_size;
        api.init_data = zmq_msg_init_data;
        api.close = zmq_msg_close;
        api.data = zmq_msg_data;
    } else if (strcmp (impl, "libzmq") == 0) {
        void *libzmq = dlopen ("libzmq.so.5", RTLD_NOW | RTLD_LOCAL);
        if (!libzmq) {
            fprintf (stderr, "msg_bench: libzmq.so.5: %s\n", dlerror ());
            exit (2);
        }
        BIND (api.init_size, libzmq, "zmq_msg_init_size");
        BIND (api.init_data, libzmq, "zmq_msg_init_data");
        BIND (api.close, libzmq, "zmq_msg_close");
        BIND (api.data, libzmq, "zmq_msg_data");
    } else if (strcmp (impl, "mimalloc") == 0) {
        load_mimalloc ();
    } else if (strcmp (impl, "pmr") == 0) {
        load_mimalloc ();
        pmr_set_upstream (mi_malloc_fn, mi_free_fn);
    } else {
        fprintf (stderr, "msg_bench: unknown implementation %s\n", impl);
        exit (2);
    }
}

static int impl_kind; /* 0 messages, 1 mimalloc+header, 2 pmr */

/* One "message": for the allocator baselines, a 16-byte size header and
 * the body, which is what a size-less release needs. */
typedef struct
{
    zmq_msg_t msg;
    unsigned char *raw;
} item;

static inline void make (item *it, size_t size)
{
    unsigned char *body;
    if (impl_kind == 0) {
        if (api.init_size (&it->msg, size) != 0)
            abort ();
        body = (unsigned char *) api.data (&it->msg);
    } else if (impl_kind == 1) {
        /* mimalloc with the size header zmqpool also carries */
        unsigned char *raw = (unsigned char *) mi_malloc_fn (size + 16);
        if (!raw)
            abort ();
        memcpy (raw, &size, sizeof size);
        it->raw = raw;
        body = raw + 16;
    } else {
        /* pmr_alloc writes its own size header */
        body = it->raw = (unsigned char *) pmr_alloc (size);
        if (!body)
            abort ();
    }
    body[0] = 1;
    body[size - 1] = 2;
}

static inline void destroy (item *it)
{
    if (impl_kind == 0)
        api.close (&it->msg);
    else if (impl_kind == 1)
        mi_free_fn (it->raw);
    else
        pmr_free (it->raw);
}

static double now_ns (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec * 1e9 + (double) t.tv_nsec;
}

static double bench_same (size_t size, long iters)
{
    item it;
    long i;
    double start;
    for (i = 0; i < iters / 10 + 1; i++) { /* warm up */
        make (&it, size);
        destroy (&it);
    }
    start = now_ns ();
    for (i = 0; i < iters; i++) {
        make (&it, size);
        destroy (&it);
    }
    return (now_ns () - start) / (double) iters;
}

/* Single-producer single-consumer ring of messages. */
#define RING 256
static item ring[RING];
static _Atomic long ring_head, ring_tail; /* consumer, producer */
static long ring_total;
static int use_init_data;
static unsigned char *shared_buffer;

static void ignore_free (void *data, void *hint)
{
    (void) data;
    (void) hint;
}

/* MSG_BENCH_PIN=1: the calling thread runs on `cpu` only (the producer or
 * the same-thread loop on CPU 0, the consumer on CPU 1). On this 2-core
 * machine the scheduler otherwise moves the two threads, and a run measures
 * where they landed (the floor itself moved between 5 and 70 ns). */
static void pin_to (int cpu)
{
    const char *pin = getenv ("MSG_BENCH_PIN");
    cpu_set_t set;
    if (!pin || strcmp (pin, "1") != 0)
        return;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    if (pthread_setaffinity_np (pthread_self (), sizeof set, &set) != 0)
        fprintf (stderr, "msg_bench: cannot pin a thread to CPU %d: running unpinned\n", cpu);
}

static void *consumer (void *arg)
{
    long taken = 0;
    (void) arg;
    pin_to (1);
    while (taken < ring_total) {
        long tail = atomic_load_explicit (&ring_tail, memory_order_acquire);
        while (taken < tail) {
            destroy (&ring[taken % RING]);
            taken++;
        }
        atomic_store_explicit (&ring_head, taken, memory_order_release);
    }
    return NULL;
}

static double bench_handoff (size_t size, long iters)
{
    pthread_t thread;
    long made = 0;
    double start;
    ring_total = iters;
    if (use_init_data) {
        shared_buffer = (unsigned char *) malloc (size);
        memset (shared_buffer, 7, size);
    }
    pthread_create (&thread, NULL, consumer, NULL);
    start = now_ns ();
    while (made < iters) {
        long head = atomic_load_explicit (&ring_head, memory_order_acquire);
        while (made < iters && made - head < RING) {
            item *it = &ring[made % RING];
            if (use_init_data) {
                /* 2: the floor - a constant message, no allocation at all */
                if (api.init_data (&it->msg, shared_buffer, size,
                                   use_init_data == 2 ? NULL : ignore_free,
                                   NULL)
                    != 0)
                    abort ();
            } else
                make (it, size);
            made++;
        }
        atomic_store_explicit (&ring_tail, made, memory_order_release);
    }
    pthread_join (thread, NULL);
    return (now_ns () - start) / (double) iters;
}

static long status_kib (const char *field)
{
    char line[256];
    long value = -1;
    size_t length = strlen (field);
    FILE *status = fopen ("/proc/self/status", "r");
    while (status && fgets (line, sizeof line, status))
        if (strncmp (line, field, length) == 0)
            value = strtol (line + length, NULL, 10);
    if (status)
        fclose (status);
    return value;
}

static void bench_burst (size_t size)
{
    enum
    {
        COUNT = 10000
    };
    static item items[COUNT];
    long start_kib, peak_kib, after_kib;
    int i;
    start_kib = status_kib ("VmRSS:");
    for (i = 0; i < COUNT; i++)
        make (&items[i], size);
    peak_kib = status_kib ("VmHWM:");
    for (i = 0; i < COUNT; i++)
        destroy (&items[i]);
    zmqpool_trim ();
    after_kib = status_kib ("VmRSS:");
    printf ("rss_kib %ld %ld %ld requested_kib %ld\n", start_kib, peak_kib,
            after_kib, (long) ((size_t) COUNT * size / 1024));
}

int main (int argc, char **argv)
{
    const char *mode, *impl;
    size_t size;
    long iters;
    if (argc < 4) {
        fprintf (stderr, "usage: %s same|handoff|handoff-data|burst IMPL SIZE "
                         "[ITERS]\n",
                 argv[0]);
        return 2;
    }
    mode = argv[1];
    impl = argv[2];
    size = (size_t) strtoul (argv[3], NULL, 10);
    iters = argc > 4 ? strtol (argv[4], NULL, 10) : 100000;
    choose (impl);
    pin_to (0);
    impl_kind = strcmp (impl, "mimalloc") == 0 ? 1
                : strcmp (impl, "pmr") == 0    ? 2
                                               : 0;
    if (strcmp (mode, "same") == 0)
        printf ("ns_per_msg %.2f\n", bench_same (size, iters));
    else if (strcmp (mode, "handoff") == 0 || strcmp (mode, "handoff-data") == 0
             || strcmp (mode, "handoff-floor") == 0) {
        use_init_data = strcmp (mode, "handoff-data") == 0       ? 1
                        : strcmp (mode, "handoff-floor") == 0 ? 2
                                                                : 0;
        if (impl_kind == 2 || (use_init_data && impl_kind != 0)) {
            fprintf (stderr, "%s cannot run %s\n", impl, mode);
            return 2;
        }
        printf ("ns_per_msg %.2f\n", bench_handoff (size, iters));
    } else if (strcmp (mode, "burst") == 0)
        bench_burst (size);
    else
        return 2;
    return 0;
}
