/* czmq (Debian's libczmq-dev) on top of zmqpool: zframe, zmsg,
 * zstr_send/zstr_recv, zsock PUSH/PULL and ROUTER/DEALER over inproc and
 * tcp. Every byte is checked; where zmqpool serves the process (linked
 * ahead of czmq, or preloaded) its counters must show pooled messages. */
#define _GNU_SOURCE
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "zmqpool_probe.h"

static int with_zmqpool;
static const char *transports[] = {"inproc", "tcp"};

static void fill (byte *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        data[i] = (byte) (seed * 17u + i * 5u);
}

static int holds (const byte *data, size_t size, unsigned seed)
{
    size_t i;
    for (i = 0; i < size; i++)
        if (data[i] != (byte) (seed * 17u + i * 5u))
            return 0;
    return 1;
}

/* A bound socket of `type` and the endpoint its peer connects to. */
static zsock_t *bound (int type, const char *transport, const char *name,
                       char *endpoint, size_t size)
{
    zsock_t *socket = zsock_new (type);
    if (!socket)
        return NULL;
    zsock_set_linger (socket, 0);
    if (strcmp (transport, "inproc") == 0) {
        snprintf (endpoint, size, "inproc://%s", name);
        if (zsock_bind (socket, "%s", endpoint) != 0)
            return NULL;
    } else {
        int port = zsock_bind (socket, "tcp://127.0.0.1:*");
        if (port < 0)
            return NULL;
        snprintf (endpoint, size, "tcp://127.0.0.1:%d", port);
    }
    return socket;
}

static zmqpool_stats_t stats (void)
{
    zmqpool_stats_t out;
    probe_stats (&out);
    return out;
}

static const size_t sizes[] = {0, 20, 34, 1000, 70000, 300000};
#define SIZES (sizeof sizes / sizeof sizes[0])
#define POOLED_SIZES 4 /* over 33 bytes */

static void zframes_travel_push_to_pull (void)
{
    size_t t, s;
    for (t = 0; t < 2; t++) {
        char endpoint[128];
        zsock_t *pull = bound (ZMQ_PULL, transports[t], "czmq-frames",
                               endpoint, sizeof endpoint);
        zsock_t *push = zsock_new_push (endpoint);
        zmqpool_stats_t before, after;
        byte *body = (byte *) malloc (300000);
        CHECK (pull && push && body);
        zsock_set_linger (push, 0);
        before = stats ();
        for (s = 0; s < SIZES; s++) {
            zframe_t *frame;
            fill (body, sizes[s], (unsigned) s);
            frame = zframe_new (body, sizes[s]);
            CHECK (frame != NULL);
            CHECK_EQ_INT (zframe_send (&frame, push, 0), 0);
            CHECK (frame == NULL);
        }
        after = stats ();
        if (with_zmqpool)
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled,
                          POOLED_SIZES);
        for (s = 0; s < SIZES; s++) {
            zframe_t *frame = zframe_recv (pull);
            CHECK (frame != NULL);
            CHECK_EQ_INT (zframe_size (frame), sizes[s]);
            CHECK (holds (zframe_data (frame), sizes[s], (unsigned) s));
            zframe_destroy (&frame);
        }
        free (body);
        zsock_destroy (&push);
        zsock_destroy (&pull);
    }
}

static void zmsg_multipart_keeps_every_frame (void)
{
    size_t t, s;
    for (t = 0; t < 2; t++) {
        char endpoint[128];
        zsock_t *pull = bound (ZMQ_PULL, transports[t], "czmq-zmsg", endpoint,
                               sizeof endpoint);
        zsock_t *push = zsock_new_push (endpoint);
        byte *body = (byte *) malloc (300000);
        zmsg_t *msg = zmsg_new ();
        zmqpool_stats_t before, after;
        CHECK (pull && push && body && msg);
        zsock_set_linger (push, 0);
        before = stats ();
        for (s = 0; s < SIZES; s++) {
            fill (body, sizes[s], (unsigned) s + 100);
            CHECK_EQ_INT (zmsg_addmem (msg, body, sizes[s]), 0);
        }
        CHECK_EQ_INT (zmsg_send (&msg, push), 0);
        after = stats ();
        if (with_zmqpool)
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled,
                          POOLED_SIZES);
        msg = zmsg_recv (pull);
        CHECK (msg != NULL);
        CHECK_EQ_INT (zmsg_size (msg), SIZES);
        for (s = 0; s < SIZES; s++) {
            zframe_t *frame = zmsg_pop (msg);
            CHECK (frame != NULL);
            CHECK_EQ_INT (zframe_size (frame), sizes[s]);
            CHECK (holds (zframe_data (frame), sizes[s], (unsigned) s + 100));
            zframe_destroy (&frame);
        }
        zmsg_destroy (&msg);
        free (body);
        zsock_destroy (&push);
        zsock_destroy (&pull);
    }
}

static void zstr_round_trips_strings (void)
{
    size_t t;
    for (t = 0; t < 2; t++) {
        char endpoint[128];
        char long_string[5001];
        zsock_t *pull = bound (ZMQ_PULL, transports[t], "czmq-zstr", endpoint,
                               sizeof endpoint);
        zsock_t *push = zsock_new_push (endpoint);
        zmqpool_stats_t before, after;
        char *got;
        size_t i;
        CHECK (pull && push);
        zsock_set_linger (push, 0);
        for (i = 0; i < 5000; i++)
            long_string[i] = (char) ('a' + i % 26);
        long_string[5000] = '\0';
        before = stats ();
        CHECK_EQ_INT (zstr_send (push, "short"), 0);
        CHECK_EQ_INT (zstr_send (push, long_string), 0);
        CHECK_EQ_INT (zstr_sendm (push, "first part of two, over 33 bytes long"), 0);
        CHECK_EQ_INT (zstr_send (push, "second"), 0);
        after = stats ();
        if (with_zmqpool)
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled, 2);
        got = zstr_recv (pull);
        CHECK (got && strcmp (got, "short") == 0);
        zstr_free (&got);
        got = zstr_recv (pull);
        CHECK (got && strcmp (got, long_string) == 0);
        zstr_free (&got);
        got = zstr_recv (pull);
        CHECK (got && strcmp (got, "first part of two, over 33 bytes long") == 0);
        CHECK (zsock_rcvmore (pull));
        zstr_free (&got);
        got = zstr_recv (pull);
        CHECK (got && strcmp (got, "second") == 0);
        zstr_free (&got);
        zsock_destroy (&push);
        zsock_destroy (&pull);
    }
}

static void router_dealer_route_replies_by_identity (void)
{
    size_t t;
    for (t = 0; t < 2; t++) {
        char endpoint[128];
        zsock_t *router = bound (ZMQ_ROUTER, transports[t], "czmq-router",
                                 endpoint, sizeof endpoint);
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        byte body[9000];
        zmsg_t *request, *reply;
        zframe_t *identity, *payload;
        CHECK (router && dealer);
        zsock_set_linger (dealer, 0);
        zsock_set_identity (dealer, "czmq-dealer");
        CHECK_EQ_INT (zsock_connect (dealer, "%s", endpoint), 0);
        fill (body, sizeof body, 7);
        request = zmsg_new ();
        zmsg_addmem (request, body, sizeof body);
        CHECK_EQ_INT (zmsg_send (&request, dealer), 0);
        request = zmsg_recv (router);
        CHECK (request != NULL);
        CHECK_EQ_INT (zmsg_size (request), 2);
        identity = zmsg_pop (request);
        CHECK (zframe_streq (identity, "czmq-dealer"));
        payload = zmsg_pop (request);
        CHECK_EQ_INT (zframe_size (payload), sizeof body);
        CHECK (holds (zframe_data (payload), sizeof body, 7));
        /* Reply: identity frame first, then the payload sent back. */
        reply = zmsg_new ();
        zmsg_append (reply, &identity);
        zmsg_append (reply, &payload);
        CHECK_EQ_INT (zmsg_send (&reply, router), 0);
        reply = zmsg_recv (dealer);
        CHECK (reply != NULL);
        CHECK_EQ_INT (zmsg_size (reply), 1);
        payload = zmsg_first (reply);
        CHECK (holds (zframe_data (payload), sizeof body, 7));
        zmsg_destroy (&reply);
        zmsg_destroy (&request);
        zsock_destroy (&dealer);
        zsock_destroy (&router);
    }
}

int main (void)
{
    zmqpool_stats_t start, end;
    probe_require_zmqpool_if_expected ("test_czmq");
    with_zmqpool = probe_zmqpool_in_use ();
    printf ("test_czmq: messages from %s\n", with_zmqpool ? "zmqpool" : "libzmq");
    start = stats ();
    RUN (zframes_travel_push_to_pull);
    RUN (zmsg_multipart_keeps_every_frame);
    RUN (zstr_round_trips_strings);
    RUN (router_dealer_route_replies_by_identity);
    zsys_shutdown ();
    end = stats ();
    if (with_zmqpool && end.bytes_in_use != start.bytes_in_use) {
        printf ("FAIL every pooled message came back: %llu bytes still in use\n",
                (unsigned long long) (end.bytes_in_use - start.bytes_in_use));
        return 1;
    }
    return harness_finish ("test_czmq");
}
