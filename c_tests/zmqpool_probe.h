/* Is zmqpool serving this process's messages? One test binary runs against
 * libzmq alone, with zmqpool linked and with zmqpool preloaded, so zmqpool's
 * own functions are looked up by name, never linked.
 *
 * ZMQPOOL_TEST_EXPECT=1 makes probe_require_zmqpool_if_expected() fail the
 * whole run when zmqpool is not in use: the loader silently ignores a
 * mistyped LD_PRELOAD path, and in pass-through mode zmqpool is present but
 * every call goes to libzmq. Without the variable nothing is required. */
#ifndef ZMQPOOL_PROBE_H
#define ZMQPOOL_PROBE_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zmqpool.h"

typedef int (*probe_stats_fn) (zmqpool_stats_t *, size_t);

/* zmqpool's statistics; -1 when zmqpool is not in the process. */
static inline int probe_stats (zmqpool_stats_t *out)
{
    probe_stats_fn stats;
    void *symbol = dlsym (RTLD_DEFAULT, "zmqpool_stats_get");
    memcpy (&stats, &symbol, sizeof symbol);
    memset (out, 0, sizeof *out);
    return stats ? stats (out, sizeof *out) : -1;
}

/* 1 when zmq_msg_init_size here is zmqpool's: a 100-byte message is a
 * zclmsg (type byte 105, libzmq makes an lmsg, 102) and zmqpool counts it
 * as pooled. */
static inline int probe_zmqpool_in_use (void)
{
    zmqpool_stats_t before, after;
    zmq_msg_t msg;
    unsigned char type;
    if (probe_stats (&before) != 0)
        return 0;
    if (zmq_msg_init_size (&msg, 100) != 0)
        return 0;
    memcpy (&type, (unsigned char *) &msg + 42, 1);
    zmq_msg_close (&msg);
    if (probe_stats (&after) != 0)
        return 0;
    return type == 105 && after.messages_pooled == before.messages_pooled + 1;
}

static inline int probe_zmqpool_expected (void)
{
    const char *expect = getenv ("ZMQPOOL_TEST_EXPECT");
    return expect && strcmp (expect, "1") == 0;
}

/* First thing in main: exits with status 3 when zmqpool is expected but
 * not in use. */
static inline void probe_require_zmqpool_if_expected (const char *suite)
{
    if (probe_zmqpool_expected () && !probe_zmqpool_in_use ()) {
        fprintf (stderr,
                 "%s: ZMQPOOL_TEST_EXPECT=1 but zmqpool does not serve this "
                 "process's messages (LD_PRELOAD path wrong? pass-through "
                 "mode?)\n",
                 suite);
        exit (3);
    }
}

#endif
