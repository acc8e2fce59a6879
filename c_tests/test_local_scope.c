/* The pyzmq case: a language binding dlopen()s its own copy of libzmq, with
 * its own file name and soname, into a local scope (RTLD_LOCAL). Neither
 * dlsym(RTLD_NEXT) nor dlopen("libzmq.so.5", RTLD_NOLOAD) can see it; zmqpool
 * must still find it (it walks the loaded objects) to read and release the
 * metadata of messages received over tcp, and nothing may leak when the
 * last reference goes after the connection and the context are gone.
 *
 * zmq_send, exported by zmqpool, must hand its message to the copy of
 * libzmq that made the socket. Built with -DWITH_GLOBAL_LIBZMQ the program
 * also links Debian's libzmq: two copies in one process, sockets from both
 * sent on through zmqpool's zmq_send.
 *
 * usage: test_local_scope PATH-TO-RENAMED-LIBZMQ
 * This program links zmqpool (and maybe libzmq); every call into the
 * hidden copy goes through dlsym on its handle. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpool.h"
#include "harness.h"

static void *lib;
static const char *lib_path;

/* The zmq_send calls the JSON statistics count for the libzmq found as
 * `path` (-1 if that copy is not listed). */
static long long sends_of_copy (const char *path)
{
    static char json[65536];
    char key[4200];
    const char *at;
    if (zmqpool_stats_json (json, sizeof json) >= sizeof json)
        return -1;
    snprintf (key, sizeof key, "{\"path\":\"%s\",", path);
    at = strstr (json, key);
    if (!at)
        return -1;
    at = strstr (at, "\"sends\":");
    return at ? atoll (at + strlen ("\"sends\":")) : -1;
}
static void *(*ctx_new) (void);
static int (*ctx_term) (void *);
static void *(*socket_new) (void *, int);
static int (*sock_close) (void *);
static int (*sock_bind) (void *, const char *);
static int (*sock_connect) (void *, const char *);
static int (*sock_getopt) (void *, int, void *, size_t *);
static int (*sock_setopt) (void *, int, const void *, size_t);
static int (*lib_msg_send) (zmq_msg_t *, void *, int);
static int (*lib_msg_recv) (zmq_msg_t *, void *, int);
static const char *(*lib_msg_gets) (const zmq_msg_t *, const char *);

#define FIND(var, name)                                                        \
    do {                                                                       \
        void *sym_ = dlsym (lib, name);                                        \
        if (!sym_) {                                                           \
            fprintf (stderr, "missing %s\n", name);                            \
            exit (2);                                                          \
        }                                                                      \
        memcpy (&(var), &sym_, sizeof sym_);                                   \
    } while (0)

#ifdef WITH_GLOBAL_LIBZMQ
static void two_copies_of_libzmq_are_in_the_process (void)
{
    CHECK (dlsym (RTLD_DEFAULT, "zmq_ctx_new") != NULL);
    CHECK (dlsym (RTLD_DEFAULT, "zmq_ctx_new") != dlsym (lib, "zmq_ctx_new"));
}
#else
static void libzmq_is_out_of_every_global_view (void)
{
    CHECK (dlsym (RTLD_DEFAULT, "zmq_ctx_new") == NULL);
    CHECK (dlopen ("libzmq.so.5", RTLD_NOLOAD | RTLD_LAZY) == NULL);
}

/* Before any libzmq is loaded nothing can be a socket: ENOTSOCK, counted. */
static void zmq_send_without_any_libzmq_is_enotsock_and_counted (void)
{
    zmqpool_stats_t before, after;
    long not_a_socket[8] = {0};
    CHECK_EQ_INT (zmqpool_stats (&before), 0);
    CHECK_FAILS (zmq_send (not_a_socket, "hello", 5, 0), -1, ENOTSOCK);
    CHECK_FAILS (zmq_send (NULL, "hello", 5, 0), -1, ENOTSOCK);
    CHECK_EQ_INT (zmqpool_stats (&after), 0);
    CHECK_EQ_INT (after.calls_without_libzmq - before.calls_without_libzmq, 1);
    CHECK_EQ_INT (after.sends, before.sends);
}
#endif

/* Messages made by zmqpool go out through the local libzmq (its I/O thread
 * frees them); messages it receives are read, copied and closed by zmqpool
 * after sockets and context are gone. */
static void metadata_is_read_and_released_through_the_hidden_libzmq (void)
{
    static const size_t sizes[] = {0, 20, 1000, 70000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    zmq_msg_t received[N], copies[N];
    char endpoint[256];
    size_t len = sizeof endpoint;
    int linger = 0, i;
    void *ctx = ctx_new ();
    void *push = socket_new (ctx, ZMQ_PUSH);
    void *pull = socket_new (ctx, ZMQ_PULL);
    CHECK (ctx && push && pull);
    sock_setopt (push, ZMQ_LINGER, &linger, sizeof linger);
    sock_setopt (pull, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_EQ_INT (sock_bind (pull, "tcp://127.0.0.1:*"), 0);
    CHECK_EQ_INT (sock_getopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    CHECK_EQ_INT (sock_connect (push, endpoint), 0);
    for (i = 0; i < N; i++) {
        zmq_msg_t out;
        CHECK_EQ_INT (zmq_msg_init_size (&out, sizes[i]), 0);
        harness_fill ((unsigned char *) zmq_msg_data (&out), sizes[i], (unsigned) i);
        CHECK_EQ_INT (lib_msg_send (&out, push, 0), (int) sizes[i]);
    }
    for (i = 0; i < N; i++) {
        const char *type, *peer;
        CHECK_EQ_INT (zmq_msg_init (&received[i]), 0);
        CHECK_EQ_INT (lib_msg_recv (&received[i], pull, 0), (int) sizes[i]);
        type = zmq_msg_gets (&received[i], "Socket-Type");
        peer = zmq_msg_gets (&received[i], "Peer-Address");
        CHECK (type && strcmp (type, "PUSH") == 0);
        CHECK (type == lib_msg_gets (&received[i], "Socket-Type"));
        CHECK (peer && strcmp (peer, "127.0.0.1") == 0);
        CHECK_FAILS (zmq_msg_gets (&received[i], "No-Such"), NULL, EINVAL);
        CHECK_EQ_INT (zmq_msg_init (&copies[i]), 0);
        CHECK_EQ_INT (zmq_msg_copy (&copies[i], &received[i]), 0);
        CHECK_EQ_INT (zmq_msg_size (&copies[i]), sizes[i]);
        CHECK (harness_intact ((unsigned char *) zmq_msg_data (&copies[i]), sizes[i],
                       (unsigned) i));
    }
    CHECK_EQ_INT (sock_close (push), 0);
    CHECK_EQ_INT (sock_close (pull), 0);
    CHECK_EQ_INT (ctx_term (ctx), 0);
    for (i = 0; i < N; i++) {
        CHECK (strcmp (zmq_msg_gets (&copies[i], "Socket-Type"), "PUSH") == 0);
        CHECK_EQ_INT (zmq_msg_close (&received[i]), 0);
        CHECK (harness_intact ((unsigned char *) zmq_msg_data (&copies[i]), sizes[i],
                       (unsigned) i));
        CHECK_EQ_INT (zmq_msg_close (&copies[i]), 0);
    }
}

/* zmqpool's zmq_send on a socket of the hidden copy (and, with a global
 * copy too, on one of that): each message reaches the copy that made the
 * socket, pooled, every byte intact. */
static void zmq_send_reaches_the_copy_that_made_the_socket (void)
{
    static const size_t sizes[] = {5, 100, 70000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    unsigned char *body = (unsigned char *) malloc (70000);
    char endpoint[256];
    size_t len = sizeof endpoint;
    zmqpool_stats_t before, after;
    int linger = 0, i;
    long long hidden_before;
    void *ctx = ctx_new ();
    void *push = socket_new (ctx, ZMQ_PUSH);
    void *pull = socket_new (ctx, ZMQ_PULL);
    CHECK (body && ctx && push && pull);
    sock_setopt (push, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_EQ_INT (sock_bind (pull, "inproc://hidden"), 0);
    CHECK_EQ_INT (sock_connect (push, "inproc://hidden"), 0);
    CHECK_EQ_INT (zmqpool_stats (&before), 0);
    hidden_before = sends_of_copy (lib_path);
    for (i = 0; i < N; i++) {
        harness_fill (body, sizes[i], (unsigned) i + 50);
        CHECK_EQ_INT (zmq_send (push, body, sizes[i], 0), (int) sizes[i]);
    }
    CHECK_EQ_INT (zmqpool_stats (&after), 0);
    CHECK_EQ_INT (after.sends - before.sends, N);
    /* Each went to the hidden copy (the statistics say which copy took
     * it; with the global copy first, a send routed there would count for
     * that one: both are the same code, so the bytes alone cannot tell). */
    if (hidden_before < 0) /* not found yet: the first send finds it */
        hidden_before = 0;
    CHECK_EQ_INT (sends_of_copy (lib_path) - hidden_before, N);
    CHECK_EQ_INT (after.messages_pooled - before.messages_pooled, 2);
    for (i = 0; i < N; i++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        CHECK_EQ_INT (lib_msg_recv (&msg, pull, 0), (int) sizes[i]);
        CHECK (harness_intact ((unsigned char *) zmq_msg_data (&msg), sizes[i], (unsigned) i + 50));
        zmq_msg_close (&msg);
    }
#ifdef WITH_GLOBAL_LIBZMQ
    {
        /* The global copy's sockets, through the same zmq_send. */
        void *gctx = zmq_ctx_new ();
        void *gpush = zmq_socket (gctx, ZMQ_PUSH);
        void *gpull = zmq_socket (gctx, ZMQ_PULL);
        zmq_msg_t msg;
        CHECK_EQ_INT (zmq_bind (gpull, "inproc://global"), 0);
        CHECK_EQ_INT (zmq_connect (gpush, "inproc://global"), 0);
        long long global_before = sends_of_copy ("the global scope (RTLD_NEXT)");
        long long hidden_after = sends_of_copy (lib_path);
        CHECK (global_before >= 0);
        harness_fill (body, 5000, 9);
        CHECK_EQ_INT (zmq_send (gpush, body, 5000, 0), 5000);
        CHECK_EQ_INT (sends_of_copy ("the global scope (RTLD_NEXT)") - global_before, 1);
        CHECK_EQ_INT (sends_of_copy (lib_path), hidden_after);
        zmq_msg_init (&msg);
        CHECK_EQ_INT (zmq_msg_recv (&msg, gpull, 0), 5000);
        CHECK (harness_intact ((unsigned char *) zmq_msg_data (&msg), 5000, 9));
        zmq_msg_close (&msg);
        zmq_setsockopt (gpush, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (gpush);
        zmq_close (gpull);
        zmq_ctx_term (gctx);
    }
    (void) endpoint;
    (void) len;
#else
    (void) endpoint;
    (void) len;
#endif
    CHECK_EQ_INT (sock_close (push), 0);
    CHECK_EQ_INT (sock_close (pull), 0);
    CHECK_EQ_INT (ctx_term (ctx), 0);
    free (body);
}

int main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s PATH-TO-RENAMED-LIBZMQ\n", argv[0]);
        return 2;
    }
#ifndef WITH_GLOBAL_LIBZMQ
    RUN (zmq_send_without_any_libzmq_is_enotsock_and_counted);
#endif
    lib_path = argv[1];
    lib = dlopen (argv[1], RTLD_LOCAL | RTLD_NOW);
    if (!lib) {
        fprintf (stderr, "dlopen %s: %s\n", argv[1], dlerror ());
        return 2;
    }
    FIND (ctx_new, "zmq_ctx_new");
    FIND (ctx_term, "zmq_ctx_term");
    FIND (socket_new, "zmq_socket");
    FIND (sock_close, "zmq_close");
    FIND (sock_bind, "zmq_bind");
    FIND (sock_connect, "zmq_connect");
    FIND (sock_getopt, "zmq_getsockopt");
    FIND (sock_setopt, "zmq_setsockopt");
    FIND (lib_msg_send, "zmq_msg_send");
    FIND (lib_msg_recv, "zmq_msg_recv");
    FIND (lib_msg_gets, "zmq_msg_gets");
    printf ("test_local_scope: libzmq dlopen'ed RTLD_LOCAL as %s\n", argv[1]);
#ifdef WITH_GLOBAL_LIBZMQ
    RUN (two_copies_of_libzmq_are_in_the_process);
#else
    RUN (libzmq_is_out_of_every_global_view);
#endif
    RUN (metadata_is_read_and_released_through_the_hidden_libzmq);
    RUN (zmq_send_reaches_the_copy_that_made_the_socket);
    zmqpool_trim ();
    dlclose (lib);
    return harness_finish ("test_local_scope");
}
