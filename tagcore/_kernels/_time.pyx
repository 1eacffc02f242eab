"""Time bucketing of int64 nanosecond timestamps."""

from libc.stdint cimport int32_t, int64_t

ctypedef int32_t id_t


def bucket_fixed(const int64_t[::1] ts, int64_t origin, int64_t width, int64_t n_buckets,
                 int64_t lo, int64_t hi, id_t[::1] out):
    """``out[r]`` = floor((ts[r] - origin) / width) when ``lo < ts[r] <= hi`` and the bucket
    lies in ``[0, n_buckets)``, else -1. ``width`` > 0 (checked by the caller); the floor is
    explicit because C division truncates toward zero."""
    cdef Py_ssize_t n = ts.shape[0]
    cdef Py_ssize_t r
    cdef int64_t d, q
    with nogil:
        for r in range(n):
            if ts[r] <= lo or ts[r] > hi:
                out[r] = -1
                continue
            d = ts[r] - origin
            q = d // width
            if d % width != 0 and d < 0:
                q -= 1
            out[r] = <id_t>q if 0 <= q < n_buckets else -1
