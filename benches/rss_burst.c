/* Resident memory after a burst, for an unchanged program: PUSH/PULL with
 * high-water marks 0, COUNT messages of SIZE bytes sent (all queued), then
 * all received and closed, then the process idles for SECONDS and calls
 * nothing, while RSS is sampled every 100 ms. With a TRICKLE rate, the
 * process keeps sending and receiving that many messages per second of the
 * same size instead of idling (a service that keeps a steady trickle).
 * Which allocator runs is decided by how the program is started (plain,
 * LD_PRELOAD of zmqpool, mimalloc or jemalloc), not by this code.
 *
 * usage: rss_burst inproc|tcp SIZE COUNT SECONDS [TRICKLE]
 * prints: "baseline KIB", "peak KIB", then "MS KIB" per sample
 * With RSS_BURST_STOP_KIB=N in the environment, the idle phase ends early
 * once RSS is within N KiB of the baseline (the smoke test's use). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static long resident_kib (void)
{
    long size = 0, resident = 0;
    FILE *statm = fopen ("/proc/self/statm", "r");
    if (statm) {
        if (fscanf (statm, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose (statm);
    }
    return resident * (sysconf (_SC_PAGESIZE) / 1024);
}

static double now_ms (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

static void die (const char *what)
{
    fprintf (stderr, "rss_burst: %s: %s\n", what, zmq_strerror (zmq_errno ()));
    exit (1);
}

static void send_one (void *push, size_t size, long i)
{
    zmq_msg_t msg;
    if (zmq_msg_init_size (&msg, size) != 0)
        die ("zmq_msg_init_size");
    /* The whole body written, as a real sender does. */
    memset (zmq_msg_data (&msg), (int) (i & 0xFF), size);
    if (zmq_msg_send (&msg, push, 0) < 0)
        die ("zmq_msg_send");
}

static void receive_one (void *pull, size_t size)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, pull, 0) != (int) size)
        die ("zmq_msg_recv");
    zmq_msg_close (&msg);
}

int main (int argc, char **argv)
{
    char endpoint[256];
    size_t endpoint_size = sizeof endpoint;
    void *context, *push, *pull;
    size_t size;
    long count, i, peak = 0;
    double seconds, trickle, start, next;
    int hwm = 0;
    long baseline, stop_kib = getenv ("RSS_BURST_STOP_KIB") ? atol (getenv ("RSS_BURST_STOP_KIB")) : -1;
    if (argc < 5) {
        fprintf (stderr, "usage: %s inproc|tcp SIZE COUNT SECONDS [TRICKLE]\n", argv[0]);
        return 2;
    }
    size = strtoul (argv[2], NULL, 10);
    count = strtol (argv[3], NULL, 10);
    seconds = atof (argv[4]);
    trickle = argc > 5 ? atof (argv[5]) : 0;
    context = zmq_ctx_new ();
    push = zmq_socket (context, ZMQ_PUSH);
    pull = zmq_socket (context, ZMQ_PULL);
    zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    snprintf (endpoint, sizeof endpoint, "%s",
              strcmp (argv[1], "tcp") == 0 ? "tcp://127.0.0.1:*" : "inproc://burst");
    if (zmq_bind (pull, endpoint) != 0)
        die ("bind");
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size);
    if (zmq_connect (push, endpoint) != 0)
        die ("connect");
    /* Warm up: every lazy structure exists before the baseline. */
    for (i = 0; i < 100; i++) {
        send_one (push, size, i);
        receive_one (pull, size);
    }
    usleep (300000);
    baseline = resident_kib ();
    printf ("baseline %ld\n", baseline);
    for (i = 0; i < count; i++) {
        send_one (push, size, i);
        if (i % 1000 == 0 && resident_kib () > peak)
            peak = resident_kib ();
    }
    for (i = 0; i < count; i++) {
        receive_one (pull, size);
        if (i % 1000 == 0 && resident_kib () > peak)
            peak = resident_kib ();
    }
    printf ("peak %ld\n", peak);
    fflush (stdout);
    start = now_ms ();
    next = start;
    for (i = 0;; i++) {
        double t = now_ms () - start;
        if (t > seconds * 1e3)
            break;
        printf ("%.0f %ld\n", t, resident_kib ());
        fflush (stdout);
        if (stop_kib >= 0 && resident_kib () - baseline <= stop_kib)
            break;
        next += 100;
        if (trickle > 0) {
            /* The trickle's messages for this 100 ms, then wait. */
            long n = (long) (trickle / 10), k;
            for (k = 0; k < n; k++) {
                send_one (push, size, k);
                receive_one (pull, size);
            }
        }
        t = next - now_ms ();
        if (t > 0)
            usleep ((useconds_t) (t * 1000));
    }
    zmq_close (push);
    zmq_close (pull);
    zmq_ctx_term (context);
    return 0;
}
