# GEMM and dense layer bindings (fastgd.ops.matmul, dense_forward, dense_backward).
