/* A process ends when its threads do, whatever zmqpool's helper thread is
 * doing: main calling pthread_exit while workers make and close messages
 * (POSIX: the process exits with status 0 when its last thread ends, and
 * its atexit handlers run), exit() from a worker while the helper is in a
 * decay pass, and fork() from a worker after main called pthread_exit.
 *
 *   test_exit MODE     MODE: pthread_exit | exit_from_worker | fork_after_main_exit
 *
 * Prints "atexit ran" from an atexit handler; the caller (the Makefile)
 * checks the exit status, that line, a time limit, and that zmqpool served
 * the messages (ZMQPOOL_TEST_EXPECT through zmqpool_probe.h). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "zmqpool_probe.h"

static void said_at_exit (void)
{
    printf ("atexit ran\n");
    fflush (stdout);
}

/* Makes and closes messages of many sizes, on this thread, for a while:
 * blocks cached on this thread for the helper to decay. */
static int churn (int rounds)
{
    int i, failures = 0;
    for (i = 0; i < rounds; i++) {
        zmq_msg_t msg;
        size_t size = 40 + (size_t) (i % 64) * 1024;
        if (zmq_msg_init_size (&msg, size) != 0) {
            failures++;
            continue;
        }
        memset (zmq_msg_data (&msg), i & 0xff, size);
        if (zmq_msg_close (&msg) != 0)
            failures++;
    }
    return failures;
}

static void *worker (void *arg)
{
    const char *mode = arg;
    if (churn (20000) != 0)
        abort ();
    /* Idle long enough for the helper to run passes over this thread. */
    usleep (300 * 1000);
    if (strcmp (mode, "exit_from_worker") == 0) {
        /* The helper is in the middle of its work: ticks every 10 ms with
         * ZMQPOOL_DECAY_MS=now, and this thread's lists are idle. */
        churn (5000);
        usleep (15 * 1000);
        exit (0);
    }
    if (strcmp (mode, "fork_after_main_exit") == 0) {
        int status = 0;
        pid_t child = fork ();
        if (child < 0)
            abort ();
        if (child == 0) {
            /* The child's one thread: messages work, and it exits. */
            _exit (churn (2000) == 0 ? 0 : 3);
        }
        if (waitpid (child, &status, 0) != child || !WIFEXITED (status)
            || WEXITSTATUS (status) != 0) {
            fprintf (stderr, "test_exit: the forked child failed\n");
            abort ();
        }
    }
    churn (1000);
    return NULL;
}

int main (int argc, char **argv)
{
    pthread_t threads[3];
    const char *mode = argc > 1 ? argv[1] : "pthread_exit";
    int i;
    if (strcmp (mode, "pthread_exit") && strcmp (mode, "exit_from_worker")
        && strcmp (mode, "fork_after_main_exit")) {
        fprintf (stderr, "usage: test_exit pthread_exit|exit_from_worker|fork_after_main_exit\n");
        return 2;
    }
    if (getenv ("TEST_EXIT_PRINT_IDS"))
        printf ("uid=%d euid=%d\n", (int) getuid (), (int) geteuid ());
    probe_require_zmqpool_if_expected ("test_exit");
    atexit (said_at_exit);
    if (churn (100) != 0)
        return 1;
    for (i = 0; i < (strcmp (mode, "pthread_exit") ? 1 : 3); i++)
        if (pthread_create (&threads[i], NULL, worker, (void *) mode) != 0)
            return 1;
    /* Main ends here; the workers finish the work. */
    pthread_exit (NULL);
}
