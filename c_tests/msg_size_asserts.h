/* Compile-time facts about zmq_msg_t (C99: a negative array size fails the
 * build): 64 bytes, pointer-aligned, whichever header defined it. */
#ifndef ZMQPOOL_MSG_SIZE_ASSERTS_H
#define ZMQPOOL_MSG_SIZE_ASSERTS_H
#include <stddef.h>

struct alignment_probe
{
    char c;
    zmq_msg_t msg;
};
typedef char zmq_msg_t_is_64_bytes[sizeof (zmq_msg_t) == 64 ? 1 : -1];
typedef char zmq_msg_t_is_pointer_aligned
  [offsetof (struct alignment_probe, msg) == sizeof (void *) ? 1 : -1];

#endif
