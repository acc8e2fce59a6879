/* zmqpool's ZMTP encoder and decoder against a real libzmq over TCP
 * loopback, both ways: after the ZMTP 3.0 greeting and the NULL
 * mechanism's READY commands (done here by hand), libzmq PUSH -> zmqpool
 * decoder and zmqpool encoder -> libzmq PULL, multipart, bodies of 0, 1,
 * 255, 256, 8191, 8192, 65536 bytes and 1 MiB, every byte checked. Also the
 * C API's errors. Linked with zmqpool ahead of libzmq; run under valgrind
 * too. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "zmqpool.h"
#include "harness.h"

static const size_t sizes[] = {0, 1, 255, 256, 8191, 8192, 65536, 1 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define PARTS 3 /* then one 3-part message */
#define TOTAL (NSIZES + PARTS)

static unsigned char expected_byte (size_t message, size_t i)
{
    return (unsigned char) (message * 13 + i * 7 + (i >> 8));
}

static size_t size_of_message (size_t k)
{
    return k < NSIZES ? sizes[k] : 100 * (k - NSIZES) + 300;
}

static int write_all (int fd, const void *data, size_t size)
{
    const unsigned char *p = (const unsigned char *) data;
    while (size > 0) {
        ssize_t n = send (fd, p, size, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t) n;
    }
    return 0;
}

static int read_all (int fd, void *data, size_t size)
{
    unsigned char *p = (unsigned char *) data;
    while (size > 0) {
        ssize_t n = recv (fd, p, size, 0);
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t) n;
    }
    return 0;
}

/* The ZMTP 3.0 greeting with the NULL mechanism, and our READY command
 * naming `socket_type`; checks the peer's greeting. */
static int handshake (int fd, const char *socket_type)
{
    unsigned char greeting[64], peer[64], ready[64];
    size_t type_len = strlen (socket_type), len;
    memset (greeting, 0, sizeof greeting);
    greeting[0] = 0xFF;
    greeting[8] = 1;
    greeting[9] = 0x7F;
    greeting[10] = 3; /* version 3.0 */
    greeting[11] = 0;
    memcpy (greeting + 12, "NULL", 4);
    if (write_all (fd, greeting, sizeof greeting) != 0
        || read_all (fd, peer, sizeof peer) != 0)
        return -1;
    if (peer[0] != 0xFF || peer[9] != 0x7F || peer[10] != 3
        || memcmp (peer + 12, "NULL", 5) != 0)
        return -1;
    /* READY: command frame, "\5READY", property Socket-Type */
    len = 0;
    ready[len++] = 0x04;
    ready[len++] = (unsigned char) (6 + 1 + 11 + 4 + type_len);
    memcpy (ready + len, "\5READY\13Socket-Type\0\0\0", 21);
    len += 21;
    ready[len++] = (unsigned char) type_len;
    memcpy (ready + len, socket_type, type_len);
    len += type_len;
    return write_all (fd, ready, len);
}

/* Decodes from `fd` until `count` messages are in `out`. */
static int receive_messages (int fd, zmqpool_decoder_t *decoder,
                             zmq_msg_t *out, size_t count)
{
    size_t got = 0;
    while (got < count) {
        unsigned char *buffer;
        size_t capacity, offset = 0;
        ssize_t n;
        zmqpool_decoder_get_buffer (decoder, &buffer, &capacity);
        if (!buffer)
            return -1;
        n = recv (fd, buffer, capacity, 0);
        if (n <= 0)
            return -1;
        while (offset < (size_t) n) {
            size_t processed;
            int rc = zmqpool_decoder_decode (decoder, buffer + offset,
                                             (size_t) n - offset, &processed);
            if (rc < 0)
                return -1;
            offset += processed;
            if (rc == 1) {
                if (got == count)
                    return -1; /* more than expected */
                zmq_msg_init (&out[got]);
                if (zmqpool_decoder_take_msg (decoder, &out[got]) != 0)
                    return -1;
                got++;
            }
        }
    }
    return 0;
}

static int has_property (zmq_msg_t *command, const char *name,
                         const char *value)
{
    const unsigned char *body = (const unsigned char *) zmq_msg_data (command);
    size_t size = zmq_msg_size (command), at;
    if (size < 6 || memcmp (body, "\5READY", 6) != 0)
        return 0;
    for (at = 6; at < size;) {
        size_t name_len = body[at], value_len;
        const unsigned char *p = body + at + 1 + name_len;
        value_len = (size_t) p[0] << 24 | (size_t) p[1] << 16
                    | (size_t) p[2] << 8 | p[3];
        if (name_len == strlen (name) && memcmp (body + at + 1, name, name_len) == 0)
            return value_len == strlen (value)
                   && memcmp (p + 4, value, value_len) == 0;
        at += 1 + name_len + 4 + value_len;
    }
    return 0;
}

static int is_command (zmq_msg_t *m)
{
    return (((unsigned char *) m)[43] & 2) != 0; /* msg_t::command */
}

static void libzmq_push_to_zmqpool_decoder (void)
{
    struct sockaddr_in address;
    socklen_t address_len = sizeof address;
    char endpoint[64];
    int listener = socket (AF_INET, SOCK_STREAM, 0), fd;
    void *context = zmq_ctx_new ();
    void *push = zmq_socket (context, ZMQ_PUSH);
    zmqpool_decoder_t *decoder = zmqpool_decoder_new (0, -1);
    zmq_msg_t received[TOTAL + 1];
    size_t k, i;
    int linger = 0;
    CHECK (decoder != NULL);
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    CHECK_EQ_INT (bind (listener, (struct sockaddr *) &address, sizeof address), 0);
    CHECK_EQ_INT (listen (listener, 1), 0);
    CHECK_EQ_INT (getsockname (listener, (struct sockaddr *) &address, &address_len), 0);
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", ntohs (address.sin_port));
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_EQ_INT (zmq_connect (push, endpoint), 0);
    fd = accept (listener, NULL, NULL);
    CHECK (fd >= 0);
    CHECK_EQ_INT (handshake (fd, "PULL"), 0);
    for (k = 0; k < TOTAL; k++) {
        size_t size = size_of_message (k);
        int more = k >= NSIZES && k + 1 < TOTAL;
        zmq_msg_t m;
        CHECK_EQ_INT (zmq_msg_init_size (&m, size), 0);
        for (i = 0; i < size; i++)
            ((unsigned char *) zmq_msg_data (&m))[i] = expected_byte (k, i);
        CHECK_EQ_INT (zmq_msg_send (&m, push, more ? ZMQ_SNDMORE : 0), (int) size);
    }
    /* the peer's READY command first, then the messages */
    CHECK_EQ_INT (receive_messages (fd, decoder, received, TOTAL + 1), 0);
    CHECK (is_command (&received[0]));
    CHECK (has_property (&received[0], "Socket-Type", "PUSH"));
    for (k = 0; k < TOTAL; k++) {
        zmq_msg_t *m = &received[k + 1];
        size_t size = size_of_message (k);
        const unsigned char *body = (const unsigned char *) zmq_msg_data (m);
        CHECK_EQ_INT (zmq_msg_size (m), size);
        CHECK_EQ_INT (zmq_msg_more (m), k >= NSIZES && k + 1 < TOTAL);
        CHECK (!is_command (m));
        for (i = 0; i < size; i++)
            if (body[i] != expected_byte (k, i))
                break;
        CHECK_EQ_INT (i, size);
    }
    /* messages outlive the decoder */
    zmqpool_decoder_destroy (decoder);
    for (k = 1; k <= TOTAL; k++) {
        size_t size = size_of_message (k - 1);
        const unsigned char *body = (const unsigned char *) zmq_msg_data (&received[k]);
        CHECK (size == 0 || (body[0] == expected_byte (k - 1, 0)
                             && body[size - 1] == expected_byte (k - 1, size - 1)));
    }
    for (k = 0; k <= TOTAL; k++)
        CHECK_EQ_INT (zmq_msg_close (&received[k]), 0);
    close (fd);
    close (listener);
    zmq_close (push);
    zmq_ctx_term (context);
}

/* Makes message k and loads it; -1 with EAGAIN while the encoder is busy. */
static int load_message (zmqpool_encoder_t *encoder, size_t k)
{
    size_t size = size_of_message (k), i;
    zmq_msg_t m;
    int rc;
    if (zmq_msg_init_size (&m, size) != 0)
        return -1;
    for (i = 0; i < size; i++)
        ((unsigned char *) zmq_msg_data (&m))[i] = expected_byte (k, i);
    if (k >= NSIZES && k + 1 < TOTAL)
        ((unsigned char *) &m)[43] |= 1; /* ZMQ_MORE, as zmq_msg_send sets it */
    rc = zmqpool_encoder_load_msg (encoder, &m);
    if (rc == 0 && zmq_msg_size (&m) != 0)
        return -1; /* load_msg must leave an empty message */
    zmq_msg_close (&m);
    return rc;
}

/* Sends everything the way libzmq's stream engine batches: take what the
 * encoder has (its batch buffer, or a large body zero-copy), then keep
 * loading messages and encoding into the rest of the batch until it is
 * full or the encoder is busy with a message that did not fit. */
#define BATCH 8192
static int send_messages (int fd, zmqpool_encoder_t *encoder)
{
    size_t k = 0;
    for (;;) {
        unsigned char *out = NULL;
        size_t outsize = zmqpool_encoder_encode (encoder, &out, 0);
        while (outsize < BATCH && k < TOTAL) {
            unsigned char *at;
            size_t n;
            if (load_message (encoder, k) != 0) {
                if (errno != EAGAIN)
                    return -1;
                break;
            }
            k++;
            at = out ? out + outsize : NULL;
            n = zmqpool_encoder_encode (encoder, &at, out ? BATCH - outsize : 0);
            if (n == 0)
                return -1;
            if (!out)
                out = at;
            outsize += n;
        }
        if (outsize == 0)
            return k == TOTAL ? 0 : -1;
        if (write_all (fd, out, outsize) != 0)
            return -1;
    }
}

static void zmqpool_encoder_to_libzmq_pull (void)
{
    struct sockaddr_in address;
    char endpoint[64];
    size_t endpoint_len = sizeof endpoint, k, i;
    int fd = socket (AF_INET, SOCK_STREAM, 0), port, linger = 0;
    void *context = zmq_ctx_new ();
    void *pull = zmq_socket (context, ZMQ_PULL);
    zmqpool_encoder_t *encoder = zmqpool_encoder_new (0);
    zmqpool_decoder_t *decoder = zmqpool_decoder_new (0, -1);
    zmq_msg_t ready;
    CHECK (encoder != NULL && decoder != NULL);
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_EQ_INT (zmq_bind (pull, "tcp://127.0.0.1:*"), 0);
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len);
    port = atoi (strrchr (endpoint, ':') + 1);
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    address.sin_port = htons ((uint16_t) port);
    CHECK_EQ_INT (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    CHECK_EQ_INT (handshake (fd, "PUSH"), 0);
    CHECK_EQ_INT (receive_messages (fd, decoder, &ready, 1), 0);
    CHECK (is_command (&ready) && has_property (&ready, "Socket-Type", "PULL"));
    zmq_msg_close (&ready);
    CHECK_EQ_INT (send_messages (fd, encoder), 0);
    for (k = 0; k < TOTAL; k++) {
        size_t size = size_of_message (k);
        zmq_msg_t m;
        const unsigned char *body;
        zmq_msg_init (&m);
        CHECK_EQ_INT (zmq_msg_recv (&m, pull, 0), (int) size);
        CHECK_EQ_INT (zmq_msg_more (&m), k >= NSIZES && k + 1 < TOTAL);
        body = (const unsigned char *) zmq_msg_data (&m);
        for (i = 0; i < size; i++)
            if (body[i] != expected_byte (k, i))
                break;
        CHECK_EQ_INT (i, size);
        zmq_msg_close (&m);
    }
    zmqpool_encoder_destroy (encoder);
    zmqpool_decoder_destroy (decoder);
    close (fd);
    zmq_close (pull);
    zmq_ctx_term (context);
}

static void bad_input_gets_errors_not_crashes (void)
{
    zmqpool_decoder_t *decoder = zmqpool_decoder_new (0, 10);
    zmqpool_encoder_t *encoder = zmqpool_encoder_new (0);
    unsigned char *data = NULL;
    size_t size = 0, processed = 99;
    zmq_msg_t m;
    const unsigned char reserved[] = {0x20, 1, 'x'};
    const unsigned char too_big[] = {0, 11};
    CHECK (decoder && encoder);
    CHECK_FAILS (zmqpool_decoder_decode (NULL, reserved, 3, &processed), -1, EFAULT);
    CHECK_FAILS (zmqpool_decoder_decode (decoder, reserved, 3, NULL), -1, EFAULT);
    CHECK_FAILS (zmqpool_decoder_decode (decoder, NULL, 3, &processed), -1, EINVAL);
    zmq_msg_init (&m);
    CHECK_FAILS (zmqpool_decoder_take_msg (decoder, &m), -1, EAGAIN);
    CHECK_FAILS (zmqpool_decoder_take_msg (decoder, NULL), -1, EFAULT);
    CHECK_FAILS (zmqpool_decoder_decode (decoder, too_big, 2, &processed), -1, EMSGSIZE);
    CHECK_FAILS (zmqpool_decoder_decode (decoder, too_big, 2, &processed), -1, EMSGSIZE);
    zmqpool_decoder_destroy (decoder);
    decoder = zmqpool_decoder_new (0, -1);
    CHECK_FAILS (zmqpool_decoder_decode (decoder, reserved, 3, &processed), -1, EPROTO);
    zmqpool_decoder_get_buffer (NULL, &data, &size);
    CHECK_FAILS (zmqpool_encoder_encode (encoder, NULL, 0), 0, EFAULT);
    CHECK_EQ_INT (zmqpool_encoder_encode (encoder, &data, 0), 0); /* nothing loaded */
    CHECK_FAILS (zmqpool_encoder_load_msg (encoder, NULL), -1, EFAULT);
    CHECK_FAILS (zmqpool_encoder_load_msg (NULL, &m), -1, EFAULT);
    CHECK_EQ_INT (zmq_msg_close (&m), 0);
    CHECK_FAILS (zmqpool_encoder_load_msg (encoder, &m), -1, EFAULT); /* closed */
    zmqpool_encoder_destroy (NULL);
    zmqpool_decoder_destroy (NULL);
    zmqpool_encoder_destroy (encoder);
    zmqpool_decoder_destroy (decoder);
}

int main (void)
{
    printf ("test_zmtp: zmqpool's ZMTP codec against libzmq %d.%d.%d\n",
            ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH);
    RUN (libzmq_push_to_zmqpool_decoder);
    RUN (zmqpool_encoder_to_libzmq_pull);
    RUN (bad_input_gets_errors_not_crashes);
    zmqpool_trim ();
    return harness_finish ("test_zmtp");
}
