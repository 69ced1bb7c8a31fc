/* Internal: elementary functions for the loss kernels.
 *
 * fgv_exp_f32 / fgv_exp_f64 (targets with SIMD): exp(x) lane by lane, without -ffast-math.
 *   Method: x = k ln2 + r with k = round(x / ln2) and ln2 split in a high and a low part
 *   (Cody-Waite), so |r| <= ln2/2; exp(r) by its Taylor polynomial (degree 7 for float,
 *   degree 13 for double, evaluated by Horner with FMA), truncation error below 6e-9
 *   (float) and 5e-18 (double) relative; then 2^k is put into the exponent bits.
 *   Accuracy: at most 1 ulp for results in the normal range (measured with the AVX2 vocabulary on 2e7 evenly spaced
 *   points over the whole normal range against exp in double / long double: max 0.93 ulp for
 *   float, 0.89 ulp for double; every target's vocabulary rounds each step the same way; tests/test_loss_kernels.py checks it through the softmax).
 *   The C library's exp, used by the generic target, is within 1 ulp too, so the two targets
 *   agree to about 2 ulp per element (the row sums then differ by summation order only).
 *   Results below the smallest normal number (x < -87.33 for float,
 *   x < -708.39 for double) are flushed to +0; x above the overflow threshold gives +inf;
 *   NaN gives NaN. The loss kernels only call them on x <= 0 (logits minus the row maximum).
 * Include only from sources compiled per target. */
#ifndef FASTGD_VMATH_H
#define FASTGD_VMATH_H

#include <math.h>
#include <string.h>

#include "fg_simd.h"

/* fg_exp_portable_f32 / _f64: the same algorithm in plain C for every target (the generic x86-64
 * build, aarch64, ...), with selects instead of branches (GCC 12 still does not vectorize the
 * calling loop: a possible improvement; scalar, it is ~13% faster than the C library's exp in
 * the generic softmax). k is rounded with the 1.5*2^p "shifter" (exact in IEEE
 * round-to-nearest arithmetic, which fastgd requires: no -ffast-math, SSE/NEON math), ln2 is
 * split so that k*ln2_hi is exact without FMA. Measured like the AVX2 versions (2e7 points
 * over the normal range): max 1.21 ulp (float) and 1.16 ulp (double) without FMA contraction;
 * same flushing of subnormal results to 0, +inf above the overflow threshold, NaN to NaN.
 *
 * fgv_log1p_unit_f32 / _f64 (targets with SIMD): log(1 + x) for x in [0, 1] (BCE's
 * log1p(exp(-|z|))), to about 1 ulp: with s = x / (2 + x), for x in [0, 1] (BCE's log1p(exp(-|z|))), to about 1 ulp: with s = x / (2 + x),
 * log(1 + x) = 2 atanh(s) = 2 s Σ_k s^2k / (2k + 1); s <= 1/3 so the series, cut after s^14
 * (float) or s^32 (double), leaves a truncation error below 2e-9 (float) and 2e-17 (double)
 * relative, and no cancellation happens for tiny x.
 *
 * All of them are written once over the element type in fg_vmath_template.h. */
#define FG_TEMPLATE "fg_vmath_template.h"
#include "fg_each_type.h"

#endif
