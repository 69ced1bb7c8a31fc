/* Included by loss.c once per element type T (suffix SFX; EXP, EXP_PORTABLE, LOG1P and
 * LOG1P_OF_DOUBLE of that type), which it undefines at its end for the next type. */

/* ---- portable row primitives (targets without SIMD; the others use loss_simd_template.h) ---- */
#if !FG_SIMD

static T FG_CAT2(row_max_scalar, SFX)(const T *FG_RESTRICT z, int64_t c)
{
    T m = -INFINITY;
    for (int64_t j = 0; j < c; j++) m = z[j] > m ? z[j] : m;
    return m;
}

/* Eight independent lane sums (shorter dependency chains; a shape compilers could vectorize
 * without reassociating anything), added in a fixed order at the end. */
#define EXP_SUM_LANES(STORE)                                                                      \
    for (; j + 8 <= c; j += 8)                                                                    \
        for (int l = 0; l < 8; l++) {                                                             \
            const T v = EXP_PORTABLE(z[j + l] - m);                                               \
            STORE;                                                                                \
            rest[l] += v == (T)1 ? (T)0 : v;                                                      \
            count[l] += v == (T)1 ? (T)1 : (T)0;                                                  \
        }

/* e_j = exp(z_j - m) (stored when e != NULL), split as Σ_j e_j = *ones + (returned rest): *ones
 * counts the e_j equal to 1 (the maxima), rest sums the others. Keeping the 1s apart lets the
 * caller take log Σ = log(ones) + log1p(rest/ones) without losing a tiny rest to rounding
 * (the loss of a confidently right row, e.g. log(1 + e^-30) for logits (30, 0) in float). */
static T FG_CAT2(row_exp_sum_scalar, SFX)(T *FG_RESTRICT e, const T *FG_RESTRICT z, int64_t c, T m,
                                          double *ones)
{
    T rest[8] = {0}, count[8] = {0};
    int64_t j = 0;
    if (e) {
        EXP_SUM_LANES(e[j + l] = v)
    } else {
        EXP_SUM_LANES((void)0)
    }
    for (int l = 0; j < c; j++, l++) {
        const T v = EXP_PORTABLE(z[j] - m);
        if (e) e[j] = v;
        rest[l] += v == (T)1 ? (T)0 : v;
        count[l] += v == (T)1 ? (T)1 : (T)0;
    }
    T total = 0, total_count = 0;
    for (int l = 0; l < 8; l++) {
        total += rest[l];
        total_count += count[l];
    }
    *ones = (double)total_count;
    return total;
}
#undef EXP_SUM_LANES

#endif

/* Σ_j l(p_j, t_j) of one row and grad_j = k dl/dp_j when g != NULL, in double (fg_loss_elem.h):
 * the portable build's elementwise losses, and the vector targets' for a kind without a vector
 * form in loss_simd_template.h. */
static double FG_CAT2(row_elementwise_scalar, SFX)(T *FG_RESTRICT g, const T *FG_RESTRICT p,
                                                   const T *FG_RESTRICT t, int64_t c, int kind,
                                                   T delta, T k)
{
    double row = 0.0;
    for (int64_t j = 0; j < c; j++) {
        double dl;
        row += fg_loss_elem(kind, (double)p[j], (double)t[j], (double)delta, &dl);
        if (g) g[j] = (T)((double)k * dl);
    }
    return row;
}


#if FG_SIMD
#define ROW_MAX FG_CAT2(row_max_simd, SFX)
#define ROW_EXP_SUM FG_CAT2(row_exp_sum_simd, SFX)
#define ROW_ELEMENTWISE FG_CAT2(row_elementwise_simd, SFX)
#else
#define ROW_MAX FG_CAT2(row_max_scalar, SFX)
#define ROW_EXP_SUM FG_CAT2(row_exp_sum_scalar, SFX)
#define ROW_ELEMENTWISE FG_CAT2(row_elementwise_scalar, SFX)
#endif

/* Softmax cross-entropy of rows [begin, end): returns total + Σ_i s_i l_i, summed in row order,
 * and, when grad != NULL, writes grad_i = coef s_i (A_i softmax(z_i) - a_i) (fg_loss.h); pred
 * and grad hold rows from `origin` on, spec's arrays every row. class_weight_sum = Σ_j w_j.
 * The loss is assembled as Σ_j a_j (max - z_j) + A log Σ_j exp(z_j - max): two sums of
 * non-negative terms, so logits of any finite magnitude lose nothing to cancellation, and the
 * log of the sum is taken as log1p of its part beyond the exact 1s (see row_exp_sum). */
static double FG_CAT2(softmax_ce_rows, SFX)(T *FG_RESTRICT grad, const T *FG_RESTRICT pred,
                                            int64_t origin, int64_t begin, int64_t end, int64_t c,
                                            const fg_loss_spec *spec, double coef,
                                            double class_weight_sum, double total)
{
    const T *target = (const T *)spec->target, *sw = (const T *)spec->sample_weight;
    const T *cw = (const T *)spec->class_weight;
    const double eps = spec->label_smoothing, eps_c = eps / (double)c;
    /* The log terms of SOFTMAX_LOG_BLOCK rows at a time are taken after those rows' vector work,
       in a loop of their own: a libm call amid that work costs more than the call itself (the
       vector registers are saved around it). Row i - from of a block keeps its loss before the
       log term, A, ones and rest / ones. */
    double row_loss[SOFTMAX_LOG_BLOCK], row_a[SOFTMAX_LOG_BLOCK], row_ones[SOFTMAX_LOG_BLOCK],
        row_q[SOFTMAX_LOG_BLOCK];
    int64_t from = begin;
    for (int64_t i = begin; i < end; i++) {
        const T *FG_RESTRICT z = pred + (i - origin) * c;
        T *FG_RESTRICT g = grad ? grad + (i - origin) * c : NULL;
        const double s = sw ? (double)sw[i] : 1.0;
        const T m = ROW_MAX(z, c);
        double ones; /* >= 1 for finite logits: exp(max - max) */
        const double rest = (double)ROW_EXP_SUM(g, z, c, m, &ones); /* g holds exp(z - m) */
        const double sum = ones + rest;
        double loss, a_total;
        if (spec->labels) {
            /* a label changed since the range check (y < 0) makes the row's loss and gradient NaN */
            const int64_t label = fg_label(spec->labels, i, c), y = label < 0 ? 0 : label;
            const double wy = label < 0 ? NAN : cw ? (double)cw[y] : 1.0;
            a_total = (1.0 - eps) * wy + eps_c * class_weight_sum;
            loss = (1.0 - eps) * wy * ((double)m - (double)z[y]);
            if (eps > 0.0) {
                double spread = 0.0; /* Σ_j w_j (m - z_j) */
                for (int64_t j = 0; j < c; j++)
                    spread += (cw ? (double)cw[j] : 1.0) * ((double)m - (double)z[j]);
                loss += eps_c * spread;
            }
            if (g) {
                const T r = (T)(coef * s * a_total / sum), k = (T)(coef * s * eps_c);
                if (cw)
                    for (int64_t j = 0; j < c; j++) g[j] = g[j] * r - k * cw[j];
                else
                    for (int64_t j = 0; j < c; j++) g[j] = g[j] * r - k;
                g[y] -= (T)(coef * s * (1.0 - eps) * wy);
            }
        } else {
            const T *FG_RESTRICT t = target + i * c;
            const T keep = (T)(1.0 - eps), spread = (T)eps_c;
            double a_sum = 0.0;
            loss = 0.0;
            for (int64_t j = 0; j < c; j++) {
                const double a = (double)((cw ? cw[j] : (T)1) * (keep * t[j] + spread));
                a_sum += a;
                loss += a * ((double)m - (double)z[j]);
            }
            a_total = a_sum;
            if (g) {
                const T r = (T)(coef * s * a_total / sum), k = (T)(coef * s);
                if (cw)
                    for (int64_t j = 0; j < c; j++) g[j] = g[j] * r - k * cw[j] * (keep * t[j] + spread);
                else
                    for (int64_t j = 0; j < c; j++) g[j] = g[j] * r - k * (keep * t[j] + spread);
            }
        }
        row_loss[i - from] = loss;
        row_a[i - from] = a_total;
        row_ones[i - from] = ones;
        row_q[i - from] = rest / ones;
        if (i + 1 - from < SOFTMAX_LOG_BLOCK && i + 1 < end) continue;
        for (int64_t row = from; row <= i; row++) { /* the block's rows, in order */
            const double ones_r = row_ones[row - from];
            total += (sw ? (double)sw[row] : 1.0) *
                     (row_loss[row - from] + row_a[row - from] * ((ones_r == 1.0 ? 0.0 : log(ones_r)) +
                                                              LOG1P_OF_DOUBLE(row_q[row - from])));
        }
        from = i + 1;
    }
    return total;
}

/* Elementwise losses (BCE from logits, MSE, MAE, Huber, Poisson) of rows [begin, end): each row's loss
 * is the mean over its c outputs; returns total + Σ_i s_i l_i, grad_ij = coef s_i dl_ij/dp_ij / c
 * (rows from `origin` on in pred and grad, as in softmax_ce_rows). */
static double FG_CAT2(elementwise_rows, SFX)(T *FG_RESTRICT grad, const T *FG_RESTRICT pred,
                                             int64_t origin, int64_t begin, int64_t end, int64_t c,
                                             const fg_loss_spec *spec, double coef, double total)
{
    const T *target = (const T *)spec->target, *sw = (const T *)spec->sample_weight;
    for (int64_t i = begin; i < end; i++) {
        const double s = sw ? (double)sw[i] : 1.0;
        const double row = ROW_ELEMENTWISE(grad ? grad + (i - origin) * c : NULL, pred + (i - origin) * c,
                                           target + i * c, c,
                                           spec->kind, (T)spec->delta, (T)(coef * s / (double)c));
        total += s * row / (double)c;
    }
    return total;
}

/* partial[ch] += Σ s_i l_i over the rows of chunk ch within [r0, r1), for ch in [first, last): the
 * sum goes on in row order from where the rows before r0 left it, from 0 at the chunk's start. */
static void FG_CAT2(loss_chunk_range, SFX)(double *partial, int64_t first, int64_t last, int chunks,
                                           T *grad, const T *pred, int64_t n, int64_t r0, int64_t r1,
                                           int64_t c, const fg_loss_spec *spec, double coef,
                                           double class_weight_sum)
{
    for (int64_t ch = first; ch < last; ch++) {
        int64_t begin, end;
        fg_split_range(n, chunks, (int)ch, 1, &begin, &end);
        const double from = begin < r0 ? partial[ch] : 0.0;
        begin = fg_max_i64(begin, r0);
        end = fg_min_i64(end, r1);
        if (begin >= end) continue;
        partial[ch] = spec->kind == FG_LOSS_SOFTMAX_CE
                          ? FG_CAT2(softmax_ce_rows, SFX)(grad, pred, r0, begin, end, c, spec, coef,
                                                          class_weight_sum, from)
                          : FG_CAT2(elementwise_rows, SFX)(grad, pred, r0, begin, end, c, spec, coef, from);
    }
}

double FG_FN(FG_CAT2(fg_loss_rows, SFX))(T *grad, const T *pred, int64_t n, int64_t c, const fg_loss_spec *spec,
                                         int64_t r0, int64_t r1, double *partial)
{
    if (!fg_loss_spec_is_valid(spec, n, c) || r0 < 0 || r1 < r0 || r1 > n) return NAN;
    /* what all n rows decide, once, at the first range (a range after it reads only its rows):
       the labels' check, and the MEAN denominator, so the gradient is written in one pass */
    double *all_rows = partial + FG_LOSS_MAX_CHUNKS; /* coef, class_weight_sum, labels in range (1) or not (0) */
    if (r0 == 0) all_rows[2] = !spec->labels || labels_in_range(spec->labels, n, c);
    if (all_rows[2] != 1.0) { /* a label outside [0, c): no loss, and no gradient (NaN) */
        if (grad)
            for (int64_t k = 0; k < (r1 - r0) * c; k++) grad[k] = (T)NAN;
        return NAN;
    }
    if (r0 == 0) {
        const T *sw = (const T *)spec->sample_weight, *cw = (const T *)spec->class_weight;
        double denominator = 0.0, class_weight_sum = (double)c;
        for (int64_t i = 0; i < n; i++) {
            const double s = sw ? (double)sw[i] : 1.0;
            if (spec->labels && cw) {
                const int64_t y = fg_label(spec->labels, i, c);
                denominator += s * (y < 0 ? NAN : (double)cw[y]);
            } else {
                denominator += s;
            }
        }
        if (cw) {
            class_weight_sum = 0.0;
            for (int64_t j = 0; j < c; j++) class_weight_sum += (double)cw[j];
        }
        double norm = 1.0;
        /* a NaN denominator (a label changed since the check) keeps the result NaN */
        if (spec->reduction == FG_REDUCE_MEAN) norm = !(denominator <= 0.0) ? 1.0 / denominator : 0.0;
        all_rows[0] = norm * spec->scale;
        all_rows[1] = class_weight_sum;
        for (int ch = 0; ch < FG_LOSS_MAX_CHUNKS; ch++) partial[ch] = 0.0;
    }
    const double coef = all_rows[0], class_weight_sum = all_rows[1];

    int chunks, nt;
    loss_chunks(n, c, &chunks, &nt);
    FG_FOR_RANGES(nt, chunks, 1,
                  FG_CAT2(loss_chunk_range, SFX)(partial, begin, end, chunks, grad, pred, n, r0, r1, c, spec, coef,
                                                 class_weight_sum));
    double total = 0.0;
    for (int ch = 0; ch < chunks; ch++) total += partial[ch];
    return total * coef;
}

double FG_FN(FG_CAT2(fg_loss, SFX))(T *grad, const T *pred, int64_t n, int64_t c,
                                    const fg_loss_spec *spec)
{
    double partial[FG_LOSS_ROWS_STATE];
    return FG_FN(FG_CAT2(fg_loss_rows, SFX))(grad, pred, n, c, spec, 0, n, partial);
}

#undef ROW_MAX
#undef ROW_EXP_SUM
#undef ROW_ELEMENTWISE
#undef T
#undef SFX
#undef EXP
#undef EXP_PORTABLE
#undef LOG1P
#undef LOG1P_OF_DOUBLE
