/* The machine's FMA ceiling for the benchmarks' "fraction of peak" column:
 * independent multiply-add chains that live in registers, compiled per target.
 * 12 chains cover Zen 3's FMA latency (4 cycles) × 2 pipes with room to spare. */
#include "fg_internal.h"
#include "fg_threads.h"

#if FG_HAVE_AVX2
#include <immintrin.h>
#endif

#define PEAK_CHAINS 12

/* Iterations of PEAK_CHAINS FMAs on one thread; returns a value that depends
 * on every chain so the compiler keeps them. */
static double peak_chains_f32(int64_t iters, int *lanes)
{
#if FG_HAVE_AVX2
    __m256 acc[PEAK_CHAINS];
    const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (int64_t it = 0; it < iters; it++)
        for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], mul, add);
    __m256 s = acc[0];
    for (int c = 1; c < PEAK_CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *lanes = 8;
    return out[0];
#else
    float acc[PEAK_CHAINS][4];
    for (int c = 0; c < PEAK_CHAINS; c++)
        for (int l = 0; l < 4; l++) acc[c][l] = (float)c;
    for (int64_t it = 0; it < iters; it++)
        for (int c = 0; c < PEAK_CHAINS; c++)
            for (int l = 0; l < 4; l++) acc[c][l] = acc[c][l] * 0.999999f + 1e-7f;
    double s = 0;
    for (int c = 0; c < PEAK_CHAINS; c++) s += acc[c][0] + acc[c][3];
    *lanes = 4;
    return s;
#endif
}

static double peak_chains_f64(int64_t iters, int *lanes)
{
#if FG_HAVE_AVX2
    __m256d acc[PEAK_CHAINS];
    const __m256d mul = _mm256_set1_pd(0.999999), add = _mm256_set1_pd(1e-7);
    for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = _mm256_set1_pd((double)c);
    for (int64_t it = 0; it < iters; it++)
        for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = _mm256_fmadd_pd(acc[c], mul, add);
    __m256d s = acc[0];
    for (int c = 1; c < PEAK_CHAINS; c++) s = _mm256_add_pd(s, acc[c]);
    double out[4];
    _mm256_storeu_pd(out, s);
    *lanes = 4;
    return out[0];
#else
    double acc[PEAK_CHAINS][2];
    for (int c = 0; c < PEAK_CHAINS; c++)
        for (int l = 0; l < 2; l++) acc[c][l] = (double)c;
    for (int64_t it = 0; it < iters; it++)
        for (int c = 0; c < PEAK_CHAINS; c++)
            for (int l = 0; l < 2; l++) acc[c][l] = acc[c][l] * 0.999999 + 1e-7;
    double s = 0;
    for (int c = 0; c < PEAK_CHAINS; c++) s += acc[c][0] + acc[c][1];
    *lanes = 2;
    return s;
#endif
}

/* Written so the chains' results are observable; never read. */
static volatile double peak_sink;

#define PEAK_KERNEL(SFX)                                                                   \
    double FG_FN(FG_CAT2(fg_fma_peak, SFX))(int64_t iters)                                 \
    {                                                                                      \
        const int nt = FG_PEAK_THREADS;                                               \
        int lanes = 1;                                                                     \
        double sink = 0;                                                                   \
        FG_PEAK_PARALLEL                                                                   \
        {                                                                                  \
            int my_lanes;                                                                  \
            const double s = FG_CAT2(peak_chains, SFX)(iters, &my_lanes);                  \
            FG_PEAK_CRITICAL                                                               \
            {                                                                              \
                sink += s;                                                                 \
                lanes = my_lanes;                                                          \
            }                                                                              \
        }                                                                                  \
        peak_sink = sink;                                                                  \
        return 2.0 * (double)lanes * PEAK_CHAINS * (double)iters * (double)nt;             \
    }

#ifdef _OPENMP
#define FG_PEAK_PARALLEL _Pragma("omp parallel num_threads(nt)")
#define FG_PEAK_CRITICAL _Pragma("omp critical")
#define FG_PEAK_THREADS fg_get_num_threads()
#else
#define FG_PEAK_PARALLEL
#define FG_PEAK_CRITICAL
#define FG_PEAK_THREADS 1
#endif

PEAK_KERNEL(f32)
PEAK_KERNEL(f64)
