# Scratch arrays from a process-wide cache of freed blocks.
#
# A model's activation and GEMM buffers, a packed input and an L-BFGS history live for one fit,
# and the next fit (often a new model of the same shape) needs the same sizes again. Blocks of
# at least _CACHE_MIN_BYTES are large enough that the C allocator maps fresh pages for them, and
# the first write to every page then costs a page fault: about a millisecond for the buffers of
# a small full-batch fit. scratch_empty hands out such blocks from a cache of the blocks that
# earlier scratch arrays left behind, whose pages are mapped (and warm in cache) already.
#
# A block belongs to one array (and the views of it) at a time: it goes back to the cache when
# the last reference to that array goes away, so nothing can read or write it through two
# owners. The cache is touched by C code only, under a lock that nothing else takes, with no
# Python code running in between: safe under threads and from a deallocation that happens while
# another block is being handed out.

from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_acquire_lock,
                               PyThread_release_lock, WAIT_LOCK)
from libc.stdlib cimport malloc, free
from libc.string cimport memset

cdef enum:
    _CACHE_SLOTS = 32          # free blocks kept at most
cdef int64_t _CACHE_MIN_BYTES = 64 << 10   # smaller blocks: the allocator reuses its own heap
cdef int64_t _CACHE_MAX_BYTES = 64 << 20   # bytes of free blocks kept at most
cdef int64_t _BLOCK_ALIGN = 64             # a cache line, as aligned_zeros gives
cdef int64_t _MAX_SCRATCH_BYTES = 1LL << 62  # no size computation below can overflow int64

cdef void *_cache_raw[_CACHE_SLOTS]        # oldest first
cdef int64_t _cache_size[_CACHE_SLOTS]
cdef int _cache_count = 0
cdef int64_t _cache_bytes = 0
cdef int64_t _cache_hits = 0, _cache_misses = 0
cdef PyThread_type_lock _cache_lock = PyThread_allocate_lock()
if _cache_lock == NULL:
    raise MemoryError("fastgd: cannot allocate the scratch cache's lock")


cdef void _cache_remove(int i) noexcept nogil:
    """Drop slot i (the lock held), keeping the others oldest first."""
    global _cache_count, _cache_bytes
    _cache_bytes -= _cache_size[i]
    _cache_count -= 1
    while i < _cache_count:
        _cache_raw[i] = _cache_raw[i + 1]
        _cache_size[i] = _cache_size[i + 1]
        i += 1


cdef void *_cache_take(int64_t *size) noexcept nogil:
    """The smallest cached block of at least `*size` bytes and at most twice that (a larger one
    is left for a request it fits better), removed from the cache, its whole size in `*size` (so
    that it comes back as large as it is); NULL when there is none."""
    global _cache_hits, _cache_misses
    cdef void *raw = NULL
    cdef int i, best = -1
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    for i in range(_cache_count):
        if size[0] <= _cache_size[i] <= 2 * size[0] and (best < 0 or _cache_size[i] < _cache_size[best]):
            best = i
    if best >= 0:
        raw = _cache_raw[best]
        size[0] = _cache_size[best]
        _cache_remove(best)
        _cache_hits += 1
    else:
        _cache_misses += 1
    PyThread_release_lock(_cache_lock)
    return raw


cdef void _cache_give(void *raw, int64_t size) noexcept nogil:
    """Keep a freed block for a later scratch_empty, dropping the oldest blocks to make room;
    free it when it is smaller than the cache takes or larger than the whole cache."""
    global _cache_count, _cache_bytes
    cdef void *dropped[_CACHE_SLOTS]
    cdef int n_dropped = 0, i
    if size < _CACHE_MIN_BYTES or size > _CACHE_MAX_BYTES:
        free(raw)
        return
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    while _cache_count == _CACHE_SLOTS or _cache_bytes + size > _CACHE_MAX_BYTES:
        dropped[n_dropped] = _cache_raw[0]
        n_dropped += 1
        _cache_remove(0)
    _cache_raw[_cache_count] = raw
    _cache_size[_cache_count] = size
    _cache_count += 1
    _cache_bytes += size
    PyThread_release_lock(_cache_lock)
    for i in range(n_dropped):
        free(dropped[i])


cdef class _ScratchBlock:
    """The owner of one block behind a scratch array (the array's base): gives the block back to
    the cache when the array and its views are gone."""

    cdef void *raw
    cdef int64_t size

    def __dealloc__(self):
        if self.raw != NULL:
            _cache_give(self.raw, self.size)


cdef inline int64_t _round_up(int64_t n, int64_t step) noexcept nogil:
    return (n + step - 1) // step * step


cdef cnp.ndarray scratch_empty(tuple shape, object dtype):
    """An uninitialized C-contiguous array of `shape` and `dtype` whose data starts on a 64-byte
    boundary, in a block from the scratch cache when it holds one that fits (else a new one)."""
    cdef cnp.dtype descr = np.dtype(dtype)
    cdef int nd = len(shape), i
    cdef cnp.npy_intp dims[2]
    cdef int64_t count = 1, nbytes, size
    if nd > 2:
        raise ValueError(f"scratch arrays have 1 or 2 dimensions, got shape {shape}")
    for i in range(nd):
        if not 0 <= shape[i] <= _MAX_SCRATCH_BYTES:
            raise ValueError(f"shape must hold sizes in [0, 2**62], got {shape}")
        dims[i] = shape[i]
        if dims[i] and count > _MAX_SCRATCH_BYTES // dims[i]:
            raise MemoryError(f"cannot allocate a scratch array of shape {shape}")
        count *= dims[i]
    if count > (_MAX_SCRATCH_BYTES - 2 * 4096) // descr.itemsize:
        raise MemoryError(f"cannot allocate a scratch array of shape {shape} and dtype {descr}")
    nbytes = count * descr.itemsize
    size = _round_up(nbytes + _BLOCK_ALIGN, 4096)
    cdef void *raw = _cache_take(&size) if size >= _CACHE_MIN_BYTES else NULL
    if raw == NULL:
        raw = malloc(size)
        if raw == NULL:
            raise MemoryError(f"cannot allocate a scratch array of {nbytes:,} bytes")
    cdef _ScratchBlock block = _ScratchBlock.__new__(_ScratchBlock)
    block.raw = raw
    block.size = size
    cdef char *data = <char *>raw + ((_BLOCK_ALIGN - <size_t>raw % _BLOCK_ALIGN) % _BLOCK_ALIGN)
    cdef cnp.ndarray arr = cnp.PyArray_SimpleNewFromData(nd, dims, descr.type_num, data)
    cnp.set_array_base(arr, block)
    return arr


cdef cnp.ndarray scratch_zeros(tuple shape, object dtype):
    """scratch_empty's array filled with zeros."""
    cdef cnp.ndarray arr = scratch_empty(shape, dtype)
    memset(cnp.PyArray_DATA(arr), 0, cnp.PyArray_NBYTES(arr))
    return arr


def scratch_array(shape, dtype, bint zeros=False):
    """A scratch array of `shape` (1 or 2 sizes) and `dtype`, zero-filled when `zeros` (the
    buffers the kernels use between calls are made this way; exposed for tests)."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return scratch_zeros(shape, dtype) if zeros else scratch_empty(shape, dtype)


def scratch_cache_info():
    """The scratch cache's state: free blocks kept, their bytes, and the hits and misses of
    requests for blocks since the process started (or the last scratch_cache_clear)."""
    PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
    info = {"blocks": _cache_count, "bytes": _cache_bytes, "hits": _cache_hits, "misses": _cache_misses}
    PyThread_release_lock(_cache_lock)
    return info


def scratch_cache_clear():
    """Free every cached block and reset the counts (blocks in use go back on release)."""
    global _cache_hits, _cache_misses
    cdef void *raw
    while True:
        PyThread_acquire_lock(_cache_lock, WAIT_LOCK)
        if _cache_count == 0:
            _cache_hits = _cache_misses = 0
            PyThread_release_lock(_cache_lock)
            return
        raw = _cache_raw[0]
        _cache_remove(0)
        PyThread_release_lock(_cache_lock)
        free(raw)
