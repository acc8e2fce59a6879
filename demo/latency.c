/* Round-trip latency through a real libzmq, in the style of libzmq's
 * inproc_lat / local_lat + remote_lat: a REQ socket sends a message built
 * with zmq_msg_init_size (first and last byte written), a REP socket on
 * another thread receives it and sends the same message back, and the
 * requester checks and closes it. As with throughput.c, whether zmq_msg_*
 * come from libzmq or zmqpool is decided by how the program is run.
 *
 * usage: latency TRANSPORT SIZE ROUNDTRIPS    (TRANSPORT: inproc | tcp | ipc)
 * prints: microseconds per round trip */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

struct echo_args
{
    void *context;
    const char *endpoint;
    long count;
};

static void die (const char *what)
{
    fprintf (stderr, "latency: %s: %s\n", what, zmq_strerror (zmq_errno ()));
    exit (1);
}

static void *echo (void *arg)
{
    struct echo_args *args = (struct echo_args *) arg;
    void *rep = zmq_socket (args->context, ZMQ_REP);
    long i;
    if (!rep || zmq_connect (rep, args->endpoint) != 0)
        die ("echo socket");
    for (i = 0; i < args->count; i++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, rep, 0) < 0)
            die ("echo recv");
        if (zmq_msg_send (&msg, rep, 0) < 0)
            die ("echo send");
    }
    zmq_close (rep);
    return NULL;
}

int main (int argc, char **argv)
{
    struct echo_args args;
    char endpoint[128];
    size_t endpoint_size = sizeof endpoint, size;
    struct timespec start, end;
    pthread_t thread;
    void *req;
    long i, warmup;
    if (argc != 4) {
        fprintf (stderr, "usage: %s inproc|tcp|ipc SIZE ROUNDTRIPS\n", argv[0]);
        return 2;
    }
    args.context = zmq_ctx_new ();
    size = (size_t) strtoul (argv[2], NULL, 10);
    args.count = strtol (argv[3], NULL, 10);
    warmup = args.count / 10 + 1;
    args.count += warmup;
    req = zmq_socket (args.context, ZMQ_REQ);
    if (strcmp (argv[1], "inproc") == 0)
        snprintf (endpoint, sizeof endpoint, "inproc://latency");
    else if (strcmp (argv[1], "tcp") == 0)
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:*");
    else
        snprintf (endpoint, sizeof endpoint, "ipc:///tmp/zmqpool-lat-%d",
                  (int) getpid ());
    if (zmq_bind (req, endpoint) != 0)
        die ("bind");
    zmq_getsockopt (req, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size);
    args.endpoint = endpoint;
    if (pthread_create (&thread, NULL, echo, &args) != 0)
        return 1;
    for (i = 0; i < args.count; i++) {
        zmq_msg_t msg;
        unsigned char *body;
        if (i == warmup)
            clock_gettime (CLOCK_MONOTONIC, &start);
        if (zmq_msg_init_size (&msg, size) != 0)
            die ("zmq_msg_init_size");
        body = (unsigned char *) zmq_msg_data (&msg);
        if (size) {
            body[0] = (unsigned char) i;
            body[size - 1] = (unsigned char) i;
        }
        if (zmq_msg_send (&msg, req, 0) < 0)
            die ("send");
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, req, 0) < 0)
            die ("recv");
        body = (unsigned char *) zmq_msg_data (&msg);
        if (zmq_msg_size (&msg) != size
            || (size && (body[0] != (unsigned char) i
                         || body[size - 1] != (unsigned char) i)))
            die ("wrong reply");
        zmq_msg_close (&msg);
    }
    clock_gettime (CLOCK_MONOTONIC, &end);
    pthread_join (thread, NULL);
    zmq_close (req);
    zmq_ctx_term (args.context);
    printf ("%.2f\n", ((double) (end.tv_sec - start.tv_sec) * 1e6
                       + (double) (end.tv_nsec - start.tv_nsec) / 1e3)
                        / (double) (args.count - warmup));
    return 0;
}
