/* zmqpool finds a binding's own libzmq however many objects the process
 * loaded before it: the pyzmq situation (a renamed libzmq dlopen'ed
 * RTLD_LOCAL, reached only through a walk over the loaded objects), after
 * K small objects, for every K in a range, each K in a fresh process.
 *
 * In every K, through the global zmq_send, zmq_msg_init_size, zmq_msg_data,
 * zmq_msg_gets (zmqpool's: linked with -DLINKED, or preloaded), on sockets
 * of the hidden copy: inproc and tcp, every byte checked, the metadata of
 * messages received over tcp read, and zmqpool's counters showing the
 * messages pooled and the sends handed to that copy. Without zmqpool the
 * run fails (the global functions are missing).
 *
 * usage: test_many_objects OBJECT-DIR LIBZMQ-COPY FIRST-K LAST-K
 * (OBJECT-DIR holds object-0.so, object-1.so, ...) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zmqpool.h"
#include "harness.h"

static void *lib;

/* The hidden copy's socket functions (through its handle). */
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

/* The global scope's message functions: zmqpool's. */
static int (*g_send) (void *, const void *, size_t, int);
static int (*g_init) (zmq_msg_t *);
static int (*g_init_size) (zmq_msg_t *, size_t);
static void *(*g_data) (zmq_msg_t *);
static size_t (*g_size) (const zmq_msg_t *);
static const char *(*g_gets) (const zmq_msg_t *, const char *);
static int (*g_close) (zmq_msg_t *);
static int (*g_stats) (zmqpool_stats_t *, size_t);

#define FIND(handle, var, name)                                                \
    do {                                                                       \
        void *sym_ = dlsym (handle, name);                                     \
        if (!sym_) {                                                           \
            fprintf (stderr, "  %s not found%s\n", name,                       \
                     handle == RTLD_DEFAULT ? " (is zmqpool in use?)" : "");   \
            return 0;                                                          \
        }                                                                      \
        memcpy (&(var), &sym_, sizeof sym_);                                   \
    } while (0)

static int find_functions (void)
{
#ifdef LINKED
    g_send = zmq_send;
    g_init = zmq_msg_init;
    g_init_size = zmq_msg_init_size;
    g_data = zmq_msg_data;
    g_size = zmq_msg_size;
    g_gets = zmq_msg_gets;
    g_close = zmq_msg_close;
    g_stats = zmqpool_stats_get;
#else
    FIND (RTLD_DEFAULT, g_send, "zmq_send");
    FIND (RTLD_DEFAULT, g_init, "zmq_msg_init");
    FIND (RTLD_DEFAULT, g_init_size, "zmq_msg_init_size");
    FIND (RTLD_DEFAULT, g_data, "zmq_msg_data");
    FIND (RTLD_DEFAULT, g_size, "zmq_msg_size");
    FIND (RTLD_DEFAULT, g_gets, "zmq_msg_gets");
    FIND (RTLD_DEFAULT, g_close, "zmq_msg_close");
    FIND (RTLD_DEFAULT, g_stats, "zmqpool_stats_get");
#endif
    FIND (lib, ctx_new, "zmq_ctx_new");
    FIND (lib, ctx_term, "zmq_ctx_term");
    FIND (lib, socket_new, "zmq_socket");
    FIND (lib, sock_close, "zmq_close");
    FIND (lib, sock_bind, "zmq_bind");
    FIND (lib, sock_connect, "zmq_connect");
    FIND (lib, sock_getopt, "zmq_getsockopt");
    FIND (lib, sock_setopt, "zmq_setsockopt");
    FIND (lib, lib_msg_send, "zmq_msg_send");
    FIND (lib, lib_msg_recv, "zmq_msg_recv");
    return 1;
}

static const char *transport;

/* PUSH/PULL on the hidden copy over `transport`: zmq_send and
 * zmq_msg_init_size messages, every byte back, metadata over tcp. */
static void messages_go_through_the_hidden_libzmq (void)
{
    static const size_t sizes[] = {0, 5, 33, 100, 5000, 70000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    static unsigned char body[70000];
    char endpoint[256];
    size_t len = sizeof endpoint;
    int linger = 0, i;
    int tcp = strcmp (transport, "tcp") == 0;
    zmqpool_stats_t before, after;
    void *ctx = ctx_new ();
    void *push = socket_new (ctx, ZMQ_PUSH);
    void *pull = socket_new (ctx, ZMQ_PULL);
    CHECK (ctx && push && pull);
    sock_setopt (push, ZMQ_LINGER, &linger, sizeof linger);
    sock_setopt (pull, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_EQ_INT (sock_bind (pull, tcp ? "tcp://127.0.0.1:*" : "inproc://many"), 0);
    CHECK_EQ_INT (sock_getopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    CHECK_EQ_INT (sock_connect (push, endpoint), 0);
    CHECK_EQ_INT (g_stats (&before, sizeof before), 0);
    for (i = 0; i < N; i++) {
        zmq_msg_t out;
        harness_fill (body, sizes[i], (unsigned) i);
        CHECK_EQ_INT (g_send (push, body, sizes[i], 0), (int) sizes[i]);
        CHECK_EQ_INT (g_init_size (&out, sizes[i]), 0);
        harness_fill ((unsigned char *) g_data (&out), sizes[i], (unsigned) i + 100);
        CHECK_EQ_INT (lib_msg_send (&out, push, 0), (int) sizes[i]);
    }
    CHECK_EQ_INT (g_stats (&after, sizeof after), 0);
    CHECK_EQ_INT (after.sends - before.sends, N);
    /* Bodies over 33 bytes are pooled: 3 sizes, both ways. */
    CHECK_EQ_INT (after.messages_pooled - before.messages_pooled, 2 * 3);
    for (i = 0; i < 2 * N; i++) {
        zmq_msg_t in;
        size_t size = sizes[i / 2];
        unsigned seed = (unsigned) (i / 2) + (i % 2 ? 100 : 0);
        CHECK_EQ_INT (g_init (&in), 0);
        CHECK_EQ_INT (lib_msg_recv (&in, pull, 0), (int) size);
        CHECK_EQ_INT (g_size (&in), size);
        CHECK (harness_intact ((unsigned char *) g_data (&in), size, seed));
        if (tcp) {
            const char *peer = g_gets (&in, "Peer-Address");
            const char *type = g_gets (&in, "Socket-Type");
            CHECK (peer && strcmp (peer, "127.0.0.1") == 0);
            CHECK (type && strcmp (type, "PUSH") == 0);
        }
        CHECK_EQ_INT (g_close (&in), 0);
    }
    CHECK_EQ_INT (sock_close (push), 0);
    CHECK_EQ_INT (sock_close (pull), 0);
    CHECK_EQ_INT (ctx_term (ctx), 0);
}

/* One process: K objects, then the copy, then the checks. */
static int one (const char *objects, const char *copy, int k)
{
    char path[4096];
    int i;
    for (i = 0; i < k; i++) {
        snprintf (path, sizeof path, "%s/object-%d.so", objects, i);
        if (!dlopen (path, RTLD_LOCAL | RTLD_NOW)) {
            fprintf (stderr, "  dlopen %s: %s\n", path, dlerror ());
            return 2;
        }
    }
    lib = dlopen (copy, RTLD_LOCAL | RTLD_NOW);
    if (!lib) {
        fprintf (stderr, "  dlopen %s: %s\n", copy, dlerror ());
        return 2;
    }
    if (!find_functions ())
        return 1;
    transport = "inproc";
    messages_go_through_the_hidden_libzmq ();
    transport = "tcp";
    if (harness_failed_checks == 0)
        messages_go_through_the_hidden_libzmq ();
    if (harness_failed_checks != 0)
        fprintf (stderr, "  K = %d, %s: failed\n", k, transport);
    return harness_failed_checks == 0 ? 0 : 1;
}

int main (int argc, char **argv)
{
    int first, last, k;
    (void) harness_skipping; /* each K is one pass or fail, no skip */
    if (argc == 5 && strcmp (argv[1], "--one") == 0)
        return one (argv[2], argv[3], atoi (argv[4]));
    if (argc != 5) {
        fprintf (stderr, "usage: %s OBJECT-DIR LIBZMQ-COPY FIRST-K LAST-K\n", argv[0]);
        return 2;
    }
    first = atoi (argv[3]);
    last = atoi (argv[4]);
    printf ("test_many_objects: %s (%zu bytes of path), K = %d..%d\n", argv[2],
            strlen (argv[2]), first, last);
    for (k = first; k <= last; k++) {
        char number[16];
        int status;
        pid_t child;
        fflush (stdout);
        snprintf (number, sizeof number, "%d", k);
        child = fork ();
        if (child == 0) {
            execl ("/proc/self/exe", argv[0], "--one", argv[1], argv[2], number, (char *) NULL);
            _exit (127);
        }
        if (child < 0 || waitpid (child, &status, 0) != child) {
            perror ("fork");
            return 2;
        }
        if (WIFEXITED (status) && WEXITSTATUS (status) == 0) {
            harness_passed++;
        } else {
            harness_failed++;
            printf ("FAIL K = %d (%s %d)\n", k,
                    WIFEXITED (status) ? "exit" : "signal",
                    WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
        }
    }
    return harness_finish ("test_many_objects");
}
