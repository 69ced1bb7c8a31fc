# Declarations of the loss kernels (src/kernels/fg_loss.h, list_loss.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    enum fg_loss:
        FG_LOSS_SOFTMAX_CE
        FG_LOSS_BCE
        FG_LOSS_MSE
        FG_LOSS_MAE
        FG_LOSS_HUBER
        FG_LOSS_POISSON
        FG_LOSS_COUNT

    enum fg_reduction:
        FG_REDUCE_MEAN
        FG_REDUCE_SUM

    ctypedef struct fg_loss_spec:
        int kind
        int reduction
        const int64_t *labels
        const void *target
        const void *sample_weight
        const void *class_weight
        double label_smoothing
        double delta
        double scale

    double fg_loss_f32(float *grad, const float *pred, int64_t n, int64_t c, const fg_loss_spec *spec)
    double fg_loss_f64(double *grad, const double *pred, int64_t n, int64_t c, const fg_loss_spec *spec)
    double fg_loss_ref_f32(float *grad, const float *pred, int64_t n, int64_t c, const fg_loss_spec *spec)
    double fg_loss_ref_f64(double *grad, const double *pred, int64_t n, int64_t c, const fg_loss_spec *spec)
