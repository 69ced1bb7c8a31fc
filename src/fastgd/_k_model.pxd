# Declarations of the model kernels (src/kernels/model/fg_model.h, list_model.h).
from libc.stdint cimport int64_t

from fastgd._k_loss cimport fg_loss_spec
from fastgd._k_optim cimport fg_optim_config
from fastgd._k_sparse cimport fg_csr

cdef extern from "fastgd_kernels.h" nogil:
    ctypedef struct fg_model_layer:
        int64_t in_ "in"
        int64_t out
        int act
        double act_alpha
        int64_t w_off
        int64_t b_off

    ctypedef struct fg_model:
        int64_t n_layers
        const fg_model_layer *layers
        void *params
        void *grads
        void **acts
        void **pres
        void *gbuf0
        void *gbuf1
        void *xbuf
        void *ybuf
        int64_t *lbuf
        void *wbuf
        int64_t rows_cap
        void *workspace
        int64_t workspace_bytes

    ctypedef struct fg_batch:
        const void *x
        const fg_csr *x_csr
        const int64_t *labels
        const void *target
        const void *sample_weight
        const int64_t *indices
        int64_t start
        int64_t n

    ctypedef struct fg_optim_group:
        int64_t start
        int64_t stop
        fg_optim_config cfg

    ctypedef struct fg_step_options:
        const fg_optim_group *groups
        int64_t n_groups
        void *state
        int64_t state_stride
        double clip_norm
        double clip_value
        int want_grad_norm
        int apply_update

    enum:
        FG_STEP_OK
        FG_STEP_NONFINITE_LOSS
        FG_STEP_NONFINITE_GRAD

    ctypedef struct fg_step_result:
        double loss
        double grad_norm
        int status

    void fg_model_forward_f32(const fg_model *m, const float *x, int64_t n)
    void fg_model_forward_f64(const fg_model *m, const double *x, int64_t n)
    void fg_model_backward_f32(const fg_model *m, const float *x, float *grad_out, float *grad_x, int64_t n,
                               double beta)
    void fg_model_backward_f64(const fg_model *m, const double *x, double *grad_out, double *grad_x, int64_t n,
                               double beta)
    void fg_model_forward_csr_f32(const fg_model *m, const fg_csr *x, int64_t n)
    void fg_model_forward_csr_f64(const fg_model *m, const fg_csr *x, int64_t n)
    void fg_model_train_step_f32(const fg_model *m, const fg_batch *batch, const fg_loss_spec *loss,
                                 const fg_step_options *opt, fg_step_result *res)
    void fg_model_train_step_f64(const fg_model *m, const fg_batch *batch, const fg_loss_spec *loss,
                                 const fg_step_options *opt, fg_step_result *res)
