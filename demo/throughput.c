/* Message throughput through a real libzmq, in the style of libzmq's
 * inproc_thr / local_thr: one thread builds messages with
 * zmq_msg_init_size, writes their first and last byte, and sends them (or,
 * in `send` mode, writes the first and last byte of a buffer and sends it
 * with zmq_send, as the guide's examples do); the receiver reads and closes
 * them. `send-floor` is the physical floor of `send`: the same copy of the
 * buffer, into one warm preallocated buffer, sent as a constant message
 * (zmq_msg_init_data without a free function): every byte zmq_send moves,
 * and no allocation at all. Whether zmq_msg_* come from libzmq or
 * zmqpool is decided by how the program is run (plain or LD_PRELOAD), not
 * by this code.
 *
 * usage: throughput TRANSPORT SIZE COUNT [init_size|send|send-floor]
 *        (TRANSPORT: inproc | tcp | ipc)
 * prints: msgs_per_sec
 *
 * THR_WARMUP=N: the clock starts at the receiver's N-th message, not the
 * first: the steady state, once the queue (2,000 messages between the two
 * high-water marks) has filled and its bodies have been recycled, rather
 * than the first touch of fresh memory (COUNT includes the N).
 * THR_PIN=1: the sender runs on CPU 0 and the receiver on CPU 1 (on a
 * 2-core machine the scheduler otherwise moves them, and a run measures
 * where they landed). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

struct sender_args
{
    void *context;
    const char *endpoint;
    size_t size;
    long count;
    int with_zmq_send;
    int send_floor;
    /* Set by the receiver once it has every message: the sender keeps its
     * socket open until then (libzmq 4.3.4 now and then loses the last
     * messages of a PUSH socket closed right after sending over ipc). */
    pthread_mutex_t lock;
    pthread_cond_t received;
    int done;
};

static void close_when_received (struct sender_args *args, void *push)
{
    pthread_mutex_lock (&args->lock);
    while (!args->done)
        pthread_cond_wait (&args->received, &args->lock);
    pthread_mutex_unlock (&args->lock);
    zmq_close (push);
}

/* Buffers the send-floor sender copies into, round robin: one, so the copy
 * always lands in warm memory (the cheapest any sender could do; bodies
 * still queued are overwritten, which the receiver never reads). */
#define FLOOR_BUFFERS 1

static void die (const char *what)
{
    fprintf (stderr, "throughput: %s: %s\n", what, zmq_strerror (zmq_errno ()));
    exit (1);
}

/* Pins the calling thread to one CPU when THR_PIN=1 (a no-op otherwise or
 * when the CPU does not exist). */
static void pin_to (int cpu)
{
    const char *pin = getenv ("THR_PIN");
    cpu_set_t set;
    if (!pin || strcmp (pin, "1") != 0 || cpu >= CPU_SETSIZE)
        return;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    if (pthread_setaffinity_np (pthread_self (), sizeof set, &set) != 0)
        fprintf (stderr, "throughput: cannot pin a thread to CPU %d: running unpinned\n", cpu);
}

static void *send_all (void *arg)
{
    struct sender_args *args = (struct sender_args *) arg;
    pin_to (0);
    void *push = zmq_socket (args->context, ZMQ_PUSH);
    int hwm = 1000;
    long i;
    if (!push || zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_connect (push, args->endpoint) != 0)
        die ("sender socket");
    if (args->with_zmq_send || args->send_floor) {
        unsigned char *buffer = (unsigned char *) calloc (1, args->size + 1);
        unsigned char *copies[FLOOR_BUFFERS];
        int k;
        if (!buffer)
            die ("calloc");
        for (k = 0; k < FLOOR_BUFFERS; k++)
            if (!(copies[k] = (unsigned char *) calloc (1, args->size + 1)))
                die ("calloc");
        for (i = 0; i < args->count; i++) {
            if (args->size) {
                buffer[0] = (unsigned char) i;
                buffer[args->size - 1] = (unsigned char) i;
            }
            if (args->send_floor) {
                zmq_msg_t msg;
                unsigned char *copy = copies[i % FLOOR_BUFFERS];
                memcpy (copy, buffer, args->size);
                if (zmq_msg_init_data (&msg, copy, args->size, NULL, NULL) != 0)
                    die ("zmq_msg_init_data");
                if (zmq_msg_send (&msg, push, 0) < 0)
                    die ("zmq_msg_send");
            } else if (zmq_send (push, buffer, args->size, 0) < 0)
                die ("zmq_send");
        }
        close_when_received (args, push);
        for (k = 0; k < FLOOR_BUFFERS; k++)
            free (copies[k]);
        free (buffer);
        return NULL;
    }
    for (i = 0; i < args->count; i++) {
        zmq_msg_t msg;
        unsigned char *body;
        if (zmq_msg_init_size (&msg, args->size) != 0)
            die ("zmq_msg_init_size");
        body = (unsigned char *) zmq_msg_data (&msg);
        if (args->size) {
            body[0] = (unsigned char) i;
            body[args->size - 1] = (unsigned char) i;
        }
        if (zmq_msg_send (&msg, push, 0) < 0)
            die ("zmq_msg_send");
    }
    close_when_received (args, push);
    return NULL;
}

int main (int argc, char **argv)
{
    struct sender_args args;
    char endpoint[128];
    size_t endpoint_size = sizeof endpoint;
    struct timespec start, end;
    pthread_t sender;
    void *pull;
    int hwm = 1000;
    long i, warmup;
    double seconds;
    if (argc != 4 && argc != 5) {
        fprintf (stderr, "usage: %s inproc|tcp|ipc SIZE COUNT [init_size|send|send-floor]\n",
                 argv[0]);
        return 2;
    }
    args.with_zmq_send = argc == 5 && strcmp (argv[4], "send") == 0;
    args.send_floor = argc == 5 && strcmp (argv[4], "send-floor") == 0;
    if (argc == 5 && !args.with_zmq_send && !args.send_floor
        && strcmp (argv[4], "init_size") != 0) {
        fprintf (stderr, "throughput: unknown mode %s\n", argv[4]);
        return 2;
    }
    args.context = zmq_ctx_new ();
    pthread_mutex_init (&args.lock, NULL);
    pthread_cond_init (&args.received, NULL);
    args.done = 0;
    args.size = (size_t) strtoul (argv[2], NULL, 10);
    args.count = strtol (argv[3], NULL, 10);
    pull = zmq_socket (args.context, ZMQ_PULL);
    zmq_setsockopt (pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (strcmp (argv[1], "inproc") == 0)
        snprintf (endpoint, sizeof endpoint, "inproc://throughput");
    else if (strcmp (argv[1], "tcp") == 0)
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:*");
    else
        snprintf (endpoint, sizeof endpoint, "ipc:///tmp/zmqpool-thr-%d",
                  (int) getpid ());
    if (zmq_bind (pull, endpoint) != 0)
        die ("bind");
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size);
    args.endpoint = endpoint;

    warmup = getenv ("THR_WARMUP") ? strtol (getenv ("THR_WARMUP"), NULL, 10) : 0;
    if (warmup < 0 || warmup >= args.count - 1) {
        fprintf (stderr, "throughput: THR_WARMUP must be below COUNT - 1\n");
        return 2;
    }
    pin_to (1);
    if (pthread_create (&sender, NULL, send_all, &args) != 0)
        return 1;
    for (i = 0; i < args.count; i++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, pull, 0) < 0)
            die ("zmq_msg_recv");
        if (i == warmup)
            clock_gettime (CLOCK_MONOTONIC, &start);
        if (zmq_msg_size (&msg) != args.size)
            die ("wrong size");
        zmq_msg_close (&msg);
    }
    clock_gettime (CLOCK_MONOTONIC, &end);
    pthread_mutex_lock (&args.lock);
    args.done = 1;
    pthread_cond_signal (&args.received);
    pthread_mutex_unlock (&args.lock);
    pthread_join (sender, NULL);
    zmq_close (pull);
    zmq_ctx_term (args.context);
    seconds = (double) (end.tv_sec - start.tv_sec)
              + (double) (end.tv_nsec - start.tv_nsec) / 1e9;
    printf ("%.0f\n", (double) (args.count - 1 - warmup) / seconds);
    return 0;
}
