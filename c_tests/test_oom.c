/* Out of memory is an error, never an abort: under an address-space limit
 * (setrlimit(RLIMIT_AS), as `ulimit -v` and batch schedulers impose), and
 * for sizes no machine can back, every call fails with ENOMEM (or NULL)
 * and the process goes on working once memory is back. Each case runs in a
 * child process, so the limit and the exhaustion stay there; a child that
 * aborts or crashes fails the test.
 *
 * Links zmqpool and libzmq; also run under libzmqpool-malloc.so. */
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

#include "zmqpool.h"
#include "harness.h"

/* The process's current address-space size, from /proc/self/statm. */
static size_t address_space (void)
{
    unsigned long pages = 0;
    FILE *statm = fopen ("/proc/self/statm", "r");
    if (statm) {
        if (fscanf (statm, "%lu", &pages) != 1)
            pages = 0;
        fclose (statm);
    }
    return (size_t) pages * (size_t) sysconf (_SC_PAGESIZE);
}

/* Lowers the soft limit only, so that "memory comes back" can be modelled
 * by raising it again (as when other processes free memory). */
static struct rlimit original_limit;

static int limit_address_space (size_t headroom)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_AS, &original_limit) != 0)
        return -1;
    limit = original_limit;
    limit.rlim_cur = address_space () + headroom;
    return setrlimit (RLIMIT_AS, &limit);
}

static int lift_address_space_limit (void)
{
    return setrlimit (RLIMIT_AS, &original_limit);
}

/* Runs `body` in a child; returns its exit status (-1: killed by a
 * signal, e.g. an abort). */
static int in_child (int (*body) (void))
{
    int status;
    pid_t pid;
    fflush (NULL);
    pid = fork ();
    if (pid == 0)
        _exit (body ());
    if (pid < 0 || waitpid (pid, &status, 0) != pid)
        return -2;
    if (WIFSIGNALED (status)) {
        fprintf (stderr, "  child killed by signal %d\n", WTERMSIG (status));
        return -1;
    }
    return WEXITSTATUS (status);
}

/* Holds what the exhaustion took, to give it back. */
#define HELD_MAX 100000
static void *held[HELD_MAX];
static int held_count;

/* Takes pool blocks of `size` until ENOMEM; 0 if the failure was ENOMEM. */
static int exhaust (size_t size)
{
    while (held_count < HELD_MAX) {
        void *p;
        errno = 0;
        p = zmqpool_alloc (size);
        if (!p)
            return errno == ENOMEM ? 0 : 1;
        held[held_count++] = p;
    }
    return 0;
}

/* Every size class drained, large to small: what is left in partly used
 * pages of one size is taken too, so no request of any size can succeed. */
static int exhaust_all (void)
{
    size_t size = (size_t) 8 << 20;
    while (size >= 16) {
        if (exhaust (size))
            return 1;
        size = size > 1024 ? size * 4 / 5 : size - 16;
    }
    return 0;
}

/* The same with the C heap (thread start-up, TLS and libzmq use it). */
static void *held_c[HELD_MAX];
static int held_c_count;

static void exhaust_c_heap (void)
{
    size_t size;
    for (size = (size_t) 8 << 20; size >= 16; size /= 8)
        while (held_c_count < HELD_MAX) {
            void *p = malloc (size);
            if (!p)
                break;
            held_c[held_c_count++] = p;
        }
}

static void give_back (void)
{
    while (held_count > 0)
        zmqpool_dealloc (held[--held_count]);
    while (held_c_count > 0)
        free (held_c[--held_c_count]);
    zmqpool_trim ();
}

/* With about 256 MiB of headroom a program works: messages up to 1 MiB,
 * threads, a libzmq context with inproc sockets (mimalloc reserves 64 MiB
 * arenas, not its default 1 GiB). */
static int child_works_with_little_headroom (void)
{
    void *ctx, *push, *pull;
    zmq_msg_t msg;
    if (limit_address_space ((size_t) 256 << 20) != 0)
        return 10;
    if (zmq_msg_init_size (&msg, 1 << 20) != 0)
        return 11;
    memset (zmq_msg_data (&msg), 1, 1 << 20);
    ctx = zmq_ctx_new ();
    if (!ctx)
        return 12;
    push = zmq_socket (ctx, ZMQ_PUSH);
    pull = zmq_socket (ctx, ZMQ_PULL);
    if (!push || !pull || zmq_bind (pull, "inproc://oom") != 0
        || zmq_connect (push, "inproc://oom") != 0)
        return 13;
    if (zmq_msg_send (&msg, push, 0) != 1 << 20)
        return 14;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, pull, 0) != 1 << 20
        || ((unsigned char *) zmq_msg_data (&msg))[12345] != 1)
        return 15;
    zmq_msg_close (&msg);
    zmq_close (push);
    zmq_close (pull);
    return zmq_ctx_term (ctx) == 0 ? 0 : 16;
}

static void a_small_address_space_is_enough (void)
{
    CHECK_EQ_INT (in_child (child_works_with_little_headroom), 0);
}

static pthread_barrier_t exhausted;
static int late_thread_result;

/* A thread whose first pool call comes when memory is exhausted: no
 * record can be made for it, so it goes without a cache. */
static void *first_call_when_exhausted (void *arg)
{
    zmq_msg_t msg;
    (void) arg;
    pthread_barrier_wait (&exhausted);
    errno = 0;
    if (zmq_msg_init_size (&msg, 4096) == 0) {
        /* Memory was exhausted: this must not succeed. */
        zmq_msg_close (&msg);
        late_thread_result = 1;
    } else
        late_thread_result = errno == ENOMEM ? 2 : 3;
    pthread_barrier_wait (&exhausted); /* the call is made */
    pthread_barrier_wait (&exhausted); /* memory is back */
    if (zmq_msg_init_size (&msg, 4096) != 0) {
        fprintf (stderr, "  late thread after recovery: errno %d\n", errno);
        late_thread_result = 4;
    }
    else
        zmq_msg_close (&msg);
    return NULL;
}

static int child_exhausts_memory_and_recovers (void)
{
    pthread_t late;
    zmq_msg_t msg;
    zmqpool_decoder_t *decoder;
    zmqpool_encoder_t *encoder;
    /* No decay here: on a loaded machine the exhaustion below can outlast
     * the decay time, and the helper would then give cached memory back to
     * the system (as it should) before the late thread's first call. */
    if (zmqpool_set_decay_ms (0) != 0)
        return 19;
    if (pthread_barrier_init (&exhausted, NULL, 2) != 0)
        return 20;
    if (pthread_create (&late, NULL, first_call_when_exhausted, NULL) != 0)
        return 21;
    if (limit_address_space ((size_t) 512 << 20) != 0)
        return 22;
    /* Large, then medium, then small blocks until nothing is left, from
     * the pool and from the C heap. */
    if (exhaust_all ())
        return 23;
    exhaust_c_heap ();
    /* Messages until one is refused: ENOMEM, never an abort. */
    {
        static zmq_msg_t kept[1000];
        int count = 0, failed;
        do {
            errno = 0;
            failed = zmq_msg_init_size (&kept[count], 100000) != 0;
        } while (!failed && ++count < 1000);
        if (!failed || errno != ENOMEM)
            return 24;
        /* A failed init leaves an empty, closable message. */
        if (zmq_msg_close (&kept[count]) != 0)
            return 25;
        while (count > 0)
            zmq_msg_close (&kept[--count]);
        if (exhaust_all ())
            return 23;
    }
    /* Nothing is left: the codec cannot be made, and says so. */
    errno = 0;
    decoder = zmqpool_decoder_new (0, 1 << 20);
    if (decoder != NULL || errno != ENOMEM) {
        fprintf (stderr, "  decoder_new with memory exhausted: %p errno %d\n",
                 (void *) decoder, errno);
        return 26;
    }
    errno = 0;
    encoder = zmqpool_encoder_new (1 << 20);
    if (encoder != NULL || errno != ENOMEM)
        return 26;
    /* fork() with memory exhausted: the handlers allocate nothing, and
     * the child works (or reports ENOMEM), never hangs or aborts. */
    {
        int status;
        pid_t pid;
        fflush (NULL);
        pid = fork ();
        if (pid == 0) {
            zmq_msg_t small;
            alarm (20);
            if (zmq_msg_init_size (&small, 100) == 0)
                zmq_msg_close (&small);
            else if (errno != ENOMEM)
                _exit (3);
            _exit (0);
        }
        if (pid < 0 || waitpid (pid, &status, 0) != pid || !WIFEXITED (status)
            || WEXITSTATUS (status) != 0)
            return 30;
    }
    pthread_barrier_wait (&exhausted); /* the late thread's first call... */
    pthread_barrier_wait (&exhausted); /* ...made, before anything is freed */
    /* Memory comes back: what was taken is released, and the limit lifted
     * (mimalloc keeps the address space it reserved, so releasing alone
     * would not make room under a hard cap). */
    give_back ();
    if (lift_address_space_limit () != 0)
        return 29;
    pthread_barrier_wait (&exhausted);
    pthread_join (late, NULL);
    if (late_thread_result != 2) {
        fprintf (stderr, "  late thread: %d\n", late_thread_result);
        return 27;
    }
    /* Memory is back: everything works again. */
    if (zmq_msg_init_size (&msg, 100000) != 0)
        return 28;
    zmq_msg_close (&msg);
    return 0;
}

static void exhausted_memory_gives_enomem_and_the_process_recovers (void)
{
    CHECK_EQ_INT (in_child (child_exhausts_memory_and_recovers), 0);
}

/* The ZMTP decoder: a frame whose body cannot be allocated fails with
 * ENOMEM, which is not a stream error: once memory is back, the same
 * decoder makes the message and reads its body. */
static int child_decoder_survives_enomem (void)
{
    const size_t body = (size_t) 64 << 20;
    unsigned char header[9] = {2, 0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char *chunk;
    size_t used = 0, fed = 0;
    zmq_msg_t msg;
    int rc;
    zmqpool_decoder_t *decoder = zmqpool_decoder_new (0, -1);
    chunk = (unsigned char *) calloc (1, 1 << 20);
    if (!decoder || !chunk)
        return 30;
    header[5] = (unsigned char) (body >> 24);
    header[6] = (unsigned char) (body >> 16);
    if (limit_address_space ((size_t) 16 << 20) != 0)
        return 31;
    errno = 0;
    rc = zmqpool_decoder_decode (decoder, header, sizeof header, &used);
    if (rc != -1 || errno != ENOMEM || used != sizeof header)
        return 32;
    errno = 0;
    if (zmqpool_decoder_decode (decoder, NULL, 0, &used) != -1 || errno != ENOMEM)
        return 33;
    if (lift_address_space_limit () != 0)
        return 34;
    if (zmqpool_decoder_decode (decoder, NULL, 0, &used) != 0 || used != 0)
        return 35;
    while (fed < body) {
        size_t n = body - fed < (1u << 20) ? body - fed : (1u << 20);
        memset (chunk, (int) (fed >> 20), n);
        rc = zmqpool_decoder_decode (decoder, chunk, n, &used);
        if (rc < 0 || used != n)
            return 36;
        fed += n;
    }
    if (rc != 1)
        return 37;
    zmq_msg_init (&msg);
    if (zmqpool_decoder_take_msg (decoder, &msg) != 0 || zmq_msg_size (&msg) != body
        || ((unsigned char *) zmq_msg_data (&msg))[body - 1] != 63)
        return 38;
    zmq_msg_close (&msg);
    zmqpool_decoder_destroy (decoder);
    free (chunk);
    return 0;
}

static void the_decoder_recovers_from_enomem (void)
{
    CHECK_EQ_INT (in_child (child_decoder_survives_enomem), 0);
}

/* Sizes no allocator can back fail at once, without reserving address
 * space for them (as libzmq's malloc does, above physical memory). */
static void sizes_beyond_memory_are_enomem (void)
{
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 47, SIZE_MAX / 2,
                                   (size_t) 1 << 46, (size_t) 1 << 40};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        zmq_msg_t msg;
        char byte = 0;
        CHECK_FAILS (zmq_msg_init_size (&msg, sizes[i]), -1, ENOMEM);
        CHECK_EQ_INT (zmq_msg_close (&msg), 0);
        CHECK_FAILS (zmqpool_alloc (sizes[i]), NULL, ENOMEM);
        CHECK_FAILS (zmq_msg_init_buffer (&msg, &byte, sizes[i]), -1, ENOMEM);
    }
}

int main (void)
{
    RUN (sizes_beyond_memory_are_enomem);
    RUN (a_small_address_space_is_enough);
    RUN (exhausted_memory_gives_enomem_and_the_process_recovers);
    RUN (the_decoder_recovers_from_enomem);
    return harness_finish ("test_oom");
}
