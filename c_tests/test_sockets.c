/* Messages made by the zmq_msg_* under test travel through real libzmq
 * sockets: PUB/SUB fan-out (libzmq shares one message among subscribers by
 * reference count), DEALER/ROUTER multipart with routing ids, REQ/REP, PAIR
 * echoing copies and moves, and
 * several sender threads at once, over inproc, ipc and tcp. Every byte is
 * checked and every init_data free function must run exactly once.
 * Built like test_msg.c: against libzmq alone, linked with zmqpool, and run
 * with zmqpool preloaded. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool_probe.h"

static void *context;
static const char *transports[] = {"inproc", "ipc", "tcp"};

static void endpoint_for (const char *transport, const char *name,
                          char *out, size_t size)
{
    if (strcmp (transport, "inproc") == 0)
        snprintf (out, size, "inproc://%s", name);
    else if (strcmp (transport, "ipc") == 0)
        snprintf (out, size, "ipc:///tmp/zmqpool-test-%d-%s", (int) getpid (),
                  name);
    else
        snprintf (out, size, "tcp://127.0.0.1:*");
}

/* Binds `socket` and returns the endpoint peers should connect to. */
static int bind_any (void *socket, const char *transport, const char *name,
                     char *endpoint, size_t size)
{
    endpoint_for (transport, name, endpoint, size);
    if (zmq_bind (socket, endpoint) != 0)
        return -1;
    return zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, endpoint, &size);
}

static void fill (void *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        ((unsigned char *) data)[i] = (unsigned char) (seed * 7u + i);
}

static int holds (const void *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        if (((const unsigned char *) data)[i] != (unsigned char) (seed * 7u + i))
            return 0;
    return 1;
}

static int send_sized (void *socket, size_t size, unsigned seed, int flags)
{
    zmq_msg_t msg;
    if (zmq_msg_init_size (&msg, size) != 0)
        return -1;
    fill (zmq_msg_data (&msg), size, seed);
    if (zmq_msg_send (&msg, socket, flags) != (int) size) {
        zmq_msg_close (&msg);
        return -1;
    }
    return 0;
}

static int receive_checked (void *socket, size_t size, unsigned seed)
{
    zmq_msg_t msg;
    int ok;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, socket, 0) != (int) size) {
        zmq_msg_close (&msg);
        return 0;
    }
    ok = holds (zmq_msg_data (&msg), size, seed);
    return zmq_msg_close (&msg) == 0 && ok;
}

static void pub_sub_fan_out_shares_one_message (void)
{
    static const size_t sizes[] = {10, 100, 70000};
    size_t t, s;
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        void *pub = zmq_socket (context, ZMQ_PUB);
        void *subs[3];
        int i, linger = 0;
        CHECK (pub != NULL);
        zmq_setsockopt (pub, ZMQ_LINGER, &linger, sizeof linger);
        CHECK_EQ_INT (bind_any (pub, transports[t], "fanout", endpoint,
                                sizeof endpoint),
                      0);
        for (i = 0; i < 3; i++) {
            subs[i] = zmq_socket (context, ZMQ_SUB);
            CHECK_EQ_INT (zmq_setsockopt (subs[i], ZMQ_SUBSCRIBE, "", 0), 0);
            CHECK_EQ_INT (zmq_connect (subs[i], endpoint), 0);
        }
        /* Subscriptions travel asynchronously: publish until all hear. */
        for (i = 0; i < 3; i++) {
            int heard = 0, tries;
            for (tries = 0; !heard && tries < 500; tries++) {
                zmq_msg_t probe;
                CHECK_EQ_INT (send_sized (pub, 1, 0, 0), 0);
                zmq_msg_init (&probe);
                heard = zmq_msg_recv (&probe, subs[i], ZMQ_DONTWAIT) >= 0;
                zmq_msg_close (&probe);
                if (!heard)
                    usleep (2000);
            }
            CHECK (heard);
        }
        for (i = 0; i < 3; i++) { /* drain probes */
            zmq_msg_t probe;
            int rcvtimeo = 100;
            zmq_setsockopt (subs[i], ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
            zmq_msg_init (&probe);
            while (zmq_msg_recv (&probe, subs[i], 0) == 1)
                ;
            zmq_msg_close (&probe);
            rcvtimeo = 5000;
            zmq_setsockopt (subs[i], ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
        }
        for (s = 0; s < 3; s++)
            CHECK_EQ_INT (send_sized (pub, sizes[s], (unsigned) s + 1, 0), 0);
        for (i = 0; i < 3; i++)
            for (s = 0; s < 3; s++)
                CHECK (receive_checked (subs[i], sizes[s], (unsigned) s + 1));
        for (i = 0; i < 3; i++)
            zmq_close (subs[i]);
        zmq_close (pub);
    }
}

static void dealer_router_multipart_keeps_parts_and_routing (void)
{
    size_t t;
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        void *router = zmq_socket (context, ZMQ_ROUTER);
        void *dealer = zmq_socket (context, ZMQ_DEALER);
        zmq_msg_t identity, part;
        int more;
        CHECK_EQ_INT (zmq_setsockopt (dealer, ZMQ_ROUTING_ID, "dealer-1", 8),
                      0);
        CHECK_EQ_INT (bind_any (router, transports[t], "router", endpoint,
                                sizeof endpoint),
                      0);
        CHECK_EQ_INT (zmq_connect (dealer, endpoint), 0);
        CHECK_EQ_INT (send_sized (dealer, 40, 1, ZMQ_SNDMORE), 0);
        CHECK_EQ_INT (send_sized (dealer, 0, 2, ZMQ_SNDMORE), 0);
        CHECK_EQ_INT (send_sized (dealer, 9000, 3, 0), 0);
        /* ROUTER prepends the peer's routing id. */
        zmq_msg_init (&identity);
        CHECK_EQ_INT (zmq_msg_recv (&identity, router, 0), 8);
        CHECK (memcmp (zmq_msg_data (&identity), "dealer-1", 8) == 0);
        CHECK_EQ_INT (zmq_msg_more (&identity), 1);
        CHECK (receive_checked (router, 40, 1));
        CHECK (receive_checked (router, 0, 2));
        zmq_msg_init (&part);
        CHECK_EQ_INT (zmq_msg_recv (&part, router, 0), 9000);
        more = zmq_msg_more (&part);
        CHECK (holds (zmq_msg_data (&part), 9000, 3));
        CHECK_EQ_INT (more, 0);
        /* Reply through the routing id: the identity message is reused. */
        CHECK_EQ_INT (zmq_msg_send (&identity, router, ZMQ_SNDMORE), 8);
        CHECK_EQ_INT (zmq_msg_send (&part, router, 0), 9000);
        CHECK (receive_checked (dealer, 9000, 3));
        zmq_msg_close (&identity);
        zmq_msg_close (&part);
        zmq_close (dealer);
        zmq_close (router);
    }
}

/* PAIR both ways: a received message is copied, the copy moved and sent
 * back; an init_data message's free function runs once, after delivery. */
static int pair_frees;
static void pair_free (void *data, void *hint)
{
    (void) hint;
    pair_frees++;
    free (data);
}

static void pair_echoes_copies_and_moves (void)
{
    size_t t;
    int i;
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        void *a = zmq_socket (context, ZMQ_PAIR);
        void *b = zmq_socket (context, ZMQ_PAIR);
        pair_frees = 0;
        CHECK_EQ_INT (bind_any (a, transports[t], "pair", endpoint,
                                sizeof endpoint),
                      0);
        CHECK_EQ_INT (zmq_connect (b, endpoint), 0);
        for (i = 0; i < 40; i++) {
            size_t size = (size_t) ((i * 7919) % 140000);
            zmq_msg_t out, in, copy, moved;
            void *buffer = malloc (size + 1);
            fill (buffer, size, (unsigned) i);
            CHECK_EQ_INT (
              zmq_msg_init_data (&out, buffer, size, pair_free, NULL), 0);
            CHECK_EQ_INT (zmq_msg_send (&out, a, 0), (int) size);
            zmq_msg_init (&in);
            CHECK_EQ_INT (zmq_msg_recv (&in, b, 0), (int) size);
            zmq_msg_init (&copy);
            zmq_msg_init (&moved);
            CHECK_EQ_INT (zmq_msg_copy (&copy, &in), 0);
            CHECK_EQ_INT (zmq_msg_close (&in), 0);
            CHECK_EQ_INT (zmq_msg_move (&moved, &copy), 0);
            CHECK_EQ_INT (zmq_msg_size (&copy), 0);
            CHECK (holds (zmq_msg_data (&moved), size, (unsigned) i));
            CHECK_EQ_INT (zmq_msg_send (&moved, b, 0), (int) size);
            CHECK (receive_checked (a, size, (unsigned) i));
            zmq_msg_close (&copy);
        }
        zmq_close (b);
        zmq_close (a);
        /* over tcp/ipc the receive side copied the bytes, so the sender's
         * buffers are released on libzmq's I/O thread: wait for them */
        for (i = 0; i < 5000 && pair_frees < 40; i++)
            usleep (1000);
        CHECK_EQ_INT (pair_frees, 40);
    }
}

/* A sender thread queues messages and exits before any is read: libzmq
 * releases them later, on other threads, after the sender's thread (and
 * its zmqpool cache) is gone. The socket itself is handed to the main
 * thread (the join is the barrier libzmq asks for) and closed once all is
 * read. */
static void *send_and_exit (void *arg)
{
    void *push = zmq_socket (context, ZMQ_PUSH);
    int i, hwm = 0;
    zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect (push, (const char *) arg) != 0)
        return NULL;
    for (i = 0; i < 300; i++)
        if (send_sized (push, (size_t) (40 + i * 331), (unsigned) i, 0) != 0)
            return NULL;
    return push;
}

static void messages_outlive_the_thread_that_sent_them (void)
{
    size_t t;
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        void *pull = zmq_socket (context, ZMQ_PULL);
        pthread_t thread;
        void *push = NULL;
        int i, hwm = 0;
        zmq_setsockopt (pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
        CHECK_EQ_INT (bind_any (pull, transports[t], "outlive", endpoint,
                                sizeof endpoint),
                      0);
        CHECK_EQ_INT (pthread_create (&thread, NULL, send_and_exit, endpoint), 0);
        CHECK_EQ_INT (pthread_join (thread, &push), 0);
        CHECK (push != NULL);
        for (i = 0; i < 300; i++)
            CHECK (receive_checked (pull, (size_t) (40 + i * 331), (unsigned) i));
        zmq_close (push);
        zmq_close (pull);
    }
}

static void req_rep_round_trips (void)
{
    size_t t;
    int i;
    for (t = 0; t < 3; t++) {
        char endpoint[256];
        void *rep = zmq_socket (context, ZMQ_REP);
        void *req = zmq_socket (context, ZMQ_REQ);
        CHECK_EQ_INT (
          bind_any (rep, transports[t], "rep", endpoint, sizeof endpoint), 0);
        CHECK_EQ_INT (zmq_connect (req, endpoint), 0);
        for (i = 0; i < 50; i++) {
            size_t size = (size_t) 1 << (i % 18);
            zmq_msg_t msg;
            CHECK_EQ_INT (send_sized (req, size, (unsigned) i, 0), 0);
            zmq_msg_init (&msg);
            CHECK_EQ_INT (zmq_msg_recv (&msg, rep, 0), (int) size);
            CHECK (holds (zmq_msg_data (&msg), size, (unsigned) i));
            CHECK_EQ_INT (zmq_msg_send (&msg, rep, 0), (int) size);
            zmq_msg_close (&msg);
            CHECK (receive_checked (req, size, (unsigned) i));
        }
        zmq_close (req);
        zmq_close (rep);
    }
}

/* ---- several sender threads, one receiver, init_data frees counted ---- */

#define SENDERS 4
#define PER_SENDER 2000
static int frees_seen[SENDERS];
static pthread_mutex_t frees_lock = PTHREAD_MUTEX_INITIALIZER;
static char soak_endpoint[256];

static void count_free (void *data, void *hint)
{
    pthread_mutex_lock (&frees_lock);
    frees_seen[(intptr_t) hint]++;
    pthread_mutex_unlock (&frees_lock);
    free (data);
}

static void *sender (void *arg)
{
    intptr_t me = (intptr_t) arg;
    void *push = zmq_socket (context, ZMQ_PUSH);
    int i, hwm = 0;
    zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect (push, soak_endpoint) != 0)
        return (void *) 1;
    for (i = 0; i < PER_SENDER; i++) {
        size_t size = 16 + (size_t) ((i * 977) % 70000);
        zmq_msg_t msg;
        if (i % 2) {
            void *buffer = malloc (size);
            fill (buffer, size, (unsigned) (me * 10000 + i));
            zmq_msg_init_data (&msg, buffer, size, count_free, (void *) me);
        } else {
            zmq_msg_init_size (&msg, size);
            fill (zmq_msg_data (&msg), size, (unsigned) (me * 10000 + i));
        }
        /* the first 8 bytes say who sent it and which one it is */
        {
            uint32_t tag[2] = {(uint32_t) me, (uint32_t) i};
            memcpy (zmq_msg_data (&msg), tag, sizeof tag);
        }
        if (zmq_msg_send (&msg, push, 0) < 0)
            return (void *) 1;
    }
    zmq_close (push);
    return NULL;
}

static void concurrent_senders_deliver_every_message_intact (void)
{
    size_t t;
    for (t = 0; t < 3; t++) {
        void *pull = zmq_socket (context, ZMQ_PULL);
        pthread_t threads[SENDERS];
        int received = 0, i, hwm = 0, waited;
        memset (frees_seen, 0, sizeof frees_seen);
        zmq_setsockopt (pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
        CHECK_EQ_INT (bind_any (pull, transports[t], "soak", soak_endpoint,
                                sizeof soak_endpoint),
                      0);
        for (i = 0; i < SENDERS; i++)
            CHECK_EQ_INT (pthread_create (&threads[i], NULL, sender,
                                          (void *) (intptr_t) i),
                          0);
        while (received < SENDERS * PER_SENDER) {
            zmq_msg_t msg;
            uint32_t tag[2];
            size_t size;
            zmq_msg_init (&msg);
            CHECK (zmq_msg_recv (&msg, pull, 0) >= 0);
            size = zmq_msg_size (&msg);
            memcpy (tag, zmq_msg_data (&msg), sizeof tag);
            CHECK (tag[0] < SENDERS && tag[1] < PER_SENDER);
            CHECK_EQ_INT (size, 16 + (size_t) ((tag[1] * 977) % 70000));
            {
                /* the fill pattern, from byte 8 on (the tag is before) */
                size_t k;
                const unsigned char *bytes =
                  (const unsigned char *) zmq_msg_data (&msg);
                for (k = 8; k < size; k++)
                    CHECK (bytes[k]
                           == (unsigned char) ((tag[0] * 10000 + tag[1]) * 7u
                                               + k));
            }
            zmq_msg_close (&msg);
            received++;
        }
        for (i = 0; i < SENDERS; i++)
            CHECK (pthread_join (threads[i], NULL) == 0);
        zmq_close (pull);
        for (waited = 0; waited < 5000; waited++) {
            int done = 1;
            pthread_mutex_lock (&frees_lock);
            for (i = 0; i < SENDERS; i++)
                done &= frees_seen[i] == PER_SENDER / 2;
            pthread_mutex_unlock (&frees_lock);
            if (done)
                break;
            usleep (1000);
        }
        for (i = 0; i < SENDERS; i++)
            CHECK_EQ_INT (frees_seen[i], PER_SENDER / 2);
    }
}

/* A message received over tcp carries libzmq's metadata, so libzmq's own
 * close releases it, including a long group set on it afterwards: the
 * group must not be released again by a later set_group (checked under
 * valgrind). The group functions are draft API: only where they exist. */
typedef int (*set_group_fn) (zmq_msg_t *, const char *);
typedef const char *(*group_fn) (zmq_msg_t *);

static void a_received_message_with_a_long_group_closes_once (void)
{
    set_group_fn set_group;
    group_fn group;
    char endpoint[256], name[100];
    void *pull, *push;
    zmq_msg_t msg;
    LOOKUP (set_group, "zmq_msg_set_group");
    LOOKUP (group, "zmq_msg_group");
    if (!set_group || !group)
        SKIP_TEST ("draft API: no zmq_msg_set_group in this libzmq");
    pull = zmq_socket (context, ZMQ_PULL);
    push = zmq_socket (context, ZMQ_PUSH);
    CHECK (pull && push);
    CHECK_EQ_INT (bind_any (pull, "tcp", "group", endpoint, sizeof endpoint), 0);
    CHECK_EQ_INT (zmq_connect (push, endpoint), 0);
    CHECK_EQ_INT (zmq_send (push, "hello", 5, 0), 5);
    CHECK_EQ_INT (zmq_msg_init (&msg), 0);
    CHECK_EQ_INT (zmq_msg_recv (&msg, pull, 0), 5);
    CHECK (zmq_msg_gets (&msg, "Socket-Type") != NULL);
    memset (name, 'g', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    CHECK_EQ_INT (set_group (&msg, name), 0);
    CHECK (strcmp (group (&msg), name) == 0);
    CHECK_EQ_INT (zmq_msg_close (&msg), 0);
    CHECK_FAILS (set_group (&msg, "short"), -1, EFAULT);
    CHECK_FAILS (zmq_msg_close (&msg), -1, EFAULT);
    CHECK_EQ_INT (zmq_close (push), 0);
    CHECK_EQ_INT (zmq_close (pull), 0);
}

int main (void)
{
    int rc;
    probe_require_zmqpool_if_expected ("test_sockets");
    context = zmq_ctx_new ();
    if (!context)
        return 2;
    RUN (pub_sub_fan_out_shares_one_message);
    RUN (dealer_router_multipart_keeps_parts_and_routing);
    RUN (req_rep_round_trips);
    RUN (pair_echoes_copies_and_moves);
    RUN (messages_outlive_the_thread_that_sent_them);
    RUN (concurrent_senders_deliver_every_message_intact);
    RUN (a_received_message_with_a_long_group_closes_once);
    rc = zmq_ctx_term (context);
    if (rc != 0)
        return 2;
    return harness_finish ("test_sockets");
}
