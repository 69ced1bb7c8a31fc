# Whole-model bindings: the buffers of a Sequential model and its fused
# forward / backward / training step. fastgd.model.Sequential owns one
# _ModelEngine; users never see it.

from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memset
import threading


def count_nonfinite(a):
    """Number of NaN/inf entries of a float32/float64 array (any shape, C-contiguous)."""
    cdef cnp.ndarray arr = check_float_array("a", a, a.ndim if isinstance(a, np.ndarray) else 1)
    cdef int64_t n = arr.size
    cdef int64_t r
    if arr.dtype == np.float32:
        with nogil:
            r = fg_count_nonfinite_f32(<const float *>cnp.PyArray_DATA(arr), n)
    else:
        with nogil:
            r = fg_count_nonfinite_f64(<const double *>cnp.PyArray_DATA(arr), n)
    return r


def count_large(a, int exponent, bint reference=False):
    """Number of entries of a float32/float64 array (any shape, C-contiguous) that are NaN, ±inf
    or at least 2**exponent in magnitude (exponent clamped to the dtype's normal range)."""
    cdef cnp.ndarray arr = check_float_array("a", a, a.ndim if isinstance(a, np.ndarray) else 1)
    cdef int64_t n = arr.size
    cdef int64_t r
    if arr.dtype == np.float32:
        with nogil:
            r = fg_count_large_ref_f32(<const float *>cnp.PyArray_DATA(arr), n, exponent) if reference \
                else fg_count_large_f32(<const float *>cnp.PyArray_DATA(arr), n, exponent)
    else:
        with nogil:
            r = fg_count_large_ref_f64(<const double *>cnp.PyArray_DATA(arr), n, exponent) if reference \
                else fg_count_large_f64(<const double *>cnp.PyArray_DATA(arr), n, exponent)
    return r


def plain_batch(x, y, dtype, Py_ssize_t n_features, Py_ssize_t n_classes):
    """Whether (x, y) is a batch a training step takes as it is: x a C-contiguous, aligned,
    native-order 2-D numpy.ndarray (not a subclass) of `dtype` with n_features columns and at
    least one row, and y a C-contiguous, aligned, native-order 1-D int64 ndarray with one class
    label in [0, n_classes) per row of x. False for anything else, which the caller then checks
    (and converts, or rejects with a message) the general way. x's values are not read: a NaN or
    infinity in x makes the step's loss or gradient non-finite (every entry of x multiplies into
    the first layer's dW), which leaves the parameters unchanged, and the caller checks x then."""
    if type(x) is not np.ndarray or type(y) is not np.ndarray:
        return False
    cdef cnp.ndarray xa = <cnp.ndarray>x
    cdef cnp.ndarray ya = <cnp.ndarray>y
    cdef int xt = cnp.PyArray_TYPE(xa)
    if (cnp.PyArray_NDIM(xa) != 2 or cnp.PyArray_DIM(xa, 1) != n_features or cnp.PyArray_DIM(xa, 0) < 1
            or not cnp.PyArray_IS_C_CONTIGUOUS(xa) or not cnp.PyArray_ISBEHAVED_RO(xa)
            or (xt != cnp.NPY_FLOAT32 and xt != cnp.NPY_FLOAT64) or x.dtype != dtype):
        return False
    if (cnp.PyArray_TYPE(ya) != cnp.NPY_INT64 or cnp.PyArray_NDIM(ya) != 1
            or cnp.PyArray_DIM(ya, 0) != cnp.PyArray_DIM(xa, 0) or not cnp.PyArray_IS_C_CONTIGUOUS(ya)
            or not cnp.PyArray_ISBEHAVED_RO(ya)):
        return False
    cdef const int64_t *t = <const int64_t *>cnp.PyArray_DATA(ya)
    cdef Py_ssize_t i, rows = cnp.PyArray_DIM(ya, 0)
    cdef bint outside = False
    with nogil:
        for i in range(rows):
            # one unsigned comparison: a negative label reads as a huge number
            outside |= <uint64_t>t[i] >= <uint64_t>n_classes
    return not outside and n_classes >= 0


cdef class _Scratch:
    """Hidden-layer activations and GEMM workspace for one forward pass at a time: inference
    takes one from its engine's pool per call, so concurrent calls never share buffers."""

    cdef void **act_ptrs
    cdef list acts
    cdef object workspace
    cdef void *ws
    cdef int64_t ws_bytes, rows_cap
    cdef int ws_threads

    def __cinit__(self, Py_ssize_t n_layers):
        self.act_ptrs = <void **>calloc(n_layers, sizeof(void *))
        if self.act_ptrs == NULL:
            raise MemoryError()
        self.acts = []
        self.rows_cap = 0
        self.ws_threads = 0

    def __dealloc__(self):
        free(self.act_ptrs)

    cdef int reserve(self, _ModelEngine e, int64_t rows, int threads) except -1:
        cdef Py_ssize_t i
        cdef int64_t cap
        if rows > self.rows_cap:
            cap = max(rows, 2 * self.rows_cap, 16)
            self.acts = [scratch_empty((cap, e.layers[i].out), e.dtype) for i in range(e.m.n_layers - 1)]
            for i in range(e.m.n_layers - 1):
                self.act_ptrs[i] = cnp.PyArray_DATA(self.acts[i])
            self.rows_cap = cap
            self.ws_threads = 0
        if threads > self.ws_threads:
            nbytes = e._workspace_bytes(self.rows_cap, threads)
            self.workspace = scratch_empty((nbytes,), np.uint8)
            self.ws = cnp.PyArray_DATA(self.workspace)
            self.ws_bytes = nbytes
            self.ws_threads = threads
        return 0


cdef class PackedInput:
    """A dense input x packed once for the first layer's two products in training steps over all
    of its rows (x·W forward and xᵀ·grad_z backward, each packed by the GEMM on every call
    otherwise): what an L-BFGS run, whose every evaluation reads the same full batch, saves.
    Made by :meth:`_ModelEngine.pack_input`; it keeps x alive and holds the packing of x's content
    at that time, so the caller builds a new one after writing into x. A step uses it only for x
    itself (same object, shape, data), all of its rows, on the CPU target it was packed for."""

    cdef readonly object x
    cdef object engine, fwd, bwd
    cdef const void *fwd_ptr
    cdef const void *bwd_ptr
    cdef const void *data
    cdef int64_t rows, cols
    cdef int64_t layout

    @property
    def nbytes(self):
        """Bytes of the two packed forms (x·W's and xᵀ·grad_z's; 0 for a product that reads x in place)."""
        return (0 if self.fwd is None else self.fwd.nbytes, 0 if self.bwd is None else self.bwd.nbytes)

    def __repr__(self):
        return f"PackedInput({self.rows}x{self.cols} {self.x.dtype}, {self.nbytes} bytes)"


cdef tuple _packed_operand(cnp.ndarray x, bint f32, int trans_a, int64_t m, int64_t n, int64_t k):
    """All of op(x) packed for an (m, n, k) product and the packing target's layout token, or
    (None, 0) when that product reads x in place."""
    cdef int64_t nbytes = fg_gemm_packed_a_size_f32(m, n, k) if f32 else fg_gemm_packed_a_size_f64(m, n, k)
    if nbytes == 0:
        return None, 0
    cdef int64_t lda = x.shape[1], layout
    cdef cnp.ndarray buf = scratch_empty((nbytes // x.itemsize,), x.dtype)
    cdef void *dst = cnp.PyArray_DATA(buf)
    cdef const void *src = cnp.PyArray_DATA(x)
    with nogil:
        if f32:
            layout = fg_gemm_pack_a_whole_f32(<float *>dst, nbytes, <const float *>src, lda, trans_a, m, n, k)
        else:
            layout = fg_gemm_pack_a_whole_f64(<double *>dst, nbytes, <const double *>src, lda, trans_a, m, n, k)
    return (buf, layout) if layout else (None, 0)


# How many os.fork() calls separate this process from the one that imported the module: a
# child inherits each engine's counts of the calls in flight in its parent's other threads,
# threads the child does not have, so an engine that sees the count change forgets them
# (see _ModelEngine._adopt). Bumped by fastgd._runtime's after-fork hook.
cdef unsigned long _fork_generation = 0


def after_fork_in_child():
    """Tell the engines that this process is a new child of os.fork (fastgd._runtime's hook),
    and forget the optimizer steps the parent's other threads were running: those threads are
    not in this process, so they would never release their optimizers."""
    global _fork_generation
    _fork_generation += 1
    _optimizers_stepping.clear()


cdef class _ModelEngine:
    """The C view of a Sequential model: layer table, arenas and scratch buffers.

    Buffers grow (geometrically) when a larger batch arrives and are reused
    otherwise; the workspace is re-sized when the thread count grows.

    Threads: inference (`forward`) runs in scratch buffers of its own, so any
    number of threads may run it at once. A call that writes the parameters,
    gradients or the shared training buffers (`step`, `backward`) waits for
    inference calls in flight to finish and holds back new ones until it is
    done; a second such call while one runs raises RuntimeError. In a child of os.fork the
    calls that ran in the parent's other threads are forgotten; if one was writing, the
    parameters may be half-written and every call raises RuntimeError."""

    cdef fg_model m
    cdef fg_model_layer *layers
    cdef void **act_ptrs
    cdef void **pre_ptrs
    cdef readonly object dtype
    cdef bint f32
    cdef object params, grads
    cdef list acts, pres
    cdef object gbuf0, gbuf1, xbuf, ybuf, lbuf, wbuf, workspace
    cdef readonly int64_t n_in, n_out, n_params, max_width, rows_cap
    cdef int ws_threads
    cdef bint stepping, writing, torn
    cdef int readers, writers_waiting, waiting
    cdef unsigned long generation
    cdef object cond
    cdef list pool
    cdef fg_optim_group *groups
    cdef int64_t n_groups_cap

    def __cinit__(self):
        self.layers = NULL
        self.act_ptrs = NULL
        self.pre_ptrs = NULL
        self.groups = NULL
        self.n_groups_cap = 0

    def __init__(self, params, grads, layer_specs):
        """layer_specs: list of (in, out, act_id, act_alpha, w_off, b_off)."""
        cdef Py_ssize_t L = len(layer_specs)
        cdef Py_ssize_t i
        if L < 1:
            raise ValueError("a model needs at least one layer")
        self.params = check_float_array("params", params, 1, writeable=True)
        self.grads = check_float_array("grads", grads, 1, writeable=True)
        check_same("grads", self.grads, "params", self.params)
        self.dtype = self.params.dtype
        self.f32 = self.dtype == np.float32
        self.layers = <fg_model_layer *>malloc(L * sizeof(fg_model_layer))
        self.act_ptrs = <void **>malloc(L * sizeof(void *))
        self.pre_ptrs = <void **>malloc(L * sizeof(void *))
        if self.layers == NULL or self.act_ptrs == NULL or self.pre_ptrs == NULL:
            raise MemoryError()
        self.max_width = 0
        for i, spec in enumerate(layer_specs):
            fan_in, fan_out, act, alpha, w_off, b_off = spec
            self.layers[i].in_ = fan_in
            self.layers[i].out = fan_out
            self.layers[i].act = act
            self.layers[i].act_alpha = alpha
            self.layers[i].w_off = w_off
            self.layers[i].b_off = b_off
            self.max_width = max(self.max_width, fan_in, fan_out)
            self.act_ptrs[i] = NULL
            self.pre_ptrs[i] = NULL
        self.n_in = self.layers[0].in_
        self.n_out = self.layers[L - 1].out
        self.n_params = self.params.shape[0]
        if self.layers[L - 1].b_off + self.n_out != self.n_params:
            raise ValueError("the last layer's bias must end the parameter arena")
        memset(&self.m, 0, sizeof(fg_model))
        self.m.n_layers = L
        self.m.layers = self.layers
        self.m.params = cnp.PyArray_DATA(self.params)
        self.m.grads = cnp.PyArray_DATA(self.grads)
        self.m.acts = self.act_ptrs
        self.m.pres = self.pre_ptrs
        self.rows_cap = 0
        self.ws_threads = 0
        self.acts = []
        self.pres = []
        self.stepping = self.writing = self.torn = False
        self.readers = self.writers_waiting = self.waiting = 0
        self.cond = threading.Condition(threading.Lock())
        self.generation = _fork_generation
        self.pool = []

    def __dealloc__(self):
        free(self.layers)
        free(self.act_ptrs)
        free(self.pre_ptrs)
        free(self.groups)

    @property
    def row_blocks(self):
        """Whether a step without update on dense rows spanning several of the GEMM's k blocks runs
        forward, loss and backward one such block of rows at a time (the same results): None (the
        default) as the CPU target chooses, True always, False never (tests and benchmarks)."""
        return None if self.m.row_blocks == 0 else self.m.row_blocks > 0

    @row_blocks.setter
    def row_blocks(self, on):
        self.m.row_blocks = 0 if on is None else (1 if on else -1)

    cdef const void *_saved(self, Py_ssize_t l) noexcept nogil:
        """What layer l's backward pass reads for act': its kept pre-activations, else its outputs."""
        return self.m.pres[l] if self.m.pres[l] != NULL else self.m.acts[l]

    cdef int _workspace_bytes(self, int64_t rows, int threads) except -1:
        cdef int64_t best = 0, w
        cdef Py_ssize_t i
        for i in range(self.m.n_layers):
            if self.f32:
                w = fg_dense_workspace_size_f32(rows, self.layers[i].in_, self.layers[i].out, threads)
            else:
                w = fg_dense_workspace_size_f64(rows, self.layers[i].in_, self.layers[i].out, threads)
            best = max(best, w)
        return best

    cdef int reserve(self, int64_t rows) except -1:
        """Make every buffer hold at least `rows` rows for the current thread count."""
        cdef int threads = fg_get_num_threads()
        cdef int64_t cap = self.rows_cap
        cdef Py_ssize_t i
        if rows > cap:
            cap = max(rows, 2 * cap, 16)
            self.acts = [scratch_empty((cap, self.layers[i].out), self.dtype) for i in range(self.m.n_layers)]
            for i in range(self.m.n_layers):
                self.act_ptrs[i] = cnp.PyArray_DATA(self.acts[i])
            # the pre-activations the backward and curvature passes of GELU-like layers read
            self.pres = [scratch_empty((cap, self.layers[i].out), self.dtype)
                         if fg_activation_grad_from_pre(self.layers[i].act) else None
                         for i in range(self.m.n_layers)]
            for i in range(self.m.n_layers):
                self.pre_ptrs[i] = NULL if self.pres[i] is None else cnp.PyArray_DATA(self.pres[i])
            self.gbuf0 = scratch_empty((cap * self.max_width,), self.dtype)
            self.gbuf1 = scratch_empty((cap * self.max_width,), self.dtype)
            self.xbuf = scratch_empty((cap * self.n_in,), self.dtype)
            self.ybuf = scratch_empty((cap * self.n_out,), self.dtype)
            self.lbuf = scratch_empty((cap,), np.int64)
            self.wbuf = scratch_empty((cap,), self.dtype)
            self.m.gbuf0 = cnp.PyArray_DATA(self.gbuf0)
            self.m.gbuf1 = cnp.PyArray_DATA(self.gbuf1)
            self.m.xbuf = cnp.PyArray_DATA(self.xbuf)
            self.m.ybuf = cnp.PyArray_DATA(self.ybuf)
            self.m.lbuf = <int64_t *>cnp.PyArray_DATA(self.lbuf)
            self.m.wbuf = cnp.PyArray_DATA(self.wbuf)
            self.rows_cap = cap
            self.m.rows_cap = cap
            self.ws_threads = 0  # the workspace depends on the row count too
        if threads > self.ws_threads:
            nbytes = self._workspace_bytes(self.rows_cap, threads)
            self.workspace = scratch_empty((nbytes,), np.uint8)
            self.m.workspace = cnp.PyArray_DATA(self.workspace)
            self.m.workspace_bytes = nbytes
            self.ws_threads = threads
        return 0

    def release_buffers(self):
        """Give the scratch buffers (training and inference) back to the scratch cache, for the
        next model that needs buffers of their size: what a finished fit does, so that a model
        kept for prediction does not hold memory sized for training. The next call that needs
        them reserves them again. Waits for inference calls in flight, like a training step."""
        cdef Py_ssize_t i
        self._enter()
        try:
            for i in range(self.m.n_layers):
                self.act_ptrs[i] = NULL
                self.pre_ptrs[i] = NULL
            self.acts = []
            self.pres = []
            self.gbuf0 = self.gbuf1 = self.xbuf = self.ybuf = self.lbuf = self.wbuf = self.workspace = None
            self.m.gbuf0 = self.m.gbuf1 = self.m.xbuf = self.m.ybuf = self.m.wbuf = self.m.workspace = NULL
            self.m.lbuf = NULL
            self.m.workspace_bytes = 0
            self.m.rows_cap = self.rows_cap = 0
            self.ws_threads = 0
            self.pool = []
        finally:
            self._exit()

    def assign_params(self, values):
        """params[...] = values as a training step writes them: after the inference calls in
        flight, and before any that starts meanwhile, which waits; so that they read the
        parameters as they were or as assigned, never half-copied (NumPy's copy releases the
        GIL). Refused, as a step is, while a training call runs in another thread."""
        self._enter()
        try:
            np.copyto(self.params, values)
        finally:
            self._exit()

    # The checks and counter updates below run with the GIL held and call no Python code between
    # a test and the update it guards, so they are atomic with respect to other Python threads;
    # the condition variable is only touched when a call has to wait or wake a waiter.

    cdef int _wait(self) except -1:
        self.waiting += 1
        try:
            self.cond.wait()
        finally:
            self.waiting -= 1
        return 0

    cdef int _wake(self) except -1:
        if self.waiting:
            with self.cond:
                self.cond.notify_all()
        return 0

    cdef int _adopt(self) except -1:
        """In a new child of os.fork: drop the parent's calls in flight (their threads, which
        would have ended them, are not in this process; their condition's lock may be held by
        one) and refuse every call if one of them was updating the parameters (a step with an
        optimizer; gradients, curvature products and buffers are rebuilt by the next call)."""
        if self.generation != _fork_generation:
            self.generation = _fork_generation
            self.readers = self.writers_waiting = self.waiting = 0
            self.cond = threading.Condition(threading.Lock())
            self.torn = self.torn or self.writing
            self.stepping = self.writing = False
        if self.torn:
            raise RuntimeError("this model was running a training step in another thread when this process was "
                               "forked from its parent: its parameters may be half-updated here; rebuild or load the "
                               "model in this process (or fork while no thread trains it)")
        return 0

    cdef int _enter(self) except -1:
        """Start a call that writes shared state: refuse if one is running, wait out readers."""
        self._adopt()
        if self.stepping:
            raise RuntimeError("this model is already running a training step in another thread; "
                               "training calls on one model must not overlap (use one model per "
                               "thread, or a lock); inference calls may run concurrently")
        if self.readers:
            self.writers_waiting += 1
            try:
                with self.cond:
                    while self.readers:
                        self._wait()
            finally:
                self.writers_waiting -= 1
            return self._enter()
        self.stepping = True
        return 0

    cdef int _exit(self) except -1:
        self.stepping = False
        return self._wake()

    cdef int _read_enter(self) except -1:
        # re-checked after the `with` block: leaving it runs Python code, where another
        # thread may start a step
        self._adopt()
        while self.stepping or self.writers_waiting:
            with self.cond:
                while self.stepping or self.writers_waiting:
                    self._wait()
        self.readers += 1
        return 0

    cdef int _read_exit(self) except -1:
        self.readers -= 1
        if self.readers == 0:
            self._wake()
        return 0

    def forward(self, x):
        """The output (n, out) for x (n, in), already checked by the caller (dtype, C order,
        finite), or for a CSRMatrix of the model's dtype, as a new array. Safe to call from
        several threads at once."""
        cdef CSRMatrix xc = None
        cdef cnp.ndarray xa = None
        cdef int64_t n
        if isinstance(x, CSRMatrix):
            xc = <CSRMatrix>x
            self._check_csr(xc)
            n = xc.n_rows
        else:
            xa = self._check_dense(x)
            n = xa.shape[0]
        cdef fg_model m
        cdef _Scratch s = self.pool.pop() if self.pool else _Scratch(self.m.n_layers)
        cdef cnp.ndarray out = np.empty((n, self.n_out), dtype=self.dtype)
        try:
            s.reserve(self, n, fg_get_num_threads())
            m = self.m
            s.act_ptrs[self.m.n_layers - 1] = cnp.PyArray_DATA(out)
            m.acts = s.act_ptrs
            m.pres = NULL  # inference keeps no pre-activations: every activation stays fused
            m.workspace = s.ws
            m.workspace_bytes = s.ws_bytes
            self._read_enter()
            try:
                if xc is not None:
                    if self.f32:
                        with nogil:
                            fg_model_forward_csr_f32(&m, &xc.c, n)
                    else:
                        with nogil:
                            fg_model_forward_csr_f64(&m, &xc.c, n)
                elif self.f32:
                    with nogil:
                        fg_model_forward_f32(&m, <const float *>cnp.PyArray_DATA(xa), n)
                else:
                    with nogil:
                        fg_model_forward_f64(&m, <const double *>cnp.PyArray_DATA(xa), n)
            finally:
                self._read_exit()
        finally:
            s.act_ptrs[self.m.n_layers - 1] = NULL
            self.pool.append(s)
        return out

    cdef _check_csr(self, CSRMatrix x):
        if x.n_cols != self.n_in or x.data.dtype != self.dtype:
            raise ValueError(f"x must be a CSRMatrix of {self.dtype} with {self.n_in} columns, got {x!r}")

    cdef cnp.ndarray _check_dense(self, object x):
        """x itself if the kernels can read it as rows of n_in elements of the model's dtype (C
        macros only: the callers checked it already, but against sizes and attributes that
        user code can change, such as a layers list or an estimator's n_features_in_)."""
        if (not isinstance(x, np.ndarray)
                or cnp.PyArray_TYPE(<cnp.ndarray>x) != cnp.PyArray_TYPE(<cnp.ndarray>self.params)
                or cnp.PyArray_NDIM(<cnp.ndarray>x) != 2 or cnp.PyArray_DIM(<cnp.ndarray>x, 1) != self.n_in
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x) or not cnp.PyArray_ISBEHAVED_RO(<cnp.ndarray>x)):
            raise ValueError(f"x must be a C-contiguous {self.dtype} array with {self.n_in} columns (aligned, in the "
                             f"machine's byte order), got {_describe(x)}")
        return <cnp.ndarray>x

    def backward(self, x, grad_out, bint want_grad_x, double beta=0.0):
        """Forward x (n, in) and backpropagate grad_out (n, out) through it: grads := beta*grads
        + dL/dparams; returns dL/dx or None. grad_out is copied (the kernel uses it as scratch)."""
        if isinstance(x, CSRMatrix):
            raise TypeError("backward() of a model takes dense input; sparse input trains through fit/step")
        cdef cnp.ndarray xa = self._check_dense(x)
        cdef int64_t n = xa.shape[0]
        cdef cnp.ndarray g = np.array(grad_out, dtype=self.dtype, order="C", copy=True)
        if g.ndim != 2 or g.shape[0] != n or g.shape[1] != self.n_out:
            raise ValueError(f"grad_out must have shape {(n, self.n_out)}, got {np.shape(grad_out)}")
        cdef cnp.ndarray gx = None
        cdef void *gx_ptr = NULL
        if want_grad_x:
            gx = np.empty((n, self.n_in), dtype=self.dtype)
            gx_ptr = cnp.PyArray_DATA(gx)
        self._enter()
        try:
            self.reserve(n)
            if self.f32:
                with nogil:
                    fg_model_forward_f32(&self.m, <const float *>cnp.PyArray_DATA(xa), n)
                    fg_model_backward_f32(&self.m, <const float *>cnp.PyArray_DATA(xa),
                                          <float *>cnp.PyArray_DATA(g), <float *>gx_ptr, n, beta)
            else:
                with nogil:
                    fg_model_forward_f64(&self.m, <const double *>cnp.PyArray_DATA(xa), n)
                    fg_model_backward_f64(&self.m, <const double *>cnp.PyArray_DATA(xa),
                                          <double *>cnp.PyArray_DATA(g), <double *>gx_ptr, n, beta)
        finally:
            self._exit()
        return gx

    def pack_input(self, x):
        """A :class:`PackedInput` of x (n, in), dense, of the model's dtype, C-contiguous,
        already checked by the caller, for :meth:`step` over all of its rows."""
        cdef cnp.ndarray xa = <cnp.ndarray>x
        if (not isinstance(x, np.ndarray) or xa.ndim != 2 or xa.shape[1] != self.n_in or xa.dtype != self.dtype
                or not xa.flags.c_contiguous):
            raise ValueError(f"x must be a C-contiguous {self.dtype} array with {self.n_in} columns, "
                             f"got {_describe(x)}")
        cdef PackedInput p = PackedInput.__new__(PackedInput)
        cdef int64_t n = xa.shape[0], k = self.n_in, m = self.layers[0].out
        p.x = x
        p.engine = self
        p.rows = n
        p.cols = k
        p.data = cnp.PyArray_DATA(xa)
        cdef int64_t fwd_layout, bwd_layout
        p.fwd, fwd_layout = _packed_operand(xa, self.f32, 0, n, m, k)    # x·W: op(A) = x (n, k)
        p.bwd, bwd_layout = _packed_operand(xa, self.f32, 1, k, m, n)    # xᵀ·grad_z: op(A) = xᵀ (k, n)
        # both from one target, or neither is read (the active target changed between them)
        p.layout = fwd_layout or bwd_layout
        if fwd_layout and bwd_layout and fwd_layout != bwd_layout:
            p.layout = 0
        p.fwd_ptr = NULL if p.fwd is None else cnp.PyArray_DATA(<cnp.ndarray>p.fwd)
        p.bwd_ptr = NULL if p.bwd is None else cnp.PyArray_DATA(<cnp.ndarray>p.bwd)
        return p

    cdef int _use_packed(self, fg_batch *batch, PackedInput p, object x, object indices, Py_ssize_t start,
                         Py_ssize_t n) except -1:
        """Point the batch at p's packed forms when p is x's, for all of its rows."""
        if p.engine is not self or p.x is not x:
            raise ValueError("packed must be this model's pack_input(x) of the x passed")
        cdef cnp.ndarray xa = <cnp.ndarray>x
        if cnp.PyArray_DATA(xa) != p.data or xa.ndim != 2 or xa.shape[0] != p.rows or xa.shape[1] != p.cols:
            raise ValueError("x changed shape or buffer since it was packed; pack it again")
        if indices is not None or start != 0 or n != p.rows:
            raise ValueError(f"a packed input serves a step over all of its {p.rows} rows, "
                             f"got {'indexed rows' if indices is not None else f'rows [{start}, {start + n})'}")
        # the C step reads them only on the target that packed them (its layout)
        batch.x_packed = p.fwd_ptr
        batch.xt_packed = p.bwd_ptr
        batch.packed_layout = p.layout
        return 0

    def step(self, x, indices, Py_ssize_t start, Py_ssize_t n, LossSpec loss, target, sample_weight,
             class_weight, plan, double clip_norm=0.0, double clip_value=0.0, bint grad_norm=True,
             PackedInput packed=None, optimizer=None):
        """One fused training step on rows `indices` (int64, C-contiguous) of x, or on rows
        [start, start+n) when indices is None. x, target (labels int64 or rows), sample_weight
        are the full arrays, already validated (target is loss.prepare_target's (kind, array));
        class_weight the loss's class weights in the parameters' dtype or None. `plan` is the
        optimizer's ``(state, groups)`` (fastgd.optim's plan: groups an OPTIM_GROUP_DTYPE array
        for this update), or None to compute the gradient only; `optimizer` the optimizer of the
        plan, whose step count an applied update increments here (see _count_step). The caller
        holds the optimizer (claim_optimizer). grad_norm=False without clipping does not measure
        the gradient: grad_norm is then NaN (unless a plan's finiteness check finds an entry large
        enough to need the sum), and status never 2 without a plan. packed: x's :meth:`pack_input`,
        for a step over all of its rows, or None. Returns (loss, grad_norm, status)."""
        cdef fg_batch batch
        cdef fg_loss_spec spec
        cdef fg_step_options opt
        cdef fg_step_result res
        cdef cnp.ndarray xa
        cdef CSRMatrix xs = None
        cdef cnp.ndarray ta = <cnp.ndarray>(<tuple>target)[1]
        cdef cnp.ndarray idx
        cdef bint apply_update = plan is not None
        fill_loss_spec(&spec, loss, target, sample_weight, class_weight, FG_REDUCE_MEAN)
        memset(&batch, 0, sizeof(fg_batch))
        if isinstance(x, CSRMatrix):
            xs = <CSRMatrix>x
            self._check_csr(xs)
            if indices is None and (start < 0 or start + n > xs.n_rows):
                raise ValueError(f"rows [{start}, {start + n}) are outside the {xs.n_rows} rows of x")
            batch.x_csr = &xs.c
        else:
            # a packed x is checked by _use_packed: the buffer and shape pack_input checked
            xa = self._check_dense(x) if packed is None else <cnp.ndarray>x
            if indices is None and (start < 0 or n < 0 or start + n > xa.shape[0]):
                raise ValueError(f"rows [{start}, {start + n}) are outside the {xa.shape[0]} rows of x")
            batch.x = cnp.PyArray_DATA(xa)
        if spec.labels != NULL:
            batch.labels = spec.labels
        else:
            batch.target = cnp.PyArray_DATA(ta)
        if sample_weight is not None:
            batch.sample_weight = cnp.PyArray_DATA(<cnp.ndarray>sample_weight)
        if indices is not None:
            idx = <cnp.ndarray>indices
            batch.indices = <const int64_t *>cnp.PyArray_DATA(idx)
            n = idx.shape[0]
        batch.start = start
        batch.n = n
        if packed is not None:
            self._use_packed(&batch, packed, x, indices, start, n)
        memset(&opt, 0, sizeof(fg_step_options))
        opt.clip_norm = clip_norm
        opt.clip_value = clip_value
        opt.want_grad_norm = grad_norm
        opt.apply_update = apply_update
        self._enter()
        try:
            if apply_update:  # fills self.groups, which a running step reads: inside _enter
                self._set_update(&opt, <tuple>plan)
            self.reserve(n)
            self.writing = apply_update
            if self.f32:
                with nogil:
                    fg_model_train_step_f32(&self.m, &batch, &spec, &opt, &res)
            else:
                with nogil:
                    fg_model_train_step_f64(&self.m, &batch, &spec, &opt, &res)
            if apply_update and res.status == 0 and optimizer is not None:
                _count_step(optimizer)
        finally:
            self.writing = False
            self._exit()
        return res.loss, res.grad_norm, res.status

    cdef int _set_update(self, fg_step_options *opt, tuple plan) except -1:
        """Fill the optimizer part of `opt` from the plan ``(state, groups)``, checking
        everything the kernel will touch: groups tiling [0, n_params) in order, and a state
        array of the parameters' dtype, C-contiguous, aligned, writeable, sharing no memory with
        the arenas and holding the slots x stride elements the groups' updates address."""
        cdef int64_t n_groups = 0, slots = 0
        state, groups = plan
        _plan_groups(groups, self.n_params, &self.groups, &self.n_groups_cap, &n_groups, &slots)
        cdef cnp.ndarray st = None
        cdef int64_t stride = _state_stride(self.n_params)
        if isinstance(state, cnp.ndarray):
            st = <cnp.ndarray>state
        # the common case checked with C macros only; anything else gets the full check and its message
        if (st is None or cnp.PyArray_TYPE(st) != cnp.PyArray_TYPE(<cnp.ndarray>self.params)
                or cnp.PyArray_NDIM(st) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(st)
                or not cnp.PyArray_ISALIGNED(st) or not cnp.PyArray_ISWRITEABLE(st)
                or cnp.PyArray_DIM(st, 0) < slots * stride):
            st = _check_state(state, self.params, slots)
        elif overlap(st, self.params):
            raise ValueError("state and params must not share memory")
        if st is not None and overlap(st, self.grads):
            raise ValueError("state and grads must not share memory")
        opt.groups = self.groups
        opt.n_groups = n_groups
        opt.state = cnp.PyArray_DATA(st) if st is not None and cnp.PyArray_SIZE(st) > 0 else NULL
        opt.state_stride = stride
        return 0

    def gradient_by_layer(self, x, indices, Py_ssize_t start, Py_ssize_t n, LossSpec loss, target,
                          sample_weight, class_weight, on_layer):
        """The gradient of the mean loss over a dense batch into the gradient arena, as `step`
        computes it without an update, with the backward pass run one layer at a time from the
        last: ``on_layer(l)`` is called (GIL held) as soon as layer l's dW and db are final, so
        the caller can start reducing them while earlier layers' backward runs. Arguments are
        those of `step`. Returns (loss, status): status 1 (non-finite loss) skips the backward
        pass and every ``on_layer`` call."""
        if isinstance(x, CSRMatrix):
            raise TypeError("gradient_by_layer() takes dense input; sparse input trains through step")
        cdef cnp.ndarray xa = self._check_dense(x)
        cdef fg_loss_spec spec
        cdef int64_t isz = 4 if self.f32 else 8
        cdef int64_t n_in = self.n_in, n_out = self.n_out
        cdef char *xin
        cdef char *params = <char *>self.m.params
        cdef char *grads = <char *>self.m.grads
        cdef void *cur
        cdef void *nxt
        cdef const void *lin
        cdef const fg_model_layer *L
        cdef Py_ssize_t l
        cdef double value
        fill_loss_spec(&spec, loss, target, sample_weight, class_weight, FG_REDUCE_MEAN)
        if indices is None and (start < 0 or n < 0 or start + n > xa.shape[0]):
            raise ValueError(f"rows [{start}, {start + n}) are outside the {xa.shape[0]} rows of x")
        self._enter()
        try:
            if indices is not None:
                n = len(indices)
            self.reserve(n)
            if indices is None:
                xin = <char *>cnp.PyArray_DATA(xa) + start * n_in * isz
                if spec.labels != NULL:
                    spec.labels = spec.labels + start
                if spec.target != NULL:
                    spec.target = <const char *>spec.target + start * n_out * isz
                if spec.sample_weight != NULL:
                    spec.sample_weight = <const char *>spec.sample_weight + start * isz
            else:  # gather the batch's rows into the engine's buffers, as step does in C
                np.take(xa, indices, axis=0, out=self.xbuf[:n * n_in].reshape(n, n_in))
                xin = <char *>cnp.PyArray_DATA(self.xbuf)
                if spec.labels != NULL:
                    np.take(target[1], indices, out=self.lbuf[:n])
                    spec.labels = <const int64_t *>cnp.PyArray_DATA(self.lbuf)
                if spec.target != NULL:
                    np.take(target[1], indices, axis=0, out=self.ybuf[:n * n_out].reshape(n, n_out))
                    spec.target = cnp.PyArray_DATA(self.ybuf)
                if spec.sample_weight != NULL:
                    np.take(sample_weight, indices, out=self.wbuf[:n])
                    spec.sample_weight = cnp.PyArray_DATA(self.wbuf)
            cur = self.m.gbuf0
            with nogil:
                if self.f32:
                    fg_model_forward_f32(&self.m, <const float *>xin, n)
                    value = fg_loss_f32(<float *>cur, <const float *>self.m.acts[self.m.n_layers - 1], n, n_out, &spec)
                else:
                    fg_model_forward_f64(&self.m, <const double *>xin, n)
                    value = fg_loss_f64(<double *>cur, <const double *>self.m.acts[self.m.n_layers - 1], n, n_out,
                                        &spec)
            if not math.isfinite(value):
                return value, 1
            for l in range(self.m.n_layers - 1, -1, -1):
                L = &self.layers[l]
                lin = self.m.acts[l - 1] if l > 0 else <const void *>xin
                # the next layer's output gradient goes to whichever ping-pong buffer cur is not
                nxt = NULL if l == 0 else (self.m.gbuf1 if cur == self.m.gbuf0 else self.m.gbuf0)
                with nogil:
                    if self.f32:
                        fg_dense_backward_f32(<float *>nxt, <float *>(grads + L.w_off * isz),
                                              <float *>(grads + L.b_off * isz), <float *>cur, <const float *>lin,
                                              <const float *>(params + L.w_off * isz),
                                              <const float *>self._saved(l), n, L.in_, L.out, L.act, L.act_alpha,
                                              0.0, self.m.workspace, self.m.workspace_bytes)
                    else:
                        fg_dense_backward_f64(<double *>nxt, <double *>(grads + L.w_off * isz),
                                              <double *>(grads + L.b_off * isz), <double *>cur,
                                              <const double *>lin, <const double *>(params + L.w_off * isz),
                                              <const double *>self._saved(l), n, L.in_, L.out, L.act, L.act_alpha,
                                              0.0, self.m.workspace, self.m.workspace_bytes)
                cur = nxt
                on_layer(l)
        finally:
            self._exit()
        return value, 0


def loss_sum(LossSpec loss, pred, target, sample_weight, class_weight):
    """Σ_i s_i·l_i (the numerator of the mean loss) of pred (n, c) against prepared targets;
    class_weight is the loss's class weights in pred's dtype or None."""
    cdef fg_loss_spec spec
    cdef cnp.ndarray p = check_float_array("pred", pred if isinstance(pred, np.ndarray) and pred.flags.c_contiguous
                                           else np.ascontiguousarray(pred), 2)
    fill_loss_spec(&spec, loss, target, sample_weight, class_weight, FG_REDUCE_SUM)
    cdef int64_t n = p.shape[0], c = p.shape[1]
    cdef double r
    if p.dtype == np.float32:
        with nogil:
            r = fg_loss_f32(NULL, <const float *>cnp.PyArray_DATA(p), n, c, &spec)
    else:
        with nogil:
            r = fg_loss_f64(NULL, <const double *>cnp.PyArray_DATA(p), n, c, &spec)
    return r
