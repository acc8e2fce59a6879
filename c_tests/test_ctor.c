/* Start-up in any order: zmq_msg_* called from a library constructor and
 * from the program's own constructor, before main, work (plain, linked and
 * preloaded); then a child made by fork() uses messages too. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpool_probe.h"

int ctor_lib_result (void);
static int own_result;

__attribute__ ((constructor)) static void program_constructor (void)
{
    zmq_msg_t m;
    own_result = zmq_msg_init_size (&m, 100) == 0
                 && zmq_msg_size (&m) == 100 && zmq_msg_close (&m) == 0;
}

static void constructors_could_use_messages (void)
{
    CHECK_EQ_INT (ctor_lib_result (), 1);
    CHECK_EQ_INT (own_result, 1);
}

static void a_forked_child_uses_messages (void)
{
    zmq_msg_t kept;
    int status;
    pid_t pid;
    CHECK_EQ_INT (zmq_msg_init_size (&kept, 2000), 0);
    memset (zmq_msg_data (&kept), 9, 2000);
    pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        zmq_msg_t m;
        int i, ok = 1;
        for (i = 0; i < 1000 && ok; i++)
            ok = zmq_msg_init_size (&m, (size_t) i * 70) == 0
                 && zmq_msg_close (&m) == 0;
        ok = ok && ((unsigned char *) zmq_msg_data (&kept))[1999] == 9
             && zmq_msg_close (&kept) == 0;
        _exit (ok ? 0 : 1);
    }
    CHECK_EQ_INT (waitpid (pid, &status, 0), pid);
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    CHECK_EQ_INT (zmq_msg_close (&kept), 0);
}

int main (void)
{
    probe_require_zmqpool_if_expected ("test_ctor");
    printf ("test_ctor: messages before main and after fork\n");
    RUN (constructors_could_use_messages);
    RUN (a_forked_child_uses_messages);
    return harness_finish ("test_ctor");
}
