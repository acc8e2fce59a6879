/* fork() safety for the embedded mimalloc (v3), which registers no fork
 * handlers: a child inherits a lock that another thread of the parent held
 * at the fork (reserving a new arena, a thread starting or exiting, a
 * collect) and waits on it forever at its next allocation that needs it.
 * zmqpool's own fork handlers call these to hold mimalloc's process-wide
 * locks around fork(), as glibc does with its own malloc's.
 *
 * Compiled by build.rs against the headers of the very mimalloc sources
 * libmimalloc-sys builds (DEP_MIMALLOC_INCLUDE_DIR), with its MI_DEBUG
 * setting, so the structure layouts are those of the linked mimalloc.
 *
 * The locks, in the order mimalloc nests them (a thread holding one of
 * them may take a later one, never an earlier one): the main heap's
 * theaps_lock (thread start and exit), the subprocess's heaps_lock, the
 * main heap's arena_pages_lock, the subprocess's arena_reserve_lock (a new
 * arena), the main heap's os_abandoned_pages_lock. zmqpool creates no other
 * heap or subprocess. File-local locks of mimalloc (the page map's, taken
 * once per newly used region of address space) cannot be reached. */
#include "mimalloc.h"
#include "mimalloc/internal.h"

/* The option indices src/pool/mod.rs passes to mi_option_set name the
 * options it means, in the mimalloc this very build links (a build fails
 * here rather than tuning the wrong option after a mimalloc update). */
_Static_assert (mi_option_arena_eager_commit == 4,
                "MI_OPTION_ARENA_EAGER_COMMIT in src/pool/mod.rs");
_Static_assert (mi_option_arena_reserve == 23,
                "MI_OPTION_ARENA_RESERVE in src/pool/mod.rs");
_Static_assert (mi_option_disallow_arena_alloc == 26,
                "MI_OPTION_DISALLOW_ARENA_ALLOC in src/pool/mod.rs");

static mi_lock_t *fork_locks[5];

static int collect (void)
{
    mi_heap_t *heap = mi_heap_main ();
    mi_subproc_t *subproc = _mi_subproc_main ();
    if (heap == NULL || subproc == NULL)
        return 0;
    fork_locks[0] = &heap->theaps_lock;
    fork_locks[1] = &subproc->heaps_lock;
    fork_locks[2] = &heap->arena_pages_lock;
    fork_locks[3] = &subproc->arena_reserve_lock;
    fork_locks[4] = &heap->os_abandoned_pages_lock;
    return 5;
}

void zmqpool_mimalloc_fork_prepare (void)
{
    int count = collect (), i;
    for (i = 0; i < count; i++)
        mi_lock_acquire (fork_locks[i]);
}

/* In the parent, and in the child (whose only thread is the one that
 * forked, the holder). */
void zmqpool_mimalloc_fork_release (void)
{
    int i;
    for (i = 4; i >= 0; i--)
        if (fork_locks[i] != NULL)
            mi_lock_release (fork_locks[i]);
}

/* For zmqpool's unit tests, called from a thread other than the holder:
 * how many of the locks are held by someone (a try-lock fails), each one
 * taken by the try released at once. Deterministic, unlike waiting to see
 * whether an allocation blocks. */
int zmqpool_mimalloc_fork_locks_held (void)
{
    int count = collect (), held = 0, i;
    for (i = 0; i < count; i++) {
        if (mi_lock_try_acquire (fork_locks[i]))
            mi_lock_release (fork_locks[i]);
        else
            held++;
    }
    return held;
}

/* The address space mimalloc holds (reserved from the OS, used or not),
 * for zmqpool's statistics: the subprocess's own "reserved" count, which
 * mimalloc keeps in every build (OS statistics are always on). */
long long zmqpool_mimalloc_reserved_bytes (void)
{
    return (long long) __atomic_load_n (&_mi_subproc ()->stats.reserved.current,
                                        __ATOMIC_RELAXED);
}
