/* Repeated bursts in a small memory cgroup: each burst sends 96 MiB of
 * messages of one size over inproc PUSH/PULL (no high-water mark: all in
 * flight at the peak), then the receiver thread takes and closes them all;
 * the next burst, after an idle gap shorter than the decay time, uses
 * another size. Run inside a 256 MiB group (scripts/cgroup_run.sh): in a
 * cgroup an allocation does not fail, the OOM killer acts when a page is
 * touched past the limit, so only caps set in advance keep a process alive
 * there. With the default caps derived from the group's limit the bursts
 * complete; with the depot's 1 GiB cap set by hand (the control) what each
 * burst left in the depot adds up and the group's limit is hit.
 *
 * usage: test_bursts [BURSTS]   (prints each burst; exit 0 when all ran) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "zmqpool_probe.h"

#define MIB ((size_t) 1 << 20)
#define BURST_BYTES (96 * MIB)

struct receiver
{
    void *pull;
    size_t count;
    int failed;
};

static void *receive_all (void *arg)
{
    struct receiver *r = arg;
    zmq_msg_t msg;
    size_t i;
    zmq_msg_init (&msg);
    for (i = 0; i < r->count; i++)
        if (zmq_msg_recv (&msg, r->pull, 0) < 0) {
            r->failed = 1;
            break;
        }
    zmq_msg_close (&msg);
    return NULL;
}

static size_t resident_mib (void)
{
    FILE *statm = fopen ("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (statm) {
        if (fscanf (statm, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose (statm);
    }
    return (size_t) resident * (size_t) sysconf (_SC_PAGESIZE) / MIB;
}

int main (int argc, char **argv)
{
    /* Each burst's message size: a different size class every time. */
    static const size_t sizes[] = {24 << 10, 40 << 10, 56 << 10, 72 << 10,
                                   100 << 10, 136 << 10, 200 << 10, 264 << 10};
    int bursts = argc > 1 ? atoi (argv[1]) : 8, b, unlimited = 0;
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    struct timespec gap = {0, 200 * 1000 * 1000}; /* shorter than decay */
    probe_require_zmqpool_if_expected ("test_bursts");
    setvbuf (stdout, NULL, _IOLBF, 0);
    zmq_setsockopt (push, ZMQ_SNDHWM, &unlimited, sizeof unlimited);
    zmq_setsockopt (pull, ZMQ_RCVHWM, &unlimited, sizeof unlimited);
    if (zmq_bind (pull, "inproc://bursts") != 0 || zmq_connect (push, "inproc://bursts") != 0)
        return 2;
    for (b = 0; b < bursts; b++) {
        size_t size = sizes[b % (sizeof sizes / sizeof sizes[0])];
        size_t count = BURST_BYTES / size, i;
        struct receiver r = {pull, count, 0};
        pthread_t thread;
        for (i = 0; i < count; i++) {
            zmq_msg_t msg;
            if (zmq_msg_init_size (&msg, size) != 0)
                return 3;
            memset (zmq_msg_data (&msg), (int) i, size);
            if (zmq_msg_send (&msg, push, 0) < 0)
                return 4;
        }
        if (pthread_create (&thread, NULL, receive_all, &r) != 0)
            return 5;
        pthread_join (thread, NULL);
        if (r.failed)
            return 6;
        printf ("burst %d: %zu x %zu KiB in flight, closed; resident %zu MiB\n", b + 1, count,
                size >> 10, resident_mib ());
        nanosleep (&gap, NULL);
    }
    zmq_close (push);
    zmq_close (pull);
    zmq_ctx_term (ctx);
    printf ("test_bursts: %d bursts of 96 MiB in flight completed\n", bursts);
    return 0;
}
