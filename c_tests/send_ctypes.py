# A Python program that sends with zmq_send through ctypes (no binding from
# PyPI): run under zmqpool-run it must get pooled messages. Checks every
# byte, and that zmqpool (found in the process by name) built the messages.
# Exits non-zero on any failure.
#
# libzmq is loaded into the global scope and its functions are looked up
# there, as the dynamic linker binds a C extension's calls. (A lookup on
# libzmq's own handle, ctypes.CDLL("libzmq.so.5").zmq_send, would find
# libzmq's definition and bypass any preload.)
import ctypes
import sys

ctypes.CDLL("libzmq.so.5", mode=ctypes.RTLD_GLOBAL)
zmq = ctypes.CDLL(None, use_errno=True)
zmq.zmq_ctx_new.restype = ctypes.c_void_p
zmq.zmq_socket.restype = ctypes.c_void_p
zmq.zmq_socket.argtypes = [ctypes.c_void_p, ctypes.c_int]
zmq.zmq_bind.argtypes = zmq.zmq_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
zmq.zmq_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
zmq.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
zmq.zmq_close.argtypes = [ctypes.c_void_p]
zmq.zmq_ctx_term.argtypes = [ctypes.c_void_p]
ZMQ_PUSH, ZMQ_PULL = 8, 7


class Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "allocations", "frees", "foreign_frees", "cache_hits", "cache_misses",
        "bytes_in_use", "bytes_cached", "threads", "messages_pooled",
        "messages_inline", "messages_user_data", "sends")]


def zmqpool_stats():
    try:
        function = ctypes.CDLL(None).zmqpool_stats_get
    except AttributeError:
        return None
    stats = Stats()
    assert function(ctypes.byref(stats), ctypes.sizeof(stats)) == 0
    return stats


ctx = zmq.zmq_ctx_new()
pull = zmq.zmq_socket(ctx, ZMQ_PULL)
push = zmq.zmq_socket(ctx, ZMQ_PUSH)
assert zmq.zmq_bind(pull, b"inproc://ctypes") == 0
assert zmq.zmq_connect(push, b"inproc://ctypes") == 0
before = zmqpool_stats()
sizes = [5, 100, 70000]
for n in sizes:
    body = bytes((i * 11) & 255 for i in range(n))
    assert zmq.zmq_send(push, body, n, 0) == n, ctypes.get_errno()
after = zmqpool_stats()
for n in sizes:
    into = ctypes.create_string_buffer(n)
    assert zmq.zmq_recv(pull, into, n, 0) == n
    assert into.raw == bytes((i * 11) & 255 for i in range(n))
zmq.zmq_close(push)
zmq.zmq_close(pull)
zmq.zmq_ctx_term(ctx)
if before is None:
    print("send_ctypes: zmqpool is not in this process")
    sys.exit(1 if "--expect-zmqpool" in sys.argv else 0)
assert after.sends - before.sends == 3, (after.sends, before.sends)
assert after.messages_pooled - before.messages_pooled == 2
print("send_ctypes: 3 zmq_send calls served by zmqpool, 2 pooled messages")
