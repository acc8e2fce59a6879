/* A known workload, then zmqpool's JSON statistics on stdout, for
 * c_tests/check_stats_json.py to parse and check number by number. Also
 * checks zmqpool_stats_json's snprintf contract. Links zmqpool (and libzmq
 * for the message calls). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zmqpool.h"

#define CROSS 500
static zmq_msg_t handed[CROSS];

static void *close_them (void *arg)
{
    int i;
    (void) arg;
    for (i = 0; i < CROSS; i++)
        zmq_msg_close (&handed[i]);
    return NULL;
}

int main (void)
{
    static zmq_msg_t held[7];
    void *upstream[10];
    pthread_t thread;
    size_t needed, got;
    char small[10], *full;
    int i;
    /* Decay off before the first block: nothing moves behind the
     * workload's back (the helper thread never starts), so every number
     * is exact and two calls of zmqpool_stats_json give the same object. */
    if (zmqpool_set_decay_ms (0) != 0 || zmqpool_get_decay_ms () != 0)
        return 6;
    /* 1000 messages of 100 bytes made and closed on this thread. */
    for (i = 0; i < 1000; i++) {
        zmq_msg_t msg;
        if (zmq_msg_init_size (&msg, 100) != 0)
            return 2;
        zmq_msg_close (&msg);
    }
    /* 500 of 5000 bytes made here, closed on another thread. */
    for (i = 0; i < CROSS; i++)
        if (zmq_msg_init_size (&handed[i], 5000) != 0)
            return 2;
    if (pthread_create (&thread, NULL, close_them, NULL) != 0)
        return 2;
    pthread_join (thread, NULL);
    /* 7 of 20000 bytes still in use at the report. */
    for (i = 0; i < 7; i++)
        if (zmq_msg_init_size (&held[i], 20000) != 0)
            return 2;
    /* 10 blocks above the largest class: upstream. */
    for (i = 0; i < 10; i++)
        upstream[i] = zmqpool_alloc (1 << 20);
    for (i = 0; i < 10; i++)
        zmqpool_dealloc (upstream[i]);
    /* snprintf's contract. */
    needed = zmqpool_stats_json (NULL, 0);
    if (needed < 100)
        return 3;
    if (zmqpool_stats_json (small, sizeof small) != needed || strlen (small) != sizeof small - 1)
        return 4;
    full = (char *) malloc (needed + 1);
    got = zmqpool_stats_json (full, needed + 1);
    if (got != needed || strlen (full) != needed)
        return 5;
    printf ("%s\n", full);
    free (full);
    for (i = 0; i < 7; i++)
        zmq_msg_close (&held[i]);
    return 0;
}
