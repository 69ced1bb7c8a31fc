/* Included by optim_internal.h once per element type T (suffix SFX): see fg_each_type.h.
 * The update rules of every optimizer, in one place: the per-call coefficients and state slots
 * (fg_optim_prepare, once), then the single-element updates. Both the dispatched loops
 * (optim_template.h) and the reference twins (optim_ref.c) call them, so they cannot drift apart.
 * Coefficients are rounded to T once, as torch does when it applies a Python scalar to a tensor;
 * each line follows torch.optim's operation order (noted on the right).
 *
 * A new optimizer writes its coefficients and slots in fg_optim_prepare, its element update
 * below and its case in fg_elem_update; the loops then run it. A loop of its own in
 * optim_template.h (as SGD, RMSProp and Adam have, specialized on their flags) is an optional
 * speed-up. */

#ifndef FG_OPTIM_PREPARE_ONCE
#define FG_OPTIM_PREPARE_ONCE
/* Everything the element updates need, computed once per call in double from the config. */
typedef struct fg_optim_coefs {
    int kind;
    int first;             /* step <= 1: the state is initialized before it is read */
    double sign;           /* -1 when maximizing: d = sign*g (+ weight decay) */
    double wd;             /* weight decay added to the gradient (0 for AdamW) */
    double decay;          /* AdamW: params *= 1 - lr*weight_decay first (1 otherwise) */
    double neg_lr;         /* -lr (SGD, RMSProp), -lr/(1+(step-1)*lr_decay) (AdaGrad), -lr/(1-beta1^step) (Adam) */
    int has_momentum, nesterov, centered, amsgrad, noisy;
    double momentum;       /* SGD (Nesterov term), RMSProp */
    double buf_momentum;   /* SGD buffer decay: momentum, 0 at the first step (buf = d) */
    double buf_gain;       /* SGD: 1 - dampening, 1 at the first step */
    double noise_scale;    /* noise_std * sqrt(lr) */
    uint64_t noise_seed;
    int64_t step;
    double eps, init_acc;
    double avg_weight;     /* lerp weight of the running mean: 1 - beta1 (Adam), 1 - alpha (RMSProp) */
    double sq_decay;       /* beta2 (Adam), alpha (RMSProp) */
    double sq_gain;        /* 1 - beta2 (Adam), 1 - alpha (RMSProp) */
    double inv_bc2_sqrt;   /* 1 / sqrt(1 - beta2^step) (Adam) */
    /* state slot indices, -1 when unused */
    int slot_buf, slot_sum, slot_sq, slot_avg, slot_max;
    int slots;
} fg_optim_coefs;

FG_INLINE void fg_optim_prepare(fg_optim_coefs *c, const fg_optim_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->kind = cfg->kind;
    c->step = cfg->step;
    c->first = cfg->step <= 1;
    c->sign = cfg->maximize ? -1.0 : 1.0;
    c->wd = cfg->weight_decay;
    c->decay = 1.0;
    c->neg_lr = -cfg->lr;
    c->eps = cfg->eps;
    c->slot_buf = c->slot_sum = c->slot_sq = c->slot_avg = c->slot_max = -1;
    switch (cfg->kind) {
    case FG_OPT_SGD:
        c->has_momentum = cfg->momentum != 0.0;
        c->nesterov = c->has_momentum && cfg->nesterov;
        c->momentum = cfg->momentum;
        c->buf_momentum = c->first ? 0.0 : cfg->momentum;
        c->buf_gain = c->first ? 1.0 : 1.0 - cfg->dampening;
        c->noisy = cfg->noise_std != 0.0;
        c->noise_scale = cfg->noise_std * sqrt(cfg->lr);
        c->noise_seed = cfg->noise_seed;
        if (c->has_momentum) c->slot_buf = c->slots++;
        break;
    case FG_OPT_ADAGRAD:
        c->neg_lr = -cfg->lr / (1.0 + (double)(cfg->step - 1) * cfg->lr_decay);
        c->init_acc = cfg->initial_accumulator_value;
        c->slot_sum = c->slots++;
        break;
    case FG_OPT_RMSPROP:
        c->has_momentum = cfg->momentum > 0.0;
        c->centered = cfg->centered != 0;
        c->momentum = cfg->momentum;
        c->avg_weight = 1.0 - cfg->alpha;
        c->sq_decay = cfg->alpha;
        c->sq_gain = 1.0 - cfg->alpha;
        c->slot_sq = c->slots++;
        if (c->centered) c->slot_avg = c->slots++;
        if (c->has_momentum) c->slot_buf = c->slots++;
        break;
    case FG_OPT_ADAMAX:
        c->neg_lr = -cfg->lr / (1.0 - pow(cfg->beta1, (double)(cfg->step < 1 ? 1 : cfg->step)));
        c->avg_weight = 1.0 - cfg->beta1;
        c->sq_decay = cfg->beta2;
        c->slot_avg = c->slots++;
        c->slot_sq = c->slots++;
        break;
    case FG_OPT_ADAM:
    case FG_OPT_ADAMW: {
        const double t = (double)(cfg->step < 1 ? 1 : cfg->step);
        c->amsgrad = cfg->amsgrad != 0;
        c->neg_lr = -cfg->lr / (1.0 - pow(cfg->beta1, t));
        c->inv_bc2_sqrt = 1.0 / sqrt(1.0 - pow(cfg->beta2, t));
        c->avg_weight = 1.0 - cfg->beta1;
        c->sq_decay = cfg->beta2;
        c->sq_gain = 1.0 - cfg->beta2;
        if (cfg->kind == FG_OPT_ADAMW) {
            c->decay = 1.0 - cfg->lr * cfg->weight_decay;
            c->wd = 0.0;
        }
        c->slot_avg = c->slots++;
        c->slot_sq = c->slots++;
        if (c->amsgrad) c->slot_max = c->slots++;
        break;
    }
    default:
        c->kind = -1; /* unknown kind: the kernels change nothing */
        break;
    }
}

#endif

#define OE_(name) FG_CAT2(name, SFX)

typedef struct OE_(fg_optim_tcoefs) {
    T sign, wd, decay, neg_lr, momentum, buf_momentum, buf_gain, noise_scale, eps, init_acc;
    T avg_weight, avg_keep, sq_decay, sq_gain, inv_bc2_sqrt;
    int avg_small; /* lerp form: weight < 0.5 */
    int has_wd;    /* wd != 0 */
} OE_(fg_optim_tcoefs);

FG_INLINE void OE_(fg_optim_tcoefs_from)(OE_(fg_optim_tcoefs) *t, const fg_optim_coefs *c)
{
    t->sign = (T)c->sign;
    t->wd = (T)c->wd;
    t->has_wd = c->wd != 0.0;
    t->decay = (T)c->decay;
    t->neg_lr = (T)c->neg_lr;
    t->momentum = (T)c->momentum;
    t->buf_momentum = (T)c->buf_momentum;
    t->buf_gain = (T)c->buf_gain;
    t->noise_scale = (T)c->noise_scale;
    t->eps = (T)c->eps;
    t->init_acc = (T)c->init_acc;
    t->avg_weight = (T)c->avg_weight;
    t->avg_keep = (T)1 - t->avg_weight;
    t->avg_small = c->avg_weight < 0.5;
    t->sq_decay = (T)c->sq_decay;
    t->sq_gain = (T)c->sq_gain;
    t->inv_bc2_sqrt = (T)c->inv_bc2_sqrt;
}

/* torch.lerp(a, b, w) = a + w·(b − a), computed as b − (b − a)·(1 − w) when w >= 0.5 */
FG_INLINE T OE_(fg_lerp)(const OE_(fg_optim_tcoefs) *t, T a, T b)
{
    return t->avg_small ? a + t->avg_weight * (b - a) : b - (b - a) * t->avg_keep;
}

/* d = sign·g + wd·p, the gradient with weight decay (grad.add(param, alpha=wd)). As in torch, the
   decay term is added only when wd != 0 (has_wd), so an infinite parameter does not turn d into
   0·inf = NaN. has_wd is a parameter so that a loop can pass a constant. */
FG_INLINE T OE_(fg_decayed_grad)(const OE_(fg_optim_tcoefs) *t, T g, T p, const int has_wd)
{
    return has_wd ? t->sign * g + t->wd * p : t->sign * g;
}

/* SGD. d = sign·g + wd·p; with momentum: buf = momentum·buf + (1 − dampening)·d (buf = d at the
   first step), d = d + momentum·buf (Nesterov) or d = buf; p = p − lr·d. */
FG_INLINE void OE_(fg_elem_sgd)(const OE_(fg_optim_tcoefs) *t, T *p, T g, T *buf,
                                const int has_momentum, const int nesterov)
{
    T d = OE_(fg_decayed_grad)(t, g, *p, t->has_wd);
    if (has_momentum) {
        *buf = *buf * t->buf_momentum + t->buf_gain * d; /* buf.mul_(m).add_(d, alpha=1-damp) */
        d = nesterov ? d + t->momentum * *buf : *buf;    /* d.add(buf, alpha=m) */
    }
    *p = *p + t->neg_lr * d;                            /* param.add_(d, alpha=-lr) */
}

/* AdaGrad. d = sign·g + wd·p; sum = sum + d²; p = p − clr·d / (√sum + eps). */
FG_INLINE void OE_(fg_elem_adagrad)(const OE_(fg_optim_tcoefs) *t, T *p, T g, T *sum)
{
    const T d = OE_(fg_decayed_grad)(t, g, *p, t->has_wd);
    *sum = *sum + d * d;                                /* state_sum.addcmul_(d, d, value=1) */
    const T std = FG_MATH(sqrt)(*sum) + t->eps;               /* state_sum.sqrt().add_(eps) */
    *p = *p + t->neg_lr * d / std;                      /* param.addcdiv_(d, std, value=-clr) */
}

/* RMSProp. d = sign·g + wd·p; sq = α·sq + (1 − α)·d²; centered: avg = lerp(avg, d, 1 − α),
   den = √(sq − avg²) + eps, else den = √sq + eps; momentum: buf = momentum·buf + d/den,
   p = p − lr·buf; else p = p − lr·d/den. */
FG_INLINE void OE_(fg_elem_rmsprop)(const OE_(fg_optim_tcoefs) *t, T *p, T g, T *sq, T *avg, T *buf,
                                    const int centered, const int has_momentum)
{
    const T d = OE_(fg_decayed_grad)(t, g, *p, t->has_wd);
    *sq = *sq * t->sq_decay + t->sq_gain * d * d;       /* square_avg.mul_(α).addcmul_(d, d, value=1-α) */
    T den;
    if (centered) {
        *avg = OE_(fg_lerp)(t, *avg, d);                /* grad_avg.lerp_(d, 1-α) */
        T var = *sq - *avg * *avg;                      /* square_avg.addcmul(avg, avg, value=-1).sqrt_() */
        /* The variance is never negative (a running mean of squares is at least the square of
           the running mean), so a negative difference is rounding: a constant gradient leaves
           sq and avg² an ulp apart either way, and its square root made the parameter NaN.
           Once sq has overflowed the variance is infinite, as torch's fused multiply-add finds,
           not inf - inf = NaN when avg² overflows too. NaN still propagates. */
        var = var < (T)0 ? (T)0 : var;
        var = *sq == (T)INFINITY ? *sq : var;
        den = FG_MATH(sqrt)(var);
    } else {
        den = FG_MATH(sqrt)(*sq);
    }
    den = den + t->eps;
    if (has_momentum) {
        *buf = *buf * t->momentum + d / den;            /* buf.mul_(m).addcdiv_(d, den) */
        *p = *p + t->neg_lr * *buf;                     /* param.add_(buf, alpha=-lr) */
    } else {
        *p = *p + t->neg_lr * d / den;                  /* param.addcdiv_(d, den, value=-lr) */
    }
}

/* Adam / AdamW. AdamW first: p = (1 − lr·wd)·p. d = sign·g (+ wd·p for Adam); m = lerp(m, d, 1 − β1);
   v = β2·v + (1 − β2)·d²; amsgrad: vmax = max(vmax, v), v̂ = vmax, else v̂ = v;
   p = p − (lr/(1 − β1^t))·m / (√v̂ / √(1 − β2^t) + eps).
   As in torch, weight decay touches p and d only when it is nonzero (has_wd: Adam's term in d,
   has_decay: AdamW's factor on p).
   `small` is the lerp form (t->avg_small); the flags are parameters so that the dispatched loops
   can pass constants and get one specialized, vectorized loop per combination.
   One difference from torch's operation order: √v̂ is multiplied by the reciprocal of √(1 − β2^t)
   rather than divided by it (at most 1 ulp apart in the denominator), because the division unit
   is the bottleneck of this loop when the buffers sit in cache: 2 divisions and a square root per
   element cost ~25% more than 1 and 1. */
FG_INLINE void OE_(fg_elem_adam)(const OE_(fg_optim_tcoefs) *t, T *p, T g, T *m, T *v, T *vmax,
                                 const int amsgrad, const int has_wd, const int has_decay,
                                 const int small)
{
    const T p0 = has_decay ? *p * t->decay : *p;        /* param.mul_(1 - lr*wd) (AdamW) */
    const T d = OE_(fg_decayed_grad)(t, g, p0, has_wd); /* (Adam) */
    *m = small ? *m + t->avg_weight * (d - *m) : d - (d - *m) * t->avg_keep; /* exp_avg.lerp_(d, 1-β1) */
    *v = *v * t->sq_decay + t->sq_gain * d * d;         /* exp_avg_sq.mul_(β2).addcmul_(d, d, value=1-β2) */
    T vhat = *v;
    if (amsgrad) {
        if (*vmax < vhat || vhat != vhat) *vmax = vhat; /* torch.maximum (NaN propagates) */
        vhat = *vmax;
    }
    const T den = FG_MATH(sqrt)(vhat) * t->inv_bc2_sqrt + t->eps; /* (v.sqrt() / bc2_sqrt).add_(eps) */
    *p = p0 + t->neg_lr * *m / den;                     /* param.addcdiv_(m, den, value=-lr/bc1) */
}

/* Adamax. d = sign·g + wd·p; m = lerp(m, d, 1 − β1); u = max(β2·u, |d| + eps);
   p = p − (lr/(1 − β1^t))·m/u. */
FG_INLINE void OE_(fg_elem_adamax)(const OE_(fg_optim_tcoefs) *t, T *p, T g, T *m, T *u)
{
    const T d = OE_(fg_decayed_grad)(t, g, *p, t->has_wd);
    *m = OE_(fg_lerp)(t, *m, d);                        /* exp_avg.lerp_(d, 1-β1) */
    const T decayed = *u * t->sq_decay, a = FG_MATH(fabs)(d) + t->eps;
    *u = (decayed < a || a != a) ? a : decayed;         /* torch.maximum(u.mul_(β2), d.abs().add_(eps)) */
    *p = *p + t->neg_lr * *m / *u;                      /* param.addcdiv_(m, u, value=-clr) */
}

/* Element i of the kinds without a loop of their own in optim_template.h, for both loops; the
 * slots are state + slot * stride + i (fg_optim_prepare). */
FG_INLINE void OE_(fg_elem_update)(const OE_(fg_optim_tcoefs) *t, const fg_optim_coefs *c, T *params,
                                   const T *grads, T *state, int64_t stride, int64_t i)
{
    switch (c->kind) {
    case FG_OPT_ADAMAX:
        OE_(fg_elem_adamax)(t, params + i, grads[i], state + c->slot_avg * stride + i,
                            state + c->slot_sq * stride + i);
        break;
    default: break;
    }
}

#undef OE_
