/* A program that dlopen()s zmqpool (as a plugin or a binding would), makes
 * a message with it, hands the message to libzmq, then dlclose()s zmqpool.
 * libzmq releases the message later, which calls zmqpool's release
 * function: the library must still be mapped (it is linked -z nodelete).
 * Without that, the close below jumps into unmapped memory. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"

typedef int (*init_size_fn) (zmq_msg_t *, size_t);

static void messages_outlive_a_dlclose_of_zmqpool (void)
{
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    void *zmqpool = dlopen (ZMQPOOL_SO, RTLD_NOW | RTLD_LOCAL);
    init_size_fn pool_init_size;
    void *symbol;
    zmq_msg_t msg;
    int i;
    CHECK (zmqpool != NULL);
    symbol = dlsym (zmqpool, "zmq_msg_init_size");
    memcpy (&pool_init_size, &symbol, sizeof symbol);
    CHECK (pool_init_size != NULL);
    CHECK_EQ_INT (zmq_bind (pull, "inproc://unload"), 0);
    CHECK_EQ_INT (zmq_connect (push, "inproc://unload"), 0);
    for (i = 0; i < 10; i++) {
        CHECK_EQ_INT (pool_init_size (&msg, 1000), 0);
        CHECK_EQ_INT (((unsigned char *) &msg)[42], 105); /* zmqpool's zclmsg */
        memset (zmq_msg_data (&msg), i, 1000);
        CHECK_EQ_INT (zmq_msg_send (&msg, push, 0), 1000);
    }
    CHECK_EQ_INT (dlclose (zmqpool), 0);
    for (i = 0; i < 10; i++) {
        zmq_msg_init (&msg);
        CHECK_EQ_INT (zmq_msg_recv (&msg, pull, 0), 1000);
        CHECK_EQ_INT (((unsigned char *) zmq_msg_data (&msg))[999], i);
        /* libzmq's close: calls zmqpool's release function. */
        CHECK_EQ_INT (zmq_msg_close (&msg), 0);
    }
    zmq_close (push);
    zmq_close (pull);
    zmq_ctx_term (ctx);
}

int main (void)
{
    RUN (messages_outlive_a_dlclose_of_zmqpool);
    return harness_finish ("test_unload");
}
