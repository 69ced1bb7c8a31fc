/* The machine's FMA ceiling for the benchmarks' "fraction of peak" column:
 * independent multiply-add chains that live in registers, compiled per target.
 * 12 chains cover an FMA latency of 4 cycles × 2 pipes (Zen 3, Sapphire Rapids)
 * with room to spare. */
#include "fg_internal.h"
#include "fg_threads.h"
#include "fg_simd.h"

#define PEAK_CHAINS 12

/* Iterations of PEAK_CHAINS FMAs on one thread, in the target's widest vectors
 * (16 bytes of lanes in plain C without SIMD); returns a value that depends on every
 * chain so the compiler keeps them, and the lanes in *lanes. */
#if FG_SIMD
#define PEAK_CHAINS_FN(T, SFX)                                                                       \
    static double peak_chains_##SFX(int64_t iters, int *lanes)                                       \
    {                                                                                                \
        fgv_##SFX acc[PEAK_CHAINS];                                                                  \
        const fgv_##SFX mul = fgv_set1_##SFX((T)0.999999), add = fgv_set1_##SFX((T)1e-7);            \
        for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = fgv_set1_##SFX((T)c);                         \
        for (int64_t it = 0; it < iters; it++)                                                       \
            for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = fgv_fma_##SFX(acc[c], mul, add);          \
        fgv_##SFX s = acc[0];                                                                        \
        for (int c = 1; c < PEAK_CHAINS; c++) s = fgv_add_##SFX(s, acc[c]);                          \
        *lanes = FGV_W_##SFX;                                                                        \
        return (double)fgv_hsum_##SFX(s);                                                            \
    }
#else
#define PEAK_CHAINS_FN(T, SFX)                                                                       \
    static double peak_chains_##SFX(int64_t iters, int *lanes)                                       \
    {                                                                                                \
        T acc[PEAK_CHAINS][16 / sizeof(T)];                                                          \
        for (int c = 0; c < PEAK_CHAINS; c++)                                                        \
            for (int l = 0; l < 16 / (int)sizeof(T); l++) acc[c][l] = (T)c;                          \
        for (int64_t it = 0; it < iters; it++)                                                       \
            for (int c = 0; c < PEAK_CHAINS; c++)                                                    \
                for (int l = 0; l < 16 / (int)sizeof(T); l++) acc[c][l] = acc[c][l] * (T)0.999999 + (T)1e-7; \
        double s = 0;                                                                                \
        for (int c = 0; c < PEAK_CHAINS; c++) s += acc[c][0] + acc[c][1];                            \
        *lanes = 16 / (int)sizeof(T);                                                                \
        return s;                                                                                    \
    }
#endif
PEAK_CHAINS_FN(float, f32)
PEAK_CHAINS_FN(double, f64)

/* Written so the chains' results are observable; never read. */
static volatile double peak_sink;

#define PEAK_KERNEL(SFX)                                                                             \
    double FG_FN(FG_CAT2(fg_fma_peak, SFX))(int64_t iters)                                           \
    {                                                                                                \
        const int nt = FG_PEAK_THREADS;                                                              \
        int lanes = 1;                                                                               \
        double sink = 0;                                                                             \
        FG_PEAK_PARALLEL                                                                             \
        {                                                                                            \
            int my_lanes;                                                                            \
            const double s = FG_CAT2(peak_chains, SFX)(iters, &my_lanes);                            \
            FG_PEAK_CRITICAL                                                                         \
            {                                                                                        \
                sink += s;                                                                           \
                lanes = my_lanes;                                                                    \
            }                                                                                        \
        }                                                                                            \
        peak_sink = sink;                                                                            \
        return 2.0 * (double)lanes * PEAK_CHAINS * (double)iters * (double)nt;                       \
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
