/* Internal, per target: the activations and their derivatives over arrays, in the target's
 * SIMD vocabulary for the activations that have a vector form (the registry's vector_form:
 * fg_act_has_vector) and through fg_act_* (fg_act.h) element by element for the others,
 * which so keep their libm results on every target. Instantiated for float and double
 * (fg_act_rows_f32, fg_act_grad_rows_f64, ...: fg_act_vec_template.h).
 *
 * The vector GELU needs Φ(x) = erfc(-x/√2)/2, from fgv_erfc_pos_*: for z >= 0, with
 * t = 2/(2 + z) in (0, 1],
 *     erfc(z) = t exp(P(t) - z²),   P(t) = log(erfc(z)/t) + z²,
 * P smooth on [t_min, 1], t_min = 2/(2 + z_max), so a Chebyshev series of P (degree 9 for float
 * on z <= 10, degree 22 for double on z <= 27, evaluated by Clenshaw's recurrence) leaves a
 * truncation error below 1e-8 and 1e-16 (coefficients interpolated at Chebyshev nodes in
 * 50-digit arithmetic). The rounding of z² dominates what is left: measured against 50-digit
 * erfc, relative errors of 3e-7 (float) and 7e-16 (double) for z <= 1, growing as z² to 4e-6
 * and 1.4e-14 at z = 6 and 10 (erfc is below 1e-17 and 1e-45 there). Past z_max, P stays at
 * its last value while exp(-z²) underflows, so the result goes to 0. The plain twin is the C
 * library's erfc in fg_act_*; the tests compare the two on every target.
 * Include only from sources compiled per target. */
#ifndef FASTGD_ACT_VEC_H
#define FASTGD_ACT_VEC_H

#include "fg_act.h"
#include "fg_threads.h"
#include "fg_vmath.h"

/* Elements per thread, at least, of fg_act_rows_parallel. */
#define FG_ACT_GRAIN 16384

/* Chebyshev coefficients c_0..c_N of P on [t_min, 1] (see above) */
static const double fg_erfc_cheb_f32[10] = {
    -0.5511712503140925,     0.5502563182396708,     0.007267847232642455,   -0.006366320663909626,
    -0.00015938484760500505, 0.00018099068415613034, -2.515731435543852e-06, -6.419982734591281e-06,
    5.657006952771205e-07,   2.189050070967105e-07};
static const double fg_erfc_cheb_f64[23] = {
    -0.6107401523665623,    0.6053584463434446,     0.013897604733136882,   -0.008264970081573859,
    -0.0005419707831843666, 0.0002885732989564137,  1.5644867979424932e-05, -1.3803272977493721e-05,
    -4.2015533365509664e-09, 7.160979147372823e-07, -5.773887132809879e-08, -3.4360012150176316e-08,
    6.7583734608907914e-09, 1.2157203904824383e-09, -5.347830733276006e-10, -2.121628315881317e-12,
    3.115547561072131e-11,  -4.306532740472146e-12, -1.1301161460092898e-12, 4.178678154084744e-13,
    -5.7065212830433844e-15, -2.159534986695854e-14, 4.393900629105184e-15};

#define FG_TEMPLATE "fg_act_vec_template.h"
#include "fg_each_type.h"

#endif
