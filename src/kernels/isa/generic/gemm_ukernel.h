/* GEMM micro-kernels and packers of the portable target: none of its own. It
 * runs the portable micro-kernel and packers of gemm_template.h, plain C that
 * compilers may vectorize with the architecture's baseline SIMD. A target
 * with its own defines FG_GEMM_UKERNEL (gemm_ukernel_f32/_f64 and their _rows
 * variants), FG_GEMM_PACK_BT and FG_GEMM_PACK_AN (see avx2/gemm_ukernel.h). */
