/* Memory that comes back by itself: blocks unused for the decay time go
 * back to mimalloc and its pages to the OS, with every thread idle or
 * blocked in zmq_recv; decay off keeps them; the setting, its variables,
 * after fork(); the statistics interval. Links zmqpool and libzmq.
 *
 * Waits poll with a generous deadline (10 s): the figures (within 3 s of a
 * burst) come from `make bench-rss`, not from here.
 *
 * usage: test_decay                 all tests
 *        test_decay --print-decay   prints "decay=N" (the environment's)
 *        test_decay --hold-rss MS   a burst, then MS ms idle; prints
 *                                   "over=KIB" (RSS over the baseline)
 *        test_decay --idle MS       some messages, then MS ms idle */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool.h"

static char self_path[4096];

static struct zmqpool_stats_t stats_now (void)
{
    struct zmqpool_stats_t stats;
    memset (&stats, 0, sizeof stats);
    zmqpool_stats (&stats);
    return stats;
}

static double now_ms (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

static void sleep_ms (long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep (&t, &t) != 0 && errno == EINTR)
        ;
}

/* Polls until no bytes are cached; returns the ms it took, or -1. */
static double wait_until_nothing_cached (double deadline_ms)
{
    double start = now_ms ();
    while (now_ms () - start < deadline_ms) {
        if (stats_now ().bytes_cached == 0)
            return now_ms () - start;
        sleep_ms (20);
    }
    return -1;
}

/* COUNT messages of SIZE bytes made, written, and closed on this thread. */
static int burst (int count, size_t size)
{
    zmq_msg_t *msgs = (zmq_msg_t *) calloc ((size_t) count, sizeof (zmq_msg_t));
    int i;
    if (!msgs)
        return 0;
    for (i = 0; i < count; i++) {
        if (zmq_msg_init_size (&msgs[i], size) != 0)
            return 0;
        memset (zmq_msg_data (&msgs[i]), i & 0xFF, size);
    }
    for (i = 0; i < count; i++)
        zmq_msg_close (&msgs[i]);
    free (msgs);
    return 1;
}

/* A number field of the JSON statistics ("key":N, the first one). */
static long long json_number (const char *key)
{
    char json[65536], pattern[128];
    const char *at;
    if (zmqpool_stats_json (json, sizeof json) >= sizeof json)
        return -1;
    snprintf (pattern, sizeof pattern, "\"%s\":", key);
    at = strstr (json, pattern);
    return at ? atoll (at + strlen (pattern)) : -1;
}

static void the_setting_round_trips_and_refuses_nonsense (void)
{
    CHECK_EQ_INT (zmqpool_get_decay_ms (), 1000);
    CHECK_EQ_INT (zmqpool_set_decay_ms (250), 0);
    CHECK_EQ_INT (zmqpool_get_decay_ms (), 250);
    CHECK_EQ_INT (zmqpool_set_decay_ms (0), 0);
    CHECK_EQ_INT (zmqpool_get_decay_ms (), 0);
    CHECK_EQ_INT (zmqpool_set_decay_ms (-1), 0);
    CHECK_EQ_INT (zmqpool_get_decay_ms (), -1);
    CHECK_FAILS (zmqpool_set_decay_ms (-2), -1, EINVAL);
    CHECK_FAILS (zmqpool_set_decay_ms (INT64_MIN), -1, EINVAL);
    CHECK_EQ_INT (zmqpool_get_decay_ms (), -1);
    CHECK_EQ_INT (zmqpool_set_decay_ms (INT64_MAX), 0);
    CHECK_EQ_INT (zmqpool_get_decay_ms (), INT64_MAX);
    CHECK_EQ_INT (zmqpool_set_decay_ms (1000), 0);
}

static int run_child (const char *env, const char *mode, const char *expect)
{
    char command[8192], output[8192];
    size_t got;
    FILE *child;
    if ((size_t) snprintf (command, sizeof command, "env %s '%s' %s 2>&1", env,
                           self_path, mode)
        >= sizeof command)
        return 0;
    child = popen (command, "r");
    if (!child)
        return 0;
    got = fread (output, 1, sizeof output - 1, child);
    output[got] = '\0';
    if (pclose (child) != 0 || strstr (output, expect) == NULL) {
        fprintf (stderr, "  child (%s %s) printed:\n%s\n", env, mode, output);
        return 0;
    }
    return 1;
}

static void the_environment_sets_it (void)
{
    CHECK (run_child ("ZMQPOOL_DECAY_MS=0", "--print-decay", "decay=0\n"));
    CHECK (run_child ("ZMQPOOL_DECAY_MS=now", "--print-decay", "decay=-1\n"));
    CHECK (run_child ("ZMQPOOL_DECAY_MS=' 2500 '", "--print-decay", "decay=2500\n"));
    CHECK (run_child ("ZMQPOOL_CONF=decay_ms=300", "--print-decay", "decay=300\n"));
    CHECK (run_child ("ZMQPOOL_CONF=decay_ms=300 ZMQPOOL_DECAY_MS=0", "--print-decay",
                      "decay=0\n"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_DECAY_MS=1s", "--print-decay",
                      "ignored malformed ZMQPOOL_DECAY_MS=1s"));
    CHECK (run_child ("ZMQPOOL_DECAY_MS=-5", "--print-decay", "decay=1000\n"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_STATS_INTERVAL_MS=often", "--print-decay",
                      "ignored malformed ZMQPOOL_STATS_INTERVAL_MS=often"));
    CHECK (run_child ("ZMQPOOL_VERBOSE=1 ZMQPOOL_DECAY_MS=0", "--print-decay",
                      "decay off"));
}

static void decay_off_keeps_what_the_pool_cached (void)
{
    uint64_t cached;
    CHECK_EQ_INT (zmqpool_set_decay_ms (0), 0);
    CHECK (burst (200, 65536));
    cached = stats_now ().bytes_cached;
    CHECK (cached >= 100 * 65536);
    sleep_ms (600);
    CHECK_EQ_INT (stats_now ().bytes_cached, cached);
    zmqpool_trim ();
    CHECK_EQ_INT (stats_now ().bytes_cached, 0);
}

/* While decay runs, the depot may keep a busy process's working set (its
 * default cap is 1 GiB); turned off, the default falls back to 64 MiB, and
 * what the depot holds beyond it goes back at once, not never. */
static void turning_decay_off_shrinks_the_depot_to_its_cap (void)
{
    uint64_t cached;
    CHECK_EQ_INT (zmqpool_set_decay_ms (1000), 0);
    CHECK (burst (600, 262144)); /* about 190 MiB */
    cached = stats_now ().bytes_cached;
    CHECK (cached > ((uint64_t) 100 << 20));
    CHECK_EQ_INT (zmqpool_set_decay_ms (0), 0);
    cached = stats_now ().bytes_cached;
    printf ("     (cached after decay off: %llu KiB)\n", (unsigned long long) (cached >> 10));
    /* The depot's 64 MiB plus this thread's 4 MiB. */
    CHECK (cached <= ((uint64_t) 68 << 20));
    zmqpool_trim ();
    CHECK_EQ_INT (zmqpool_set_decay_ms (1000), 0);
}

static void idle_blocks_go_back_after_the_decay_time (void)
{
    long long released_before = json_number ("released_bytes");
    double took;
    CHECK (released_before >= 0);
    CHECK_EQ_INT (zmqpool_set_decay_ms (300), 0);
    CHECK (burst (200, 65536));
    CHECK (burst (3000, 100));
    CHECK (stats_now ().bytes_cached >= 100 * 65536);
    took = wait_until_nothing_cached (10000);
    CHECK (took >= 0);
    printf ("     (cached blocks released %.0f ms after the burst, decay 300 ms)\n", took);
    CHECK (json_number ("released_bytes") - released_before >= 100LL * 65536);
    /* The pool still works after a release. */
    CHECK (burst (50, 65536));
    CHECK_EQ_INT (zmqpool_set_decay_ms (1000), 0);
}

static void decay_now_gives_back_at_once (void)
{
    CHECK_EQ_INT (zmqpool_set_decay_ms (-1), 0);
    CHECK (burst (100, 65536));
    CHECK (wait_until_nothing_cached (10000) >= 0);
    CHECK_EQ_INT (zmqpool_set_decay_ms (1000), 0);
}

/* A thread that filled its lists, then blocks in zmq_recv: its lists go
 * back while it waits, and it allocates normally when it wakes. */
struct blocked
{
    void *ctx;
    volatile int ready;
    int woke_ok;
};

static void *allocate_then_block (void *arg)
{
    struct blocked *b = (struct blocked *) arg;
    void *pull = zmq_socket (b->ctx, ZMQ_PULL);
    zmq_msg_t msg;
    int size;
    if (!pull || zmq_connect (pull, "inproc://decay-wake") != 0)
        return NULL;
    burst (100, 65536);
    burst (2000, 200);
    __atomic_store_n (&b->ready, 1, __ATOMIC_RELEASE);
    zmq_msg_init (&msg);
    size = zmq_msg_recv (&msg, pull, 0);
    b->woke_ok = size == 5000 && ((unsigned char *) zmq_msg_data (&msg))[4999] == 0x5A;
    zmq_msg_close (&msg);
    b->woke_ok = b->woke_ok && burst (100, 65536) && burst (2000, 200);
    zmq_close (pull);
    return NULL;
}

static void a_thread_blocked_in_zmq_recv_gives_back_its_lists (void)
{
    struct blocked b;
    pthread_t thread;
    void *push;
    zmq_msg_t msg;
    memset (&b, 0, sizeof b);
    zmqpool_trim ();
    CHECK_EQ_INT (zmqpool_set_decay_ms (0), 0);
    b.ctx = zmq_ctx_new ();
    CHECK (b.ctx != NULL);
    push = zmq_socket (b.ctx, ZMQ_PUSH);
    CHECK (push != NULL);
    CHECK_EQ_INT (zmq_bind (push, "inproc://decay-wake"), 0);
    CHECK_EQ_INT (pthread_create (&thread, NULL, allocate_then_block, &b), 0);
    while (!__atomic_load_n (&b.ready, __ATOMIC_ACQUIRE))
        sleep_ms (5);
    sleep_ms (50);
    /* Decay off: the blocked thread's lists stay. */
    CHECK (stats_now ().bytes_cached > 0);
    CHECK_EQ_INT (zmqpool_set_decay_ms (200), 0);
    CHECK (wait_until_nothing_cached (10000) >= 0);
    CHECK_EQ_INT (zmq_msg_init_size (&msg, 5000), 0);
    memset (zmq_msg_data (&msg), 0x5A, 5000);
    CHECK_EQ_INT (zmq_msg_send (&msg, push, 0), 5000);
    CHECK_EQ_INT (pthread_join (thread, NULL), 0);
    CHECK (b.woke_ok);
    CHECK_EQ_INT (zmq_close (push), 0);
    CHECK_EQ_INT (zmq_ctx_term (b.ctx), 0);
    CHECK_EQ_INT (zmqpool_set_decay_ms (1000), 0);
}

/* Made on two threads, closed on the other one (as libzmq's I/O threads
 * do), RSS back near the baseline afterwards. */
#define HALF 1000
static zmq_msg_t crossing[2][HALF];

static void *make_half (void *arg)
{
    zmq_msg_t *msgs = (zmq_msg_t *) arg;
    int i;
    for (i = 0; i < HALF; i++) {
        if (zmq_msg_init_size (&msgs[i], 65536) != 0)
            return NULL;
        memset (zmq_msg_data (&msgs[i]), i & 0xFF, 65536);
    }
    return arg;
}

static void *close_half (void *arg)
{
    zmq_msg_t *msgs = (zmq_msg_t *) arg;
    int i;
    for (i = 0; i < HALF; i++)
        zmq_msg_close (&msgs[i]);
    return arg;
}

/* A burst of 128 MiB across threads, then idle; returns the KiB over the
 * baseline after `idle_ms` (or when back within 8 MiB, if `until_back`). */
static long burst_then_idle (long idle_ms, int until_back, double *took)
{
    pthread_t threads[2];
    long baseline, over = -1;
    double start;
    int t;
    baseline = resident_kib ();
    for (t = 0; t < 2; t++)
        if (pthread_create (&threads[t], NULL, make_half, crossing[t]) != 0)
            return -1;
    for (t = 0; t < 2; t++)
        if (pthread_join (threads[t], NULL) != 0)
            return -1;
    for (t = 0; t < 2; t++)
        if (pthread_create (&threads[t], NULL, close_half, crossing[1 - t]) != 0)
            return -1;
    for (t = 0; t < 2; t++)
        if (pthread_join (threads[t], NULL) != 0)
            return -1;
    start = now_ms ();
    while (now_ms () - start < idle_ms) {
        over = resident_kib () - baseline;
        if (until_back && over <= 8 * 1024)
            break;
        sleep_ms (50);
    }
    *took = now_ms () - start;
    return resident_kib () - baseline;
}

static void resident_memory_comes_back_after_a_burst (void)
{
    double took = 0;
    long over;
    /* The default decay (1 s), in a fresh process. */
    CHECK (run_child ("", "--hold-rss 10000", "back=1"));
    /* Decay off: the pool keeps its caps' worth (the check can fail). */
    CHECK (run_child ("ZMQPOOL_DECAY_MS=0", "--hold-rss 1500", "back=0"));
    /* And here, after all the tests above. */
    over = burst_then_idle (10000, 1, &took);
    printf ("     (128 MiB burst over two threads: %ld KiB over the baseline after "
            "%.0f ms)\n",
            over, took);
    CHECK (over <= 8 * 1024);
}

static void a_forked_child_decays_too (void)
{
    pid_t pid;
    int status;
    CHECK_EQ_INT (zmqpool_get_decay_ms (), 1000);
    CHECK (burst (10, 65536));
    pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        /* No setter here (a setter starts the helper itself): the child's
         * helper must start from its own pool use. */
        burst (100, 65536);
        _exit (wait_until_nothing_cached (10000) >= 0 ? 0 : 3);
    }
    CHECK_EQ_INT (waitpid (pid, &status, 0), pid);
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

static int count_threads (void)
{
    int tasks = 0;
    DIR *dir = opendir ("/proc/self/task");
    struct dirent *entry;
    while (dir && (entry = readdir (dir)))
        tasks += entry->d_name[0] != '.';
    if (dir)
        closedir (dir);
    return tasks;
}

/* 1 if a thread of this process is named `name`. */
static int a_thread_is_named (const char *name)
{
    char path[300], comm[64];
    int found = 0;
    DIR *dir = opendir ("/proc/self/task");
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        FILE *file;
        if (entry->d_name[0] == '.')
            continue;
        snprintf (path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
        file = fopen (path, "r");
        if (file && fgets (comm, sizeof comm, file)) {
            comm[strcspn (comm, "\n")] = '\0';
            found |= strcmp (comm, name) == 0;
        }
        if (file)
            fclose (file);
    }
    if (dir)
        closedir (dir);
    return found;
}

/* The helper names itself (it is detached: its handle may be stale by the
 * time its creator would use it). */
static void the_helper_thread_is_named_zmqpool_decay (void)
{
    CHECK (run_child ("ZMQPOOL_DECAY_MS=now", "--helper-name", "helper named\n"));
    CHECK (run_child ("ZMQPOOL_DECAY_MS=0", "--helper-name", "no helper\n"));
}

/* Settings alone start nothing: a process that never makes a message has
 * no helper thread (the constructor that reads them runs before the
 * allocator it uses is set up: a thread started there corrupted its heap). */
static void settings_alone_start_no_thread (void)
{
    CHECK (run_child ("ZMQPOOL_DECAY_MS=now ZMQPOOL_STATS_INTERVAL_MS=50", "--count-threads",
                      "threads=1\n"));
    CHECK (run_child ("ZMQPOOL_CONF=decay_ms=10", "--count-threads", "threads=1\n"));
    /* Once messages are made, it runs (and decay off keeps it off). */
    CHECK (run_child ("ZMQPOOL_DECAY_MS=now", "--count-threads-after-use", "threads=2\n"));
    CHECK (run_child ("ZMQPOOL_DECAY_MS=0", "--count-threads-after-use", "threads=1\n"));
}

/* A daemon closes every descriptor above 2 and opens its own files: the
 * interval statistics must go to their path, never into the descriptor
 * number a file of theirs had at load. */
static int fd_reuse_child (const char *data_path)
{
    char back[64];
    int fd, i;
    ssize_t got;
    burst (10, 1000);
    for (i = 3; i < 1024; i++)
        close (i);
    fd = open (data_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write (fd, "MYDATA\n", 7) != 7)
        return 3;
    sleep_ms (300); /* several intervals */
    if (lseek (fd, 0, SEEK_SET) != 0)
        return 4;
    got = read (fd, back, sizeof back);
    close (fd);
    return got == 7 && memcmp (back, "MYDATA\n", 7) == 0 ? 0 : 5;
}

static void interval_statistics_never_write_into_the_programs_files (void)
{
    char env[512];
    snprintf (env, sizeof env,
              "ZMQPOOL_STATS_INTERVAL_MS=20 ZMQPOOL_STATS_FILE=/tmp/zmqpool-test-stats-%d.jsonl",
              (int) getpid ());
    CHECK (run_child (env, "--fd-reuse /tmp/zmqpool-test-data.txt", ""));
    snprintf (env, sizeof env, "/tmp/zmqpool-test-stats-%d.jsonl", (int) getpid ());
    CHECK (access (env, R_OK) == 0); /* the lines went to the path */
    unlink (env);
    unlink ("/tmp/zmqpool-test-data.txt");
}

static int child (int argc, char **argv)
{
    if (strcmp (argv[1], "--count-threads") == 0) {
        printf ("threads=%d\n", count_threads ());
        return 0;
    }
    if (strcmp (argv[1], "--count-threads-after-use") == 0) {
        burst (10, 1000);
        sleep_ms (50);
        printf ("threads=%d\n", count_threads ());
        return 0;
    }
    if (strcmp (argv[1], "--helper-name") == 0) {
        burst (10, 1000);
        sleep_ms (50);
        printf ("%s\n", a_thread_is_named ("zmqpool-decay") ? "helper named" : "no helper");
        return 0;
    }
    if (strcmp (argv[1], "--fd-reuse") == 0 && argc > 2)
        return fd_reuse_child (argv[2]);
    if (strcmp (argv[1], "--print-decay") == 0) {
        printf ("decay=%lld\n", (long long) zmqpool_get_decay_ms ());
        return 0;
    }
    if (strcmp (argv[1], "--hold-rss") == 0 && argc > 2) {
        double took = 0;
        long over = burst_then_idle (atol (argv[2]), 1, &took);
        printf ("over=%ld KiB after %.0f ms back=%d\n", over, took,
                over >= 0 && over <= 8 * 1024);
        return 0;
    }
    if (strcmp (argv[1], "--idle") == 0 && argc > 2) {
        burst (100, 1000);
        sleep_ms (atol (argv[2]));
        burst (100, 1000);
        return 0;
    }
    fprintf (stderr, "test_decay: unknown mode %s\n", argv[1]);
    return 2;
}

int main (int argc, char **argv)
{
    ssize_t len = readlink ("/proc/self/exe", self_path, sizeof self_path - 1);
    if (len <= 0)
        return 2;
    self_path[len] = '\0';
    if (argc > 1)
        return child (argc, argv);
    RUN (the_setting_round_trips_and_refuses_nonsense);
    RUN (the_environment_sets_it);
    RUN (settings_alone_start_no_thread);
    RUN (the_helper_thread_is_named_zmqpool_decay);
    RUN (interval_statistics_never_write_into_the_programs_files);
    RUN (decay_off_keeps_what_the_pool_cached);
    RUN (turning_decay_off_shrinks_the_depot_to_its_cap);
    RUN (idle_blocks_go_back_after_the_decay_time);
    RUN (decay_now_gives_back_at_once);
    RUN (a_thread_blocked_in_zmq_recv_gives_back_its_lists);
    RUN (resident_memory_comes_back_after_a_burst);
    RUN (a_forked_child_decays_too);
    return harness_finish ("test_decay");
}
