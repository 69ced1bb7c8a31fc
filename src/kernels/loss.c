/* Losses and their gradients in one pass (fg_loss_f32/f64), compiled per CPU target.
 *
 * Softmax cross-entropy is the hot one (it ends every classifier's training step): per row
 * one pass for the maximum, one for exp(z - max) (stored in the gradient row, AVX2: the
 * vectorized exp of fg_vmath.h) and one that turns it into the gradient. The other losses are
 * elementwise loops (AVX2: vectorized exp and log1p for BCE). Rows are processed in a fixed number of chunks that depends only on n;
 * each chunk's loss is summed in double in row order and the chunk sums are added in chunk
 * order, so the result does not depend on the thread count. */
#include <math.h>

#include "fg_internal.h"
#include "fg_threads.h"
#include "fg_vmath.h"

/* Elements (n*c) per thread below which one thread is faster than several. */
#define LOSS_GRAIN 32768
/* Rows are reduced in at most this many chunks (a stack array of partial sums). */
#define LOSS_MAX_CHUNKS 64
/* Rows per chunk at least, so tiny batches stay one chunk. */
#define LOSS_CHUNK_ROWS 16

/* ---- AVX2 row primitives (loss_avx2_template.h) ------------------------------- */

#if FG_HAVE_AVX2
#define T float
#define SFX f32
#define VEC __m256
#define W 8
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_STOREU _mm256_storeu_ps
#define V_MASKLOAD _mm256_maskload_ps
#define V_MASKSTORE _mm256_maskstore_ps
#define V_MASK fg_mask8
#define V_CASTMASK _mm256_castsi256_ps
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_MAX _mm256_max_ps
#define V_MIN _mm256_min_ps
#define V_AND _mm256_and_ps
#define V_XOR _mm256_xor_ps
#define V_ANDNOT _mm256_andnot_ps
#define V_BLEND _mm256_blendv_ps
#define V_CMP _mm256_cmp_ps
#define V_EXP fg_exp8_f32
#define V_LOG1P fg_log1p_unit8_f32
#define V_HSUM fg_hsum8_f32
#define V_HMAX fg_hmax8_f32
#include "loss_avx2_template.h"

#define T double
#define SFX f64
#define VEC __m256d
#define W 4
#define V_LOAD _mm256_loadu_pd
#define V_STORE _mm256_storeu_pd
#define V_STOREU _mm256_storeu_pd
#define V_MASKLOAD _mm256_maskload_pd
#define V_MASKSTORE _mm256_maskstore_pd
#define V_MASK fg_mask4
#define V_CASTMASK _mm256_castsi256_pd
#define V_SET1 _mm256_set1_pd
#define V_ZERO _mm256_setzero_pd
#define V_ADD _mm256_add_pd
#define V_SUB _mm256_sub_pd
#define V_MUL _mm256_mul_pd
#define V_DIV _mm256_div_pd
#define V_MAX _mm256_max_pd
#define V_MIN _mm256_min_pd
#define V_AND _mm256_and_pd
#define V_XOR _mm256_xor_pd
#define V_ANDNOT _mm256_andnot_pd
#define V_BLEND _mm256_blendv_pd
#define V_CMP _mm256_cmp_pd
#define V_EXP fg_exp4_f64
#define V_LOG1P fg_log1p_unit4_f64
#define V_HSUM fg_hsum4_f64
#define V_HMAX fg_hmax4_f64
#include "loss_avx2_template.h"
#endif

/* Labels must lie in [0, c); returns 0 at the first one that does not. */
static int labels_in_range(const int64_t *labels, int64_t n, int64_t c)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= (labels[i] < 0) | (labels[i] >= c);
    return bad == 0;
}

FG_INLINE void loss_chunks(int64_t n, int64_t c, int *chunks, int *threads)
{
    int64_t k = n / LOSS_CHUNK_ROWS;
    k = k < 1 ? 1 : (k > LOSS_MAX_CHUNKS ? LOSS_MAX_CHUNKS : k);
    *chunks = (int)k;
    const int nt = fg_threads_for(n * c, LOSS_GRAIN);
    *threads = nt < (int)k ? nt : (int)k;
}

/* ---- the kernels (loss_template.h) -------------------------------------------- */

#define T float
#define SFX f32
#define EXP expf
#define EXP_PORTABLE fg_exp_portable_f32
#define LOG1P log1pf
#define LOG1P_OF_DOUBLE(x) ((double)log1pf((float)(x))) /* float accuracy is all a float loss carries */
#include "loss_template.h"

#define T double
#define SFX f64
#define EXP exp
#define EXP_PORTABLE fg_exp_portable_f64
#define LOG1P log1p
#define LOG1P_OF_DOUBLE(x) log1p(x)
#include "loss_template.h"
