# Declarations of the optim kernels (src/kernels/optim/fg_optim.h, list_optim.h).
from libc.stdint cimport int64_t, uint64_t

cdef extern from "fastgd_kernels.h" nogil:
    # Only the members the bindings name; the list is src/kernels/registry/optimizers.h.
    enum fg_optimizer:
        FG_OPT_SGD
        FG_OPT_COUNT
    const char *fg_optimizer_name(int kind)

    const char *fg_optim_config_field(int i, const char **type, int64_t *offset)

    # Only the members the bindings name; the fields are listed in src/kernels/registry/optimizers.h
    # (the plan dtype, OPTIM_GROUP_DTYPE, is built from fg_optim_config_field).
    ctypedef struct fg_optim_config:
        int kind
        int64_t step
        double lr

    int fg_optim_state_slots(const fg_optim_config *cfg)
    void fg_optim_step_f32(float *params, const float *grads, float *state, int64_t state_stride,
                           int64_t n, const fg_optim_config *cfg)
    void fg_optim_step_f64(double *params, const double *grads, double *state, int64_t state_stride,
                           int64_t n, const fg_optim_config *cfg)
    void fg_optim_step_ref_f32(float *params, const float *grads, float *state, int64_t state_stride,
                               int64_t n, const fg_optim_config *cfg)
    void fg_optim_step_ref_f64(double *params, const double *grads, double *state, int64_t state_stride,
                               int64_t n, const fg_optim_config *cfg)
    void fg_optim_normal_ref(double *out, int64_t n, uint64_t seed, int64_t step)

    double fg_sum_squares_f32(const float *x, int64_t n)
    double fg_sum_squares_f64(const double *x, int64_t n)
    double fg_sum_squares_ref_f32(const float *x, int64_t n)
    double fg_sum_squares_ref_f64(const double *x, int64_t n)
    void fg_scale_f32(float *x, int64_t n, double s)
    void fg_scale_f64(double *x, int64_t n, double s)
    void fg_clip_value_f32(float *x, int64_t n, double clip)
    void fg_clip_value_f64(double *x, int64_t n, double clip)
    int64_t fg_count_nonfinite_f32(const float *x, int64_t n)
    int64_t fg_count_nonfinite_f64(const double *x, int64_t n)
