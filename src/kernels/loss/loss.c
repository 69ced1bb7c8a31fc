/* Losses and their gradients in one pass (fg_loss_f32/f64), compiled per CPU target.
 *
 * Softmax cross-entropy is the hot one (it ends every classifier's training step): per row
 * one pass for the maximum, one for exp(z - max) (stored in the gradient row; with SIMD the
 * vectorized exp of fg_vmath.h) and one that turns it into the gradient; the logs of a block of
 * rows follow in a loop of their own. The other losses are
 * elementwise loops (SIMD: vectorized exp and log1p for BCE). Rows are processed in a fixed number of chunks that depends only on n;
 * each chunk's loss is summed in double in row order and the chunk sums are added in chunk
 * order, so the result does not depend on the thread count. */
#include <math.h>

#include "fg_internal.h"
#include "fg_threads.h"
#include "fg_vmath.h"
#include "fg_loss_elem.h"

/* Elements (n*c) per thread below which one thread is faster than several. */
#define LOSS_GRAIN 32768
/* Rows per chunk at least, so tiny batches stay one chunk. */
#define LOSS_CHUNK_ROWS 16
/* Rows of softmax cross-entropy whose logs are taken together (loss_template.h). */
#define SOFTMAX_LOG_BLOCK 64

/* ---- SIMD row primitives (loss_simd_template.h) ------------------------------- */

#if FG_SIMD
#define T float
#define SFX f32
#include "loss_simd_template.h"

#define T double
#define SFX f64
#include "loss_simd_template.h"
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
    k = k < 1 ? 1 : (k > FG_LOSS_MAX_CHUNKS ? FG_LOSS_MAX_CHUNKS : k);
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
