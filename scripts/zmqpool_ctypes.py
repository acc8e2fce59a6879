"""zmqpool's statistics from Python, through ctypes (for the pyzmq checks)."""
import ctypes


class Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "allocations", "frees", "foreign_frees", "cache_hits", "cache_misses",
        "bytes_in_use", "bytes_cached", "threads", "messages_pooled",
        "messages_inline", "messages_user_data", "sends", "libzmq_messages")]


def stats():
    """zmqpool's statistics, or None when zmqpool is not in the process."""
    try:
        function = ctypes.CDLL(None).zmqpool_stats_get
    except AttributeError:
        return None
    out = Stats()
    assert function(ctypes.byref(out), ctypes.sizeof(out)) == 0
    return out


def pattern(n, seed):
    """n bytes that depend on seed."""
    return bytes((i * 7 + seed) & 255 for i in range(n))
