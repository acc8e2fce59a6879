/* include/zmqpool.h compiles cleanly as C99 and C++11 (-Wall -Wextra
 * -Wpedantic -Werror), alone, before <zmq.h>, or after it, and its
 * zmq_msg_t is libzmq's. Built three ways by the Makefile:
 *   default            zmqpool.h, then zmq.h
 *   ZMQ_INCLUDE_FIRST  zmq.h, then zmqpool.h
 *   ZMQPOOL_NO_ZMQ_H   zmqpool.h alone, with its own zmq_msg_t */
#include <stdio.h>
#include <string.h>

#if defined(ZMQ_INCLUDE_FIRST)
#include <zmq.h>
#include "zmqpool.h"
#elif defined(ZMQPOOL_NO_ZMQ_H)
#include "zmqpool.h"
#else
#include "zmqpool.h"
#include <zmq.h>
#endif

#include "msg_size_asserts.h"

static void release (void *data, void *hint)
{
    (void) data;
    *(int *) hint += 1;
}

int main (void)
{
    zmq_msg_t msg;
    static char body[100];
    int released = 0, failed = 0;
    int major = 0, minor = 0, patch = 0;
    zmqpool_version (&major, &minor, &patch);
    if (major != ZMQPOOL_VERSION_MAJOR || minor != ZMQPOOL_VERSION_MINOR
        || patch != ZMQPOOL_VERSION_PATCH)
        failed++;
    if (zmq_msg_init_size (&msg, 100) != 0 || zmq_msg_size (&msg) != 100)
        failed++;
    memset (zmq_msg_data (&msg), 1, 100);
    if (zmq_msg_close (&msg) != 0)
        failed++;
    if (zmq_msg_init_data (&msg, body, sizeof body, release, &released) != 0)
        failed++;
    if (zmq_msg_close (&msg) != 0 || released != 1)
        failed++;
    printf ("test_header: %d passed, %d failed\n", failed ? 0 : 1,
            failed ? 1 : 0);
    return failed != 0;
}
