/* Included by optim.c once per element type T (suffix SFX). The dispatched optimizer step: the
 * range [0, n) is split into contiguous chunks, one per thread; each chunk runs a loop
 * specialized for the configuration's flags (so the compiler vectorizes it) over the element
 * updates of optim_elem_template.h. Elements never interact, so the result does not depend on
 * the thread count or target. */

#define OT_(name) FG_CAT2(name, SFX)

/* The update of elements [begin, end). */
static void OT_(optim_range)(const fg_optim_coefs *c, T *FG_RESTRICT params, const T *FG_RESTRICT grads,
                             T *state, int64_t stride, int64_t begin, int64_t end)
{
    FG_CAT2(fg_optim_tcoefs, SFX) t;
    OT_(fg_optim_tcoefs_from)(&t, c);
    T *FG_RESTRICT s0 = c->slots > 0 ? state : NULL;
    T *FG_RESTRICT s1 = c->slots > 1 ? state + stride : NULL;
    T *FG_RESTRICT s2 = c->slots > 2 ? state + 2 * stride : NULL;
    if (c->first) {
        /* Fresh state: zeros, or AdaGrad's initial accumulator value. */
        const T init = c->kind == FG_OPT_ADAGRAD ? t.init_acc : (T)0;
        for (int s = 0; s < c->slots; s++) {
            T *FG_RESTRICT x = state + s * stride;
            for (int64_t i = begin; i < end; i++) x[i] = init;
        }
    }
    switch (c->kind) {
    case FG_OPT_SGD:
        if (!c->has_momentum) {
            for (int64_t i = begin; i < end; i++) OT_(fg_elem_sgd)(&t, params + i, grads[i], NULL, 0, 0);
        } else if (!c->nesterov) {
            for (int64_t i = begin; i < end; i++) OT_(fg_elem_sgd)(&t, params + i, grads[i], s0 + i, 1, 0);
        } else {
            for (int64_t i = begin; i < end; i++) OT_(fg_elem_sgd)(&t, params + i, grads[i], s0 + i, 1, 1);
        }
        if (c->noisy) {
            const uint64_t key = fg_noise_key(c->noise_seed, c->step);
            for (int64_t i = begin; i < end; i++)
                params[i] = params[i] + t.noise_scale * (T)fg_noise_normal(key, i);
        }
        break;
    case FG_OPT_ADAGRAD:
        for (int64_t i = begin; i < end; i++) OT_(fg_elem_adagrad)(&t, params + i, grads[i], s0 + i);
        break;
    case FG_OPT_RMSPROP: {
        T *FG_RESTRICT avg = c->slot_avg >= 0 ? state + c->slot_avg * stride : NULL;
        T *FG_RESTRICT buf = c->slot_buf >= 0 ? state + c->slot_buf * stride : NULL;
        if (!c->centered && !c->has_momentum) {
            for (int64_t i = begin; i < end; i++)
                OT_(fg_elem_rmsprop)(&t, params + i, grads[i], s0 + i, NULL, NULL, 0, 0);
        } else if (!c->centered) {
            for (int64_t i = begin; i < end; i++)
                OT_(fg_elem_rmsprop)(&t, params + i, grads[i], s0 + i, NULL, buf + i, 0, 1);
        } else if (!c->has_momentum) {
            for (int64_t i = begin; i < end; i++)
                OT_(fg_elem_rmsprop)(&t, params + i, grads[i], s0 + i, avg + i, NULL, 1, 0);
        } else {
            for (int64_t i = begin; i < end; i++)
                OT_(fg_elem_rmsprop)(&t, params + i, grads[i], s0 + i, avg + i, buf + i, 1, 1);
        }
        break;
    }
    case FG_OPT_ADAM:
    case FG_OPT_ADAMW: {
        /* The common configuration (no weight decay) and the lerp form get loops of their own. */
        T *FG_RESTRICT vmax = c->amsgrad ? s2 : NULL;
        const int has_wd = c->wd != 0.0, has_decay = c->decay != 1.0;
#define OT_ADAM_LOOP(AMS, WD, DECAY, SMALL)                                                  \
        for (int64_t i = begin; i < end; i++)                                                \
            OT_(fg_elem_adam)(&t, params + i, grads[i], s0 + i, s1 + i, AMS ? vmax + i : NULL, \
                              AMS, WD, DECAY, SMALL)
        if (!has_wd && !has_decay) {
            if (!c->amsgrad && t.avg_small) OT_ADAM_LOOP(0, 0, 0, 1);
            else if (!c->amsgrad) OT_ADAM_LOOP(0, 0, 0, 0);
            else if (t.avg_small) OT_ADAM_LOOP(1, 0, 0, 1);
            else OT_ADAM_LOOP(1, 0, 0, 0);
        } else if (!c->amsgrad) {
            OT_ADAM_LOOP(0, has_wd, has_decay, t.avg_small);
        } else {
            OT_ADAM_LOOP(1, has_wd, has_decay, t.avg_small);
        }
#undef OT_ADAM_LOOP
        break;
    }
    default:
        for (int64_t i = begin; i < end; i++) OT_(fg_elem_update)(&t, c, params, grads, state, stride, i);
        break;
    }
}

void FG_FN(FG_CAT2(fg_optim_step, SFX))(T *params, const T *grads, T *state, int64_t state_stride,
                                        int64_t n, const fg_optim_config *cfg)
{
    if (n <= 0) return;
    fg_optim_coefs c;
    fg_optim_prepare(&c, cfg);
    if (c.kind < 0) return;
    /* The noise generator costs ~30 ns an element, so noisy SGD splits smaller work. */
    const int nt = fg_threads_for(n, c.noisy ? OPTIM_NOISE_GRAIN : OPTIM_GRAIN);
    FG_FOR_RANGES(nt, n, 64, OT_(optim_range)(&c, params, grads, state, state_stride, begin, end));
}

#undef OT_
