# pyzmq for real (make check-pyzmq): pyzmq bundles its own libzmq
# (pyzmq.libs/libzmq-<hash>.so, its own soname) and loads it into a local
# scope. Run plain and with zmqpool preloaded: zmq_msg_* and zmq_send then
# come from zmqpool, and messages received over tcp carry metadata only that
# hidden libzmq can read and free. Every byte is checked; under a preload,
# zmqpool's counters must show that the sends were really pooled.
#
# usage: pyzmq_check.py [--expect-zmqpool]
import sys
import threading

import zmq

from zmqpool_ctypes import pattern, stats

EXPECT = "--expect-zmqpool" in sys.argv


def pooled_since(before):
    after = stats()
    if before is None or after is None:
        return None
    return (after.messages_pooled - before.messages_pooled,
            after.messages_user_data - before.messages_user_data)


active = stats() is not None
if EXPECT and not active:
    sys.exit("pyzmq_check: zmqpool is not in this process (LD_PRELOAD path wrong?)")
print("pyzmq %s, bundled libzmq %s, zmq_msg_* from %s" % (
    zmq.pyzmq_version(), zmq.zmq_version(), "zmqpool" if active else "libzmq"))

ctx = zmq.Context()
sizes = [0, 10, 100, 5000, 70000, 300000]

# tcp: send(bytes) (copied), send(copy=False) (zero copy), recv(copy=False)
pull = ctx.socket(zmq.PULL)
port = pull.bind_to_random_port("tcp://127.0.0.1")
push = ctx.socket(zmq.PUSH)
push.connect("tcp://127.0.0.1:%d" % port)
before = stats()
for n in sizes:
    push.send(pattern(n, 1))
copied = pooled_since(before)
before = stats()
for n in sizes:
    push.send(pattern(n, 2), copy=False)
zero_copy = pooled_since(before)
frames = []
for seed in (1, 2):
    for n in sizes:
        f = pull.recv(copy=False)
        assert f.bytes == pattern(n, seed), (n, seed)
        assert f.get("Socket-Type") == "PUSH", f.get("Socket-Type")
        assert f.get("Peer-Address") == "127.0.0.1"
        frames.append(f)

# send_multipart, over inproc: the frames received are zmqpool's own.
a = ctx.socket(zmq.PAIR)
a.bind("inproc://multipart")
b = ctx.socket(zmq.PAIR)
b.connect("inproc://multipart")
before = stats()
a.send_multipart([pattern(n, 3) for n in sizes])
multipart = pooled_since(before)
parts = b.recv_multipart(copy=False)
assert [p.bytes for p in parts] == [pattern(n, 3) for n in sizes]
frames.extend(parts)

# inproc, many messages, several threads
def sender(k):
    s = ctx.socket(zmq.PUSH)
    s.connect("inproc://x")
    for i in range(2000):
        s.send(b"%d:%d:" % (k, i) + b"y" * (i % 3000))
    s.close(linger=-1)


sink = ctx.socket(zmq.PULL)
sink.bind("inproc://x")
threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
[t.start() for t in threads]
got = sum(1 for _ in range(8000) if sink.recv())
[t.join() for t in threads]
for s in (push, pull, a, b, sink):
    s.close()
ctx.term()

# Frame buffers outlive their sockets and the context.
views = [memoryview(f) for f in frames]
expected = [pattern(n, 1) for n in sizes] + [pattern(n, 2) for n in sizes] + \
    [pattern(n, 3) for n in sizes]
assert [bytes(v) for v in views] == expected
print("frames after term: %d, all intact; inproc messages: %d" % (len(views), got))
del views, frames, parts

if active:
    # Bodies over 33 bytes are pooled: 4 per list of sizes. copy=False
    # sends zero-copy init_data messages (control block pooled) where
    # pyzmq does not copy small ones.
    print("pooled (body, init_data): send %s, send(copy=False) %s, send_multipart %s"
          % (copied, zero_copy, multipart))
    assert copied[0] == 4, copied
    assert multipart[0] == 4, multipart
    assert sum(zero_copy) == 4, zero_copy
print("ok")
