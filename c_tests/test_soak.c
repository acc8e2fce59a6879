/* Soak: several sender threads, each with a PUSH socket per transport
 * (inproc, ipc, tcp), send for a bounded time a mix of init_size, init_data
 * (free function counted), shared copies and multipart messages of 12 B to
 * 300 KiB; one receiver checks every byte and the per-connection order. At
 * the end every message has arrived exactly once, every free function has
 * run exactly once, and - when zmqpool is in the process - its bytes in use
 * are back where they started and its cache is within its caps.
 * SOAK_SECONDS sets the duration (default 2). Built and run like
 * test_sockets: plain, linked, preloaded, and under valgrind. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool_probe.h"

#define SENDERS 4
#define TRANSPORTS 3
#define END_SEQ 0xFFFFFFFFu

typedef struct
{
    uint32_t sender, seq, part, parts;
} tag_t;

static void *context;
static char endpoints[TRANSPORTS][256];
static volatile int stop, all_received;
static int data_messages[SENDERS];
static int frees[SENDERS];
static pthread_mutex_t frees_lock = PTHREAD_MUTEX_INITIALIZER;
static const size_t sizes[] = {16, 40, 200, 3000, 70000, 300000};

static size_t size_for (uint32_t sender, uint32_t seq, uint32_t part)
{
    uint32_t h = (sender * 2654435761u) ^ (seq * 40503u) ^ (part * 97u);
    return sizes[h % (sizeof sizes / sizeof sizes[0])] + h % 7;
}

static unsigned char pattern (const tag_t *t, size_t k)
{
    return (unsigned char) (t->sender * 31u + t->seq * 7u + t->part + k);
}

static void fill (unsigned char *data, size_t size, const tag_t *t)
{
    size_t k;
    memcpy (data, t, sizeof *t);
    for (k = sizeof *t; k < size; k++)
        data[k] = pattern (t, k);
}

static void count_free (void *data, void *hint)
{
    pthread_mutex_lock (&frees_lock);
    frees[(intptr_t) hint]++;
    pthread_mutex_unlock (&frees_lock);
    free (data);
}

/* Sends part `part` of message `seq`; kinds rotate with seq. Returns the
 * number of messages put on the wire (2 for a shared copy), or -1. */
static int send_part (void *socket, uint32_t me, uint32_t seq, uint32_t part,
                      uint32_t parts)
{
    tag_t t = {me, seq, part, parts};
    size_t size = size_for (me, seq, part);
    int more = part + 1 < parts ? ZMQ_SNDMORE : 0;
    zmq_msg_t msg;
    if (seq % 4 == 1) {
        unsigned char *buffer = (unsigned char *) malloc (size);
        fill (buffer, size, &t);
        if (zmq_msg_init_data (&msg, buffer, size, count_free,
                               (void *) (intptr_t) me)
            != 0)
            return -1;
        data_messages[me]++;
    } else {
        if (zmq_msg_init_size (&msg, size) != 0)
            return -1;
        fill ((unsigned char *) zmq_msg_data (&msg), size, &t);
    }
    if (zmq_msg_send (&msg, socket, more) != (int) size)
        return -1;
    return 1;
}

static void *sender (void *arg)
{
    uint32_t me = (uint32_t) (intptr_t) arg;
    void *sockets[TRANSPORTS];
    uint32_t seq[TRANSPORTS] = {0, 0, 0};
    int t, hwm = 100;
    for (t = 0; t < TRANSPORTS; t++) {
        sockets[t] = zmq_socket (context, ZMQ_PUSH);
        zmq_setsockopt (sockets[t], ZMQ_SNDHWM, &hwm, sizeof hwm);
        if (zmq_connect (sockets[t], endpoints[t]) != 0)
            return (void *) 1;
    }
    for (uint32_t i = 0; !stop; i++) {
        t = (int) (i % TRANSPORTS);
        uint32_t s = seq[t]++;
        uint32_t parts = s % 4 == 3 ? 3 : 1;
        for (uint32_t p = 0; p < parts; p++)
            if (send_part (sockets[t], me, s, p, parts) < 0)
                return (void *) 1;
        if (s % 4 == 2) {
            /* a shared copy: the same body sent twice under two seqs */
            tag_t tag = {me, seq[t]++, 0, 0};
            zmq_msg_t a, b;
            size_t size = 5000;
            zmq_msg_init_size (&a, size);
            fill ((unsigned char *) zmq_msg_data (&a), size, &tag);
            zmq_msg_init (&b);
            zmq_msg_copy (&b, &a);
            if (zmq_msg_send (&a, sockets[t], 0) != (int) size)
                return (void *) 1;
            if (zmq_msg_send (&b, sockets[t], 0) != (int) size)
                return (void *) 1;
        }
    }
    for (t = 0; t < TRANSPORTS; t++) {
        tag_t end = {me, END_SEQ, 0, 1};
        zmq_msg_t msg;
        zmq_msg_init_size (&msg, sizeof end);
        memcpy (zmq_msg_data (&msg), &end, sizeof end);
        if (zmq_msg_send (&msg, sockets[t], 0) != (int) sizeof end)
            return (void *) 1;
    }
    /* Sockets stay open until the receiver has every END: a PUSH socket
     * closed right after its last send can lose that message over ipc. */
    while (!all_received)
        usleep (1000);
    for (t = 0; t < TRANSPORTS; t++)
        zmq_close (sockets[t]);
    return NULL;
}

/* zmqpool's statistics, when zmqpool is in the process (linked or preloaded) */
static uint64_t stat_field (size_t offset)
{
    zmqpool_stats_t stats;
    uint64_t value;
    if (probe_stats (&stats) != 0)
        return 0;
    memcpy (&value, (const char *) &stats + offset, sizeof value);
    return value;
}
#define BYTES_IN_USE offsetof (zmqpool_stats_t, bytes_in_use)
#define BYTES_CACHED offsetof (zmqpool_stats_t, bytes_cached)

static void senders_and_sockets_under_sustained_load (void)
{
    void *pulls[TRANSPORTS];
    zmq_pollitem_t items[TRANSPORTS];
    pthread_t threads[SENDERS];
    uint32_t expect[SENDERS][TRANSPORTS];
    uint32_t pending_copy[SENDERS][TRANSPORTS];
    int ended[SENDERS][TRANSPORTS];
    int ends = 0, t, i, waited;
    long received = 0;
    const char *seconds_env = getenv ("SOAK_SECONDS");
    double seconds = seconds_env ? atof (seconds_env) : 2.0;
    uint64_t in_use_before = stat_field (BYTES_IN_USE);
    struct timespec start, now;
    static const char *schemes[TRANSPORTS] = {"inproc://soak", "ipc", "tcp"};

    memset (expect, 0, sizeof expect);
    memset (pending_copy, 0, sizeof pending_copy);
    memset (ended, 0, sizeof ended);
    for (t = 0; t < TRANSPORTS; t++) {
        size_t len = sizeof endpoints[t];
        int hwm = 100;
        pulls[t] = zmq_socket (context, ZMQ_PULL);
        zmq_setsockopt (pulls[t], ZMQ_RCVHWM, &hwm, sizeof hwm);
        if (t == 1)
            snprintf (endpoints[t], sizeof endpoints[t],
                      "ipc:///tmp/zmqpool-soak-%d", (int) getpid ());
        else if (t == 2)
            snprintf (endpoints[t], sizeof endpoints[t], "tcp://127.0.0.1:*");
        else
            snprintf (endpoints[t], sizeof endpoints[t], "%s", schemes[t]);
        CHECK_EQ_INT (zmq_bind (pulls[t], endpoints[t]), 0);
        CHECK_EQ_INT (zmq_getsockopt (pulls[t], ZMQ_LAST_ENDPOINT,
                                      endpoints[t], &len),
                      0);
        items[t].socket = pulls[t];
        items[t].events = ZMQ_POLLIN;
    }
    stop = 0;
    all_received = 0;
    for (i = 0; i < SENDERS; i++)
        CHECK_EQ_INT (pthread_create (&threads[i], NULL, sender,
                                      (void *) (intptr_t) i),
                      0);
    clock_gettime (CLOCK_MONOTONIC, &start);
    while (ends < SENDERS * TRANSPORTS) {
        clock_gettime (CLOCK_MONOTONIC, &now);
        if (!stop
            && (double) (now.tv_sec - start.tv_sec)
                   + (double) (now.tv_nsec - start.tv_nsec) / 1e9
                 > seconds)
            stop = 1;
        /* everything must be in well within 30 s of the stop */
        CHECK (now.tv_sec - start.tv_sec < (time_t) seconds + 30);
        CHECK (zmq_poll (items, TRANSPORTS, 100) >= 0);
        for (t = 0; t < TRANSPORTS; t++) {
            zmq_msg_t msg;
            tag_t tag;
            size_t size, k;
            const unsigned char *bytes;
            if (!(items[t].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_init (&msg);
            CHECK (zmq_msg_recv (&msg, pulls[t], ZMQ_DONTWAIT) >= 0);
            size = zmq_msg_size (&msg);
            CHECK (size >= sizeof tag);
            bytes = (const unsigned char *) zmq_msg_data (&msg);
            memcpy (&tag, bytes, sizeof tag);
            CHECK (tag.sender < SENDERS);
            if (tag.seq == END_SEQ) {
                ends++;
                ended[tag.sender][t]++;
                zmq_msg_close (&msg);
                continue;
            }
            {
                /* parts == 0 marks a shared copy: sent twice, same tag */
                uint32_t *next = &expect[tag.sender][t];
                int copy = tag.parts == 0;
                if (copy && pending_copy[tag.sender][t]) {
                    CHECK_EQ_INT (tag.seq, *next - 1);
                    pending_copy[tag.sender][t] = 0;
                } else {
                    CHECK_EQ_INT (tag.seq, *next);
                    pending_copy[tag.sender][t] = copy;
                    if (copy || tag.part + 1 == tag.parts)
                        *next = tag.seq + 1;
                }
                CHECK_EQ_INT (zmq_msg_more (&msg),
                              !copy && tag.part + 1 < tag.parts);
                CHECK_EQ_INT (size, copy ? 5000 : size_for (tag.sender, tag.seq,
                                                            tag.part));
            }
            for (k = sizeof tag; k < size; k++)
                if (bytes[k] != pattern (&tag, k))
                    break;
            CHECK_EQ_INT (k, size);
            zmq_msg_close (&msg);
            received++;
        }
    }
    all_received = 1;
    for (i = 0; i < SENDERS; i++) {
        void *failed = NULL;
        CHECK_EQ_INT (pthread_join (threads[i], &failed), 0);
        CHECK (failed == NULL);
    }
    for (t = 0; t < TRANSPORTS; t++)
        zmq_close (pulls[t]);
    for (waited = 0; waited < 10000; waited++) {
        int done = 1;
        pthread_mutex_lock (&frees_lock);
        for (i = 0; i < SENDERS; i++)
            done &= frees[i] == data_messages[i];
        pthread_mutex_unlock (&frees_lock);
        if (done)
            break;
        usleep (1000);
    }
    for (i = 0; i < SENDERS; i++)
        CHECK_EQ_INT (frees[i], data_messages[i]);
    printf ("  %.1f s: %ld messages received, %d init_data buffers freed\n",
            seconds, received,
            data_messages[0] + data_messages[1] + data_messages[2]
              + data_messages[3]);
    CHECK (received > 0);
    if (dlsym (RTLD_DEFAULT, "zmqpool_stats")) {
        uint64_t cached = stat_field (BYTES_CACHED);
        CHECK_EQ_INT (stat_field (BYTES_IN_USE), in_use_before);
        /* depot cap (64 MiB) plus at most 4 MiB per thread cache */
        CHECK (cached <= (64u << 20) + 16u * (4u << 20));
        printf ("  zmqpool: bytes in use back to %llu, %llu cached\n",
                (unsigned long long) in_use_before,
                (unsigned long long) cached);
    }
}

int main (void)
{
    probe_require_zmqpool_if_expected ("test_soak");
    context = zmq_ctx_new ();
    if (!context)
        return 2;
    RUN (senders_and_sockets_under_sustained_load);
    if (harness_failed) /* senders may still hold sockets: do not wait */
        return harness_finish ("test_soak");
    if (zmq_ctx_term (context) != 0)
        return 2;
    return harness_finish ("test_soak");
}
