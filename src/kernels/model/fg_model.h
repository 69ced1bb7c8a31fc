/* Public types of the whole-model kernels: a multi-layer perceptron whose
 * parameters live in one flat arena, and the fused training step (gather a
 * batch, forward, loss, backward, clip, optimizer update) in one C call.
 * Included by fastgd_kernels.h after the GEMM, loss and optimizer types. */
#ifndef FASTGD_MODEL_H
#define FASTGD_MODEL_H

#include "fg_common.h"
#include "loss/fg_loss.h"
#include "optim/fg_optim.h"
#include "fg_sparse.h"

/* One dense layer inside an fg_model. Its weights W (in, out) start at element
 * w_off of the parameter and gradient arenas, its bias b (out) at b_off. */
typedef struct fg_model_layer {
    int64_t in, out;
    int act;          /* enum fg_activation */
    double act_alpha; /* leaky_relu negative slope */
    int64_t w_off, b_off;
} fg_model_layer;

/* A model and the buffers it owns (allocated by the caller, reused every step).
 * All float buffers have the model's element type. */
typedef struct fg_model {
    int64_t n_layers;
    const fg_model_layer *layers;
    void *params;         /* flat parameter arena */
    void *grads;          /* flat gradient arena, same layout */
    void *const *acts;    /* acts[i]: (rows_cap, layers[i].out) outputs of layer i */
    void *const *pres;    /* pres[i]: (rows_cap, layers[i].out) pre-activations of layer i, kept
                             by the forward pass for the backward and curvature passes when
                             fg_act_grad_from_pre(layers[i].act), else NULL; pres itself NULL:
                             none kept (inference: the forward pass fuses every activation) */
    void *gbuf0, *gbuf1;  /* (rows_cap, max width) gradient ping-pong buffers */
    void *xbuf;           /* (rows_cap, layers[0].in) gathered input rows */
    void *ybuf;           /* (rows_cap, n_outputs) gathered target rows */
    int64_t *lbuf;        /* (rows_cap) gathered labels */
    void *wbuf;           /* (rows_cap) gathered sample weights */
    int64_t rows_cap;     /* rows every buffer above holds */
    void *workspace;      /* GEMM/dense scratch, 64-byte aligned */
    int64_t workspace_bytes;
    int row_blocks;       /* a training step without update on rows spanning several of the GEMM's
                             k blocks takes them a k block at a time (fg_model_train_step): 0 as
                             the target chooses (FG_MODEL_ROW_BLOCK_MIN_BYTES), 1 always, -1 never
                             (tests and benchmarks compare them; the results are the same) */
} fg_model;

/* A batch: rows `indices[0:n)` of the full arrays (or rows [start, start+n)
 * when indices is NULL, which needs no copy). The input is x, or the CSR matrix
 * x_csr when that is not NULL (then the first layer runs the sparse kernels). */
typedef struct fg_batch {
    const void *x;             /* (N, in) */
    const fg_csr *x_csr;       /* (N, in), or NULL */
    const int64_t *labels;     /* (N) class indices, or NULL */
    const void *target;        /* (N, n_outputs) target rows, or NULL */
    const void *sample_weight; /* (N), or NULL */
    const int64_t *indices;    /* (n), or NULL */
    int64_t start, n;
    /* NULL, or (indices NULL, x dense) rows [start, start+n) of x packed once for the first
       layer's two products (fg_gemm_pack_a_whole), read instead of packing them again: x_packed
       as x·W's op(A) (x, in, 0, n, out, in), xt_packed as xᵀ·grad_z's (x, in, 1, in, out, n).
       packed_layout: fg_gemm_packed_a_layout_* of the target that packed them; a step running on
       another target (the active one changed since) ignores them and packs x itself. */
    const void *x_packed, *xt_packed;
    int64_t packed_layout;
} fg_batch;

/* One optimizer parameter group: arena range [start, stop) and its update. */
typedef struct fg_optim_group {
    int64_t start, stop;
    fg_optim_config cfg;
} fg_optim_group;

typedef struct fg_step_options {
    const fg_optim_group *groups; /* n_groups tiling [0, n_params) */
    int64_t n_groups;
    void *state;                  /* optimizer state, slots x n_params */
    int64_t state_stride;
    double clip_norm;             /* > 0: scale grads so their global L2 norm <= clip_norm */
    double clip_value;            /* > 0: clamp each gradient to [-clip_value, clip_value] */
    int want_grad_norm;           /* 1: report the gradient norm (and check the gradient is finite) even
                                     without clipping or update; 0: grad_norm NaN, and without clipping
                                     only an update checks the gradient, by a cheaper pass (the norm
                                     is measured then only when that pass finds a large entry) */
    int apply_update;             /* 0: stop after the gradients (loss_and_grad) */
} fg_step_options;

enum fg_step_status {
    FG_STEP_OK = 0,
    FG_STEP_NONFINITE_LOSS = 1, /* loss is NaN/inf: no update applied */
    FG_STEP_NONFINITE_GRAD = 2  /* a gradient is NaN/inf: no update applied */
};

typedef struct fg_step_result {
    double loss;
    double grad_norm; /* before clipping; NaN unless computed */
    int status;       /* enum fg_step_status */
} fg_step_result;

#endif
