/* fork() while other threads allocate: the child must be able to allocate.
 * Run under LD_PRELOAD=libzmqpool-malloc.so (every malloc then goes to
 * zmqpool's embedded mimalloc, which takes internal locks), and plain as
 * the reference. Threads churn malloc/free and zmq messages of many sizes;
 * the main thread forks repeatedly; each child allocates, builds and
 * closes messages, and exits. A child that hangs (a lock some parent thread
 * held at the fork) is killed after a timeout and fails the test. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool_probe.h"

static volatile int stop;

static void *churn (void *arg)
{
    unsigned seed = (unsigned) (size_t) arg;
    void *held[64] = {0};
    while (!stop) {
        int slot = (int) (rand_r (&seed) % 64);
        size_t size = (size_t) 1 << (rand_r (&seed) % 20);
        zmq_msg_t msg;
        free (held[slot]);
        held[slot] = malloc (size);
        if (held[slot])
            memset (held[slot], 1, size < 64 ? size : 64);
        if (zmq_msg_init_size (&msg, size) == 0)
            zmq_msg_close (&msg);
    }
    for (int i = 0; i < 64; i++)
        free (held[i]);
    return NULL;
}

/* What a child does: allocate and free across sizes, messages too. */
static int child_work (void)
{
    for (size_t size = 1; size < (1u << 22); size *= 3) {
        void *p = malloc (size);
        zmq_msg_t msg;
        if (!p)
            return 1;
        memset (p, 2, size);
        free (p);
        if (zmq_msg_init_size (&msg, size) != 0)
            return 2;
        memset (zmq_msg_data (&msg), 3, size);
        if (zmq_msg_close (&msg) != 0)
            return 3;
    }
    return 0;
}

/* Waits for `pid` up to `seconds`; kills it after. Returns its exit status,
 * or -1 if it had to be killed. */
static int wait_with_timeout (pid_t pid, int seconds)
{
    int status, waited;
    for (waited = 0; waited < seconds * 100; waited++) {
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
        usleep (10000);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    return -1;
}

static void children_of_a_busy_process_can_allocate (void)
{
    pthread_t threads[3];
    int i, forks = getenv ("FORKS") ? atoi (getenv ("FORKS")) : 200;
    int hung = 0, failed = 0;
    for (i = 0; i < 3; i++)
        CHECK_EQ_INT (pthread_create (&threads[i], NULL, churn, (void *) (size_t) (i + 1)), 0);
    for (i = 0; i < forks; i++) {
        pid_t pid = fork ();
        CHECK (pid >= 0);
        if (pid == 0)
            _exit (child_work ());
        int status = wait_with_timeout (pid, 10);
        if (status == -1)
            hung++;
        else if (status != 0)
            failed++;
    }
    stop = 1;
    for (i = 0; i < 3; i++)
        pthread_join (threads[i], NULL);
    printf ("  %d forks: %d children hung, %d failed\n", forks, hung, failed);
    CHECK_EQ_INT (hung, 0);
    CHECK_EQ_INT (failed, 0);
}

int main (void)
{
    probe_require_zmqpool_if_expected ("test_fork_malloc");
    RUN (children_of_a_busy_process_can_allocate);
    return harness_finish ("test_fork_malloc");
}
