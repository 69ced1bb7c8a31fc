"""Training data larger than memory: inputs given as ``np.memmap`` (or ``np.load(path, mmap_mode="r")``).

An in-memory ``X`` is checked and converted once, up front. A memory-mapped ``X`` is never read
whole: its shape and dtype are checked up front, and each batch (or evaluation chunk) is gathered
row by row into a small array of the model's dtype and checked for NaN/infinity as it is gathered.
The rows are read from the file (positioned reads through the page cache), so the resident memory
of a pass over a file stays bounded by a few batches whatever the file's size. The targets ``y``
and sample weights are small next to ``X`` (one value or one output row per sample) and are read
into memory.
"""

from __future__ import annotations

import mmap
import os
import stat
import weakref

import numpy as np

from fastgd import _core, _validation


def is_lazy(x):
    """True for a memory-mapped array, which fastgd reads batch by batch."""
    return isinstance(x, np.memmap)


def check_file(name, x):
    """Refuse a memory-mapped ``x`` whose file has become shorter than its mapping (truncated
    after it was mapped): reading a page of the mapping past the end of the file kills the
    process with SIGBUS, so it is checked before anything reads through the mapping. The size is
    the mapping's own file's (a file renamed over the path is not the one mapped). Only a regular
    file is measured: a device that NumPy maps has size 0 (st_size); Python's mmap does not give
    its descriptor, so a short mapping's path tells its file's type."""
    top = x
    while isinstance(top.base, np.ndarray):
        top = top.base
    if not (isinstance(top, np.memmap) and isinstance(top.base, mmap.mmap)):
        return
    try:
        size = top.base.size()
    except (OSError, ValueError):  # a mapping without its file descriptor: nothing to ask
        return
    need = top.offset + top.nbytes
    # an OSError, as a short read of the file (see _read_rows)
    if size < need and _regular_file(getattr(top, "filename", None)):
        raise OSError(f"{name}: its file {getattr(top, 'filename', '')} holds {size:,} bytes, but its memory map "
                      f"needs {need:,}; was the file truncated?")


def _regular_file(path):
    """False when path names a device or another file that is not a regular one; True
    otherwise, a file no longer found at path included (its mapping was measured)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, TypeError, ValueError):
        return True


def check_lazy_input(name, x, n_features):
    """The shape and dtype checks of ``check_input`` without reading any element."""
    _validation.samples(name, x, n_features)
    check_file(name, x)
    if not x.flags.c_contiguous:
        raise ValueError(f"{name}: a memory-mapped input must be C-contiguous (rows stored one after "
                         f"another), got strides {x.strides}")
    return x


def prepare(model, X, y, loss, sample_weight, positive_sum=True):
    """``model._prepare``, except for a memory-mapped X: then y and sample_weight are converted
    (they are read whole) and X is only checked for shape and dtype."""
    if not is_lazy(X):
        return model._prepare(X, y, loss, sample_weight, positive_sum)
    x = check_lazy_input("X", X, model.n_inputs)
    target = _validation.targets(y, x.shape[0], loss, model.n_outputs, model.dtype)
    sw = _validation.sample_weight(sample_weight, x.shape[0], model.dtype, positive_sum=positive_sum)
    return x, target, sw


def _file_position(x):
    """(the mmap, path, byte offset of x's first row, the mapped file's size) when x's rows can
    be read from its file, else None.

    A memmap created by np.memmap or np.load(mmap_mode=...) records its file and the offset of
    its own first byte; a view of it (a shard ``X[a:b]``) starts that many bytes further on.
    A copy-on-write mapping (mode "c") may hold changes that are not in the file.
    """
    top = x
    while isinstance(top.base, np.ndarray):
        top = top.base
    if not (isinstance(top, np.memmap) and isinstance(top.base, mmap.mmap) and getattr(top, "filename", None)
            and top.mode != "c" and x.flags.c_contiguous):
        return None
    try:
        size = top.base.size()  # the mapped file's own (its descriptor's), whatever the path holds now
    except (OSError, ValueError):
        return None
    return top.base, top.filename, top.offset + (x.ctypes.data - top.ctypes.data), size


# (st_dev, st_ino) of the file each mapping's rows were first read from by path: a file renamed
# over that path later, even one of the same size, is another file (see _open_mapped)
_MAPPED_FILES = weakref.WeakKeyDictionary()


def _open_mapped(mapping, path, size):
    """A descriptor of the file at path when it is still the mapped file as far as can be told
    (a regular file of the mapping's size, the same file as at this mapping's first read by
    path), else None: the file may have been deleted since it was mapped (the mapping still
    holds it), or replaced by another file, a FIFO (whose open would wait for a writer) or a
    directory, and reading the path would then fail, hang or read other data than the array
    holds. A file of the same size put at the path before the first read is not told apart."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    except OSError:
        info = None
    if (info is None or not stat.S_ISREG(info.st_mode) or info.st_size != size
            or _MAPPED_FILES.setdefault(mapping, (info.st_dev, info.st_ino)) != (info.st_dev, info.st_ino)):
        os.close(fd)
        return None
    return fd


def _read_rows(fd, offset, x, rows):
    """Rows of x read from its file (open as fd) with positioned reads (sorted, one read per
    run of consecutive rows), in the order of ``rows``."""
    row_bytes = x.shape[1] * x.dtype.itemsize
    if isinstance(rows, slice):
        start, stop, _ = rows.indices(x.shape[0])
        ordered, order = np.arange(start, stop), None
    else:
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
    out = np.empty((ordered.shape[0], x.shape[1]), dtype=x.dtype)
    view = memoryview(out).cast("B")
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    for a, b in zip(np.r_[0, breaks], np.r_[breaks, ordered.shape[0]]):
        want = (b - a) * row_bytes
        got = os.preadv(fd, [view[a * row_bytes:b * row_bytes]], offset + int(ordered[a]) * row_bytes)
        if got != want:
            raise OSError(f"{x.filename if isinstance(x, np.memmap) else 'the file'}: short read ({got} of {want} "
                          "bytes); was the file truncated?")
    if order is None:
        return out
    unsorted = np.empty_like(out)
    unsorted[order] = out
    return unsorted


def take(x, rows, dtype, name="X"):
    """Rows ``rows`` (a slice or an index array) of a memory-mapped ``x`` as a C-contiguous array
    of ``dtype``, checked for NaN/infinity.

    The rows are read from the file with positioned reads, not through the mapping: a page
    touched through the mapping stays in this process's resident set (and the kernel maps whole
    neighbourhoods around each touched page), so gathering shuffled rows through it would make
    the resident memory of an epoch grow to the size of the file."""
    where = _file_position(x)
    fd = None if where is None else _open_mapped(where[0], where[1], where[3])
    if fd is None:
        check_file(name, x)  # through the mapping: a page past a truncated file's end is SIGBUS
        raw = x[rows]
    else:
        try:
            raw = _read_rows(fd, where[2], x, rows)
        finally:
            os.close(fd)
    xb = _validation.c_array(raw, dtype)
    if _core.count_nonfinite(xb):
        if isinstance(rows, slice):
            place = f"rows {rows.start}..{rows.stop - 1}"
        else:
            place = f"the batch of rows starting {np.asarray(rows[:4]).tolist()}"
        raise ValueError(f"{name} contains NaN or infinity in {place}")
    return xb


def rows_of(x, start, stop, dtype):
    """Rows [start, stop) of an already checked in-memory x (a view), or of a memory-mapped x
    (a checked copy)."""
    if not is_lazy(x):
        return x[start:stop]
    return take(x, slice(start, stop), dtype)
