/* Message throughput through a real libzmq, in the style of libzmq's
 * inproc_thr / local_thr: one thread builds messages with
 * zmq_msg_init_size, writes their first and last byte, and sends them; the
 * receiver reads and closes them. Whether zmq_msg_* come from libzmq or
 * zmqpool is decided by how the program is run (plain or LD_PRELOAD), not
 * by this code.
 *
 * usage: throughput TRANSPORT SIZE COUNT    (TRANSPORT: inproc | tcp | ipc)
 * prints: msgs_per_sec */
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
};

static void die (const char *what)
{
    fprintf (stderr, "throughput: %s: %s\n", what, zmq_strerror (zmq_errno ()));
    exit (1);
}

static void *send_all (void *arg)
{
    struct sender_args *args = (struct sender_args *) arg;
    void *push = zmq_socket (args->context, ZMQ_PUSH);
    int hwm = 1000;
    long i;
    if (!push || zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_connect (push, args->endpoint) != 0)
        die ("sender socket");
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
    zmq_close (push);
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
    long i;
    double seconds;
    if (argc != 4) {
        fprintf (stderr, "usage: %s inproc|tcp|ipc SIZE COUNT\n", argv[0]);
        return 2;
    }
    args.context = zmq_ctx_new ();
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

    if (pthread_create (&sender, NULL, send_all, &args) != 0)
        return 1;
    for (i = 0; i < args.count; i++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, pull, 0) < 0)
            die ("zmq_msg_recv");
        if (i == 0)
            clock_gettime (CLOCK_MONOTONIC, &start);
        if (zmq_msg_size (&msg) != args.size)
            die ("wrong size");
        zmq_msg_close (&msg);
    }
    clock_gettime (CLOCK_MONOTONIC, &end);
    pthread_join (sender, NULL);
    zmq_close (pull);
    zmq_ctx_term (args.context);
    seconds = (double) (end.tv_sec - start.tv_sec)
              + (double) (end.tv_nsec - start.tv_nsec) / 1e9;
    printf ("%.0f\n", (double) (args.count - 1) / seconds);
    return 0;
}
