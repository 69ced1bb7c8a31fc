# Declarations of the curvature kernels (src/kernels/model/fg_hvp.h, list_curvature.h).
from libc.stdint cimport int64_t

from fastgd._k_loss cimport fg_loss_spec
from fastgd._k_model cimport fg_model

cdef extern from "fastgd_kernels.h" nogil:
    int64_t fg_model_hvp_scratch_elems(const int64_t *outs, int64_t n_layers, int64_t max_width, int64_t n)
    double fg_model_hvp_f32(const fg_model *m, float *hv, const float *v, const float *x, int64_t n,
                            const fg_loss_spec *spec, int gauss_newton, double beta, float *scratch,
                            int forward_done)
    double fg_model_hvp_f64(const fg_model *m, double *hv, const double *v, const double *x, int64_t n,
                            const fg_loss_spec *spec, int gauss_newton, double beta, double *scratch,
                            int forward_done)
    double fg_model_hvp_ref_f32(const fg_model *m, float *hv, const float *v, const float *x, int64_t n,
                                const fg_loss_spec *spec, int gauss_newton, double beta, float *scratch,
                                int forward_done)
    double fg_model_hvp_ref_f64(const fg_model *m, double *hv, const double *v, const double *x, int64_t n,
                                const fg_loss_spec *spec, int gauss_newton, double beta, double *scratch,
                                int forward_done)
