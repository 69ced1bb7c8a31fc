# Declarations of the loss kernels (src/kernels/loss/fg_loss.h, list_loss.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    # Only the members the bindings name; the list is src/kernels/registry/losses.h.
    enum fg_loss:
        FG_LOSS_SOFTMAX_CE
        FG_LOSS_HUBER
        FG_LOSS_COUNT
    const char *fg_loss_name(int kind)

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
