/* zmq_msg_t byte layout, checked against the real libzmq.
 *
 * Links zmqpool only; Debian's libzmq is dlopen'ed privately so both
 * libraries' functions are callable side by side. Each test reads the raw
 * bytes of messages the real libzmq made, and hands messages from one
 * library to the other (copy, read, close), which is what happens when
 * zmqpool is substituted into a libzmq program.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zmqpool.h"
#include "harness.h"

#include "msg_size_asserts.h"

/* Offsets zmqpool relies on (src/msg/layout.rs), verified at run time below. */
enum
{
    AT_METADATA = 0,
    AT_CONTENT = 8,
    AT_VSM_DATA = 8,
    AT_CMSG_DATA = 8,
    AT_CMSG_SIZE = 16,
    AT_VSM_SIZE = 41,
    AT_TYPE = 42,
    AT_FLAGS = 43,
    AT_ROUTING_ID = 44,
    AT_GROUP = 48,
    CONTENT_DATA = 0,
    CONTENT_SIZE = 8,
    CONTENT_FFN = 16,
    CONTENT_HINT = 24,
    CONTENT_REFCNT = 32,
    CONTENT_SIZEOF = 40
};

enum
{
    TYPE_VSM = 101,
    TYPE_LMSG = 102,
    TYPE_CMSG = 104,
    TYPE_ZCLMSG = 105,
    FLAG_MORE = 1,
    FLAG_SHARED = 128
};

static struct
{
    int (*init) (zmq_msg_t *);
    int (*init_size) (zmq_msg_t *, size_t);
    int (*init_data) (zmq_msg_t *, void *, size_t, zmq_free_fn *, void *);
    int (*close) (zmq_msg_t *);
    int (*copy) (zmq_msg_t *, zmq_msg_t *);
    void *(*data) (zmq_msg_t *);
    size_t (*size) (const zmq_msg_t *);
    int (*more) (const zmq_msg_t *);
    int (*get) (const zmq_msg_t *, int);
} real;

static void *libzmq;

static int load_real_libzmq (void)
{
    libzmq = dlopen ("libzmq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!libzmq)
        return -1;
#define REAL(field, name)                                                      \
    do {                                                                       \
        void *sym_ = dlsym (libzmq, name);                                     \
        if (!sym_)                                                             \
            return -1;                                                         \
        memcpy (&real.field, &sym_, sizeof sym_);                              \
    } while (0)
    REAL (init, "zmq_msg_init");
    REAL (init_size, "zmq_msg_init_size");
    REAL (init_data, "zmq_msg_init_data");
    REAL (close, "zmq_msg_close");
    REAL (copy, "zmq_msg_copy");
    REAL (data, "zmq_msg_data");
    REAL (size, "zmq_msg_size");
    REAL (more, "zmq_msg_more");
    REAL (get, "zmq_msg_get");
#undef REAL
    return 0;
}

static unsigned char byte_at (const zmq_msg_t *msg, size_t offset)
{
    return ((const unsigned char *) msg)[offset];
}

static void *pointer_at (const void *base, size_t offset)
{
    void *value;
    memcpy (&value, (const unsigned char *) base + offset, sizeof value);
    return value;
}

static uint64_t word_at (const void *base, size_t offset)
{
    uint64_t value;
    memcpy (&value, (const unsigned char *) base + offset, sizeof value);
    return value;
}

static uint32_t u32_at (const void *base, size_t offset)
{
    uint32_t value;
    memcpy (&value, (const unsigned char *) base + offset, sizeof value);
    return value;
}

static void libzmq_small_messages_are_inline_where_zmqpool_expects (void)
{
    zmq_msg_t msg;
    memset (&msg, 0xEE, sizeof msg);
    CHECK_EQ_INT (real.init_size (&msg, 33), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_TYPE), TYPE_VSM);
    CHECK_EQ_INT (byte_at (&msg, AT_VSM_SIZE), 33);
    CHECK_EQ_INT (byte_at (&msg, AT_FLAGS), 0);
    CHECK (pointer_at (&msg, AT_METADATA) == NULL);
    CHECK_EQ_INT (u32_at (&msg, AT_ROUTING_ID), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_GROUP), 0);     /* short group */
    CHECK_EQ_INT (byte_at (&msg, AT_GROUP + 1), 0); /* empty name */
    CHECK (real.data (&msg) == (unsigned char *) &msg + AT_VSM_DATA);
    /* zmqpool reads the same message the same way. */
    CHECK (zmq_msg_data (&msg) == real.data (&msg));
    CHECK_EQ_INT (zmq_msg_size (&msg), 33);
    CHECK_EQ_INT (real.close (&msg), 0);
}

static void libzmq_large_messages_use_the_40_byte_content_block (void)
{
    zmq_msg_t msg, copy;
    unsigned char *content;
    CHECK_EQ_INT (real.init_size (&msg, 1000), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_TYPE), TYPE_LMSG);
    content = (unsigned char *) pointer_at (&msg, AT_CONTENT);
    CHECK (content != NULL);
    CHECK (pointer_at (content, CONTENT_DATA) == real.data (&msg));
    CHECK (pointer_at (content, CONTENT_DATA) == content + CONTENT_SIZEOF);
    CHECK_EQ_INT (word_at (content, CONTENT_SIZE), 1000);
    CHECK (pointer_at (content, CONTENT_FFN) == NULL);
    CHECK (pointer_at (content, CONTENT_HINT) == NULL);
    CHECK_EQ_INT (real.init (&copy), 0);
    CHECK_EQ_INT (real.copy (&copy, &msg), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_FLAGS), FLAG_SHARED);
    CHECK_EQ_INT (u32_at (content, CONTENT_REFCNT), 2);
    CHECK_EQ_INT (real.close (&copy), 0);
    CHECK_EQ_INT (u32_at (content, CONTENT_REFCNT), 1);
    CHECK_EQ_INT (real.close (&msg), 0);
}

static void free_fn_noop (void *data, void *hint)
{
    (void) data;
    (void) hint;
}

static void libzmq_data_messages_keep_free_function_and_hint (void)
{
    static char body[64];
    zmq_msg_t msg;
    unsigned char *content;
    void *fn;
    CHECK_EQ_INT (real.init_data (&msg, body, 64, free_fn_noop, &msg), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_TYPE), TYPE_LMSG);
    content = (unsigned char *) pointer_at (&msg, AT_CONTENT);
    CHECK (pointer_at (content, CONTENT_DATA) == body);
    CHECK_EQ_INT (word_at (content, CONTENT_SIZE), 64);
    fn = pointer_at (content, CONTENT_FFN);
    CHECK (memcmp (&fn, &(zmq_free_fn *){free_fn_noop}, sizeof fn) == 0);
    CHECK (pointer_at (content, CONTENT_HINT) == &msg);
    CHECK_EQ_INT (real.close (&msg), 0);
}

static void libzmq_constant_messages_keep_pointer_and_size (void)
{
    static char body[] = "constant";
    zmq_msg_t msg;
    CHECK_EQ_INT (real.init_data (&msg, body, sizeof body, NULL, NULL), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_TYPE), TYPE_CMSG);
    CHECK (pointer_at (&msg, AT_CMSG_DATA) == body);
    CHECK_EQ_INT (word_at (&msg, AT_CMSG_SIZE), sizeof body);
    CHECK_EQ_INT (zmq_msg_size (&msg), sizeof body);
    CHECK_EQ_INT (zmq_msg_get (&msg, ZMQ_SHARED), 1);
    CHECK_EQ_INT (real.close (&msg), 0);
}

static void the_more_flag_is_bit_0_of_byte_43_for_both (void)
{
    zmq_msg_t msg;
    CHECK_EQ_INT (real.init (&msg), 0);
    ((unsigned char *) &msg)[AT_FLAGS] |= FLAG_MORE;
    CHECK_EQ_INT (real.more (&msg), 1);
    CHECK_EQ_INT (zmq_msg_more (&msg), 1);
    CHECK_EQ_INT (real.close (&msg), 0);
}

static void zmqpool_large_messages_are_zclmsg_with_one_block (void)
{
    zmq_msg_t msg;
    unsigned char *content;
    CHECK_EQ_INT (zmq_msg_init_size (&msg, 1000), 0);
    CHECK_EQ_INT (byte_at (&msg, AT_TYPE), TYPE_ZCLMSG);
    content = (unsigned char *) pointer_at (&msg, AT_CONTENT);
    CHECK (pointer_at (content, CONTENT_DATA) == zmq_msg_data (&msg));
    CHECK (pointer_at (content, CONTENT_FFN) != NULL);
    /* Body and content block share one allocation. */
    CHECK ((unsigned char *) zmq_msg_data (&msg) > content);
    CHECK ((unsigned char *) zmq_msg_data (&msg) - content <= 64);
    CHECK ((uintptr_t) zmq_msg_data (&msg) % 16 == 0);
    CHECK_EQ_INT (real.size (&msg), 1000);
    CHECK (real.data (&msg) == zmq_msg_data (&msg));
    CHECK_EQ_INT (zmq_msg_close (&msg), 0);
}

static void libzmq_closes_zmqpool_messages (void)
{
    zmq_msg_t a, b;
    CHECK_EQ_INT (zmq_msg_init_size (&a, 70000), 0);
    memset (zmq_msg_data (&a), 0x5A, 70000);
    CHECK_EQ_INT (zmq_msg_init (&b), 0);
    CHECK_EQ_INT (real.copy (&b, &a), 0);
    CHECK_EQ_INT (zmq_msg_get (&a, ZMQ_SHARED), 1);
    CHECK_EQ_INT (real.close (&a), 0);
    CHECK_EQ_INT (((unsigned char *) zmq_msg_data (&b))[69999], 0x5A);
    CHECK_EQ_INT (real.close (&b), 0); /* valgrind: block returned */
}

static int user_frees;
static void count_user_free (void *data, void *hint)
{
    user_frees++;
    free (data);
    (void) hint;
}

static void libzmq_closing_zmqpool_data_messages_calls_the_user_free_once (void)
{
    zmq_msg_t a, b;
    void *buffer = malloc (500);
    CHECK (buffer != NULL);
    user_frees = 0;
    CHECK_EQ_INT (zmq_msg_init_data (&a, buffer, 500, count_user_free, NULL),
                  0);
    CHECK_EQ_INT (zmq_msg_init (&b), 0);
    CHECK_EQ_INT (zmq_msg_copy (&b, &a), 0);
    CHECK_EQ_INT (real.close (&a), 0);
    CHECK_EQ_INT (user_frees, 0);
    CHECK_EQ_INT (real.close (&b), 0);
    CHECK_EQ_INT (user_frees, 1);
}

static void zmqpool_copies_and_closes_libzmq_messages (void)
{
    zmq_msg_t a, b, c;
    unsigned char *content;
    CHECK_EQ_INT (real.init_size (&a, 4000), 0);
    memset (real.data (&a), 0x33, 4000);
    content = (unsigned char *) pointer_at (&a, AT_CONTENT);
    CHECK_EQ_INT (zmq_msg_init (&b), 0);
    CHECK_EQ_INT (zmq_msg_init (&c), 0);
    CHECK_EQ_INT (zmq_msg_copy (&b, &a), 0);
    CHECK_EQ_INT (zmq_msg_copy (&c, &b), 0);
    CHECK_EQ_INT (u32_at (content, CONTENT_REFCNT), 3);
    CHECK_EQ_INT (real.get (&b, ZMQ_SHARED), 1);
    CHECK_EQ_INT (zmq_msg_close (&a), 0);
    CHECK_EQ_INT (real.close (&b), 0);
    CHECK_EQ_INT (((unsigned char *) zmq_msg_data (&c))[3999], 0x33);
    CHECK_EQ_INT (zmq_msg_close (&c), 0); /* valgrind: malloc'd block freed */
}

static void zmqpool_runs_libzmq_data_message_free_functions (void)
{
    zmq_msg_t msg;
    void *buffer = malloc (256);
    CHECK (buffer != NULL);
    user_frees = 0;
    CHECK_EQ_INT (real.init_data (&msg, buffer, 256, count_user_free, NULL),
                  0);
    CHECK_EQ_INT (zmq_msg_close (&msg), 0);
    CHECK_EQ_INT (user_frees, 1);
}

int main (void)
{
    int major = -1, minor = -1, patch = -1;
    if (load_real_libzmq () != 0) {
        fprintf (stderr, "test_layout: cannot load libzmq.so.5: %s\n",
                 dlerror ());
        return 2;
    }
    zmqpool_version (&major, &minor, &patch);
    printf ("test_layout: zmqpool %d.%d.%d against libzmq.so.5\n", major,
            minor, patch);
    RUN (libzmq_small_messages_are_inline_where_zmqpool_expects);
    RUN (libzmq_large_messages_use_the_40_byte_content_block);
    RUN (libzmq_data_messages_keep_free_function_and_hint);
    RUN (libzmq_constant_messages_keep_pointer_and_size);
    RUN (the_more_flag_is_bit_0_of_byte_43_for_both);
    RUN (zmqpool_large_messages_are_zclmsg_with_one_block);
    RUN (libzmq_closes_zmqpool_messages);
    RUN (libzmq_closing_zmqpool_data_messages_calls_the_user_free_once);
    RUN (zmqpool_copies_and_closes_libzmq_messages);
    RUN (zmqpool_runs_libzmq_data_message_free_functions);
    dlclose (libzmq);
    return harness_finish ("test_layout");
}
