/* Losses and their gradients in one pass (fg_loss_f32/f64), compiled per CPU target.
 *
 * Softmax cross-entropy is the hot one (it ends every classifier's training step): per row
 * one pass for the maximum, one for exp(z - max) (stored in the gradient row, AVX2: the
 * vectorized exp of fg_vmath.h) and one that turns it into the gradient. The other losses are
 * elementwise loops. Rows are processed in a fixed number of chunks that depends only on n;
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

/* ---- per-type row primitives ---------------------------------------------- */

static float row_max_f32(const float *FG_RESTRICT z, int64_t c)
{
    int64_t j = 0;
    float m = -INFINITY;
#if FG_HAVE_AVX2
    if (c >= 8) {
        __m256 vm = _mm256_loadu_ps(z);
        for (j = 8; j + 8 <= c; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(z + j));
        float lanes[8];
        _mm256_storeu_ps(lanes, vm);
        for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
    }
#endif
    for (; j < c; j++) m = z[j] > m ? z[j] : m;
    return m;
}

static double row_max_f64(const double *FG_RESTRICT z, int64_t c)
{
    int64_t j = 0;
    double m = -INFINITY;
#if FG_HAVE_AVX2
    if (c >= 4) {
        __m256d vm = _mm256_loadu_pd(z);
        for (j = 4; j + 4 <= c; j += 4) vm = _mm256_max_pd(vm, _mm256_loadu_pd(z + j));
        double lanes[4];
        _mm256_storeu_pd(lanes, vm);
        for (int l = 0; l < 4; l++) m = lanes[l] > m ? lanes[l] : m;
    }
#endif
    for (; j < c; j++) m = z[j] > m ? z[j] : m;
    return m;
}

/* e_j = exp(z_j - m) (stored when e != NULL), split as Σ_j e_j = *ones + (returned rest): *ones
 * counts the e_j equal to 1 (the maxima), rest sums the others. Keeping the 1s apart lets the
 * caller take log Σ = log(ones) + log1p(rest/ones) without losing a tiny rest to rounding
 * (the loss of a confidently right row, e.g. log(1 + e^-30) for logits (30, 0) in float). */
static float row_exp_sum_f32(float *FG_RESTRICT e, const float *FG_RESTRICT z, int64_t c, float m,
                             double *ones)
{
    int64_t j = 0;
    float rest = 0.0f, count = 0.0f;
#if FG_HAVE_AVX2
    if (c >= 8) {
        const __m256 vm = _mm256_set1_ps(m), one = _mm256_set1_ps(1.0f);
        __m256 acc = _mm256_setzero_ps(), cnt = _mm256_setzero_ps();
        for (; j + 8 <= c; j += 8) {
            const __m256 v = fg_exp8_f32(_mm256_sub_ps(_mm256_loadu_ps(z + j), vm));
            if (e) _mm256_storeu_ps(e + j, v);
            const __m256 is_one = _mm256_cmp_ps(v, one, _CMP_EQ_OQ);
            acc = _mm256_add_ps(acc, _mm256_andnot_ps(is_one, v));
            cnt = _mm256_add_ps(cnt, _mm256_and_ps(is_one, one));
        }
        float lanes[8], counts[8];
        _mm256_storeu_ps(lanes, acc);
        _mm256_storeu_ps(counts, cnt);
        for (int l = 0; l < 8; l++) {
            rest += lanes[l];
            count += counts[l];
        }
    }
#endif
    for (; j < c; j++) {
        const float v = expf(z[j] - m);
        if (e) e[j] = v;
        if (v == 1.0f) count += 1.0f;
        else rest += v;
    }
    *ones = (double)count;
    return rest;
}

static double row_exp_sum_f64(double *FG_RESTRICT e, const double *FG_RESTRICT z, int64_t c, double m,
                              double *ones)
{
    int64_t j = 0;
    double rest = 0.0, count = 0.0;
#if FG_HAVE_AVX2
    if (c >= 4) {
        const __m256d vm = _mm256_set1_pd(m), one = _mm256_set1_pd(1.0);
        __m256d acc = _mm256_setzero_pd(), cnt = _mm256_setzero_pd();
        for (; j + 4 <= c; j += 4) {
            const __m256d v = fg_exp4_f64(_mm256_sub_pd(_mm256_loadu_pd(z + j), vm));
            if (e) _mm256_storeu_pd(e + j, v);
            const __m256d is_one = _mm256_cmp_pd(v, one, _CMP_EQ_OQ);
            acc = _mm256_add_pd(acc, _mm256_andnot_pd(is_one, v));
            cnt = _mm256_add_pd(cnt, _mm256_and_pd(is_one, one));
        }
        double lanes[4], counts[4];
        _mm256_storeu_pd(lanes, acc);
        _mm256_storeu_pd(counts, cnt);
        for (int l = 0; l < 4; l++) {
            rest += lanes[l];
            count += counts[l];
        }
    }
#endif
    for (; j < c; j++) {
        const double v = exp(z[j] - m);
        if (e) e[j] = v;
        if (v == 1.0) count += 1.0;
        else rest += v;
    }
    *ones = count;
    return rest;
}

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

#define T float
#define SFX f32
#define EXP expf
#define LOG1P log1pf
#include "loss_template.h"
#undef T
#undef SFX
#undef EXP
#undef LOG1P

#define T double
#define SFX f64
#define EXP exp
#define LOG1P log1p
#include "loss_template.h"
#undef T
#undef SFX
#undef EXP
#undef LOG1P
