# pyzmq after K other shared objects (make check-pyzmq): a program that
# loads a few libraries with ctypes before `import zmq` must get the same
# pooled, byte-exact messages whatever K is. pyzmq's bundled libzmq sits in
# a local scope where zmqpool finds it only by walking the loaded objects,
# so every K from FIRST to LAST runs in a fresh interpreter.
#
# usage: pyzmq_many_objects.py OBJECT-DIR FIRST-K LAST-K
#        (OBJECT-DIR holds object-0.so, object-1.so, ...; run it under
#        zmqpool-run: without zmqpool every K fails)
import ctypes
import os
import subprocess
import sys

import zmqpool_ctypes
from zmqpool_ctypes import pattern


def stats():
    out = zmqpool_ctypes.stats()
    if out is None:
        sys.exit("zmqpool is not in this process (run under zmqpool-run)")
    return out


def one(objects, k):
    for i in range(k):
        ctypes.CDLL(os.path.join(objects, "object-%d.so" % i), mode=os.RTLD_LOCAL)
    import zmq

    sizes = [0, 10, 100, 5000, 70000]
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.connect("tcp://127.0.0.1:%d" % port)
    before = stats()
    for n in sizes:
        push.send(pattern(n, 1))
    for n in sizes:
        push.send(pattern(n, 2), copy=False)
    after = stats()
    for seed in (1, 2):
        for n in sizes:
            frame = pull.recv(copy=False)
            assert frame.bytes == pattern(n, seed), (k, n, seed)
            assert frame.get("Peer-Address") == "127.0.0.1", k
    for s in (push, pull):
        s.close(linger=0)
    ctx.term()
    # Copied sends: 3 bodies over 33 bytes pooled. Zero-copy sends: a
    # pooled body or a pooled control block for each of those 3.
    pooled = after.messages_pooled - before.messages_pooled
    user_data = after.messages_user_data - before.messages_user_data
    assert pooled >= 3 and pooled + user_data == 6, (k, pooled, user_data)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        one(sys.argv[2], int(sys.argv[3]))
        return 0
    objects, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    failed = []
    for k in range(first, last + 1):
        run = subprocess.run([sys.executable, __file__, "--one", objects, str(k)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            failed.append(k)
            print("FAIL K = %d (exit %d)\n%s" % (k, run.returncode, run.stdout.strip()))
    count = last - first + 1
    print("pyzmq_many_objects: %d passed, %d failed" % (count - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
