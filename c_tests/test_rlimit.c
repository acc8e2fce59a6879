/* Under an address-space limit (RLIMIT_AS, `ulimit -v`), memory the
 * program freed is memory it has again. For each headroom (512 MiB, 1 GiB,
 * 2 GiB) a child process sets RLIMIT_AS on itself at its current address
 * space (a context and a thread running) plus that headroom, and starts
 * this program again under it (only the child is limited; a program run
 * under `ulimit -v` has its limit from the start too), which then:
 *  1. a burst: messages of 64 B to 1 MiB (fixed seed) totalling half the
 *     headroom are sent over inproc PUSH/PULL with no high-water mark, all
 *     in flight at the peak, then received and closed on the receiver's
 *     thread;
 *  (TEST_RLIMIT_EXHAUST=1: then messages are made until ENOMEM and the
 *  heap taken until malloc fails, and all of it freed again;)
 *  2. one malloc of the headroom minus 400 MiB, touched, succeeds;
 *  3. a new libzmq context starts and PAIR sockets exchange a message.
 * The program links libzmq only: run plain, it is the control (libzmq and
 * glibc alone pass); run with zmqpool preloaded (ZMQPOOL_TEST_EXPECT=1) it
 * must pass the same way. Prints "N passed, M failed".
 *
 * TEST_RLIMIT_IN_PROCESS=1: the child sets the limit on itself after
 * load and calls zmqpool_trim() (which reads the limits again) instead of
 * starting again under it.
 *
 * TEST_RLIMIT_SIZE=N makes every message N bytes (with decay off and caps
 * that hold everything, the pool then keeps the whole burst: only the
 * malloc variant's give-back on a failed malloc makes room, or the
 * program's own zmqpool_trim() before it mallocs: TEST_RLIMIT_TRIM=1). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool_probe.h"

#define MIB ((size_t) 1 << 20)

static size_t vm_size (void)
{
    FILE *status = fopen ("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    while (status && fgets (line, sizeof line, status))
        if (sscanf (line, "VmSize: %zu kB", &kib) == 1)
            break;
    if (status)
        fclose (status);
    return kib * 1024;
}

/* The burst's sizes: 64 B to 1 MiB, log-uniform, from a fixed seed; or
 * all TEST_RLIMIT_SIZE bytes. */
static size_t next_size (unsigned *state)
{
    static size_t fixed = (size_t) -1;
    unsigned shift;
    if (fixed == (size_t) -1)
        fixed = getenv ("TEST_RLIMIT_SIZE") ? (size_t) atol (getenv ("TEST_RLIMIT_SIZE")) : 0;
    if (fixed)
        return fixed;
    *state = *state * 1103515245u + 12345u;
    shift = 6 + (*state >> 16) % 15; /* 2^6 .. 2^20 */
    return ((size_t) 1 << shift) + ((*state >> 8) & 0xff) % ((size_t) 1 << shift);
}

struct receiver
{
    void *pull;
    pthread_barrier_t *sent;
    size_t received;
    int failed;
};

static void *receive_all (void *arg)
{
    struct receiver *r = arg;
    zmq_msg_t msg;
    pthread_barrier_wait (r->sent); /* everything in flight first */
    zmq_msg_init (&msg);
    for (;;) {
        if (zmq_msg_recv (&msg, r->pull, 0) < 0) {
            r->failed = 1;
            break;
        }
        if (zmq_msg_size (&msg) == 0) /* the end marker */
            break;
        r->received += zmq_msg_size (&msg);
    }
    zmq_msg_close (&msg);
    return NULL;
}

/* Step 2's allocation: malloc, or the function TEST_RLIMIT_CALL names
 * (calloc, realloc of a live block, posix_memalign, aligned_alloc), each
 * checked for its own contract: a failed realloc keeps the block, a
 * failed posix_memalign returns ENOMEM and leaves errno alone. */
static char *allocate (size_t size)
{
    const char *call = getenv ("TEST_RLIMIT_CALL");
    if (!call || strcmp (call, "malloc") == 0)
        return malloc (size);
    if (strcmp (call, "calloc") == 0) {
        char *p = calloc (size / 4096, 4096);
        if (p && (p[0] != 0 || p[size - 1] != 0))
            exit (31); /* not zeroed */
        return p;
    }
    if (strcmp (call, "realloc") == 0) {
        char *small = malloc (64), *p;
        if (!small)
            return NULL;
        memcpy (small, "kept", 5);
        p = realloc (small, size);
        if (!p) {
            if (memcmp (small, "kept", 5) != 0)
                exit (32); /* a failed realloc lost the block */
            free (small);
            return NULL;
        }
        if (memcmp (p, "kept", 5) != 0)
            exit (33);
        return p;
    }
    if (strcmp (call, "posix_memalign") == 0) {
        void *p = NULL;
        int status;
        errno = 0;
        status = posix_memalign (&p, 4096, size);
        if (status != 0 && (status != ENOMEM || errno != 0 || p != NULL))
            exit (34);
        if (status == 0 && (uintptr_t) p % 4096 != 0)
            exit (35);
        return p;
    }
    if (strcmp (call, "aligned_alloc") == 0)
        return aligned_alloc (4096, size);
    exit (36);
}

/* Takes everything: 64 KiB messages until ENOMEM, then the heap (1 MiB,
 * 64 KiB, 4 KiB chunks) until NULL; then frees it all. */
static int exhaust_then_free (void)
{
    enum { MAX = 1 << 16 };
    static zmq_msg_t msgs[MAX];
    static void *chunks[MAX];
    size_t count = 0, heap = 0, chunk, i;
    int failed = 0;
    while (count < MAX && !failed) {
        failed = zmq_msg_init_size (&msgs[count], 64 << 10) != 0;
        if (failed && errno != ENOMEM)
            return 1;
        if (!failed)
            memset (zmq_msg_data (&msgs[count++]), 7, 64 << 10);
    }
    if (!failed)
        return 2; /* never ran out */
    for (chunk = MIB; chunk >= 4096; chunk /= 16)
        while (heap < MAX && (chunks[heap] = malloc (chunk)) != NULL)
            memset (chunks[heap++], 1, chunk);
    for (i = 0; i < heap; i++)
        free (chunks[i]);
    for (i = 0; i < count; i++)
        zmq_msg_close (&msgs[i]);
    return 0;
}

/* The program started again under the limit: the steps above; returns
 * the exit status (0: every step passed; otherwise the failing step). */
static int limited_run (size_t headroom)
{
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    int unlimited = 0;
    pthread_barrier_t sent;
    pthread_t thread;
    struct receiver r;
    size_t total = 0, want, base;
    unsigned seed = 12345;
    char *big;
    if (!ctx || !push || !pull)
        return 10;
    zmq_setsockopt (push, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
    zmq_setsockopt (pull, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
    if (zmq_bind (pull, "inproc://burst") != 0 || zmq_connect (push, "inproc://burst") != 0)
        return 11;
    pthread_barrier_init (&sent, NULL, 2);
    r.pull = pull;
    r.sent = &sent;
    r.received = 0;
    r.failed = 0;
    if (pthread_create (&thread, NULL, receive_all, &r) != 0)
        return 12;
    /* The limit: what this process maps now, its context and thread
     * running, plus the headroom. */
    {
        struct rlimit limit;
        base = vm_size ();
        limit.rlim_cur = base + headroom;
        limit.rlim_max = RLIM_INFINITY;
        if (setrlimit (RLIMIT_AS, &limit) != 0)
            return 13;
    }
    /* TEST_RLIMIT_IN_PROCESS: the limit came after load; the program tells
     * zmqpool (zmqpool_trim() reads the limits again). */
    if (getenv ("TEST_RLIMIT_IN_PROCESS")) {
        void (*trim) (void);
        LOOKUP (trim, "zmqpool_trim");
        if (trim)
            trim ();
    }
    /* 1. The burst, all in flight before the receiver starts. */
    while (total < headroom / 2) {
        size_t size = next_size (&seed);
        zmq_msg_t msg;
        if (zmq_msg_init_size (&msg, size) != 0) {
            fprintf (stderr, "  burst: init_size(%zu) failed after %zu MiB: %s\n", size,
                     total / MIB, strerror (errno));
            return 20;
        }
        memset (zmq_msg_data (&msg), (int) size, size);
        if (zmq_msg_send (&msg, push, 0) < 0)
            return 21;
        total += size;
    }
    if (zmq_send (push, "", 0, 0) != 0)
        return 22;
    pthread_barrier_wait (&sent);
    pthread_join (thread, NULL);
    if (r.failed || r.received != total)
        return 23;
    zmq_close (push);
    zmq_close (pull);
    zmq_ctx_term (ctx);
    /* TEST_RLIMIT_EXHAUST: then every byte taken (messages until ENOMEM,
     * the heap until NULL) and all of it freed again. */
    if (getenv ("TEST_RLIMIT_EXHAUST") && exhaust_then_free () != 0)
        return 25;
    /* TEST_RLIMIT_TRIM: the program asks zmqpool for the memory first. */
    if (getenv ("TEST_RLIMIT_TRIM")) {
        void (*trim) (void);
        LOOKUP (trim, "zmqpool_trim");
        if (!trim)
            return 24;
        trim ();
    }
    /* 2. What libzmq alone lets the program have. */
    want = headroom - 400 * MIB;
    big = allocate (want);
    if (!big) {
        fprintf (stderr, "  malloc(%zu MiB) after the burst: NULL (mapped now: %zu MiB over the "
                 "base)\n", want / MIB, (vm_size () - base) / MIB);
        return 30;
    }
    memset (big, 1, want);
    free (big);
    /* 3. A new context (its I/O thread needs a stack). */
    {
        void *again = zmq_ctx_new ();
        void *a = zmq_socket (again, ZMQ_PAIR), *b = zmq_socket (again, ZMQ_PAIR);
        char buffer[8];
        if (!a || !b || zmq_bind (a, "inproc://again") != 0 || zmq_connect (b, "inproc://again") != 0
            || zmq_send (b, "again", 5, 0) != 5 || zmq_recv (a, buffer, sizeof buffer, 0) != 5)
            return 40;
        zmq_close (a);
        zmq_close (b);
        zmq_ctx_term (again);
    }
    printf ("  headroom %zu MiB: burst %zu MiB in flight, then malloc(%zu MiB) and a new "
            "context\n", headroom / MIB, total / MIB, want / MIB);
    return 0;
}

/* The child: a context with a socket and a thread, as the run under the
 * limit will have; the limit is what it maps then plus the headroom. */
static int limit_and_start_again (const char *self, size_t headroom)
{
    void *ctx = zmq_ctx_new ();
    void *s = zmq_socket (ctx, ZMQ_PULL);
    pthread_barrier_t gate;
    pthread_t thread;
    struct receiver r = {s, &gate, 0, 0};
    struct rlimit limit;
    char headroom_text[32];
    size_t base;
    pthread_barrier_init (&gate, NULL, 2);
    if (!s || zmq_bind (s, "inproc://probe") != 0 || pthread_create (&thread, NULL, receive_all, &r) != 0)
        return 50;
    /* A first limit, so that the program starts under one; the run sets the
     * exact one once its own context and thread exist (what it maps then
     * differs from what this process maps: its allocator's first arena). */
    base = vm_size ();
    limit.rlim_cur = base + headroom;
    limit.rlim_max = RLIM_INFINITY;
    if (setrlimit (RLIMIT_AS, &limit) != 0)
        return 51;
    snprintf (headroom_text, sizeof headroom_text, "%zu", headroom);
    execl (self, self, "--limited", headroom_text, (char *) NULL);
    return 52;
}

static size_t current_headroom;
static char self_path[4096];

static void memory_freed_under_rlimit_as_comes_back (void)
{
    int status;
    pid_t pid;
    fflush (NULL);
    pid = fork ();
    if (pid == 0)
        _exit (getenv ("TEST_RLIMIT_IN_PROCESS") ? limited_run (current_headroom)
                                                 : limit_and_start_again (self_path, current_headroom));
    CHECK (pid > 0);
    CHECK_EQ_INT (waitpid (pid, &status, 0), pid);
    CHECK (WIFEXITED (status));
    CHECK_EQ_INT (WEXITSTATUS (status), 0);
}

int main (int argc, char **argv)
{
    static const size_t headrooms[] = {512 * MIB, 1024 * MIB, 2048 * MIB};
    size_t i;
    ssize_t len;
    if (argc == 3 && strcmp (argv[1], "--limited") == 0)
        return limited_run ((size_t) strtoull (argv[2], NULL, 10));
    len = readlink ("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0)
        return 2;
    self_path[len] = '\0';
    probe_require_zmqpool_if_expected ("test_rlimit");
    printf ("test_rlimit: %s\n", probe_zmqpool_in_use () ? "zmqpool in use" : "libzmq alone (control)");
    for (i = 0; i < sizeof headrooms / sizeof headrooms[0]; i++) {
        current_headroom = headrooms[i];
        RUN (memory_freed_under_rlimit_as_comes_back);
    }
    return harness_finish ("test_rlimit");
}
