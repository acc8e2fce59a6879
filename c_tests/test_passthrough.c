/* zmqpool linked ahead of a libzmq whose messages are not laid out as
 * zmqpool writes them (fake_libzmq_mutex.c): mutex-based reference counts
 * (a larger content block), or, built with -DFAKE_4_3_2, libzmq 4.3.2
 * (whose group field differs; only its version shows it). The load-time
 * check must notice, pass every zmq_msg_* call and zmq_send through to
 * that library, count them, and say so under ZMQPOOL_VERBOSE=1. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpool.h"
#include "harness.h"

extern int fake_zmq_calls;
extern int fake_socket[4];
extern size_t fake_sent_size;
int zmq_send (void *socket, const void *buf, size_t len, int flags);

#ifdef FAKE_4_3_2
#define BODY_AFTER_CONTENT 40
#define WHY "a version before 4.3.3"
#else
#define BODY_AFTER_CONTENT 80
#define WHY "80 bytes after its content block"
#endif
static const char *self_path;

static void every_call_reaches_the_other_libzmq (void)
{
    zmq_msg_t m, copy;
    int before = fake_zmq_calls;
    unsigned char *data;
    CHECK_EQ_INT (zmq_msg_init_size (&m, 100), 0);
    CHECK_EQ_INT (fake_zmq_calls, before + 1);
    /* the fake's layout: the body BODY_AFTER_CONTENT bytes after its
     * content block (zmqpool would have made a zclmsg with its own) */
    {
        unsigned char *content;
        memcpy (&content, (unsigned char *) &m + 8, sizeof content);
        data = (unsigned char *) zmq_msg_data (&m);
        CHECK (data == content + BODY_AFTER_CONTENT);
        CHECK_EQ_INT (((unsigned char *) &m)[42], 102);
    }
    CHECK_EQ_INT (zmq_msg_size (&m), 100);
    memset (data, 7, 100);
    CHECK_EQ_INT (zmq_msg_init (&copy), 0);
    CHECK_EQ_INT (zmq_msg_copy (&copy, &m), 0);
    CHECK_EQ_INT (zmq_msg_more (&copy), 0);
    CHECK (strcmp (zmq_msg_gets (&copy, "Socket-Type"), "fake") == 0);
    CHECK_EQ_INT (zmq_msg_close (&m), 0);
    CHECK_EQ_INT (((unsigned char *) zmq_msg_data (&copy))[99], 7);
    CHECK_EQ_INT (zmq_msg_close (&copy), 0);
    CHECK_EQ_INT (fake_zmq_calls, before + 10);
    /* the fake refuses init_data: its errno comes through */
    CHECK_FAILS (zmq_msg_init_data (&m, data, 1, NULL, NULL), -1, ENOTSUP);
}

static void draft_functions_it_lacks_fail_with_enotsup (void)
{
    zmq_msg_t m;
    CHECK_FAILS (zmq_msg_init_buffer (&m, "abc", 3), -1, ENOTSUP);
    CHECK_EQ_INT (zmq_msg_init (&m), 0);
    CHECK_FAILS (zmq_msg_set_routing_id (&m, 5), -1, ENOTSUP);
    CHECK_FAILS (zmq_msg_routing_id (&m), 0, ENOTSUP);
    CHECK_FAILS (zmq_msg_set_group (&m, "g"), -1, ENOTSUP);
    CHECK (zmq_msg_group (&m) == NULL);
    CHECK_EQ_INT (zmq_msg_close (&m), 0);
}

static void zmq_send_goes_to_the_other_libzmq_and_is_counted (void)
{
    zmqpool_stats_t before, after;
    char body[100];
    int calls = fake_zmq_calls;
    memset (body, 1, sizeof body);
    CHECK_EQ_INT (zmqpool_stats (&before), 0);
    CHECK_EQ_INT (zmq_send (fake_socket, body, sizeof body, 0), 100);
    CHECK_EQ_INT (fake_sent_size, 100);
    CHECK_EQ_INT (fake_zmq_calls, calls + 1);
    CHECK_EQ_INT (zmqpool_stats (&after), 0);
    CHECK_EQ_INT (after.passed_through_layout - before.passed_through_layout, 1);
    CHECK_EQ_INT (after.sends, before.sends);
    CHECK_EQ_INT (after.messages_pooled, before.messages_pooled);
}

static void the_pool_api_still_works (void)
{
    void *p = zmqpool_alloc (1000);
    CHECK (p != NULL);
    memset (p, 1, 1000);
    zmqpool_dealloc (p);
}

static void verbose_says_it_passes_through (void)
{
    char command[1024], output[4096];
    size_t got;
    FILE *child;
    snprintf (command, sizeof command,
              "ZMQPOOL_VERBOSE=1 '%s' --child 2>&1", self_path);
    child = popen (command, "r");
    CHECK (child != NULL);
    got = fread (output, 1, sizeof output - 1, child);
    output[got] = '\0';
    CHECK_EQ_INT (pclose (child), 0);
    if (!strstr (output, "passing every zmq_msg_* call through")
        || !strstr (output, WHY))
        fprintf (stderr, "  child printed: %s\n", output);
    CHECK (strstr (output, "passing every zmq_msg_* call through") != NULL);
    CHECK (strstr (output, WHY) != NULL);
}

int main (int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp (argv[1], "--child") == 0)
        return 0;
    printf ("test_passthrough: zmqpool ahead of a libzmq with another layout\n");
    RUN (every_call_reaches_the_other_libzmq);
    RUN (draft_functions_it_lacks_fail_with_enotsup);
    RUN (zmq_send_goes_to_the_other_libzmq_and_is_counted);
    RUN (the_pool_api_still_works);
    RUN (verbose_says_it_passes_through);
    return harness_finish ("test_passthrough");
}
