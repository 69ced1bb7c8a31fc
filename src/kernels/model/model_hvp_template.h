/* The R-operator pass of fg_hvp.h for element type T (suffix SFX). The includer defines
 *   HVP_NAME                 the function's name
 *   HVP_GEMM(C, ldc, A, lda, trans_a, B, ldb, trans_b, m, n, k, beta, bias, act, alpha)
 *   HVP_LOSS(grad, pred, n, c, spec)   the loss kernel (fg_loss.h contract)
 *   HVP_DENSE_FORWARD(out, pre, x, W, b, n, k, m, act, alpha)   a layer's forward pass
 *                            (fg_dense_forward's contract; pre NULL or the kept z)
 * so that the dispatched build (model_hvp.c, this target's GEMM, loss and the training
 * forward's dense_forward) and the reference twin (model_hvp_ref.c, plain loops) run the same
 * algorithm. Undefines T, SFX, HVP_NAME, HVP_GEMM and HVP_LOSS; HVP_DENSE_FORWARD, written once
 * for both types with SFX, stays. */

/* out (n, c) = ∇²ℓ · r for the loss `spec` at pred (n, c): the same reduction, weights and
 * scale as the loss kernel. Per row i (s_i the sample weight, coef the reduction's 1/D times
 * spec->scale):
 *   SOFTMAX_CE  coef s_i A_i (p ⊙ r - p (pᵀr)),  p = softmax(z_i), A_i = Σ_j a_ij (fg_loss.h)
 *   BCE         coef s_i σ(z)(1 - σ(z)) r / c
 *   MSE         coef s_i 2 r / c
 *   MAE         0 (the kink aside, the loss is linear)
 *   HUBER       coef s_i r / c where |p - t| <= delta, else 0
 *   POISSON     coef s_i exp(z) r / c (log link)
 * The elementwise kinds' second derivatives are fg_loss_elem_curvature's (fg_loss_elem.h).
 * Returns 0, or -1 for a kind it does not know. */
static int FG_CAT2(loss_hessian_vector, SFX)(T *FG_RESTRICT out, const T *FG_RESTRICT pred,
                                               const T *FG_RESTRICT r, int64_t n, int64_t c,
                                               const fg_loss_spec *spec)
{
    const T *target = (const T *)spec->target, *sw = (const T *)spec->sample_weight;
    const T *cw = (const T *)spec->class_weight;
    const int ce = spec->kind == FG_LOSS_SOFTMAX_CE;
    if (spec->kind < 0 || spec->kind >= FG_LOSS_COUNT) return -1;
    const double eps = ce ? spec->label_smoothing : 0.0, eps_c = eps / (double)c;
    double denominator = 0.0, class_weight_sum = (double)c;
    for (int64_t i = 0; i < n; i++) {
        const double s = sw ? (double)sw[i] : 1.0;
        if (ce && spec->labels && cw) {
            const int64_t y = fg_label(spec->labels, i, c);
            denominator += s * (y < 0 ? NAN : (double)cw[y]);
        } else {
            denominator += s;
        }
    }
    if (ce && cw) {
        class_weight_sum = 0.0;
        for (int64_t j = 0; j < c; j++) class_weight_sum += (double)cw[j];
    }
    double coef = spec->scale;
    /* a NaN denominator (a label changed since the check) keeps the result NaN */
    if (spec->reduction == FG_REDUCE_MEAN) coef *= !(denominator <= 0.0) ? 1.0 / denominator : 0.0;

    for (int64_t i = 0; i < n; i++) {
        const T *FG_RESTRICT z = pred + i * c, *FG_RESTRICT ri = r + i * c;
        T *FG_RESTRICT o = out + i * c;
        const double s = sw ? (double)sw[i] : 1.0;
        if (ce) {
            double a_total;
            if (spec->labels) {
                const int64_t y = fg_label(spec->labels, i, c);
                const double wy = y < 0 ? NAN : cw ? (double)cw[y] : 1.0;
                a_total = (1.0 - eps) * wy + eps_c * class_weight_sum;
            } else {
                a_total = 0.0;
                for (int64_t j = 0; j < c; j++)
                    a_total += (cw ? (double)cw[j] : 1.0) * ((1.0 - eps) * (double)target[i * c + j] + eps_c);
            }
            double zmax = -INFINITY, sum = 0.0, pr = 0.0;
            for (int64_t j = 0; j < c; j++) zmax = (double)z[j] > zmax ? (double)z[j] : zmax;
            for (int64_t j = 0; j < c; j++) {
                const double e = exp((double)z[j] - zmax);
                sum += e;
                pr += e * (double)ri[j];
            }
            pr /= sum;
            const double k = coef * s * a_total / sum;
            for (int64_t j = 0; j < c; j++) o[j] = (T)(k * exp((double)z[j] - zmax) * ((double)ri[j] - pr));
            continue;
        }
        const double k = coef * s / (double)c;
        for (int64_t j = 0; j < c; j++) {
            const double t = target ? (double)target[i * c + j] : 0.0;
            o[j] = (T)(k * fg_loss_elem_curvature(spec->kind, (double)z[j], t, spec->delta) * (double)ri[j]);
        }
    }
    return 0;
}

/* hv_b (m) := beta*hv_b + Σ_rows rd (n, m), rows in order. */
static void FG_CAT2(hvp_bias, SFX)(T *FG_RESTRICT hv_b, const T *FG_RESTRICT rd, int64_t n, int64_t m,
                                   double beta)
{
    if (beta == 0.0)
        for (int64_t j = 0; j < m; j++) hv_b[j] = 0;
    else if (beta != 1.0)
        for (int64_t j = 0; j < m; j++) hv_b[j] = (T)beta * hv_b[j];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) hv_b[j] += rd[i * m + j];
}

/* Elements of scratch before layer l's R(z_l). */
static int64_t FG_CAT2(hvp_layer_offset, SFX)(const fg_model *m, int64_t l, int64_t n)
{
    int64_t off = 0;
    for (int64_t i = 0; i < l; i++) off += 2 * n * m->layers[i].out;
    return off;
}

double HVP_NAME(const fg_model *m, T *hv, const T *v, const T *x, int64_t n, const fg_loss_spec *spec,
                int gauss_newton, double beta, T *scratch, int forward_done)
{
    const int64_t L = m->n_layers;
    const fg_model_layer *last = &m->layers[L - 1];
    const int64_t c = last->out;
    const T *params = (const T *)m->params;
    int64_t max_width = 0;
    for (int64_t l = 0; l < L; l++) max_width = fg_max_i64(max_width, fg_max_i64(m->layers[l].in, m->layers[l].out));

    /* scratch: R(z_l) then R(a_l) for every layer, then the two R(g) buffers */
#define RZ(l) (scratch + FG_CAT2(hvp_layer_offset, SFX)(m, l, n))
#define RA(l) (RZ(l) + n * m->layers[l].out)
    /* what act', act'' of layer l take (fg_act.h): z when kept, else the output */
#define HVP_SAVED(l) ((const T *)(fg_act_grad_from_pre(m->layers[l].act) ? m->pres[l] : m->acts[l]))
    if (n < 1) return NAN;
    T *rg = RZ(L), *rg_next = rg + n * max_width;

    /* 1. forward (unless m->acts hold it already) and the forward R-pass */
    for (int64_t l = 0; l < L; l++) {
        const fg_model_layer *Ly = &m->layers[l];
        const T *in = l > 0 ? (const T *)m->acts[l - 1] : x;
        T *o = (T *)m->acts[l];
        if (fg_act_grad_from_pre(Ly->act) && !(m->pres && m->pres[l])) return NAN;
        /* z is kept where act' and act'' are functions of it, as the training forward keeps it */
        if (!forward_done)
            HVP_DENSE_FORWARD(o, m->pres ? (T *)m->pres[l] : NULL, in, params + Ly->w_off, params + Ly->b_off, n,
                              Ly->in, Ly->out, Ly->act, Ly->act_alpha);
        HVP_GEMM(RZ(l), Ly->out, in, Ly->in, 0, v + Ly->w_off, Ly->out, 0, n, Ly->out, Ly->in, 0.0,
                 v + Ly->b_off, FG_ACT_IDENTITY, 0.0);
        if (l > 0)
            HVP_GEMM(RZ(l), Ly->out, RA(l - 1), Ly->in, 0, params + Ly->w_off, Ly->out, 0, n, Ly->out,
                     Ly->in, 1.0, NULL, FG_ACT_IDENTITY, 0.0);
        const int64_t size = n * Ly->out;
        const T alpha = (T)Ly->act_alpha;
        T *FG_RESTRICT rz = RZ(l), *FG_RESTRICT ra = RA(l);
        const T *FG_RESTRICT u = HVP_SAVED(l);
        for (int64_t e = 0; e < size; e++) ra[e] = FG_CAT2(fg_act_backward, SFX)(rz[e], u[e], Ly->act, alpha);
    }

    /* 2. the loss, its gradient on the outputs (g) and its Hessian applied to R(a_L) */
    T *g = (T *)m->gbuf0, *g_next = (T *)m->gbuf1;
    const double loss = HVP_LOSS(g, (const T *)m->acts[L - 1], n, c, spec);
    if (isnan(loss)) return loss;
    if (FG_CAT2(loss_hessian_vector, SFX)(rg, (const T *)m->acts[L - 1], RA(L - 1), n, c, spec) != 0) return NAN;

    /* 3. backward and the backward R-pass, last layer first */
    for (int64_t l = L - 1; l >= 0; l--) {
        const fg_model_layer *Ly = &m->layers[l];
        const T *in = l > 0 ? (const T *)m->acts[l - 1] : x;
        const T *u = HVP_SAVED(l);
        const int64_t size = n * Ly->out;
        const T alpha = (T)Ly->act_alpha;
        /* R(δ) in rg; δ in g (full Hessian only) */
        if (gauss_newton) {
            for (int64_t e = 0; e < size; e++) rg[e] = FG_CAT2(fg_act_backward, SFX)(rg[e], u[e], Ly->act, alpha);
        } else if (fg_act_is_piecewise_linear(Ly->act)) {
            for (int64_t e = 0; e < size; e++) {
                rg[e] = FG_CAT2(fg_act_backward, SFX)(rg[e], u[e], Ly->act, alpha);
                g[e] = FG_CAT2(fg_act_backward, SFX)(g[e], u[e], Ly->act, alpha);
            }
        } else {
            const T *FG_RESTRICT rz = RZ(l);
            for (int64_t e = 0; e < size; e++) {
                const T d1 = FG_CAT2(fg_act_grad, SFX)(u[e], Ly->act, alpha);
                const T d2 = (T)fg_act_grad2((double)u[e], Ly->act);
                rg[e] = rg[e] * d1 + g[e] * d2 * rz[e];
                g[e] = g[e] * d1;
            }
        }
        T *hv_w = hv + Ly->w_off;
        HVP_GEMM(hv_w, Ly->out, in, Ly->in, 1, rg, Ly->out, 0, Ly->in, Ly->out, n, beta, NULL,
                 FG_ACT_IDENTITY, 0.0);
        if (!gauss_newton && l > 0)
            HVP_GEMM(hv_w, Ly->out, RA(l - 1), Ly->in, 1, g, Ly->out, 0, Ly->in, Ly->out, n, 1.0, NULL,
                     FG_ACT_IDENTITY, 0.0);
        FG_CAT2(hvp_bias, SFX)(hv + Ly->b_off, rg, n, Ly->out, beta);
        if (l == 0) break;
        /* R(g_{l-1}) = R(δ)·Wᵀ (+ δ·Vᵀ), g_{l-1} = δ·Wᵀ */
        HVP_GEMM(rg_next, Ly->in, rg, Ly->out, 0, params + Ly->w_off, Ly->out, 1, n, Ly->in, Ly->out, 0.0,
                 NULL, FG_ACT_IDENTITY, 0.0);
        if (!gauss_newton) {
            HVP_GEMM(rg_next, Ly->in, g, Ly->out, 0, v + Ly->w_off, Ly->out, 1, n, Ly->in, Ly->out, 1.0,
                     NULL, FG_ACT_IDENTITY, 0.0);
            HVP_GEMM(g_next, Ly->in, g, Ly->out, 0, params + Ly->w_off, Ly->out, 1, n, Ly->in, Ly->out, 0.0,
                     NULL, FG_ACT_IDENTITY, 0.0);
            T *t = g;
            g = g_next;
            g_next = t;
        }
        T *t = rg;
        rg = rg_next;
        rg_next = t;
    }
    return loss;
#undef RZ
#undef RA
#undef HVP_SAVED
}

#undef T
#undef SFX
#undef HVP_NAME
#undef HVP_GEMM
#undef HVP_LOSS
