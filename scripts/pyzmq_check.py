# The pyzmq case for real (make check-pyzmq): pyzmq bundles its own libzmq
# (pyzmq.libs/libzmq-<hash>.so, its own soname) and loads it into a local
# scope. Run with libzmqpool.so preloaded: zmq_msg_* come from zmqpool, messages
# received over tcp carry metadata only that hidden libzmq can read and free.
import threading, zmq
ctx = zmq.Context()
pull = ctx.socket(zmq.PULL)
port = pull.bind_to_random_port("tcp://127.0.0.1")
push = ctx.socket(zmq.PUSH)
push.connect("tcp://127.0.0.1:%d" % port)
sizes = [0, 10, 100, 5000, 70000, 300000]
for n in sizes:
    push.send(bytes((i * 7) & 255 for i in range(n)), copy=False)
frames = []
for n in sizes:
    f = pull.recv(copy=False)
    assert len(f.bytes) == n and f.bytes == bytes((i * 7) & 255 for i in range(n))
    assert f.get("Socket-Type") == "PUSH", f.get("Socket-Type")
    assert f.get("Peer-Address") == "127.0.0.1"
    frames.append(f)
# inproc, many messages, several threads
def sender(k):
    s = ctx.socket(zmq.PUSH); s.connect("inproc://x")
    for i in range(2000):
        s.send(b"%d:%d:" % (k, i) + b"y" * (i % 3000))
    s.close(linger=-1)
sink = ctx.socket(zmq.PULL); sink.bind("inproc://x")
ts = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
[t.start() for t in ts]
got = sum(1 for _ in range(8000) if sink.recv())
[t.join() for t in ts]
push.close(); pull.close(); sink.close(); ctx.term()
print("frames after term:", [f.get("Socket-Type") for f in frames][:2], "inproc:", got)
del frames
print("ok")
