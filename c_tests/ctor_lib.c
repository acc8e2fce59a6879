/* A library whose constructor uses zmq_msg_* before main - and, linked
 * after zmqpool, typically before zmqpool's own load-time code has run. */
#include <string.h>
#include <zmq.h>

static int result;

__attribute__ ((constructor)) static void use_messages_early (void)
{
    zmq_msg_t a, b;
    int ok = zmq_msg_init_size (&a, 5000) == 0;
    if (ok) {
        memset (zmq_msg_data (&a), 3, 5000);
        ok = zmq_msg_init (&b) == 0 && zmq_msg_copy (&b, &a) == 0
             && zmq_msg_close (&a) == 0
             && ((unsigned char *) zmq_msg_data (&b))[4999] == 3
             && zmq_msg_close (&b) == 0;
    }
    result = ok ? 1 : -1;
}

int ctor_lib_result (void)
{
    return result;
}
