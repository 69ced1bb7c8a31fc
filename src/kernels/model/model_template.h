/* Included by model.c once per element type T with name suffix SFX. */

#define MODEL_FN(name) FG_FN(FG_CAT2(name, SFX))
/* 2^MODEL_MAX_EXP is T's overflow threshold (FLT_MAX_EXP, DBL_MAX_EXP) */
#define MODEL_MAX_EXP (sizeof(T) == 4 ? 128 : 1024)

/* Copy rows `idx[0:n)` of src (N, width) into dst (n, width). */
static void FG_CAT2(model_gather_rows, SFX)(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t width,
                                          const int64_t *idx, int64_t n)
{
    if (width == 1) {
        for (int64_t i = 0; i < n; i++) dst[i] = src[idx[i]];
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(dst + i * width, src + idx[i] * width, (size_t)width * sizeof(T));
}

/* Layer l's outputs from row r on (fg_model.acts). */
FG_INLINE T *FG_CAT2(model_act, SFX)(const fg_model *m, int64_t l, int64_t r)
{
    return (T *)m->acts[l] + r * m->layers[l].out;
}

/* Layer l's kept pre-activations from row r on, or NULL (fg_model.pres). */
FG_INLINE T *FG_CAT2(model_pre, SFX)(const fg_model *m, int64_t l, int64_t r)
{
    return m->pres && m->pres[l] ? (T *)m->pres[l] + r * m->layers[l].out : NULL;
}

/* What layer l's backward pass reads for act' from row r on: its pre-activations when kept, else
   its outputs. */
FG_INLINE const T *FG_CAT2(model_saved, SFX)(const fg_model *m, int64_t l, int64_t r)
{
    T *pre = FG_CAT2(model_pre, SFX)(m, l, r);
    return pre ? pre : FG_CAT2(model_act, SFX)(m, l, r);
}

/* Whether `bound` still holds once a layer's dW and db operands are known: its input (n_in
 * entries) and its grad_z (n_gz entries) below their limits (see model_bound). */
FG_INLINE void FG_CAT2(model_bound_note, SFX)(model_bound *bound, const T *in, int64_t n_in, const T *gz,
                                              int64_t n_gz)
{
    if (bound->held)
        bound->held = MODEL_FN(fg_count_large)(in, n_in, bound->in_exp) == 0 &&
                      MODEL_FN(fg_count_large)(gz, n_gz, bound->grad_exp) == 0;
}

/* Layers [first, n_layers) of the forward pass of n rows into the buffers' rows [r, r + n), layer
 * `first` reading `in` (or its packed form in_packed, when not NULL: see fg_batch.x_packed). */
static void FG_CAT2(model_forward_from, SFX)(const fg_model *m, int64_t first, const T *in, const T *in_packed,
                                           int64_t n, int64_t r)
{
    const T *params = (const T *)m->params;
    for (int64_t l = first; l < m->n_layers; l++) {
        const fg_model_layer *L = &m->layers[l];
        T *out = FG_CAT2(model_act, SFX)(m, l, r);
        MODEL_FN(fg_dense_forward_prepacked)(out, FG_CAT2(model_pre, SFX)(m, l, r), in, l == first ? in_packed : NULL,
                                           params + L->w_off, params + L->b_off, n, L->in, L->out, L->act,
                                           L->act_alpha, m->workspace, m->workspace_bytes);
        in = out;
    }
}

/* The forward pass on rows r_i (rows[i], or start + i when rows is NULL) of the CSR x. */
static void FG_CAT2(model_forward_csr_rows, SFX)(const fg_model *m, const fg_csr *x, const int64_t *rows,
                                               int64_t start, int64_t n)
{
    const fg_model_layer *L = &m->layers[0];
    const T *params = (const T *)m->params;
    T *pre = FG_CAT2(model_pre, SFX)(m, 0, 0);
    MODEL_FN(fg_csr_dense_forward)(pre ? pre : (T *)m->acts[0], x, rows, start, n, params + L->w_off,
                                 params + L->b_off, L->out, pre ? FG_ACT_IDENTITY : L->act, L->act_alpha);
    if (pre) FG_CAT2(fg_act_rows_parallel, SFX)((T *)m->acts[0], pre, n * L->out, L->act, (T)L->act_alpha);
    FG_CAT2(model_forward_from, SFX)(m, 1, (const T *)m->acts[0], NULL, n, 0);
}

void MODEL_FN(fg_model_forward)(const fg_model *m, const T *x, int64_t n)
{
    FG_CAT2(model_forward_from, SFX)(m, 0, x, NULL, n, 0);
}

void MODEL_FN(fg_model_forward_csr)(const fg_model *m, const fg_csr *x, int64_t n)
{
    FG_CAT2(model_forward_csr_rows, SFX)(m, x, NULL, 0, n);
}

/* The backward pass; the first layer reads the CSR rows of `csr` (as in model_forward_csr_rows)
 * when that is not NULL, else x (or xt_packed, its packed transpose: see fg_batch.xt_packed).
 * With `bound` (a model_bound, dense x, beta 0), bound->held tells whether every operand of
 * every layer's dW and db product stayed below its limit (see model_bound). Layers [stop,
 * n_layers) only; returns the buffer then holding dL/d(output of layer stop - 1). The n rows are
 * rows [r, r + n) of the layers' outputs (dense x, beta 0, no bound when r > 0); resume: the
 * gradient holds the rows before them, whose sums these go on (fg_dense_backward_prepacked_*). */
static T *FG_CAT2(model_backward_any, SFX)(const fg_model *m, const T *x, const T *xt_packed, const fg_csr *csr,
                                           const int64_t *rows, int64_t start, T *grad_out, T *grad_x, int64_t n,
                                           double beta, model_bound *bound, int64_t stop, int64_t r, int resume)
{
    const T *params = (const T *)m->params;
    T *grads = (T *)m->grads;
    T *cur = grad_out;
    int cur_is_grad_z = 0; /* cur holds grad_z already, and db is done: the layer above's input pass */
    for (int64_t l = m->n_layers - 1; l >= stop; l--) {
        const fg_model_layer *L = &m->layers[l];
        if (l == 0 && csr) {
            MODEL_FN(fg_csr_dense_backward)(grads + L->w_off, grads + L->b_off, cur, csr, rows, start,
                                          FG_CAT2(model_saved, SFX)(m, 0, 0), n, L->out, L->act, L->act_alpha, beta);
            break;
        }
        const T *in = l > 0 ? FG_CAT2(model_act, SFX)(m, l - 1, r) : x;
        /* the next gradient goes to whichever ping-pong buffer `cur` is not */
        T *next = l > 0 ? (cur == (T *)m->gbuf0 ? (T *)m->gbuf1 : (T *)m->gbuf0) : grad_x;
        /* the layer below's act' and db from each block of next while it is in cache, when they are
           the plain ones (beta 0, dense, inside [stop, n_layers)) */
        const int input_pass = l > stop && beta == 0.0 && !(l == 1 && csr);
        MODEL_FN(fg_dense_backward_prepacked)(input_pass ? NULL : next, grads + L->w_off,
                                            cur_is_grad_z ? NULL : grads + L->b_off, cur, in,
                                            l == 0 ? xt_packed : NULL, params + L->w_off,
                                            FG_CAT2(model_saved, SFX)(m, l, r), n, L->in, L->out,
                                            cur_is_grad_z ? FG_ACT_IDENTITY : L->act, L->act_alpha, beta, resume,
                                            m->workspace, m->workspace_bytes);
        /* cur now holds this layer's grad_z, the right operand of its dW and db products */
        if (bound) FG_CAT2(model_bound_note, SFX)(bound, in, n * L->in, cur, n * L->out);
        if (input_pass) {
            const fg_model_layer *below = &m->layers[l - 1];
            MODEL_FN(fg_dense_backward_input)(next, grads + below->b_off, cur, params + L->w_off,
                                            FG_CAT2(model_saved, SFX)(m, l - 1, r), n, L->in, L->out, below->act,
                                            below->act_alpha, resume, m->workspace, m->workspace_bytes);
        }
        cur_is_grad_z = input_pass;
        cur = next;
    }
    return cur;
}

void MODEL_FN(fg_model_backward)(const fg_model *m, const T *x, T *grad_out, T *grad_x, int64_t n, double beta)
{
    FG_CAT2(model_backward_any, SFX)(m, x, NULL, NULL, NULL, 0, grad_out, grad_x, n, beta, NULL, 0, 0, 0);
}

/* The optimizer update of arena elements [lo, hi): the part of every group within them. */
static void FG_CAT2(model_update_range, SFX)(const fg_model *m, const fg_step_options *opt, int64_t lo, int64_t hi)
{
    T *params = (T *)m->params, *grads = (T *)m->grads, *state = (T *)opt->state;
    for (int64_t g = 0; g < opt->n_groups; g++) {
        const fg_optim_group *G = &opt->groups[g];
        const int64_t a = fg_max_i64(G->start, lo), b = fg_min_i64(G->stop, hi);
        if (a < b)
            MODEL_FN(fg_optim_step)(params + a, grads + a, state ? state + a : NULL, opt->state_stride, b - a,
                                  &G->cfg);
    }
}

/* Layer 0's part of a backward pass checked by model_bound, after model_backward_any(stop = 1)
   left dL/d(layer 0's output) in gin: grad_z and db, then dW. When the bound still holds with
   layer 0's operands, every gradient entry is known finite before any is read, so each block of
   MODEL_UPDATE_BLOCK_BYTES of dW gets its optimizer update right after its product, while it
   is in cache (not after the whole arena's backward pass, past the L2 cache at 784-256-128-10),
   and then the rest of the arena; returns 1. Else computes dW whole, updates nothing and
   returns 0. The blocks are rows of dW, each element the same sum as in the whole product, and
   the update of an element depends on that element alone (the caller leaves out noisy SGD,
   whose noise is drawn by the index within a group), so parameters, gradient and state are
   bit for bit those of the backward pass followed by the update. */
static int FG_CAT2(model_first_layer_update, SFX)(const fg_model *m, const T *x, T *gin, int64_t n,
                                                 int64_t n_params, model_bound *bound, const fg_step_options *opt)
{
    const fg_model_layer *L = &m->layers[0];
    T *grads = (T *)m->grads;
    /* grad_z (in place in gin) and db; dW's product over k = 0 rows of x is empty */
    MODEL_FN(fg_dense_backward_prepacked)(NULL, grads + L->w_off, grads + L->b_off, gin, x, NULL,
                                        (const T *)m->params + L->w_off, FG_CAT2(model_saved, SFX)(m, 0, 0), n, 0,
                                        L->out, L->act, L->act_alpha, 0.0, 0, m->workspace, m->workspace_bytes);
    FG_CAT2(model_bound_note, SFX)(bound, x, n * L->in, gin, n * L->out);
    const int64_t rows =
        bound->held ? fg_max_i64(MODEL_UPDATE_MIN_ROWS, MODEL_UPDATE_BLOCK_BYTES / ((int64_t)sizeof(T) * L->out))
                    : L->in;
    for (int64_t r0 = 0; r0 < L->in; r0 += rows) {
        const int64_t r1 = fg_min_i64(L->in, r0 + rows);
        /* dW rows [r0, r1) = x[:, r0:r1]ᵀ·grad_z */
        MODEL_FN(fg_gemm_prepacked)(grads + L->w_off + r0 * L->out, L->out, x + r0, L->in, 1, NULL, gin, L->out, 0,
                                  r1 - r0, L->out, n, 0.0, NULL, FG_ACT_IDENTITY, 0.0, m->workspace,
                                  m->workspace_bytes);
        if (bound->held)
            FG_CAT2(model_update_range, SFX)(m, opt, L->w_off + r0 * L->out, L->w_off + r1 * L->out);
    }
    if (!bound->held) return 0;
    FG_CAT2(model_update_range, SFX)(m, opt, 0, L->w_off);
    FG_CAT2(model_update_range, SFX)(m, opt, L->w_off + L->in * L->out, n_params);
    return 1;
}

/* ‖g‖₂ of g[0:n); *finite tells whether every entry is finite (else the norm is inf or NaN).
   Finite entries whose squares overflow (float64 past 2^511) are summed again scaled by a power
   of two, one thread in index order: their norm is finite unless it lies past the type's range. */
static double FG_CAT2(model_grad_norm, SFX)(const T *g, int64_t n, int *finite)
{
    const double ss = MODEL_FN(fg_sum_squares)(g, n);
    *finite = 1;
    if (isfinite(ss)) return sqrt(ss);
    if (MODEL_FN(fg_count_nonfinite)(g, n) != 0) {
        *finite = 0;
        return sqrt(ss);
    }
    T largest = 0;
    for (int64_t i = 0; i < n; i++) {
        /* a select, not fmax of doubles, whose vectorized reduction GCC 12 for aarch64 cannot compile */
        const T a = FG_MATH(fabs)(g[i]);
        largest = a > largest ? a : largest;
    }
    double sum = 0.0;
    int e;
    frexp((double)largest, &e);
    const double scale = ldexp(1.0, -e);
    for (int64_t i = 0; i < n; i++) {
        const double v = (double)g[i] * scale;
        sum += v * v;
    }
    return ldexp(sqrt(sum), e);
}

/* The gradient's norm into res and the clipping opt asks for; returns 0 (status set) when an
   entry of the gradient is not finite, which leaves it unclipped. */
static int FG_CAT2(model_grad_norm_clip, SFX)(const fg_model *m, const fg_step_options *opt, int64_t n_params,
                                             fg_step_result *res)
{
    T *grads = (T *)m->grads;
    int finite;
    double norm = FG_CAT2(model_grad_norm, SFX)(grads, n_params, &finite);
    res->grad_norm = norm;
    if (!finite) {
        res->status = FG_STEP_NONFINITE_GRAD;
        return 0;
    }
    if (opt->clip_value > 0) {
        MODEL_FN(fg_clip_value)(grads, n_params, opt->clip_value);
        if (opt->clip_norm > 0) norm = FG_CAT2(model_grad_norm, SFX)(grads, n_params, &finite);
    }
    if (opt->clip_norm > 0) {
        /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1 */
        const double coef = opt->clip_norm / (norm + 1e-6);
        if (coef < 1.0) MODEL_FN(fg_scale)(grads, n_params, coef);
    }
    return 1;
}

/* Rows of a block of the row-blocked step (fg_model_train_step): the GEMM's k step for n rows. */
static int64_t FG_CAT2(model_k_step, SFX)(int64_t n)
{
    int64_t sizes[5];
    MODEL_FN(fg_gemm_block_sizes)(sizes);
    return fg_gemm_k_step(n, sizes[2]);
}

void MODEL_FN(fg_model_train_step)(const fg_model *m, const fg_batch *batch, const fg_loss_spec *loss,
                               const fg_step_options *opt, fg_step_result *res)
{
    const int64_t n = batch->n;
    const int64_t n_in = m->layers[0].in;
    const int64_t n_out = m->layers[m->n_layers - 1].out;
    const fg_model_layer *last = &m->layers[m->n_layers - 1];
    const int64_t n_params = last->b_off + last->out; /* biases come last in the arena */
    fg_loss_spec spec = *loss;
    const fg_csr *csr = batch->x_csr;
    const T *x = NULL;
    /* the packed input serves a contiguous dense batch only, packed by this very target */
    const int packed = !csr && !batch->indices &&
                       batch->packed_layout == FG_FN(FG_CAT2(fg_gemm_packed_a_layout, SFX))();
    const T *x_packed = packed ? (const T *)batch->x_packed : NULL;
    const T *xt_packed = packed ? (const T *)batch->xt_packed : NULL;

    res->loss = NAN;
    res->grad_norm = NAN;
    res->status = FG_STEP_OK;

    /* 1. the batch: gathered into the model's buffers, or views of a contiguous range */
    if (batch->indices) {
        const int64_t *idx = batch->indices;
        if (!csr) {
            FG_CAT2(model_gather_rows, SFX)((T *)m->xbuf, (const T *)batch->x, n_in, idx, n);
            x = (const T *)m->xbuf;
        }
        spec.labels = NULL;
        spec.target = NULL;
        spec.sample_weight = NULL;
        if (batch->labels) {
            for (int64_t i = 0; i < n; i++) m->lbuf[i] = batch->labels[idx[i]];
            spec.labels = m->lbuf;
        }
        if (batch->target) {
            FG_CAT2(model_gather_rows, SFX)((T *)m->ybuf, (const T *)batch->target, n_out, idx, n);
            spec.target = m->ybuf;
        }
        if (batch->sample_weight) {
            FG_CAT2(model_gather_rows, SFX)((T *)m->wbuf, (const T *)batch->sample_weight, 1, idx, n);
            spec.sample_weight = m->wbuf;
        }
    } else {
        const int64_t s = batch->start;
        if (!csr) x = (const T *)batch->x + s * n_in;
        spec.labels = batch->labels ? batch->labels + s : NULL;
        spec.target = batch->target ? (const void *)((const T *)batch->target + s * n_out) : NULL;
        spec.sample_weight = batch->sample_weight ? (const void *)((const T *)batch->sample_weight + s) : NULL;
    }

    /* 2-4 of a step without update on dense rows spanning several of the GEMM's k blocks (each
          layer's dW = Σ_rows inᵀ·grad_z has k = n): forward, loss and backward one k block of rows
          at a time, while the block's activations and gradients are in cache. Each block's dW
          product is then its GEMM's block step, db's and the loss's sums go on in row order, and
          the gradient is the loss gradient's of all n rows (fg_loss_rows): bit for bit the step
          taken at once (the whole packed xᵀ holds each block's packing; x's is not used). When
          the layers' outputs of all n rows pass the target's FG_MODEL_ROW_BLOCK_MIN_BYTES, or
          as m->row_blocks says. A non-finite loss is known at the last block only: the
          gradient is then the one computed (non-finite entries included), as below. */
    const int64_t kstep = FG_CAT2(model_k_step, SFX)(n);
    int64_t out_bytes = 0; /* the layers' outputs over all n rows */
    for (int64_t l = 0; l < m->n_layers; l++) out_bytes += n * m->layers[l].out * (int64_t)sizeof(T);
    const int blocks = m->row_blocks != 0 ? m->row_blocks > 0
                                          : FG_MODEL_ROW_BLOCK_MIN_BYTES >= 0 && out_bytes >= FG_MODEL_ROW_BLOCK_MIN_BYTES;
    if (blocks && !csr && !opt->apply_update && kstep < n) {
        double partial[FG_LOSS_ROWS_STATE];
        T *gout = (T *)m->gbuf0;
        for (int64_t r0 = 0; r0 < n; r0 += kstep) {
            const int64_t r = fg_min_i64(kstep, n - r0);
            FG_CAT2(model_forward_from, SFX)(m, 0, x + r0 * n_in, NULL, r, r0);
            res->loss = MODEL_FN(fg_loss_rows)(gout, FG_CAT2(model_act, SFX)(m, m->n_layers - 1, r0), n, n_out,
                                             &spec, r0, r0 + r, partial);
            /* xᵀ packed whole holds its k blocks one after the other, each as the block's own
               product packs it: this block's starts after the rows before it */
            const T *xt_block =
                xt_packed ? xt_packed + MODEL_FN(fg_gemm_packed_a_size)(n_in, m->layers[0].out, r0) / (int64_t)sizeof(T)
                          : NULL;
            FG_CAT2(model_backward_any, SFX)(m, x + r0 * n_in, xt_block, NULL, NULL, 0, gout, NULL, r, 0.0, NULL, 0,
                                             r0, r0 > 0);
        }
        if (!isfinite(res->loss)) res->status = FG_STEP_NONFINITE_LOSS;
        else if (opt->want_grad_norm || opt->clip_value > 0 || opt->clip_norm > 0)
            FG_CAT2(model_grad_norm_clip, SFX)(m, opt, n_params, res);
        return;
    }

    /* 2. forward, 3. loss and its gradient with respect to the output */
    if (csr)
        FG_CAT2(model_forward_csr_rows, SFX)(m, csr, batch->indices, batch->start, n);
    else
        FG_CAT2(model_forward_from, SFX)(m, 0, x, x_packed, n, 0);
    T *gout = (T *)m->gbuf0;
    res->loss = MODEL_FN(fg_loss)(gout, (const T *)m->acts[m->n_layers - 1], n, n_out, &spec);
    if (!isfinite(res->loss)) { /* no update; the gradient as the batch gives it, non-finite entries included */
        res->status = FG_STEP_NONFINITE_LOSS;
        FG_CAT2(model_backward_any, SFX)(m, x, xt_packed, csr, batch->indices, batch->start, gout, NULL, n, 0.0,
                                         NULL, 0, 0, 0);
        return;
    }

    /* 4. backward into the gradient arena (overwritten). An update that needs only the check of
          step 5 gets it from the backward pass's operands when they are at most half as many
          entries as the gradient (model_bound). */
    const int clipping = opt->clip_value > 0 || opt->clip_norm > 0;
    const int check_only = opt->apply_update && !opt->want_grad_norm && !clipping;
    const int large_exp = model_sum_squares_safe_exponent(n_params);
    model_bound bound;
    const int bound_exp = large_exp < MODEL_MAX_EXP ? large_exp : MODEL_MAX_EXP;
    const int by_bound = check_only && !csr && model_bound_init(&bound, m, n, n_params, bound_exp);
    /* With the bound, layer 0's dW is updated block by block as it is computed (see
       model_first_layer_update), unless x comes packed whole or a group draws noise. */
    int fused = by_bound && !xt_packed;
    for (int64_t g = 0; g < opt->n_groups; g++) fused = fused && opt->groups[g].cfg.noise_std == 0.0;
    T *gin = FG_CAT2(model_backward_any, SFX)(m, x, xt_packed, csr, batch->indices, batch->start, gout, NULL, n,
                                              0.0, by_bound ? &bound : NULL, fused ? 1 : 0, 0, 0);
    if (fused && FG_CAT2(model_first_layer_update, SFX)(m, x, gin, n, n_params, &bound, opt)) return;

    /* 5. gradient norm (also the finiteness check), clipping. An update without them needs to know
          only that Σg² is finite: count_large's pass over the bits tells that at a fraction of the
          summation's cost, and the bound of step 4, when it held, without reading the gradient.
          When count_large finds a large entry, the sum decides as before. */
    if (!opt->want_grad_norm && !clipping && !opt->apply_update) return;
    if (opt->want_grad_norm || clipping ||
        (!(by_bound && bound.held) && MODEL_FN(fg_count_large)((const T *)m->grads, n_params, large_exp) != 0))
        if (!FG_CAT2(model_grad_norm_clip, SFX)(m, opt, n_params, res)) return;
    if (!opt->apply_update) return;

    /* 6. the optimizer update, group by group, over the flat arenas */
    FG_CAT2(model_update_range, SFX)(m, opt, 0, n_params);
}

#undef MODEL_FN
#undef MODEL_MAX_EXP
