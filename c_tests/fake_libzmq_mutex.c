/* A stand-in for a libzmq built with mutex-based atomic counters
 * (ZMQ_ATOMIC_COUNTER_MUTEX): the same 64-byte zmq_msg_t, but a content
 * block whose reference count carries a pthread mutex, so a large body
 * starts 80 bytes after its content block rather than 40. zmqpool must
 * notice at load and pass every zmq_msg_* call through to this library.
 * Every call is counted in fake_zmq_calls, which the test reads. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (free_fn) (void *data, void *hint);

/* Built with -DFAKE_4_3_2 it plays libzmq 4.3.2 instead: libzmq 4.3.4's
 * content block (40 bytes, atomic count), but version 4.3.2, whose group
 * field is a 16-byte name where 4.3.3 keeps a type byte and a pointer.
 * Only the version tells the two apart; zmqpool must pass through. */
#ifdef FAKE_4_3_2
typedef struct
{
    void *data;
    size_t size;
    free_fn *ffn;
    void *hint;
    struct
    {
        uint32_t value;
    } refcnt;
} content_t;
#define REFCNT_INIT(c) ((void) 0)
#define REFCNT_LOCK(c) ((void) 0)
#define REFCNT_UNLOCK(c) ((void) 0)
#define REFCNT_DESTROY(c) ((void) 0)
#else
typedef struct
{
    void *data;
    size_t size;
    free_fn *ffn;
    void *hint;
    struct
    {
        uint32_t value;
        pthread_mutex_t sync;
    } refcnt;
} content_t;
#define REFCNT_INIT(c) pthread_mutex_init (&(c)->refcnt.sync, NULL)
#define REFCNT_LOCK(c) pthread_mutex_lock (&(c)->refcnt.sync)
#define REFCNT_UNLOCK(c) pthread_mutex_unlock (&(c)->refcnt.sync)
#define REFCNT_DESTROY(c) pthread_mutex_destroy (&(c)->refcnt.sync)
#endif

enum { type_vsm = 101, type_lmsg = 102, shared = 128, max_vsm = 33 };

typedef struct
{
    unsigned char bytes[64];
} __attribute__ ((aligned (8))) zmq_msg_t;

int fake_zmq_calls;

static content_t *content_of (zmq_msg_t *m)
{
    content_t *c;
    memcpy (&c, m->bytes + 8, sizeof c);
    return c;
}

void zmq_version (int *major, int *minor, int *patch)
{
    *major = 4;
    *minor = 3;
#ifdef FAKE_4_3_2
    *patch = 2;
#else
    *patch = 4;
#endif
}

int zmq_msg_init (zmq_msg_t *m)
{
    fake_zmq_calls++;
    memset (m, 0, sizeof *m);
    m->bytes[42] = type_vsm;
    return 0;
}

int zmq_msg_init_size (zmq_msg_t *m, size_t size)
{
    fake_zmq_calls++;
    memset (m, 0, sizeof *m);
    if (size <= max_vsm) {
        m->bytes[42] = type_vsm;
        m->bytes[41] = (unsigned char) size;
        return 0;
    }
    content_t *c = (content_t *) malloc (sizeof (content_t) + size);
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    c->data = c + 1;
    c->size = size;
    c->ffn = NULL;
    c->hint = NULL;
    c->refcnt.value = 0;
    REFCNT_INIT (c);
    memcpy (m->bytes + 8, &c, sizeof c);
    m->bytes[42] = type_lmsg;
    return 0;
}

int zmq_msg_init_data (zmq_msg_t *m, void *data, size_t size, free_fn *ffn,
                       void *hint)
{
    (void) m, (void) data, (void) size, (void) ffn, (void) hint;
    fake_zmq_calls++;
    errno = ENOTSUP;
    return -1;
}

int zmq_msg_close (zmq_msg_t *m)
{
    fake_zmq_calls++;
    if (m->bytes[42] == type_lmsg) {
        content_t *c = content_of (m);
        int last = 1;
        if (m->bytes[43] & shared) {
            REFCNT_LOCK (c);
            last = --c->refcnt.value == 0;
            REFCNT_UNLOCK (c);
        }
        if (last) {
            REFCNT_DESTROY (c);
            free (c);
        }
    } else if (m->bytes[42] != type_vsm) {
        errno = EFAULT;
        return -1;
    }
    m->bytes[42] = 0;
    return 0;
}

int zmq_msg_copy (zmq_msg_t *dest, zmq_msg_t *src)
{
    fake_zmq_calls++;
    zmq_msg_close (dest);
    fake_zmq_calls--;
    if (src->bytes[42] == type_lmsg) {
        content_t *c = content_of (src);
        REFCNT_LOCK (c);
        c->refcnt.value = (src->bytes[43] & shared) ? c->refcnt.value + 1 : 2;
        REFCNT_UNLOCK (c);
        src->bytes[43] |= shared;
    }
    *dest = *src;
    return 0;
}

int zmq_msg_move (zmq_msg_t *dest, zmq_msg_t *src)
{
    fake_zmq_calls++;
    zmq_msg_close (dest);
    fake_zmq_calls--;
    *dest = *src;
    zmq_msg_init (src);
    fake_zmq_calls--;
    return 0;
}

void *zmq_msg_data (zmq_msg_t *m)
{
    fake_zmq_calls++;
    return m->bytes[42] == type_lmsg ? content_of (m)->data : m->bytes + 8;
}

size_t zmq_msg_size (const zmq_msg_t *m)
{
    fake_zmq_calls++;
    return m->bytes[42] == type_lmsg ? content_of ((zmq_msg_t *) m)->size
                                     : m->bytes[41];
}

int zmq_msg_more (const zmq_msg_t *m)
{
    fake_zmq_calls++;
    return m->bytes[43] & 1;
}

int zmq_msg_get (const zmq_msg_t *m, int property)
{
    (void) m, (void) property;
    fake_zmq_calls++;
    return 0;
}

int zmq_msg_set (zmq_msg_t *m, int property, int value)
{
    (void) m, (void) property, (void) value;
    fake_zmq_calls++;
    errno = EINVAL;
    return -1;
}

const char *zmq_msg_gets (const zmq_msg_t *m, const char *property)
{
    (void) m, (void) property;
    fake_zmq_calls++;
    return "fake";
}

/* Socket calls, enough for zmq_send in pass-through mode: the fake's one
 * "socket" is fake_socket; zmq_send records what it was given. */
int fake_socket[4] = {0x5a, 0, 0, 0};
size_t fake_sent_size;

int zmq_send (void *socket, const void *buf, size_t len, int flags)
{
    (void) buf;
    (void) flags;
    fake_zmq_calls++;
    if (socket != fake_socket) {
        errno = ENOTSOCK;
        return -1;
    }
    fake_sent_size = len;
    return (int) len;
}

int zmq_msg_send (zmq_msg_t *m, void *socket, int flags)
{
    (void) flags;
    fake_zmq_calls++;
    if (socket != fake_socket) {
        errno = ENOTSOCK;
        return -1;
    }
    fake_sent_size = zmq_msg_size (m);
    return (int) fake_sent_size;
}
