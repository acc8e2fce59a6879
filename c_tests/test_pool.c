/* zmqpool's own API: zmqpool_alloc/dealloc/usable_size/trim/stats, the
 * backend switch, the cache cap and the environment variables, as a C
 * program sees them. Links zmqpool and libzmq. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "zmqpool.h"
#include "harness.h"

static const char *self_path;

static zmqpool_stats_t stats_now (void)
{
    zmqpool_stats_t stats;
    memset (&stats, 0xFF, sizeof stats);
    if (zmqpool_stats (&stats) != 0)
        abort ();
    return stats;
}

static void alloc_gives_aligned_blocks_with_room_for_the_request (void)
{
    static const size_t sizes[] = {1,     15,     16,     64,      100,
                                   4096,  65536,  262144, 524288,  600000,
                                   4000000};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = (unsigned char *) zmqpool_alloc (sizes[i]);
        CHECK (p != NULL);
        CHECK ((uintptr_t) p % 16 == 0);
        CHECK (zmqpool_usable_size (p) >= sizes[i]);
        if (sizes[i] >= 64)
            CHECK (zmqpool_usable_size (p) - sizes[i] <= sizes[i] / 4);
        p[0] = 1;
        p[sizes[i] - 1] = 2;
        zmqpool_dealloc (p);
    }
}

static void zero_sized_blocks_are_unique_and_null_is_ignored (void)
{
    void *a = zmqpool_alloc (0), *b = zmqpool_alloc (0);
    CHECK (a != NULL && b != NULL && a != b);
    zmqpool_dealloc (a);
    zmqpool_dealloc (b);
    zmqpool_dealloc (NULL);
    CHECK_EQ_INT (zmqpool_usable_size (NULL), 0);
}

static void impossible_sizes_are_enomem (void)
{
    CHECK_FAILS (zmqpool_alloc (SIZE_MAX), NULL, ENOMEM);
    CHECK_FAILS (zmqpool_alloc (SIZE_MAX / 2), NULL, ENOMEM);
}

static void stats_needs_somewhere_to_write (void)
{
    CHECK_FAILS (zmqpool_stats_get (NULL, sizeof (zmqpool_stats_t)), -1, EFAULT);
    CHECK_FAILS ((zmqpool_stats) (NULL), -1, EFAULT);
}

/* A caller's struct may be older (smaller) or newer (larger) than the
 * library's: only its own bytes are written, and bytes the library does not
 * know are zeroed. The 0.1 entry point writes the 0.1 struct: 64 bytes. */
static void stats_write_only_the_callers_size (void)
{
    unsigned char buffer[sizeof (zmqpool_stats_t) + 64];
    zmqpool_stats_t full;
    uint64_t threads;
    size_t i;
    memset (buffer, 0xAB, sizeof buffer);
    CHECK_EQ_INT (zmqpool_stats_get ((zmqpool_stats_t *) (void *) buffer, 16), 0);
    for (i = 16; i < sizeof buffer; i++)
        CHECK_EQ_INT (buffer[i], 0xAB);
    memset (buffer, 0xAB, sizeof buffer);
    CHECK_EQ_INT ((zmqpool_stats) ((zmqpool_stats_t *) (void *) buffer), 0);
    for (i = 64; i < sizeof buffer; i++)
        CHECK_EQ_INT (buffer[i], 0xAB);
    memcpy (&threads, buffer + 56, sizeof threads);
    CHECK (threads >= 1); /* this thread holds a cache */
    memset (buffer, 0xAB, sizeof buffer);
    CHECK_EQ_INT (zmqpool_stats_get ((zmqpool_stats_t *) (void *) buffer, sizeof buffer), 0);
    for (i = sizeof (zmqpool_stats_t); i < sizeof buffer; i++)
        CHECK_EQ_INT (buffer[i], 0);
    CHECK_EQ_INT (zmqpool_stats (&full), 0);
    CHECK (full.threads >= 1);
}

static void *free_all (void *arg)
{
    void **blocks = (void **) arg;
    int i;
    for (i = 0; i < 100; i++)
        zmqpool_dealloc (blocks[i]);
    return NULL;
}

static void frees_on_another_thread_are_counted_as_foreign (void)
{
    void *blocks[100];
    pthread_t thread;
    zmqpool_stats_t before = stats_now (), after;
    int i;
    for (i = 0; i < 100; i++)
        blocks[i] = zmqpool_alloc (1000);
    CHECK (stats_now ().bytes_in_use >= before.bytes_in_use + 100 * 1000);
    CHECK_EQ_INT (pthread_create (&thread, NULL, free_all, blocks), 0);
    CHECK_EQ_INT (pthread_join (thread, NULL), 0);
    after = stats_now ();
    CHECK_EQ_INT (after.allocations - before.allocations, 100);
    CHECK_EQ_INT (after.frees - before.frees, 100);
    CHECK_EQ_INT (after.foreign_frees - before.foreign_frees, 100);
    CHECK_EQ_INT (after.bytes_in_use, before.bytes_in_use);
}

static void messages_are_counted_by_the_pool (void)
{
    zmq_msg_t msg;
    zmqpool_stats_t before = stats_now (), after;
    CHECK_EQ_INT (zmq_msg_init_size (&msg, 10), 0); /* inline: no block */
    CHECK_EQ_INT (zmq_msg_close (&msg), 0);
    CHECK_EQ_INT (zmq_msg_init_size (&msg, 5000), 0);
    CHECK_EQ_INT (stats_now ().allocations - before.allocations, 1);
    CHECK_EQ_INT (zmq_msg_close (&msg), 0);
    after = stats_now ();
    CHECK_EQ_INT (after.frees - before.frees, 1);
    CHECK_EQ_INT (after.bytes_in_use, before.bytes_in_use);
}

static void repeated_messages_hit_the_thread_cache (void)
{
    zmqpool_stats_t before, after;
    int i;
    CHECK_EQ_INT (zmqpool_get_backend (), ZMQPOOL_BACKEND_POOL);
    before = stats_now ();
    for (i = 0; i < 1000; i++) {
        zmq_msg_t msg;
        CHECK_EQ_INT (zmq_msg_init_size (&msg, 8192), 0);
        CHECK_EQ_INT (zmq_msg_close (&msg), 0);
    }
    after = stats_now ();
    CHECK (after.cache_hits - before.cache_hits >= 999);
    CHECK (after.cache_misses - before.cache_misses <= 1);
}

static void backend_switch_keeps_old_blocks_releasable (void)
{
    void *pooled, *direct, *system;
    CHECK_FAILS (zmqpool_set_backend (0), -1, EINVAL);
    CHECK_FAILS (zmqpool_set_backend (4), -1, EINVAL);
    pooled = zmqpool_alloc (3000);
    CHECK_EQ_INT (zmqpool_set_backend (ZMQPOOL_BACKEND_MIMALLOC), 0);
    CHECK_EQ_INT (zmqpool_get_backend (), ZMQPOOL_BACKEND_MIMALLOC);
    direct = zmqpool_alloc (3000);
    CHECK_EQ_INT (zmqpool_set_backend (ZMQPOOL_BACKEND_SYSTEM), 0);
    system = zmqpool_alloc (3000);
    CHECK (pooled && direct && system);
    CHECK_EQ_INT (zmqpool_set_backend (ZMQPOOL_BACKEND_POOL), 0);
    zmqpool_dealloc (system);
    zmqpool_dealloc (direct);
    zmqpool_dealloc (pooled);
}

static void *allocate_and_exit (void *arg)
{
    void **blocks = (void **) arg;
    int i;
    for (i = 0; i < 100; i++) {
        blocks[i] = zmqpool_alloc (700);
        memset (blocks[i], i, 700);
    }
    return NULL;
}

static void blocks_outlive_their_thread (void)
{
    void *blocks[100];
    pthread_t thread;
    int i;
    CHECK_EQ_INT (pthread_create (&thread, NULL, allocate_and_exit, blocks),
                  0);
    CHECK_EQ_INT (pthread_join (thread, NULL), 0);
    for (i = 0; i < 100; i++) {
        CHECK (((unsigned char *) blocks[i])[699] == (unsigned char) i);
        zmqpool_dealloc (blocks[i]);
    }
}

static void a_thread_keeps_no_more_than_its_cap (void)
{
    void *blocks[300];
    zmqpool_stats_t stats;
    int i;
    zmqpool_trim ();
    zmqpool_set_max_cached_bytes (0); /* the depot keeps nothing */
    zmqpool_set_max_thread_cached_bytes (64 * 1024);
    for (i = 0; i < 300; i++)
        blocks[i] = zmqpool_alloc (2000 + (size_t) i * 50);
    for (i = 0; i < 300; i++)
        zmqpool_dealloc (blocks[i]);
    stats = stats_now ();
    CHECK (stats.bytes_cached <= 64 * 1024);
    zmqpool_set_max_thread_cached_bytes (4u << 20);
    zmqpool_set_max_cached_bytes (64u << 20);
}

static void trim_with_a_zero_cap_leaves_nothing_cached (void)
{
    void *blocks[200];
    int i;
    for (i = 0; i < 200; i++)
        blocks[i] = zmqpool_alloc (10000);
    for (i = 0; i < 200; i++)
        zmqpool_dealloc (blocks[i]);
    CHECK (stats_now ().bytes_cached > 0);
    zmqpool_set_max_cached_bytes (0);
    zmqpool_trim ();
    CHECK_EQ_INT (stats_now ().bytes_cached, 0);
    zmqpool_set_max_cached_bytes (64u << 20);
}

/* Producer/consumer through a bounded queue: the resident set stays near
 * in-flight bytes plus the cache cap, however many messages pass. */
#define QUEUE 64
static struct
{
    pthread_mutex_t lock;
    pthread_cond_t changed;
    void *items[QUEUE];
    int head, count, done;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

static void *consume (void *arg)
{
    (void) arg;
    for (;;) {
        void *item;
        pthread_mutex_lock (&queue.lock);
        while (queue.count == 0 && !queue.done)
            pthread_cond_wait (&queue.changed, &queue.lock);
        if (queue.count == 0) {
            pthread_mutex_unlock (&queue.lock);
            return NULL;
        }
        item = queue.items[queue.head];
        queue.head = (queue.head + 1) % QUEUE;
        queue.count--;
        pthread_cond_broadcast (&queue.changed);
        pthread_mutex_unlock (&queue.lock);
        zmqpool_dealloc (item);
    }
}

static void sustained_producer_consumer_stays_bounded (void)
{
    pthread_t consumer;
    long start_kib, end_kib, i;
    const long messages = 40000;
    const size_t size = 65536;
    start_kib = resident_kib ();
    CHECK_EQ_INT (pthread_create (&consumer, NULL, consume, NULL), 0);
    for (i = 0; i < messages; i++) {
        unsigned char *block = (unsigned char *) zmqpool_alloc (size);
        CHECK (block != NULL);
        block[0] = block[size - 1] = (unsigned char) i;
        pthread_mutex_lock (&queue.lock);
        while (queue.count == QUEUE)
            pthread_cond_wait (&queue.changed, &queue.lock);
        queue.items[(queue.head + queue.count) % QUEUE] = block;
        queue.count++;
        pthread_cond_broadcast (&queue.changed);
        pthread_mutex_unlock (&queue.lock);
    }
    pthread_mutex_lock (&queue.lock);
    queue.done = 1;
    pthread_cond_broadcast (&queue.changed);
    pthread_mutex_unlock (&queue.lock);
    CHECK_EQ_INT (pthread_join (consumer, NULL), 0);
    end_kib = resident_kib ();
    /* 40000 x 64 KiB = 2.5 GiB passed through; allow in-flight (4 MiB),
     * the 64 MiB cap, thread caches and slack. */
    printf ("     resident: %ld KiB before, %ld KiB after 2.5 GiB\n",
            start_kib, end_kib);
    CHECK (end_kib - start_kib < 96 * 1024);
}

static volatile int churn_stop;
static void *churn (void *arg)
{
    (void) arg;
    while (!churn_stop) {
        void *blocks[40];
        int i;
        for (i = 0; i < 40; i++)
            blocks[i] = zmqpool_alloc ((size_t) (i + 1) * 900);
        for (i = 0; i < 40; i++)
            zmqpool_dealloc (blocks[i]);
        zmqpool_trim ();
    }
    return NULL;
}

/* A fork while another thread holds pool locks must not leave the child
 * stuck: the child allocates, frees, trims and exits within its alarm. */
static void fork_while_another_thread_allocates (void)
{
    pthread_t thread;
    int round, status;
    churn_stop = 0;
    CHECK_EQ_INT (pthread_create (&thread, NULL, churn, NULL), 0);
    for (round = 0; round < 20; round++) {
        pid_t pid = fork ();
        CHECK (pid >= 0);
        if (pid == 0) {
            void *blocks[100];
            int i;
            alarm (10);
            for (i = 0; i < 100; i++)
                blocks[i] = zmqpool_alloc ((size_t) (i + 1) * 500);
            for (i = 0; i < 100; i++)
                zmqpool_dealloc (blocks[i]);
            zmqpool_trim ();
            _exit (stats_now ().allocations >= 100 ? 0 : 3);
        }
        CHECK_EQ_INT (waitpid (pid, &status, 0), pid);
        CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    churn_stop = 1;
    CHECK_EQ_INT (pthread_join (thread, NULL), 0);
}

/* Runs this program with `env` and `mode`: 1 if it succeeded and printed
 * `expect`, 0 if it succeeded without, -1 if it failed. */
static int child_prints (const char *env, const char *mode, const char *expect)
{
    char command[1024], output[4096];
    size_t got;
    FILE *child;
    snprintf (command, sizeof command, "env %s '%s' %s 2>&1", env, self_path,
              mode);
    child = popen (command, "r");
    if (!child)
        return -1;
    got = fread (output, 1, sizeof output - 1, child);
    output[got] = '\0';
    if (pclose (child) != 0) {
        fprintf (stderr, "  child (%s %s) failed, printed:\n%s\n", env, mode, output);
        return -1;
    }
    return strstr (output, expect) != NULL;
}

static int run_child (const char *env, const char *mode, const char *expect)
{
    int found = child_prints (env, mode, expect);
    if (found == 0)
        fprintf (stderr, "  child (%s %s) did not print \"%s\"\n", env, mode, expect);
    return found == 1;
}

static void verbose_announces_the_load (void)
{
    CHECK (run_child ("ZMQPOOL_VERBOSE=1", "--child", "zmqpool 0.2.0: loaded"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_BACKEND=system", "--child",
                      "backend system"));
}

static void show_stats_prints_at_exit (void)
{
    CHECK (run_child ("ZMQPOOL_SHOW_STATS=1", "--child", "foreign frees"));
    CHECK (run_child ("ZMQPOOL_SHOW_STATS=1", "--child", "allocations"));
}

static void a_closed_stderr_does_not_kill_the_program (void)
{
    char command[1024];
    snprintf (command, sizeof command,
              "ZMQPOOL_VERBOSE=1 ZMQPOOL_SHOW_STATS=1 '%s' --child 2>&-",
              self_path);
    CHECK_EQ_INT (system (command), 0);
}

static void environment_chooses_backend_and_cap (void)
{
    CHECK (run_child ("ZMQPOOL_BACKEND=mimalloc", "--print-backend",
                      "backend=2"));
    CHECK (run_child ("ZMQPOOL_BACKEND=system", "--print-backend",
                      "backend=3"));
    CHECK (run_child ("ZMQPOOL_BACKEND=bogus", "--print-backend",
                      "backend=1"));
    /* 200 blocks of 64 KiB freed on one thread without a trim: a thread
     * list keeps one batch (16 of them), the rest goes to the depot,
     * unless its cap is 0 (the variable must really be read). */
    CHECK (run_child ("ZMQPOOL_MAX_CACHED_BYTES=0", "--print-cached",
                      "depot=0 "));
    CHECK (run_child ("", "--print-cached", "(most of them)"));
}

/* Settings: size suffixes, ZMQPOOL_CONF, a separate variable overriding
 * its key, and a malformed value reported (and the default kept). */
static void settings_take_suffixes_and_conf_and_report_mistakes (void)
{
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_MAX_CACHED_BYTES=8M", "--child",
                      "depot cap 8388608 bytes"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_MAX_THREAD_CACHED_BYTES=512KiB",
                      "--child", "thread cap 524288 bytes"));
    CHECK (run_child ("ZMQPOOL_CONF=max_cached=16M,thread_cached=1m,verbose=1",
                      "--child", "depot cap 16777216 bytes, thread cap 1048576 bytes"));
    CHECK (run_child ("ZMQPOOL_CONF=max_cached=16M,verbose=1 ZMQPOOL_MAX_CACHED_BYTES=2M",
                      "--child", "depot cap 2097152 bytes"));
    CHECK (run_child ("ZMQPOOL_CONF=backend=system,verbose=1", "--child",
                      "backend system"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_MAX_CACHED_BYTES=12X", "--child",
                      "ignored malformed ZMQPOOL_MAX_CACHED_BYTES=12X"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_MAX_CACHED_BYTES=12X", "--child",
                      "depot cap 1073741824 bytes"));
    /* The default cap follows decay: 1 GiB while idle blocks decay, 64 MiB
     * with decay off; a cap the user sets holds either way. */
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_DECAY_MS=0", "--child",
                      "depot cap 67108864 bytes"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_DECAY_MS=0 ZMQPOOL_MAX_CACHED_BYTES=2G",
                      "--child", "depot cap 2147483648 bytes"));
    CHECK (run_child ("ZMQPOOL_CONF=max_cached=lots,nonsense,verbose=1", "--child",
                      "ignored malformed ZMQPOOL_CONF=nonsense"));
    /* A malformed item is quoted whole, key and value. */
    CHECK (run_child ("ZMQPOOL_CONF=colour=blue,verbose=1", "--child",
                      "ignored malformed ZMQPOOL_CONF=colour=blue"));
    CHECK (run_child ("ZMQPOOL_CONF=a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,verbose=1",
                      "--child", "and 2 more malformed settings"));
    /* Names and flags in any case; off means off. */
    CHECK (run_child ("ZMQPOOL_CONF=backend=SYSTEM,verbose=1", "--child", "backend system"));
    CHECK (run_child ("ZMQPOOL_BACKEND=Mimalloc", "--print-backend", "backend=2"));
    CHECK_EQ_INT (child_prints ("ZMQPOOL_VERBOSE=off", "--child", "zmqpool 0.2.0: loaded"), 0);
    CHECK_EQ_INT (child_prints ("ZMQPOOL_VERBOSE=false", "--child", "zmqpool 0.2.0: loaded"), 0);
    CHECK (run_child ("ZMQPOOL_VERBOSE=yes", "--child", "zmqpool 0.2.0: loaded"));
}

static int child (const char *mode)
{
    void *blocks[50];
    int i;
    if (strcmp (mode, "--print-backend") == 0) {
        printf ("backend=%d\n", zmqpool_get_backend ());
        return 0;
    }
    if (strcmp (mode, "--print-cached") == 0) {
        static void *big[200];
        unsigned long long depot;
        for (i = 0; i < 200; i++)
            big[i] = zmqpool_alloc (65536);
        for (i = 0; i < 200; i++)
            zmqpool_dealloc (big[i]);
        /* Bytes beyond this thread's list (at most 16 x 64 KiB), in MiB. */
        depot = stats_now ().bytes_cached;
        depot = depot > (17u << 16) ? (depot - (17u << 16)) >> 20 : 0;
        printf ("depot=%llu MiB (%s)\n", depot, depot >= 8 ? "most of them" : "few");
        return 0;
    }
    for (i = 0; i < 50; i++)
        blocks[i] = zmqpool_alloc (20000);
    for (i = 0; i < 50; i++)
        zmqpool_dealloc (blocks[i]);
    return 0;
}

int main (int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 2)
        return child (argv[1]);
    RUN (alloc_gives_aligned_blocks_with_room_for_the_request);
    RUN (zero_sized_blocks_are_unique_and_null_is_ignored);
    RUN (impossible_sizes_are_enomem);
    RUN (stats_needs_somewhere_to_write);
    RUN (stats_write_only_the_callers_size);
    RUN (frees_on_another_thread_are_counted_as_foreign);
    RUN (messages_are_counted_by_the_pool);
    RUN (repeated_messages_hit_the_thread_cache);
    RUN (backend_switch_keeps_old_blocks_releasable);
    RUN (blocks_outlive_their_thread);
    RUN (trim_with_a_zero_cap_leaves_nothing_cached);
    RUN (a_thread_keeps_no_more_than_its_cap);
    RUN (sustained_producer_consumer_stays_bounded);
    /* Under valgrind a forked child reports the other threads' TLS as lost
     * (their copies can never be freed in the child): run it natively only. */
    if (getenv ("ZMQPOOL_TEST_NO_FORK"))
        SKIP (fork_while_another_thread_allocates, "ZMQPOOL_TEST_NO_FORK");
    else
        RUN (fork_while_another_thread_allocates);
    RUN (verbose_announces_the_load);
    RUN (show_stats_prints_at_exit);
    RUN (environment_chooses_backend_and_cap);
    RUN (settings_take_suffixes_and_conf_and_report_mistakes);
    RUN (a_closed_stderr_does_not_kill_the_program);
    zmqpool_trim ();
    return harness_finish ("test_pool");
}
