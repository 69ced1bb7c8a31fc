/* Included by test_kernels.c once per element type T (name suffix SFX) through
 * fg_each_type.h: the checks of every dispatched kernel of that type. */

#define TN(name) FG_CAT2(name, SFX)
#define K(name) FG_CAT2(fg_##name, SFX)
#define EPS ((double)(sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON))
#define TINY ((double)(sizeof(T) == 4 ? FLT_MIN : DBL_MIN))
#define TYPE_NAME (sizeof(T) == 4 ? "f32" : "f64")

static T *TN(random_array)(int64_t n, double scale)
{
    T *x = (T *)xmalloc((size_t)n * sizeof(T));
    for (int64_t i = 0; i < n; i++) x[i] = (T)(scale * normal01());
    return x;
}

static T *TN(copy_array)(const T *src, int64_t n)
{
    T *x = (T *)xmalloc((size_t)n * sizeof(T));
    if (n) memcpy(x, src, (size_t)n * sizeof(T));
    return x;
}

static T *TN(abs_array)(const T *src, int64_t n)
{
    T *x = (T *)xmalloc((size_t)n * sizeof(T));
    for (int64_t i = 0; i < n; i++) x[i] = (T)fabs((double)src[i]);
    return x;
}

/* max |x[i]| and `floor`. (A plain loop: GCC 12 for aarch64 crashes
 * vectorizing an fmax reduction of converted floats.) */
static double TN(max_abs)(const T *x, int64_t n, double floor)
{
    double m = floor;
    for (int64_t i = 0; i < n; i++) {
        const double v = fabs((double)x[i]);
        if (v > m) m = v;
    }
    return m;
}

static void TN(fill)(T *x, int64_t n, double v)
{
    for (int64_t i = 0; i < n; i++) x[i] = (T)v;
}

/* got vs want elementwise; mag (or NULL) the magnitude sum of each element's
 * terms and `terms` their count; reports the worst element. */
static void TN(check_array)(const char *what, const T *got, const T *want, const T *mag, int64_t n, int64_t terms)
{
    checks++;
    int64_t worst = -1;
    double worst_excess = -1.0, worst_tol = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double w = (double)want[i];
        const double tol = 2.0 * (mag ? 2.0 * EPS * (double)(terms + 4) * (double)mag[i] : 0.0) +
                           16.0 * EPS * fabs(w) + TINY;
        if (close_enough((double)got[i], w, tol)) continue;
        const double excess = isnan((double)got[i]) ? INFINITY : fabs((double)got[i] - w) - tol;
        if (excess > worst_excess || worst < 0) {
            worst = i;
            worst_excess = excess;
            worst_tol = tol;
        }
    }
    if (worst >= 0) report(what, worst, (double)got[worst], (double)want[worst], worst_tol);
}

/* Bit-for-bit equality (NaN equal to NaN). */
static void TN(check_exact)(const char *what, const T *got, const T *want, int64_t n)
{
    checks++;
    for (int64_t i = 0; i < n; i++)
        if (!(got[i] == want[i] || (isnan((double)got[i]) && isnan((double)want[i])))) {
            report(what, i, (double)got[i], (double)want[i], 0.0);
            return;
        }
}

/* ---- GEMM ------------------------------------------------------------------ */

static const double TN(ALPHA) = 0.1;

/* One GEMM against fg_gemm_ref: C := act(beta*C + op(A)·op(B) + bias); beta 0
 * prefills C with NaN. use_workspace 0 forces the unpacked fallback. */
static void TN(gemm_case)(int64_t m, int64_t n, int64_t k, int ta, int tb, double beta, int act, int use_bias,
                          int use_workspace)
{
    char what[200];
    snprintf(what, sizeof what, "gemm_%s m=%lld n=%lld k=%lld trans_a=%d trans_b=%d beta=%g act=%d bias=%d ws=%d",
             TYPE_NAME, (long long)m, (long long)n, (long long)k, ta, tb, beta, act, use_bias, use_workspace);
    const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    const int64_t a_len = (ta ? k : m) * lda, b_len = (tb ? n : k) * ldb, c_len = m * ldc;
    T *A = TN(random_array)(a_len, 1.0), *B = TN(random_array)(b_len, 1.0);
    T *bias = use_bias ? TN(random_array)(n, 1.0) : NULL;
    T *C = beta == 0 ? (T *)xmalloc((size_t)c_len * sizeof(T)) : TN(random_array)(c_len, 1.0);
    if (beta == 0) TN(fill)(C, c_len, NAN);
    T *R = TN(copy_array)(C, c_len);
    /* magnitudes: the reference on absolute values, identity activation */
    T *absA = TN(abs_array)(A, a_len), *absB = TN(abs_array)(B, b_len), *M = TN(abs_array)(C, c_len);
    T *absbias = bias ? TN(abs_array)(bias, n) : NULL;
    if (beta == 0) TN(fill)(M, c_len, 0);
    K(gemm_ref)(M, ldc, absA, lda, ta, absB, ldb, tb, m, n, k, fabs(beta), absbias, FG_ACT_IDENTITY, 0);

    const int64_t ws_bytes = use_workspace ? K(gemm_workspace_size)(m, n, k, ta, tb, fg_get_num_threads()) : 0;
    void *ws = ws_bytes ? xmalloc((size_t)ws_bytes) : NULL;
    T *P = TN(copy_array)(C, c_len);
    K(gemm)(C, ldc, A, lda, ta, B, ldb, tb, m, n, k, beta, bias, act, TN(ALPHA), ws, ws_bytes);
    K(gemm_ref)(R, ldc, A, lda, ta, B, ldb, tb, m, n, k, beta, bias, act, TN(ALPHA));
    /* columns n..ldc of each row must be untouched: compare whole rows */
    TN(check_array)(what, C, R, M, c_len, k);
    /* the same product reading op(A) packed whole beforehand: bit for bit fg_gemm's */
    const int64_t packed_bytes = K(gemm_packed_a_size)(m, n, k);
    T *packed = packed_bytes ? (T *)xmalloc((size_t)packed_bytes) : NULL;
    const int64_t layout = K(gemm_pack_a_whole)(packed, packed_bytes, A, lda, ta, m, n, k);
    check_scalar(what, layout != 0, packed_bytes != 0, 0.0); /* a token exactly when it packed */
    if (packed_bytes) /* too small a buffer: refused, nothing written */
        check_scalar(what, (double)K(gemm_pack_a_whole)(packed, packed_bytes - 1, A, lda, ta, m, n, k), 0.0, 0.0);
    K(gemm_prepacked)(P, ldc, A, lda, ta, packed, B, ldb, tb, m, n, k, beta, bias, act, TN(ALPHA), ws, ws_bytes);
    strncat(what, " prepacked", sizeof what - strlen(what) - 1);
    TN(check_exact)(what, P, C, c_len);
    free(A), free(B), free(bias), free(C), free(R), free(absA), free(absB), free(M), free(absbias), free(ws);
    free(P), free(packed);
}

static void TN(test_gemm)(void)
{
    int64_t sizes[5], edge_m[6], edge_n[6];
    K(gemm_block_sizes)(sizes);
    char what[120];
    snprintf(what, sizeof what, "gemm_block_sizes_%s: MR, NR, KC >= 1, MC >= MR, NC >= NR", TYPE_NAME);
    check_scalar(what, sizes[0] >= 1 && sizes[1] >= 1 && sizes[2] >= 1 && sizes[3] >= sizes[0] && sizes[4] >= sizes[1],
                 1, 0);
    const int count_m = edge_sizes(sizes[0], edge_m), count_n = edge_sizes(sizes[1], edge_n);
    int variant = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* every edge shape; activation and bias vary with the shape */
            for (int im = 0; im < count_m; im++)
                for (int in = 0; in < count_n; in++)
                    for (int ik = 0; ik < COUNT(EDGE_K); ik++, variant++)
                        TN(gemm_case)(edge_m[im], edge_n[in], EDGE_K[ik], ta, tb, variant % 2, variant % FG_ACT_COUNT,
                                      (variant / 2) % 2, 1);
            for (int s = 0; s < COUNT(PACKED); s++, variant++) {
                TN(gemm_case)(PACKED[s][0], PACKED[s][1], PACKED[s][2], ta, tb, variant % 2,
                              variant % FG_ACT_COUNT, 1, 1);
                TN(gemm_case)(PACKED[s][0], PACKED[s][1], PACKED[s][2], ta, tb, 1, FG_ACT_RELU, 0, 0);
            }
        }
    /* every activation with each beta, with and without bias, on an edge tile
     * and on the packed path */
    for (int act = 0; act < FG_ACT_COUNT; act++)
        for (int beta = 0; beta < 2; beta++)
            for (int use_bias = 0; use_bias < 2; use_bias++) {
                TN(gemm_case)(7, 17, 5, 0, 0, beta, act, use_bias, 1);
                TN(gemm_case)(37, 41, 300, 1, 0, beta, act, use_bias, 1);
                /* an output layer's weight gradient hᵀ·g (computed as its transpose without bias) */
                TN(gemm_case)(100, 10, 300, 1, 0, beta, act, use_bias, 1);
            }
    /* empty products and empty outputs */
    TN(gemm_case)(5, 9, 0, 0, 0, 0, FG_ACT_SIGMOID, 1, 1);
    TN(gemm_case)(5, 9, 0, 0, 1, 1, FG_ACT_RELU, 0, 1);
    TN(gemm_case)(0, 9, 4, 0, 0, 1, FG_ACT_RELU, 1, 1);
    TN(gemm_case)(4, 0, 4, 1, 1, 0, FG_ACT_RELU, 1, 1);
}

/* ---- dense layer forward and backward ----------------------------------------- */

static void TN(dense_case)(int64_t n, int64_t k, int64_t m, int act, double beta, int with_db, int with_grad_x)
{
    char what[200];
    snprintf(what, sizeof what, "dense_%%s_%s n=%lld k=%lld m=%lld act=%d beta=%g db=%d grad_x=%d", TYPE_NAME,
             (long long)n, (long long)k, (long long)m, act, beta, with_db, with_grad_x);
    char name[220];
    T *x = TN(random_array)(n * k, 1.0), *W = TN(random_array)(k * m, 1.0), *b = TN(random_array)(m, 1.0);
    const int threads = fg_get_num_threads();
    const int64_t ws_bytes = K(dense_workspace_size)(n, k, m, threads);
    void *ws = ws_bytes ? xmalloc((size_t)ws_bytes) : NULL;

    /* forward against the reference GEMM, output prefilled with NaN; the activations whose
       derivative takes the pre-activation keep it in pre */
    const int keep = fg_activation_grad_from_pre(act);
    T *out = (T *)xmalloc((size_t)(n * m) * sizeof(T)), *out_ref = (T *)xmalloc((size_t)(n * m) * sizeof(T));
    T *pre = (T *)xmalloc((size_t)(n * m) * sizeof(T)), *pre_ref = (T *)xmalloc((size_t)(n * m) * sizeof(T));
    TN(fill)(out, n * m, NAN);
    TN(fill)(out_ref, n * m, NAN);
    TN(fill)(pre, n * m, NAN);
    K(dense_forward)(out, keep ? pre : NULL, x, W, b, n, k, m, act, TN(ALPHA), ws, ws_bytes);
    K(gemm_ref)(out_ref, m, x, k, 0, W, m, 0, n, m, k, 0.0, b, act, TN(ALPHA));
    K(gemm_ref)(pre_ref, m, x, k, 0, W, m, 0, n, m, k, 0.0, b, FG_ACT_IDENTITY, 0);
    T *absx = TN(abs_array)(x, n * k), *absW = TN(abs_array)(W, k * m), *absb = TN(abs_array)(b, m);
    T *mag = (T *)xmalloc((size_t)(n * m) * sizeof(T));
    K(gemm_ref)(mag, m, absx, k, 0, absW, m, 0, n, m, k, 0.0, absb, FG_ACT_IDENTITY, 0);
    snprintf(name, sizeof name, what, "forward");
    TN(check_array)(name, out, out_ref, mag, n * m, k);
    if (keep) {
        snprintf(name, sizeof name, what, "forward pre");
        TN(check_array)(name, pre, pre_ref, mag, n * m, k);
    }
    const T *saved = keep ? pre_ref : out_ref; /* what act' reads */

    /* backward from the reference output, against the reference backward; grad_z's tolerance
       is relative to grad_out (act' may cancel to near 0, as GELU's does at z = -0.75) */
    T *g = TN(random_array)(n * m, 1.0), *g_ref = TN(copy_array)(g, n * m), *absg0 = TN(abs_array)(g, n * m);
    T *dW = beta == 0 ? (T *)xmalloc((size_t)(k * m) * sizeof(T)) : TN(random_array)(k * m, 1.0);
    T *db = beta == 0 ? (T *)xmalloc((size_t)m * sizeof(T)) : TN(random_array)(m, 1.0);
    if (beta == 0) {
        TN(fill)(dW, k * m, NAN);
        TN(fill)(db, m, NAN);
    }
    T *dW_ref = TN(copy_array)(dW, k * m), *db_ref = TN(copy_array)(db, m);
    T *gx = (T *)xmalloc((size_t)(n * k) * sizeof(T)), *gx_ref = (T *)xmalloc((size_t)(n * k) * sizeof(T));
    TN(fill)(gx, n * k, NAN);
    TN(fill)(gx_ref, n * k, NAN);
    K(dense_backward)(with_grad_x ? gx : NULL, dW, with_db ? db : NULL, g, x, W, saved, n, k, m, act, TN(ALPHA),
                      beta, ws, ws_bytes);
    K(dense_backward_ref)(with_grad_x ? gx_ref : NULL, dW_ref, with_db ? db_ref : NULL, g_ref, x, W, saved, n, k,
                          m, act, TN(ALPHA), beta);
    /* magnitudes: the backward of |grad_z| + |grad_out| (act' may cancel: its rounding is relative
       to grad_out) through |x| and |W|, identity activation */
    T *absg = TN(abs_array)(g_ref, n * m), *mdW = TN(abs_array)(dW, k * m), *mdb = TN(abs_array)(db, m);
    for (int64_t i = 0; i < n * m; i++) absg[i] += absg0[i];
    T *mgx = (T *)xmalloc((size_t)(n * k) * sizeof(T));
    if (beta == 0) {
        TN(fill)(mdW, k * m, 0);
        TN(fill)(mdb, m, 0);
    }
    K(dense_backward_ref)(mgx, mdW, mdb, absg, absx, absW, out_ref, n, k, m, FG_ACT_IDENTITY, 0, fabs(beta));
    snprintf(name, sizeof name, what, "backward grad_z");
    TN(check_array)(name, g, g_ref, absg0, n * m, 0);
    snprintf(name, sizeof name, what, "backward dW");
    TN(check_array)(name, dW, dW_ref, mdW, k * m, n);
    if (with_db) {
        snprintf(name, sizeof name, what, "backward db");
        TN(check_array)(name, db, db_ref, mdb, m, n);
    }
    if (with_grad_x) {
        snprintf(name, sizeof name, what, "backward grad_x");
        TN(check_array)(name, gx, gx_ref, mgx, n * k, m);
    }
    free(x), free(W), free(b), free(ws), free(out), free(out_ref), free(pre), free(pre_ref), free(absg0);
    free(absx), free(absW), free(absb), free(mag);
    free(g), free(g_ref), free(dW), free(db), free(dW_ref), free(db_ref), free(gx), free(gx_ref);
    free(absg), free(mdW), free(mdb), free(mgx);
}

static void TN(test_dense)(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1},  {1, 7, 5},    {5, 3, 17},   {6, 16, 16},  {7, 9, 33},
                                        {13, 1, 9}, {32, 20, 64}, {33, 17, 17}, {64, 50, 10}, {128, 97, 40}};
    int variant = 0;
    for (int s = 0; s < COUNT(shapes); s++)
        for (int act = 0; act < FG_ACT_COUNT; act++, variant++)
            TN(dense_case)(shapes[s][0], shapes[s][1], shapes[s][2], act, variant % 2, (variant / 2) % 2 == 0,
                           (variant / 3) % 2 == 0);
    TN(dense_case)(0, 5, 7, FG_ACT_RELU, 1, 1, 1);
}

/* Every activation and its derivative over its whole range: a one-input layer (W = 1, no bias)
 * fed z from -40 to 40 in steps of 1/64, the tails out to ±1e30 (f32) or ±1e300 (f64), the
 * magnitudes next to 0 and the special values, against the reference twins. That puts the
 * vector forms (fg_act_vec_template.h) of each target against the C library's functions where
 * the random layers above do not reach: their far tails. Tolerance as the Python suite's: the
 * rounding of z² in the vector erfc (8e-6, 2e-13 relative), 4 eps absolute (derivatives that
 * cancel), and 1000 times the smallest normal number, below which fgv_exp's e^z is 0. */
static void TN(test_activation_range)(void)
{
    const double big = sizeof(T) == 4 ? 1e30 : 1e300, rtol = sizeof(T) == 4 ? 8e-6 : 2e-13;
    const double special[] = {0.0, -0.0, 1e-30, -1e-30, TINY, -TINY, 100, -100, 800, -800, big, -big,
                              INFINITY, -INFINITY, NAN};
    const int64_t grid = 40 * 64 * 2 + 1, n = grid + COUNT(special);
    T *z = (T *)xmalloc((size_t)n * sizeof(T)), W = 1, dW, dW_ref;
    for (int64_t i = 0; i < grid; i++) z[i] = (T)(-40.0 + (double)i / 64.0);
    for (int i = 0; i < COUNT(special); i++) z[grid + i] = (T)special[i];
    T *out = (T *)xmalloc((size_t)n * sizeof(T)), *out_ref = (T *)xmalloc((size_t)n * sizeof(T));
    T *pre = (T *)xmalloc((size_t)n * sizeof(T)), *g = (T *)xmalloc((size_t)n * sizeof(T));
    T *g_ref = (T *)xmalloc((size_t)n * sizeof(T));
    const int64_t ws_bytes = K(dense_workspace_size)(n, 1, 1, fg_get_num_threads());
    void *ws = ws_bytes ? xmalloc((size_t)ws_bytes) : NULL;
    for (int act = 0; act < FG_ACT_COUNT; act++) {
        const int keep = fg_activation_grad_from_pre(act);
        K(dense_forward)(out, keep ? pre : NULL, z, &W, NULL, n, 1, 1, act, TN(ALPHA), ws, ws_bytes);
        K(gemm_ref)(out_ref, 1, z, 1, 0, &W, 1, 0, n, 1, 1, 0.0, NULL, act, TN(ALPHA));
        const T *saved = keep ? z : out_ref;
        TN(fill)(g, n, 1.0);
        TN(fill)(g_ref, n, 1.0);
        K(dense_backward)(NULL, &dW, NULL, g, z, &W, saved, n, 1, 1, act, TN(ALPHA), 0.0, ws, ws_bytes);
        K(dense_backward_ref)(NULL, &dW_ref, NULL, g_ref, z, &W, saved, n, 1, 1, act, TN(ALPHA), 0.0);
        for (int pass = 0; pass < 2; pass++) {
            const T *got = pass ? g : out, *want = pass ? g_ref : out_ref;
            char what[120];
            snprintf(what, sizeof what, "activation_range_%s act=%d %s", TYPE_NAME, act, pass ? "derivative" : "value");
            checks++;
            for (int64_t i = 0; i < n; i++) {
                const double tol = rtol * fabs((double)want[i]) + 4.0 * EPS;
                const double diff = fabs((double)got[i] - (double)want[i]);
                if (!close_enough((double)got[i], (double)want[i], tol) && !(diff <= 1000.0 * TINY)) {
                    report(what, i, (double)got[i], (double)want[i], tol);
                    break;
                }
            }
        }
    }
    free(z), free(out), free(out_ref), free(pre), free(g), free(g_ref), free(ws);
}

/* dense_backward_input: grad_x = grad_z·Wᵀ with the act' and db of the layer below (saved_in its
   saved tensor), bit for bit fg_gemm followed by that layer's dense_backward (beta 0, no dW rows),
   and against the reference twins; n past the kernel's row blocks (a 1024-wide grad_x has them
   every 64 rows) runs several. */
static void TN(dense_input_case)(int64_t n, int64_t k, int64_t m, int act, int with_db)
{
    char what[200];
    snprintf(what, sizeof what, "dense_backward_input_%s n=%lld k=%lld m=%lld act=%d db=%d", TYPE_NAME,
             (long long)n, (long long)k, (long long)m, act, with_db);
    T *g = TN(random_array)(n * m, 1.0), *W = TN(random_array)(k * m, 1.0), *saved = TN(random_array)(n * k, 1.0);
    const int64_t ws_bytes = K(dense_workspace_size)(n, k, m, fg_get_num_threads());
    void *ws = ws_bytes ? xmalloc((size_t)ws_bytes) : NULL;
    const int64_t gx_len = n * k ? n * k : 1;
    T *gx = (T *)xmalloc((size_t)gx_len * sizeof(T)), *gx_two = (T *)xmalloc((size_t)gx_len * sizeof(T));
    T *gx_ref = (T *)xmalloc((size_t)gx_len * sizeof(T));
    T *db = (T *)xmalloc((size_t)k * sizeof(T)), *db_two = (T *)xmalloc((size_t)k * sizeof(T));
    T *db_ref = (T *)xmalloc((size_t)k * sizeof(T));
    TN(fill)(gx, n * k, NAN);
    TN(fill)(db, k, NAN);
    TN(fill)(db_two, k, NAN);
    TN(fill)(db_ref, k, NAN);
    K(dense_backward_input)(gx, with_db ? db : NULL, g, W, saved, n, k, m, act, TN(ALPHA), 0, ws, ws_bytes);
    /* the same in two calls, and in the reference twins (the layer below has no dW rows: k_below 0) */
    K(gemm)(gx_two, k, g, m, 0, W, m, 1, n, k, m, 0.0, NULL, FG_ACT_IDENTITY, 0.0, ws, ws_bytes);
    K(dense_backward)(NULL, NULL, with_db ? db_two : NULL, gx_two, NULL, NULL, saved, n, 0, k, act, TN(ALPHA), 0.0,
                      ws, ws_bytes);
    K(gemm_ref)(gx_ref, k, g, m, 0, W, m, 1, n, k, m, 0.0, NULL, FG_ACT_IDENTITY, 0.0);
    K(dense_backward_ref)(NULL, NULL, with_db ? db_ref : NULL, gx_ref, NULL, NULL, saved, n, 0, k, act, TN(ALPHA),
                          0.0);
    char name[220];
    snprintf(name, sizeof name, "%s grad_x (vs the two calls)", what);
    TN(check_exact)(name, gx, gx_two, n * k);
    /* magnitudes: |grad_z|·|W|ᵀ bounds each grad_x before act' (whose factor is at most 1 for the
       bounded derivatives and the size of saved otherwise: the relative term covers it) */
    T *absg = TN(abs_array)(g, n * m), *absW = TN(abs_array)(W, k * m);
    T *mag = (T *)xmalloc((size_t)gx_len * sizeof(T)), *mdb = (T *)xmalloc((size_t)k * sizeof(T));
    K(gemm_ref)(mag, k, absg, m, 0, absW, m, 1, n, k, m, 0.0, NULL, FG_ACT_IDENTITY, 0.0);
    for (int64_t j = 0; j < k; j++) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += (double)mag[i * k + j];
        mdb[j] = (T)sum;
    }
    snprintf(name, sizeof name, "%s grad_x", what);
    TN(check_array)(name, gx, gx_ref, mag, n * k, m);
    if (with_db) {
        snprintf(name, sizeof name, "%s db (vs the two calls)", what);
        TN(check_exact)(name, db, db_two, k);
        snprintf(name, sizeof name, "%s db", what);
        TN(check_array)(name, db, db_ref, mdb, k, n + m);
    }
    /* the rows in two calls, the second resuming db */
    const int64_t h = n / 2;
    TN(fill)(gx_two, n * k, NAN);
    TN(fill)(db_two, k, NAN);
    K(dense_backward_input)(gx_two, with_db ? db_two : NULL, g, W, saved, h, k, m, act, TN(ALPHA), 0, ws, ws_bytes);
    K(dense_backward_input)(gx_two + h * k, with_db ? db_two : NULL, g + h * m, W, saved + h * k, n - h, k, m, act,
                            TN(ALPHA), 1, ws, ws_bytes);
    snprintf(name, sizeof name, "%s grad_x (in two row ranges, resumed)", what);
    TN(check_exact)(name, gx_two, gx, n * k);
    if (with_db) {
        snprintf(name, sizeof name, "%s db (in two row ranges, resumed)", what);
        TN(check_exact)(name, db_two, db, k);
    }
    free(g), free(W), free(saved), free(ws), free(gx), free(gx_two), free(gx_ref), free(db), free(db_two);
    free(db_ref), free(absg), free(absW), free(mag), free(mdb);
}

/* dense_backward_prepacked with resume: the n rows in ranges of fg_gemm_k_step rows (the dW
   product's own k blocks), each range after the first resuming dW and db, give dW, db and grad_z
   bit for bit as one dense_backward call with beta 0: through dW's packed path (k and m wide),
   its direct one and its narrow one (m below NR: Cᵀ computed). */
static void TN(dense_resume_case)(int64_t n, int64_t k, int64_t m, int act)
{
    char what[200];
    snprintf(what, sizeof what, "dense_backward_prepacked_%s resumed n=%lld k=%lld m=%lld act=%d", TYPE_NAME,
             (long long)n, (long long)k, (long long)m, act);
    T *g = TN(random_array)(n * m, 1.0), *g_two = TN(copy_array)(g, n * m);
    T *x = TN(random_array)(n * k, 1.0), *W = TN(random_array)(k * m, 1.0), *saved = TN(random_array)(n * m, 1.0);
    const int64_t ws_bytes = K(dense_workspace_size)(n, k, m, fg_get_num_threads());
    void *ws = ws_bytes ? xmalloc((size_t)ws_bytes) : NULL;
    T *dW = (T *)xmalloc((size_t)(k * m) * sizeof(T)), *dW_two = (T *)xmalloc((size_t)(k * m) * sizeof(T));
    T *db = (T *)xmalloc((size_t)m * sizeof(T)), *db_two = (T *)xmalloc((size_t)m * sizeof(T));
    TN(fill)(dW, k * m, NAN);
    TN(fill)(dW_two, k * m, NAN);
    TN(fill)(db, m, NAN);
    TN(fill)(db_two, m, NAN);
    K(dense_backward)(NULL, dW, db, g, x, W, saved, n, k, m, act, TN(ALPHA), 0.0, ws, ws_bytes);
    int64_t sizes[5];
    K(gemm_block_sizes)(sizes);
    const int64_t step = fg_gemm_k_step(n, sizes[2]);
    for (int64_t r0 = 0; r0 < n; r0 += step) {
        const int64_t r = fg_min_i64(step, n - r0);
        K(dense_backward_prepacked)(NULL, dW_two, db_two, g_two + r0 * m, x + r0 * k, NULL, W, saved + r0 * m, r, k,
                                    m, act, TN(ALPHA), 0.0, r0 > 0, ws, ws_bytes);
    }
    char name[240];
    snprintf(name, sizeof name, "%s dW", what);
    TN(check_exact)(name, dW_two, dW, k * m);
    snprintf(name, sizeof name, "%s db", what);
    TN(check_exact)(name, db_two, db, m);
    snprintf(name, sizeof name, "%s grad_z", what);
    TN(check_exact)(name, g_two, g, n * m);
    free(g), free(g_two), free(x), free(W), free(saved), free(ws), free(dW), free(dW_two), free(db), free(db_two);
}

static void TN(test_dense_resume)(void)
{
    int64_t sizes[5];
    K(gemm_block_sizes)(sizes);
    const int64_t kc = sizes[2];
    const int64_t shapes[][3] = {{kc + 1, 150, 140}, {3 * kc + 67, 150, 140}, {2 * kc, 64, 100},
                                 {3 * kc + 67, 100, 10},  {kc + 1, 100, 3},      {2 * kc + 1, 7, 5}};
    for (int s = 0; s < COUNT(shapes); s++)
        TN(dense_resume_case)(shapes[s][0], shapes[s][1], shapes[s][2], s % 2 ? FG_ACT_TANH : FG_ACT_RELU);
}

static void TN(test_dense_input)(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1},    {1, 7, 5},     {5, 3, 17},    {13, 1, 10},
                                        {64, 50, 10}, {150, 1024, 3}, {257, 1024, 10}, {300, 100, 10},
                                        {300, 200, 170}}; /* the last: W past DENSE_INPUT_MAX_W_BYTES */
    int variant = 0;
    for (int s = 0; s < COUNT(shapes); s++)
        for (int act = 0; act < FG_ACT_COUNT; act++, variant++)
            TN(dense_input_case)(shapes[s][0], shapes[s][1], shapes[s][2], act, variant % 3 != 2);
    TN(dense_input_case)(0, 5, 7, FG_ACT_RELU, 1);
    TN(dense_input_case)(4, 0, 7, FG_ACT_RELU, 1);
}

/* ---- losses ------------------------------------------------------------------- */

static void TN(loss_case)(int kind, int reduction, int64_t n, int64_t c, int use_labels, int weighted, double scale_logits)
{
    char what[200];
    snprintf(what, sizeof what, "loss_%s kind=%d reduction=%d n=%lld c=%lld labels=%d weights=%d logit_scale=%g",
             TYPE_NAME, kind, reduction, (long long)n, (long long)c, use_labels, weighted, scale_logits);
    T *pred = TN(random_array)(n * c, scale_logits);
    T *target = NULL, *sw = NULL, *cw = NULL;
    int64_t *labels = NULL;
    fg_loss_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = kind;
    spec.reduction = reduction;
    spec.scale = 1.0;
    spec.delta = 0.7;
    if (kind == FG_LOSS_SOFTMAX_CE && use_labels) {
        labels = (int64_t *)xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) labels[i] = (int64_t)(uniform01() * (double)c) % c;
        spec.labels = labels;
        spec.label_smoothing = weighted ? 0.1 : 0.0;
    } else {
        target = (T *)xmalloc((size_t)(n * c ? n * c : 1) * sizeof(T));
        for (int64_t i = 0; i < n * c; i++)
            target[i] = (T)(kind == FG_LOSS_SOFTMAX_CE || kind == FG_LOSS_BCE ? uniform01() : normal01());
        spec.target = target;
    }
    if (weighted) {
        sw = (T *)xmalloc((size_t)(n ? n : 1) * sizeof(T));
        for (int64_t i = 0; i < n; i++) sw[i] = (T)uniform01();
        spec.sample_weight = sw;
        if (kind == FG_LOSS_SOFTMAX_CE) {
            cw = (T *)xmalloc((size_t)c * sizeof(T));
            for (int64_t j = 0; j < c; j++) cw[j] = (T)(0.5 + uniform01());
            spec.class_weight = cw;
        }
    }
    T *grad = (T *)xmalloc((size_t)(n * c ? n * c : 1) * sizeof(T));
    T *grad_ref = (T *)xmalloc((size_t)(n * c ? n * c : 1) * sizeof(T));
    TN(fill)(grad, n * c, NAN);
    TN(fill)(grad_ref, n * c, NAN);
    const double loss = K(loss)(grad, pred, n, c, &spec);
    const double loss_ref = K(loss_ref)(grad_ref, pred, n, c, &spec);
    const double loss_only = K(loss)(NULL, pred, n, c, &spec);
    /* The kernels' exp and the C library's agree to a few ulps, and each row's
     * softmax sums c of them; the reductions run over n rows in double. */
    const double rtol = 8.0 * EPS * (double)(c + 4);
    /* A row's loss and gradient are computed from terms as large as its
     * logits and targets (weights are below 1.5), so a result near 0 (a
     * confident correct class) is exact only up to rounding of those. */
    double largest = TN(max_abs)(pred, n * c, 1.0);
    if (target) largest = TN(max_abs)(target, n * c, largest);
    const double rows = reduction == FG_REDUCE_SUM ? (double)n : 1.0;
    char name[240];
    snprintf(name, sizeof name, "%s value", what);
    check_scalar(name, loss, loss_ref, rtol * (fabs(loss_ref) + 2.0 * rows * largest));
    snprintf(name, sizeof name, "%s value without grad", what);
    check_scalar(name, loss_only, loss, 0.0);
    /* each gradient element is a difference of terms up to 1.5 times the
     * largest prediction or target, over the reduction's denominator */
    double scale = TN(max_abs)(grad_ref, n * c, 0.0);
    scale = fmax(scale, (kind == FG_LOSS_SOFTMAX_CE ? 2.0 : 2.0 * largest) / (reduction == FG_REDUCE_SUM || n == 0 ? 1.0 : (double)n));
    T *mag = (T *)xmalloc((size_t)(n * c ? n * c : 1) * sizeof(T));
    TN(fill)(mag, n * c, scale);
    snprintf(name, sizeof name, "%s grad", what);
    TN(check_array)(name, grad, grad_ref, mag, n * c, 4 * c);
    /* loss_rows: the rows in three ranges (cutting the reduction's chunks), bit for bit */
    const int64_t cuts[4] = {0, n / 3, n / 2 + 1 < n ? n / 2 + 1 : n, n};
    double partial[FG_LOSS_ROWS_STATE], by_rows = NAN;
    T *grad_rows = (T *)xmalloc((size_t)(n * c ? n * c : 1) * sizeof(T));
    TN(fill)(grad_rows, n * c, NAN);
    for (int r = 0; r < 3; r++)
        if (r == 0 || cuts[r] < cuts[r + 1])
            by_rows = K(loss_rows)(grad_rows + cuts[r] * c, pred + cuts[r] * c, n, c, &spec, cuts[r], cuts[r + 1],
                                   partial);
    snprintf(name, sizeof name, "%s loss_rows value", what);
    check_scalar(name, by_rows, loss, 0.0);
    snprintf(name, sizeof name, "%s loss_rows grad", what);
    TN(check_exact)(name, grad_rows, grad, n * c);
    snprintf(name, sizeof name, "%s loss_rows outside [0, n)", what);
    check_scalar(name, isnan(K(loss_rows)(grad_rows, pred, n, c, &spec, 0, n + 1, partial)) ? 1.0 : 0.0, 1.0, 0.0);
    if (labels && n >= 2) { /* a label out of range, seen by the first range only: every range says NaN */
        const int64_t kept = labels[n - 1];
        labels[n - 1] = c;
        const double first = K(loss_rows)(grad_rows, pred, n, c, &spec, 0, 1, partial);
        const double later = K(loss_rows)(grad_rows + c, pred + c, n, c, &spec, 1, n, partial);
        labels[n - 1] = kept;
        snprintf(name, sizeof name, "%s loss_rows label out of range", what);
        check_scalar(name, isnan(first) && isnan(later) ? 1.0 : 0.0, 1.0, 0.0);
    }
    free(pred), free(target), free(sw), free(cw), free(labels), free(grad), free(grad_ref), free(mag), free(grad_rows);
}

static void TN(test_loss)(void)
{
    static const int64_t shapes[][2] = {{1, 1}, {1, 2}, {3, 3}, {7, 10}, {17, 17}, {33, 37}, {130, 10}, {1100, 3}};
    for (int kind = 0; kind < FG_LOSS_COUNT; kind++)
        for (int reduction = 0; reduction < 2; reduction++)
            for (int s = 0; s < COUNT(shapes); s++)
                for (int weighted = 0; weighted < 2; weighted++) {
                    TN(loss_case)(kind, reduction, shapes[s][0], shapes[s][1], 0, weighted, 2.0);
                    if (kind == FG_LOSS_SOFTMAX_CE) {
                        TN(loss_case)(kind, reduction, shapes[s][0], shapes[s][1], 1, weighted, 2.0);
                        /* logits far apart: exp underflows for all but the largest */
                        TN(loss_case)(kind, reduction, shapes[s][0], shapes[s][1], 1, weighted, 300.0);
                    }
                }
    TN(loss_case)(FG_LOSS_SOFTMAX_CE, FG_REDUCE_MEAN, 0, 4, 1, 0, 1.0);
    TN(loss_case)(FG_LOSS_MSE, FG_REDUCE_SUM, 0, 4, 0, 1, 1.0);
}

/* ---- optimizer steps ---------------------------------------------------------- */

static void TN(optim_case)(const fg_optim_config *base, int64_t n, const char *label)
{
    fg_optim_config cfg = *base;
    const int slots = fg_optim_state_slots(&cfg);
    const int64_t stride = n + 5;
    T *p = TN(random_array)(n, 1.0), *p_ref = TN(copy_array)(p, n);
    T *state = (T *)xmalloc((size_t)((slots ? slots : 1) * stride) * sizeof(T));
    TN(fill)(state, slots * stride, NAN); /* step 1 initializes the state */
    T *state_ref = TN(copy_array)(state, slots * stride);
    char what[200];
    for (int64_t step = 1; step <= 3; step++) {
        cfg.step = step;
        T *g = TN(random_array)(n, 1.0);
        if (n > 2) g[n / 2] = 0; /* a zero gradient: AdaGrad/RMSProp/Adam denominators at eps */
        K(optim_step)(p, g, slots ? state : NULL, stride, n, &cfg);
        K(optim_step_ref)(p_ref, g, slots ? state_ref : NULL, stride, n, &cfg);
        snprintf(what, sizeof what, "optim_step_%s %s n=%lld step=%lld params", TYPE_NAME, label, (long long)n,
                 (long long)step);
        TN(check_exact)(what, p, p_ref, n);
        for (int s = 0; s < slots; s++) {
            snprintf(what, sizeof what, "optim_step_%s %s n=%lld step=%lld state slot %d", TYPE_NAME, label,
                     (long long)n, (long long)step, s);
            TN(check_exact)(what, state + s * stride, state_ref + s * stride, n);
        }
        free(g);
    }
    free(p), free(p_ref), free(state), free(state_ref);
}

static void TN(test_optim)(void)
{
    static const int64_t sizes[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 100, 1031};
    fg_optim_config configs[14];
    const char *labels[14];
    int count = 0;
    memset(configs, 0, sizeof configs);
    for (int i = 0; i < 14; i++) {
        configs[i].lr = 0.01;
        configs[i].eps = 1e-8;
        configs[i].beta1 = 0.9;
        configs[i].beta2 = 0.999;
        configs[i].alpha = 0.99;
    }
    configs[count].kind = FG_OPT_SGD, labels[count++] = "sgd";
    configs[count].kind = FG_OPT_SGD, configs[count].momentum = 0.9, configs[count].dampening = 0.1,
    configs[count].weight_decay = 0.01, labels[count++] = "sgd momentum dampening decay";
    configs[count].kind = FG_OPT_SGD, configs[count].momentum = 0.9, configs[count].nesterov = 1,
    configs[count].maximize = 1, labels[count++] = "sgd nesterov maximize";
    configs[count].kind = FG_OPT_SGD, configs[count].noise_std = 0.5, configs[count].noise_seed = 7,
    labels[count++] = "sgd noisy";
    configs[count].kind = FG_OPT_ADAGRAD, configs[count].lr_decay = 0.1,
    configs[count].initial_accumulator_value = 0.1, labels[count++] = "adagrad";
    configs[count].kind = FG_OPT_RMSPROP, labels[count++] = "rmsprop";
    configs[count].kind = FG_OPT_RMSPROP, configs[count].momentum = 0.9, configs[count].centered = 1,
    configs[count].weight_decay = 0.01, labels[count++] = "rmsprop momentum centered decay";
    configs[count].kind = FG_OPT_ADAM, labels[count++] = "adam";
    configs[count].kind = FG_OPT_ADAM, configs[count].weight_decay = 0.01, configs[count].amsgrad = 1,
    labels[count++] = "adam decay amsgrad";
    configs[count].kind = FG_OPT_ADAMW, configs[count].weight_decay = 0.01, labels[count++] = "adamw";
    configs[count].kind = FG_OPT_ADAMW, configs[count].weight_decay = 0.01, configs[count].amsgrad = 1,
    configs[count].maximize = 1, labels[count++] = "adamw amsgrad maximize";
    configs[count].kind = FG_OPT_ADAMAX, labels[count++] = "adamax";
    configs[count].kind = FG_OPT_ADAMAX, configs[count].weight_decay = 0.01, configs[count].maximize = 1,
    labels[count++] = "adamax decay maximize";
    for (int c = 0; c < count; c++)
        for (int s = 0; s < COUNT(sizes); s++) TN(optim_case)(&configs[c], sizes[s], labels[c]);
}

/* ---- vector helpers: sum_squares, scale, clip_value, count_nonfinite, count_large ---- */

/* count_large (bit patterns) against its reference (values) on x with NaN/±inf already in it,
   some entries set to powers of two, their neighbours, zeros, subnormals and the largest finite
   value, at exponents past both ends of the type's range. */
static void TN(check_count_large)(const T *x, int64_t n)
{
    static const int exponents[] = {-5000, -1023, -1022, -127, -126, -125, -1, 0, 1,
                                    2,     127,   128,   129,  1023, 1024, 5000};
    const int f32 = sizeof(T) == 4;
    const T big = f32 ? (T)FLT_MAX : (T)DBL_MAX, tiny = f32 ? (T)FLT_MIN : (T)DBL_MIN;
    const T below_two = f32 ? (T)nextafterf(2.0f, 0.0f) : (T)nextafter(2.0, 0.0);
    const T special[] = {(T)2, (T)-2, below_two, (T)0.5, (T)-0.0, tiny, -tiny, tiny / 4, big, -big};
    T *p = TN(copy_array)(x, n);
    for (int i = 0; i < COUNT(special) && 5 + i < n; i++) p[5 + i] = special[i];
    char what[160];
    for (int e = 0; e < COUNT(exponents); e++) {
        snprintf(what, sizeof what, "count_large_%s n=%lld exponent=%d", TYPE_NAME, (long long)n, exponents[e]);
        const double want = (double)K(count_large_ref)(p, n, exponents[e]);
        check_scalar(what, (double)K(count_large)(p, n, exponents[e]), want, 0.0);
    }
    free(p);
}

static void TN(test_vector)(void)
{
    static const int64_t sizes[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 100, 1031, 40000};
    char what[160];
    for (int s = 0; s < COUNT(sizes); s++) {
        const int64_t n = sizes[s];
        T *x = TN(random_array)(n, 3.0);
        T *p = TN(copy_array)(x, n), *p_ref = TN(copy_array)(x, n);
        snprintf(what, sizeof what, "sum_squares_%s n=%lld", TYPE_NAME, (long long)n);
        /* fixed-order blocked sums in double: close to the sequential sum, not equal */
        const double ss_ref = K(sum_squares_ref)(x, n);
        check_scalar(what, K(sum_squares)(x, n), ss_ref, 2.0 * DBL_EPSILON * (double)(n + 4) * ss_ref);

        memcpy(p, x, (size_t)n * sizeof(T));
        K(scale)(p, n, 0.3);
        for (int64_t i = 0; i < n; i++) p_ref[i] = (T)(x[i] * (T)0.3);
        snprintf(what, sizeof what, "scale_%s n=%lld", TYPE_NAME, (long long)n);
        TN(check_array)(what, p, p_ref, NULL, n, 1);

        memcpy(p, x, (size_t)n * sizeof(T));
        if (n > 4) p[1] = NAN, p[3] = INFINITY, p[4] = -INFINITY;
        memcpy(p_ref, p, (size_t)n * sizeof(T));
        int64_t nonfinite = 0;
        for (int64_t i = 0; i < n; i++)
            if (isnan((double)p[i]) || isinf((double)p[i])) nonfinite++;
        snprintf(what, sizeof what, "count_nonfinite_%s n=%lld", TYPE_NAME, (long long)n);
        check_scalar(what, (double)K(count_nonfinite)(p, n), (double)nonfinite, 0.0);
        TN(check_count_large)(p, n);
        K(clip_value)(p, n, 1.5);
        for (int64_t i = 0; i < n; i++)
            if (!isnan((double)p_ref[i])) p_ref[i] = p_ref[i] < -1.5 ? (T)-1.5 : (p_ref[i] > 1.5 ? (T)1.5 : p_ref[i]);
        snprintf(what, sizeof what, "clip_value_%s n=%lld", TYPE_NAME, (long long)n);
        TN(check_exact)(what, p, p_ref, n);
        free(x), free(p), free(p_ref);
    }
}

/* ---- L-BFGS ------------------------------------------------------------------- */

static void TN(test_lbfgs)(void)
{
    static const int64_t sizes[] = {1, 3, 8, 17, 100, 1031};
    char what[160];
    for (int s = 0; s < COUNT(sizes); s++) {
        const int64_t n = sizes[s], hist = 5;
        T *sh = TN(random_array)(hist * n, 1.0), *yh = TN(random_array)(hist * n, 1.0);
        T *grad = TN(random_array)(n, 1.0);
        double rho[5], alpha[5], alpha_ref[5];
        for (int j = 0; j < hist; j++) rho[j] = 1.0 / (1.0 + uniform01() * (double)n);
        T *d = (T *)xmalloc((size_t)n * sizeof(T)), *d_ref = (T *)xmalloc((size_t)n * sizeof(T));
        for (int64_t count = 0; count <= hist; count += 2)
            for (int64_t newest = 0; newest < hist; newest += 3) {
                K(lbfgs_direction)(d, grad, sh, yh, rho, alpha, n, hist, count, newest, 0.7);
                K(lbfgs_direction_ref)(d_ref, grad, sh, yh, rho, alpha_ref, n, hist, count, newest, 0.7);
                snprintf(what, sizeof what, "lbfgs_direction_%s n=%lld count=%lld newest=%lld", TYPE_NAME,
                         (long long)n, (long long)count, (long long)newest);
                T *mag = (T *)xmalloc((size_t)n * sizeof(T));
                TN(fill)(mag, n, TN(max_abs)(d_ref, n, 0.0));
                /* each of the 2·count dot products sums n terms in a thread-dependent order */
                TN(check_array)(what, d, d_ref, mag, n, count * (n + 4) + 1);
                free(mag);
            }
        T *xn = TN(random_array)(n, 1.0), *xo = TN(random_array)(n, 1.0), *gn = TN(random_array)(n, 1.0),
          *go = TN(random_array)(n, 1.0);
        T *sp = (T *)xmalloc((size_t)n * sizeof(T)), *yp = (T *)xmalloc((size_t)n * sizeof(T));
        T *sp_ref = (T *)xmalloc((size_t)n * sizeof(T)), *yp_ref = (T *)xmalloc((size_t)n * sizeof(T));
        double yy, yy_ref;
        const double sy = K(lbfgs_pair)(sp, yp, xn, xo, gn, go, n, &yy);
        const double sy_ref = K(lbfgs_pair_ref)(sp_ref, yp_ref, xn, xo, gn, go, n, &yy_ref);
        snprintf(what, sizeof what, "lbfgs_pair_%s n=%lld", TYPE_NAME, (long long)n);
        TN(check_exact)(what, sp, sp_ref, n);
        TN(check_exact)(what, yp, yp_ref, n);
        check_scalar(what, sy, sy_ref, 1e-12 * (fabs(sy_ref) + yy_ref));
        check_scalar(what, yy, yy_ref, 1e-12 * yy_ref);
        free(sh), free(yh), free(grad), free(d), free(d_ref), free(xn), free(xo), free(gn), free(go);
        free(sp), free(yp), free(sp_ref), free(yp_ref);
    }
}

/* The L-BFGS driver's vector kernels against their reference twins, then the driver itself on
 * a diagonal quadratic with either set: the same iterations, and the minimum. */
static void TN(test_lbfgs_driver)(void)
{
    static const int64_t sizes[] = {1, 3, 16, 17, 1031, 8200};
    char what[160];
    for (int s = 0; s < COUNT(sizes); s++) {
        const int64_t n = sizes[s], rows_n = 4;
        const int64_t rows[3] = {2, 0, 3};
        T *sh = TN(random_array)(rows_n * n, 1.0), *yh = TN(random_array)(rows_n * n, 1.0);
        T *g = TN(random_array)(n, 1.0), *base = TN(random_array)(n, 1.0);
        T *d = (T *)xmalloc((size_t)n * sizeof(T)), *d_ref = (T *)xmalloc((size_t)n * sizeof(T));
        double out[12], out_ref[12], abs_sum, abs_sum_ref;
        snprintf(what, sizeof what, "lbfgs_dots/combine/norms/trial/accept_%s n=%lld", TYPE_NAME, (long long)n);
        K(lbfgs_dots)(out, g, yh + 1 * n, sh, yh, rows, 3, n);
        K(lbfgs_dots_ref)(out_ref, g, yh + 1 * n, sh, yh, rows, 3, n);
        for (int k = 0; k < 12; k++) check_scalar(what, out[k], out_ref[k], 1e-10 * (double)n);
        const double s_coef[3] = {0.5, -1.0, 0.25}, y_coef[3] = {-0.75, 2.0, 1.5};
        const double gd = K(lbfgs_combine)(d, g, -0.7, sh, yh, rows, s_coef, y_coef, 3, n);
        const double gd_ref = K(lbfgs_combine_ref)(d_ref, g, -0.7, sh, yh, rows, s_coef, y_coef, 3, n);
        TN(check_exact)(what, d, d_ref, n);
        check_scalar(what, gd, gd_ref, 1e-10 * (double)n);
        check_scalar(what, K(lbfgs_dot)(g, d, n), K(lbfgs_dot_ref)(g, d, n), 1e-10 * (double)n);
        check_scalar(what, K(lbfgs_norms)(g, n, &abs_sum), K(lbfgs_norms_ref)(g, n, &abs_sum_ref), 0.0);
        check_scalar(what, abs_sum, abs_sum_ref, 1e-12 * abs_sum_ref);
        const int64_t changed = K(lbfgs_trial)(d, base, g, 0.5, n);
        check_scalar(what, (double)changed, (double)K(lbfgs_trial_ref)(d_ref, base, g, 0.5, n), 0.0);
        TN(check_exact)(what, d, d_ref, n);
        check_scalar(what, (double)K(lbfgs_trial)(d, base, g, 0.5, n), 0.0, 0.0); /* the same point */
        const double ww = K(lbfgs_ridge)(d, g, 0.25, n), ww_ref = K(lbfgs_ridge_ref)(d_ref, g, 0.25, n);
        check_scalar(what, ww, ww_ref, 1e-10 * (double)n);
        TN(check_exact)(what, d, d_ref, n);
        T *xs = TN(copy_array)(base, n), *gs = TN(copy_array)(g, n), *xs_ref = TN(copy_array)(base, n);
        T *gs_ref = TN(copy_array)(g, n), *x = TN(random_array)(n, 1.0), *gx = TN(random_array)(n, 1.0);
        K(lbfgs_accept)(out, sh, yh, xs, gs, x, gx, n);
        K(lbfgs_accept_ref)(out_ref, sh + n, yh + n, xs_ref, gs_ref, x, gx, n);
        TN(check_exact)(what, sh, sh + n, n);
        TN(check_exact)(what, yh, yh + n, n);
        TN(check_exact)(what, xs, x, n);
        TN(check_exact)(what, gs, gx, n);
        for (int k = 0; k < 4; k++) check_scalar(what, out[k], out_ref[k], 1e-10 * (double)n);
        free(sh), free(yh), free(g), free(base), free(d), free(d_ref), free(xs), free(gs), free(xs_ref);
        free(gs_ref), free(x), free(gx);
    }

    const int64_t n = 50, m = 5;
    int64_t iterations[2], evaluations[2];
    for (int reference = 0; reference < 2; reference++) {
        T *x = (T *)xmalloc(n * sizeof(T)), *g = (T *)xmalloc(n * sizeof(T)), *d = (T *)xmalloc(n * sizeof(T));
        T *xs = (T *)xmalloc(n * sizeof(T)), *gs = (T *)xmalloc(n * sizeof(T));
        T *sh = (T *)xmalloc((m + 1) * n * sizeof(T)), *yh = (T *)xmalloc((m + 1) * n * sizeof(T));
        double rho[6], sy[36], yy[36], work[FG_LBFGS_WORK(5)];
        int64_t rows[6];
        fg_lbfgs_options o = {1e-3, 0.9, 0.1, 1e10, 1.0, sizeof(T) == 4 ? 1e-3 : 1e-8, -1.0, 20, 1, 0, reference};
        fg_lbfgs_state st;
        check_scalar("lbfgs driver init", fg_lbfgs_init(&st, n, m, &o), 0.0, 0.0);
        st.x = x, st.g = g, st.d = d, st.x_start = xs, st.g_start = gs, st.s_hist = sh, st.y_hist = yh;
        st.rho = rho, st.sy_mat = sy, st.yy_mat = yy, st.work = work, st.rows = rows;
        for (int64_t i = 0; i < n; i++) x[i] = (T)1;
        int task = FG_LBFGS_START;
        for (int64_t calls = 0; calls < 1000 && (task == FG_LBFGS_START || task == FG_LBFGS_EVALUATE ||
                                                 task == FG_LBFGS_NEW_X); calls++) {
            double f = 0.0; /* f = Σ (i + 1)·x_i² / 2 */
            if (task != FG_LBFGS_NEW_X)
                for (int64_t i = 0; i < n; i++) {
                    g[i] = (T)((double)(i + 1) * (double)x[i]);
                    f += 0.5 * (double)(i + 1) * (double)x[i] * (double)x[i];
                }
            task = K(lbfgs_advance)(&st, f);
        }
        snprintf(what, sizeof what, "lbfgs driver %s on a quadratic, reference=%d", TYPE_NAME, reference);
        check_scalar(what, task, FG_LBFGS_CONVERGED_GRADIENT, 0.0);
        check_scalar(what, TN(max_abs)(x, n, 0.0), 0.0, sizeof(T) == 4 ? 1e-3 : 1e-8);
        iterations[reference] = st.iter, evaluations[reference] = st.nfev;
        free(x), free(g), free(d), free(xs), free(gs), free(sh), free(yh);
    }
    check_scalar("lbfgs driver: the same iterations with the reference kernels", (double)iterations[0],
                 (double)iterations[1], 0.0);
    check_scalar("lbfgs driver: the same evaluations with the reference kernels", (double)evaluations[0],
                 (double)evaluations[1], 0.0);
}

/* ---- whole model: forward and backward are the layers' kernels in sequence ---- */

/* A curvature product's own forward pass leaves the layer outputs (and kept z) of the training
 * forward bit for bit: acts_ref and pres_ref hold those of x's first n rows. */
static void TN(hvp_forward_case)(const fg_model *model, const T *x, int64_t n, T *const *acts_ref,
                                 T *const *pres_ref)
{
    const int64_t n_layers = model->n_layers, c = model->layers[n_layers - 1].out;
    int64_t outs[8], max_width = 0, n_params = 0;
    for (int64_t l = 0; l < n_layers; l++) {
        const fg_model_layer *L = &model->layers[l];
        outs[l] = L->out;
        max_width = fg_max_i64(max_width, fg_max_i64(L->in, L->out));
        n_params += (L->in + 1) * L->out;
    }
    T *target = TN(random_array)(n * c, 1.0), *v = TN(random_array)(n_params, 1.0);
    T *hv = (T *)xmalloc((size_t)n_params * sizeof(T));
    T *scratch = (T *)xmalloc((size_t)fg_model_hvp_scratch_elems(outs, n_layers, max_width, n) * sizeof(T));
    fg_loss_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = FG_LOSS_MSE;
    spec.reduction = FG_REDUCE_MEAN;
    spec.scale = 1.0;
    spec.target = target;
    for (int64_t l = 0; l < n_layers; l++) {
        TN(fill)((T *)model->acts[l], n * outs[l], NAN);
        if (model->pres[l]) TN(fill)((T *)model->pres[l], n * outs[l], NAN);
    }
    K(model_hvp)(model, hv, v, x, n, &spec, 0, 0.0, scratch, 0);
    char what[160];
    for (int64_t l = 0; l < n_layers; l++) {
        snprintf(what, sizeof what, "model_hvp_%s forward n=%lld layer %lld", TYPE_NAME, (long long)n, (long long)l);
        TN(check_exact)(what, (const T *)model->acts[l], acts_ref[l], n * outs[l]);
        if (model->pres[l]) TN(check_exact)(what, (const T *)model->pres[l], pres_ref[l], n * outs[l]);
    }
    free(target), free(v), free(hv), free(scratch);
}

static void TN(test_model)(void)
{
    static const int64_t widths[] = {13, 33, 7, 3};
    const int64_t n_layers = 3, rows = 37;
    fg_model_layer layers[3];
    int64_t off = 0;
    for (int l = 0; l < n_layers; l++) {
        layers[l].in = widths[l];
        layers[l].out = widths[l + 1];
        layers[l].act = (l == n_layers - 1) ? FG_ACT_IDENTITY : (l == 0 ? FG_ACT_RELU : FG_ACT_GELU);
        layers[l].act_alpha = 0.0;
        layers[l].w_off = off;
        off += widths[l] * widths[l + 1];
    }
    for (int l = 0; l < n_layers; l++) {
        layers[l].b_off = off;
        off += widths[l + 1];
    }
    const int64_t n_params = off;
    T *params = TN(random_array)(n_params, 0.5), *grads = TN(random_array)(n_params, 1.0);
    T *grads_ref = TN(copy_array)(grads, n_params);
    void *acts[3], *pres[3];
    T *acts_ref[3], *pres_ref[3];
    for (int l = 0; l < n_layers; l++) {
        const int keep = fg_activation_grad_from_pre(layers[l].act);
        acts[l] = xmalloc((size_t)(rows * widths[l + 1]) * sizeof(T));
        acts_ref[l] = (T *)xmalloc((size_t)(rows * widths[l + 1]) * sizeof(T));
        pres[l] = keep ? xmalloc((size_t)(rows * widths[l + 1]) * sizeof(T)) : NULL;
        pres_ref[l] = keep ? (T *)xmalloc((size_t)(rows * widths[l + 1]) * sizeof(T)) : NULL;
    }
    int64_t ws_bytes = 0;
    for (int l = 0; l < n_layers; l++)
        ws_bytes = fg_max_i64(ws_bytes, K(dense_workspace_size)(rows, widths[l], widths[l + 1], fg_get_num_threads()));
    fg_model model;
    memset(&model, 0, sizeof model);
    model.n_layers = n_layers;
    model.layers = layers;
    model.params = params;
    model.grads = grads;
    model.acts = acts;
    model.pres = pres;
    model.gbuf0 = xmalloc((size_t)(rows * 33) * sizeof(T));
    model.gbuf1 = xmalloc((size_t)(rows * 33) * sizeof(T));
    model.rows_cap = rows;
    model.workspace = ws_bytes ? xmalloc((size_t)ws_bytes) : NULL;
    model.workspace_bytes = ws_bytes;
    T *x = TN(random_array)(rows * widths[0], 1.0);
    char what[160];
    for (int64_t n = 1; n <= rows; n += 18) {
        K(model_forward)(&model, x, n);
        const T *in = x;
        for (int l = 0; l < n_layers; l++) {
            K(dense_forward)(acts_ref[l], pres_ref[l], in, params + layers[l].w_off, params + layers[l].b_off, n,
                             widths[l], widths[l + 1], layers[l].act, 0.0, model.workspace, ws_bytes);
            snprintf(what, sizeof what, "model_forward_%s n=%lld layer %d", TYPE_NAME, (long long)n, l);
            TN(check_exact)(what, (const T *)acts[l], acts_ref[l], n * widths[l + 1]);
            if (pres[l]) TN(check_exact)(what, (const T *)pres[l], pres_ref[l], n * widths[l + 1]);
            in = acts_ref[l];
        }
        TN(hvp_forward_case)(&model, x, n, acts_ref, pres_ref);
        T *g = TN(random_array)(n * widths[n_layers], 1.0), *g_ref = TN(copy_array)(g, n * widths[n_layers]);
        T *gx = (T *)xmalloc((size_t)(n * widths[0]) * sizeof(T));
        T *gx_ref = (T *)xmalloc((size_t)(n * widths[0]) * sizeof(T));
        T *cur = g_ref, *tmp[3];
        K(model_backward)(&model, x, g, gx, n, 1.0);
        for (int l = (int)n_layers - 1; l >= 0; l--) {
            tmp[l] = l > 0 ? (T *)xmalloc((size_t)(n * widths[l]) * sizeof(T)) : gx_ref;
            K(dense_backward)(tmp[l], grads_ref + layers[l].w_off, grads_ref + layers[l].b_off, cur,
                              l > 0 ? acts_ref[l - 1] : x, params + layers[l].w_off,
                              pres_ref[l] ? pres_ref[l] : acts_ref[l], n, widths[l],
                              widths[l + 1], layers[l].act, 0.0, 1.0, model.workspace, ws_bytes);
            if (cur != g_ref) free(cur);
            cur = tmp[l];
        }
        snprintf(what, sizeof what, "model_backward_%s n=%lld grads", TYPE_NAME, (long long)n);
        TN(check_exact)(what, grads, grads_ref, n_params);
        snprintf(what, sizeof what, "model_backward_%s n=%lld grad_x", TYPE_NAME, (long long)n);
        TN(check_exact)(what, gx, gx_ref, n * widths[0]);
        free(g), free(g_ref), free(gx), free(gx_ref);
    }
    for (int l = 0; l < n_layers; l++) free(acts[l]), free(acts_ref[l]), free(pres[l]), free(pres_ref[l]);
    free(params), free(grads), free(grads_ref), free(model.gbuf0), free(model.gbuf1), free(model.workspace), free(x);
}

#undef TN
#undef K
#undef EPS
#undef TINY
#undef TYPE_NAME
