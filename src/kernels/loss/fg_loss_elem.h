/* Internal: the elementwise losses of enum fg_loss (registry/losses.h), one output at a time, in
 * double: the value l(p, t), its derivative dl/dp and its second derivative d²l/dp² (fg_loss.h
 * gives the formulas). The one place that defines them: the reference twin (loss_ref.c), the
 * portable kernels (loss_template.h, and the vector targets for the kinds without a vector form
 * in loss_simd_template.h) and the curvature products (model/model_hvp_template.h) all call these.
 * Softmax cross-entropy couples the outputs of a row; it is written row-wise beside them. */
#ifndef FASTGD_LOSS_ELEM_H
#define FASTGD_LOSS_ELEM_H

#include <math.h>

#include "fg_common.h"
#include "fg_loss.h"

/* 1 for the losses whose rows run in vectors on targets with a SIMD vocabulary (the registry's
 * vector_form: elementwise_vec_simd in loss_simd_template.h has their case). */
FG_INLINE int fg_loss_vector_form(int kind)
{
    static const unsigned char vector_form[] = {
#define FG_LOSS(ID, name, vector_form) (vector_form),
#include "registry/losses.h"
#undef FG_LOSS
    };
    return (kind >= 0 && kind < FG_LOSS_COUNT) ? vector_form[kind] : 0;
}

/* l(p, t) for an elementwise kind, and dl/dp in *dl. */
FG_INLINE double fg_loss_elem(int kind, double p, double t, double delta, double *dl)
{
    const double d = p - t, ad = fabs(d);
    switch (kind) {
    case FG_LOSS_BCE: {
        /* max(z,0) - z t + log(1 + exp(-|z|)): exp never overflows and log1p keeps the tiny
         * tail, so |z| = 1e3 (or 1e30) is fine; dl = σ(z) - t */
        const double e = exp(-fabs(p)), r = 1.0 / (1.0 + e);
        *dl = (p >= 0 ? r : e * r) - t;
        return (p > 0 ? p : 0.0) - p * t + log1p(e);
    }
    case FG_LOSS_MSE: *dl = 2.0 * d; return d * d;
    case FG_LOSS_MAE: *dl = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0); return ad;
    case FG_LOSS_HUBER:
        *dl = d > delta ? delta : (d < -delta ? -delta : d);
        return ad <= delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
    case FG_LOSS_POISSON: {
        const double e = exp(p);
        *dl = e - t;
        return e - t * p;
    }
    default: *dl = NAN; return NAN;
    }
}

/* d²l/dp² for an elementwise kind (MAE: 0, its kink aside; Huber: 1 inside delta, else 0). A
 * loss added to the registry must be added here too: the assertion makes the build say so. */
_Static_assert(FG_LOSS_COUNT == 6, "a loss was added to registry/losses.h: give fg_loss_elem and "
                                   "fg_loss_elem_curvature its formulas");
FG_INLINE double fg_loss_elem_curvature(int kind, double p, double t, double delta)
{
    switch (kind) {
    case FG_LOSS_BCE: {
        const double e = exp(-fabs(p));
        return e / ((1.0 + e) * (1.0 + e)); /* σ(1-σ), symmetric in z */
    }
    case FG_LOSS_MSE: return 2.0;
    case FG_LOSS_MAE: return 0.0;
    case FG_LOSS_HUBER: return fabs(p - t) <= delta ? 1.0 : 0.0;
    case FG_LOSS_POISSON: return exp(p);
    default: return NAN;
    }
}

#endif
