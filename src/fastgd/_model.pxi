# Whole-model bindings: the buffers of a Sequential model and its fused
# forward / backward / training step. fastgd.model.Sequential owns one
# _MLPEngine; users never see it.

from libc.stdlib cimport malloc, free
from libc.string cimport memset


cdef int64_t _aligned_offset(object buf, int64_t align):
    cdef size_t addr = <size_t>cnp.PyArray_DATA(buf)
    return <int64_t>((align - <int64_t>(addr % align)) % align)


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


cdef class _MLPEngine:
    """The C view of a Sequential model: layer table, arenas and scratch buffers.

    Buffers grow (geometrically) when a larger batch arrives and are reused
    otherwise; the workspace is re-sized when the thread count grows. A model
    is not meant to be used from two threads at once: a second concurrent call
    raises RuntimeError instead of racing on the shared buffers."""

    cdef fg_mlp m
    cdef fg_mlp_layer *layers
    cdef void **act_ptrs
    cdef readonly object dtype
    cdef bint f32
    cdef object params, grads
    cdef list acts
    cdef object gbuf0, gbuf1, xbuf, ybuf, lbuf, wbuf, workspace
    cdef readonly int64_t n_in, n_out, n_params, max_width, rows_cap
    cdef int ws_threads
    cdef bint busy
    cdef fg_optim_group *groups
    cdef int64_t n_groups_cap

    def __cinit__(self):
        self.layers = NULL
        self.act_ptrs = NULL
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
        self.layers = <fg_mlp_layer *>malloc(L * sizeof(fg_mlp_layer))
        self.act_ptrs = <void **>malloc(L * sizeof(void *))
        if self.layers == NULL or self.act_ptrs == NULL:
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
        self.n_in = self.layers[0].in_
        self.n_out = self.layers[L - 1].out
        self.n_params = self.params.shape[0]
        if self.layers[L - 1].b_off + self.n_out != self.n_params:
            raise ValueError("the last layer's bias must end the parameter arena")
        memset(&self.m, 0, sizeof(fg_mlp))
        self.m.n_layers = L
        self.m.layers = self.layers
        self.m.params = cnp.PyArray_DATA(self.params)
        self.m.grads = cnp.PyArray_DATA(self.grads)
        self.m.acts = self.act_ptrs
        self.rows_cap = 0
        self.ws_threads = 0
        self.acts = []
        self.busy = False

    def __dealloc__(self):
        free(self.layers)
        free(self.act_ptrs)
        free(self.groups)

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
            self.acts = [np.empty((cap, self.layers[i].out), dtype=self.dtype) for i in range(self.m.n_layers)]
            for i in range(self.m.n_layers):
                self.act_ptrs[i] = cnp.PyArray_DATA(self.acts[i])
            self.gbuf0 = np.empty(cap * self.max_width, dtype=self.dtype)
            self.gbuf1 = np.empty(cap * self.max_width, dtype=self.dtype)
            self.xbuf = np.empty(cap * self.n_in, dtype=self.dtype)
            self.ybuf = np.empty(cap * self.n_out, dtype=self.dtype)
            self.lbuf = np.empty(cap, dtype=np.int64)
            self.wbuf = np.empty(cap, dtype=self.dtype)
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
            self.workspace = np.empty(nbytes + 64, dtype=np.uint8)
            self.m.workspace = <void *>(<char *>cnp.PyArray_DATA(self.workspace)
                                        + _aligned_offset(self.workspace, 64))
            self.m.workspace_bytes = nbytes
            self.ws_threads = threads
        return 0

    cdef int _enter(self) except -1:
        if self.busy:
            raise RuntimeError("this model is already running a step in another thread; "
                               "fastgd models are not thread-safe, use one model per thread")
        self.busy = True
        return 0

    def output(self, Py_ssize_t n):
        """A view of the last forward pass's output rows [0, n)."""
        return self.acts[self.m.n_layers - 1][:n]

    def layer_output(self, Py_ssize_t i, Py_ssize_t n):
        return self.acts[i][:n]

    def forward(self, x):
        """Forward x (n, in), already checked by the caller (dtype, C order, finite), or a
        CSRMatrix of the model's dtype."""
        if isinstance(x, CSRMatrix):
            return self._forward_csr(<CSRMatrix>x)
        cdef cnp.ndarray xa = <cnp.ndarray>x
        cdef int64_t n = xa.shape[0]
        self._enter()
        try:
            self.reserve(n)
            if self.f32:
                with nogil:
                    fg_mlp_forward_f32(&self.m, <const float *>cnp.PyArray_DATA(xa), n)
            else:
                with nogil:
                    fg_mlp_forward_f64(&self.m, <const double *>cnp.PyArray_DATA(xa), n)
        finally:
            self.busy = False
        return self.acts[self.m.n_layers - 1][:n]

    cdef _check_csr(self, CSRMatrix x):
        if x.n_cols != self.n_in or x.data.dtype != self.dtype:
            raise ValueError(f"x must be a CSRMatrix of {self.dtype} with {self.n_in} columns, got {x!r}")

    def _forward_csr(self, CSRMatrix x):
        self._check_csr(x)
        cdef int64_t n = x.n_rows
        self._enter()
        try:
            self.reserve(n)
            if self.f32:
                with nogil:
                    fg_mlp_forward_csr_f32(&self.m, &x.c, n)
            else:
                with nogil:
                    fg_mlp_forward_csr_f64(&self.m, &x.c, n)
        finally:
            self.busy = False
        return self.acts[self.m.n_layers - 1][:n]

    def backward(self, x, grad_out, bint want_grad_x, double beta=0.0):
        """Backward after forward(x): grads := beta*grads + dL/dparams; returns dL/dx or None.
        grad_out (n, out) is copied (the kernel uses it as scratch)."""
        cdef cnp.ndarray xa = <cnp.ndarray>x
        if isinstance(x, CSRMatrix):
            raise TypeError("backward() of a model takes dense input; sparse input trains through fit/step")
        cdef int64_t n = xa.shape[0]
        if n > self.rows_cap:
            raise RuntimeError("backward() needs a forward() on the same batch first")
        cdef cnp.ndarray g = np.array(grad_out, dtype=self.dtype, order="C", copy=True)
        cdef cnp.ndarray gx = None
        cdef void *gx_ptr = NULL
        if want_grad_x:
            gx = np.empty((n, self.n_in), dtype=self.dtype)
            gx_ptr = cnp.PyArray_DATA(gx)
        self._enter()
        try:
            if self.f32:
                with nogil:
                    fg_mlp_backward_f32(&self.m, <const float *>cnp.PyArray_DATA(xa),
                                        <float *>cnp.PyArray_DATA(g), <float *>gx_ptr, n, beta)
            else:
                with nogil:
                    fg_mlp_backward_f64(&self.m, <const double *>cnp.PyArray_DATA(xa),
                                        <double *>cnp.PyArray_DATA(g), <double *>gx_ptr, n, beta)
        finally:
            self.busy = False
        return gx

    def step(self, x, indices, Py_ssize_t start, Py_ssize_t n, loss, target, sample_weight,
             optimizer, double clip_norm=0.0, double clip_value=0.0, bint apply_update=True):
        """One fused training step on rows `indices` (int64, C-contiguous) of x, or on rows
        [start, start+n) when indices is None. x, target (labels int64 or rows), sample_weight
        are the full arrays, already validated (target is loss.prepare_target's (kind, array)).
        Returns (loss, grad_norm, status)."""
        cdef fg_batch batch
        cdef fg_loss_spec spec
        cdef fg_step_options opt
        cdef fg_step_result res
        cdef cnp.ndarray xa
        cdef CSRMatrix xs = None
        cdef cnp.ndarray ta = <cnp.ndarray>target[1]
        cdef cnp.ndarray idx
        cdef Py_ssize_t g, n_groups = 0
        cdef object state = None
        cw = loss._class_weight_array(self.dtype)
        fill_loss_spec(&spec, loss, target, sample_weight, cw, FG_REDUCE_MEAN)
        memset(&batch, 0, sizeof(fg_batch))
        if isinstance(x, CSRMatrix):
            xs = <CSRMatrix>x
            self._check_csr(xs)
            if indices is None and (start < 0 or start + n > xs.n_rows):
                raise ValueError(f"rows [{start}, {start + n}) are outside the {xs.n_rows} rows of x")
            batch.x_csr = &xs.c
        else:
            xa = <cnp.ndarray>x
            batch.x = cnp.PyArray_DATA(xa)
        if target[0] == "labels":
            batch.labels = <const int64_t *>cnp.PyArray_DATA(ta)
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
        memset(&opt, 0, sizeof(fg_step_options))
        opt.clip_norm = clip_norm
        opt.clip_value = clip_value
        opt.want_grad_norm = 1
        opt.apply_update = apply_update
        if apply_update:
            state, groups = optimizer._c_groups(self.n_params, self.dtype)
            n_groups = len(groups)
            if n_groups > self.n_groups_cap:
                free(self.groups)
                self.groups = <fg_optim_group *>malloc(n_groups * sizeof(fg_optim_group))
                if self.groups == NULL:
                    self.n_groups_cap = 0
                    raise MemoryError()
                self.n_groups_cap = n_groups
            for g in range(n_groups):
                gstart, gstop, cfg = groups[g]
                self.groups[g].start = gstart
                self.groups[g].stop = gstop
                self.groups[g].cfg = cfg
            opt.groups = self.groups
            opt.n_groups = n_groups
            if state is not None and (<cnp.ndarray>state).size > 0:
                opt.state = cnp.PyArray_DATA(<cnp.ndarray>state)
            opt.state_stride = _state_stride(self.n_params)
        self._enter()
        try:
            self.reserve(n)
            if self.f32:
                with nogil:
                    fg_mlp_train_step_f32(&self.m, &batch, &spec, &opt, &res)
            else:
                with nogil:
                    fg_mlp_train_step_f64(&self.m, &batch, &spec, &opt, &res)
        finally:
            self.busy = False
        if apply_update and res.status == FG_STEP_OK:
            optimizer._c_advance()
        return res.loss, res.grad_norm, res.status


def loss_sum(loss, pred, target, sample_weight):
    """Σ_i s_i·l_i (the numerator of the mean loss) of pred (n, c) against prepared targets."""
    cdef fg_loss_spec spec
    cdef cnp.ndarray p = check_float_array("pred", pred if isinstance(pred, np.ndarray) and pred.flags.c_contiguous
                                           else np.ascontiguousarray(pred), 2)
    cw = loss._class_weight_array(p.dtype)
    fill_loss_spec(&spec, loss, target, sample_weight, cw, FG_REDUCE_SUM)
    cdef int64_t n = p.shape[0], c = p.shape[1]
    cdef double r
    if p.dtype == np.float32:
        with nogil:
            r = fg_loss_f32(NULL, <const float *>cnp.PyArray_DATA(p), n, c, &spec)
    else:
        with nogil:
            r = fg_loss_f64(NULL, <const double *>cnp.PyArray_DATA(p), n, c, &spec)
    return r
