/* zmq_send as libzmq defines it: return value, errno, flags, every byte,
 * over inproc, ipc and tcp. The same binary runs against libzmq alone (the
 * expectations are libzmq's own behaviour), with zmqpool linked, preloaded
 * and under the malloc preload; there the pooled-message counters must show
 * that zmqpool built the messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool_probe.h"

static void *context;
static int with_zmqpool;
static const char *transports[] = {"inproc", "ipc", "tcp"};

static int bind_any (void *socket, const char *transport, const char *name,
                     char *endpoint, size_t size)
{
    if (strcmp (transport, "inproc") == 0)
        snprintf (endpoint, size, "inproc://%s", name);
    else if (strcmp (transport, "ipc") == 0)
        snprintf (endpoint, size, "ipc:///tmp/zmqpool-send-%d-%s",
                  (int) getpid (), name);
    else
        snprintf (endpoint, size, "tcp://127.0.0.1:*");
    if (zmq_bind (socket, endpoint) != 0)
        return -1;
    return zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, endpoint, &size);
}

static void fill (unsigned char *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        data[i] = (unsigned char) (seed * 13u + i * 7u);
}

static int holds (const unsigned char *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        if (data[i] != (unsigned char) (seed * 13u + i * 7u))
            return 0;
    return 1;
}

static void *socket_with_linger0 (int type)
{
    void *socket = zmq_socket (context, type);
    int linger = 0;
    if (socket)
        zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    return socket;
}

static void sent_bytes_arrive_intact_at_every_size_and_transport (void)
{
    static const size_t sizes[] = {0, 1, 33, 34, 100, 8192, 65536, 300000};
    const size_t count = sizeof sizes / sizeof sizes[0];
    unsigned char *buffer = (unsigned char *) malloc (300000);
    size_t t, s;
    CHECK (buffer != NULL);
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        void *pull = socket_with_linger0 (ZMQ_PULL);
        void *push = socket_with_linger0 (ZMQ_PUSH);
        zmqpool_stats_t before, after;
        CHECK_EQ_INT (bind_any (pull, transports[t], "sizes", endpoint,
                                sizeof endpoint),
                      0);
        CHECK_EQ_INT (zmq_connect (push, endpoint), 0);
        probe_stats (&before);
        for (s = 0; s < count; s++) {
            fill (buffer, sizes[s], (unsigned) s);
            CHECK_EQ_INT (zmq_send (push, buffer, sizes[s], 0),
                          (int) sizes[s]);
        }
        probe_stats (&after);
        if (with_zmqpool) {
            /* Every zmq_send was zmqpool's; bodies over 33 bytes pooled. */
            CHECK_EQ_INT (after.sends - before.sends, count);
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled, 5);
        }
        memset (buffer, 0, 300000);
        for (s = 0; s < count; s++) {
            zmq_msg_t msg;
            zmq_msg_init (&msg);
            CHECK_EQ_INT (zmq_msg_recv (&msg, pull, 0), (int) sizes[s]);
            CHECK (holds ((const unsigned char *) zmq_msg_data (&msg),
                          sizes[s], (unsigned) s));
            CHECK_EQ_INT (zmq_msg_close (&msg), 0);
        }
        /* zmq_recv copies into the caller's buffer and truncates. */
        fill (buffer, 5000, 9);
        CHECK_EQ_INT (zmq_send (push, buffer, 5000, 0), 5000);
        memset (buffer, 0, 5000);
        CHECK_EQ_INT (zmq_recv (pull, buffer, 100, 0), 5000);
        CHECK (holds (buffer, 100, 9));
        CHECK_EQ_INT (buffer[100], 0);
        zmq_close (push);
        zmq_close (pull);
    }
    free (buffer);
}

static void sndmore_sends_one_multipart_message (void)
{
    size_t t;
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        unsigned char part[5000];
        void *pull = socket_with_linger0 (ZMQ_PULL);
        void *push = socket_with_linger0 (ZMQ_PUSH);
        zmq_msg_t msg;
        int i;
        CHECK_EQ_INT (bind_any (pull, transports[t], "more", endpoint,
                                sizeof endpoint),
                      0);
        CHECK_EQ_INT (zmq_connect (push, endpoint), 0);
        for (i = 0; i < 3; i++) {
            fill (part, sizeof part, (unsigned) i);
            CHECK_EQ_INT (zmq_send (push, part, 1000u * (unsigned) (i + 1),
                                    i < 2 ? ZMQ_SNDMORE : 0),
                          1000 * (i + 1));
        }
        for (i = 0; i < 3; i++) {
            zmq_msg_init (&msg);
            CHECK_EQ_INT (zmq_msg_recv (&msg, pull, 0), 1000 * (i + 1));
            CHECK_EQ_INT (zmq_msg_more (&msg), i < 2);
            CHECK (holds ((const unsigned char *) zmq_msg_data (&msg),
                          1000u * (unsigned) (i + 1), (unsigned) i));
            zmq_msg_close (&msg);
        }
        zmq_close (push);
        zmq_close (pull);
    }
}

/* A send that fails leaves nothing behind: the message is released. */
static void dontwait_without_a_peer_is_eagain_and_releases_the_message (void)
{
    void *push = socket_with_linger0 (ZMQ_PUSH);
    unsigned char body[1000];
    zmqpool_stats_t before, after;
    int i;
    memset (body, 7, sizeof body);
    CHECK_EQ_INT (zmq_bind (push, "inproc://nobody"), 0);
    probe_stats (&before);
    for (i = 0; i < 100; i++)
        CHECK_FAILS (zmq_send (push, body, sizeof body, ZMQ_DONTWAIT), -1,
                     EAGAIN);
    probe_stats (&after);
    zmq_close (push);
    if (with_zmqpool) {
        /* Built by zmqpool, refused by libzmq, released: not a send. */
        CHECK_EQ_INT (after.messages_pooled - before.messages_pooled, 100);
        CHECK_EQ_INT (after.sends, before.sends);
        CHECK_EQ_INT (after.frees - before.frees,
                      after.allocations - before.allocations);
    }
}

static void null_and_foreign_sockets_are_enotsock (void)
{
    void *not_a_socket = calloc (1, 65536);
    unsigned char body[100] = {0};
    CHECK (not_a_socket != NULL);
    CHECK_FAILS (zmq_send (NULL, body, sizeof body, 0), -1, ENOTSOCK);
    CHECK_FAILS (zmq_send (NULL, body, 10, 0), -1, ENOTSOCK);
    CHECK_FAILS (zmq_send (not_a_socket, body, sizeof body, 0), -1, ENOTSOCK);
    CHECK_FAILS (zmq_send (not_a_socket, body, 10, 0), -1, ENOTSOCK);
    /* libzmq refuses the socket before it looks at the buffer. */
    CHECK_FAILS (zmq_send (not_a_socket, NULL, 100, 0), -1, ENOTSOCK);
    free (not_a_socket);
}

static void req_sending_twice_is_efsm (void)
{
    void *rep = socket_with_linger0 (ZMQ_REP);
    void *req = socket_with_linger0 (ZMQ_REQ);
    unsigned char body[200];
    memset (body, 1, sizeof body);
    CHECK_EQ_INT (zmq_bind (rep, "inproc://efsm"), 0);
    CHECK_EQ_INT (zmq_connect (req, "inproc://efsm"), 0);
    CHECK_EQ_INT (zmq_send (req, body, sizeof body, 0), (int) sizeof body);
    CHECK_FAILS (zmq_send (req, body, sizeof body, 0), -1, EFSM);
    CHECK_FAILS (zmq_send (req, body, 5, 0), -1, EFSM);
    zmq_close (req);
    zmq_close (rep);
}

static void router_mandatory_to_an_unknown_peer_is_ehostunreach (void)
{
    void *router = socket_with_linger0 (ZMQ_ROUTER);
    int mandatory = 1;
    unsigned char body[100];
    memset (body, 2, sizeof body);
    CHECK_EQ_INT (zmq_setsockopt (router, ZMQ_ROUTER_MANDATORY, &mandatory,
                                  sizeof mandatory),
                  0);
    CHECK_EQ_INT (zmq_bind (router, "inproc://mandatory"), 0);
    CHECK_FAILS (zmq_send (router, "nobody-here-with-a-long-routing-id", 34,
                           ZMQ_SNDMORE),
                 -1, EHOSTUNREACH);
    CHECK_FAILS (zmq_send (router, "x", 1, ZMQ_SNDMORE), -1, EHOSTUNREACH);
    zmq_close (router);
}

static void a_terminated_context_gives_eterm (void)
{
    void *own = zmq_ctx_new ();
    void *push = zmq_socket (own, ZMQ_PUSH);
    unsigned char body[100];
    int linger = 0;
    memset (body, 3, sizeof body);
    CHECK (push != NULL);
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_EQ_INT (zmq_ctx_shutdown (own), 0);
    CHECK_FAILS (zmq_send (push, body, sizeof body, 0), -1, ETERM);
    CHECK_FAILS (zmq_send (push, body, 3, 0), -1, ETERM);
    zmq_close (push);
    CHECK_EQ_INT (zmq_ctx_term (own), 0);
}

static void on_alarm (int signal)
{
    (void) signal;
}

static void a_signal_interrupts_a_blocking_send_with_eintr (void)
{
    void *push = socket_with_linger0 (ZMQ_PUSH);
    struct sigaction action, previous;
    struct itimerval timer;
    unsigned char body[500];
    memset (body, 4, sizeof body);
    memset (&action, 0, sizeof action);
    action.sa_handler = on_alarm; /* no SA_RESTART */
    sigemptyset (&action.sa_mask);
    CHECK_EQ_INT (sigaction (SIGALRM, &action, &previous), 0);
    CHECK_EQ_INT (zmq_bind (push, "inproc://blocked"), 0);
    memset (&timer, 0, sizeof timer);
    timer.it_value.tv_usec = 100000;
    CHECK_EQ_INT (setitimer (ITIMER_REAL, &timer, NULL), 0);
    /* No peer: a blocking send waits until the signal arrives. */
    CHECK_FAILS (zmq_send (push, body, sizeof body, 0), -1, EINTR);
    sigaction (SIGALRM, &previous, NULL);
    zmq_close (push);
}

/* Sizes past INT_MAX: the message is sent whole, the return value is
 * truncated to INT_MAX (as zmq_msg_send's). Touches about 2 GiB. */
static void sizes_beyond_int_max_return_int_max (void)
{
    const size_t size = (size_t) INT_MAX + 5;
    void *pull = socket_with_linger0 (ZMQ_PULL);
    void *push = socket_with_linger0 (ZMQ_PUSH);
    unsigned char *body = (unsigned char *) mmap (
      NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    zmq_msg_t msg;
    CHECK (body != MAP_FAILED);
    body[0] = 11;
    body[size - 1] = 22;
    CHECK_EQ_INT (zmq_bind (pull, "inproc://huge"), 0);
    CHECK_EQ_INT (zmq_connect (push, "inproc://huge"), 0);
    CHECK_EQ_INT (zmq_send (push, body, size, 0), INT_MAX);
    munmap (body, size);
    zmq_msg_init (&msg);
    CHECK_EQ_INT (zmq_msg_recv (&msg, pull, 0), INT_MAX);
    CHECK (zmq_msg_size (&msg) == size);
    CHECK_EQ_INT (((unsigned char *) zmq_msg_data (&msg))[0], 11);
    CHECK_EQ_INT (((unsigned char *) zmq_msg_data (&msg))[size - 1], 22);
    zmq_msg_close (&msg);
    zmq_close (push);
    zmq_close (pull);
}

/* Where libzmq asserts (NULL buffer with a length), zmqpool fails cleanly. */
static void a_null_buffer_with_a_length_is_einval (void)
{
    void *push = socket_with_linger0 (ZMQ_PUSH);
    CHECK_EQ_INT (zmq_bind (push, "inproc://nullbuf"), 0);
    CHECK_FAILS (zmq_send (push, NULL, 100, ZMQ_DONTWAIT), -1, EINVAL);
    CHECK_FAILS (zmq_send (push, NULL, 5, ZMQ_DONTWAIT), -1, EINVAL);
    /* A NULL buffer of length 0 is a valid empty message. */
    CHECK_FAILS (zmq_send (push, NULL, 0, ZMQ_DONTWAIT), -1, EAGAIN);
    zmq_close (push);
}

int main (void)
{
    int rc;
    probe_require_zmqpool_if_expected ("test_send");
    with_zmqpool = probe_zmqpool_in_use ();
    printf ("test_send: zmq_send from %s\n",
            with_zmqpool ? "zmqpool" : "libzmq");
    context = zmq_ctx_new ();
    if (!context)
        return 2;
    RUN (sent_bytes_arrive_intact_at_every_size_and_transport);
    RUN (sndmore_sends_one_multipart_message);
    RUN (dontwait_without_a_peer_is_eagain_and_releases_the_message);
    RUN (null_and_foreign_sockets_are_enotsock);
    RUN (req_sending_twice_is_efsm);
    RUN (router_mandatory_to_an_unknown_peer_is_ehostunreach);
    RUN (a_terminated_context_gives_eterm);
    RUN (a_signal_interrupts_a_blocking_send_with_eintr);
    if (getenv ("ZMQPOOL_TEST_SKIP_HUGE"))
        SKIP (sizes_beyond_int_max_return_int_max, "ZMQPOOL_TEST_SKIP_HUGE");
    else
        RUN (sizes_beyond_int_max_return_int_max);
    if (with_zmqpool)
        RUN (a_null_buffer_with_a_length_is_einval);
    else
        SKIP (a_null_buffer_with_a_length_is_einval, "libzmq asserts");
    rc = zmq_ctx_term (context);
    if (rc != 0)
        return 2;
    return harness_finish ("test_send");
}
