/* Internal: how kernels decide how many threads to use and how to split work.
 *
 * Work is always split into contiguous ranges by index, and every output
 * element is computed by exactly one thread in a fixed order, so results do
 * not depend on scheduling. */
#ifndef FASTGD_THREADS_H
#define FASTGD_THREADS_H

#include "fg_common.h"

#ifdef _OPENMP
#include <omp.h>
#define FG_THREAD_ID() omp_get_thread_num()
#define FG_THREAD_COUNT() omp_get_num_threads()
#else
#define FG_THREAD_ID() 0
#define FG_THREAD_COUNT() 1
#endif

/* Threads for `work` units when each thread should get at least `grain` units:
 * min(fg_get_num_threads(), work / grain), at least 1. */
int fg_threads_for(int64_t work, int64_t grain);

/* `limit`, or fewer when adapting to load and other processes keep CPUs busy
 * (threads_load.c). */
int fg_threads_free(int limit);

/* The range [*begin, *end) of part `part` of `nparts` when splitting n items
 * into contiguous chunks whose boundaries are multiples of `align`. */
FG_INLINE void fg_split_range(int64_t n, int nparts, int part, int64_t align,
                              int64_t *begin, int64_t *end)
{
    const int64_t blocks = (n + align - 1) / align;
    const int64_t per = blocks / nparts, extra = blocks % nparts;
    const int64_t b0 = part * per + (part < extra ? part : extra);
    const int64_t b1 = b0 + per + (part < extra ? 1 : 0);
    *begin = fg_min_i64(b0 * align, n);
    *end = fg_min_i64(b1 * align, n);
}

/* Runs the statement given after `align` over contiguous ranges [begin, end) of [0, n), whose
 * boundaries are multiples of `align`, one range per thread of nt; the statement names its range
 * `begin` and `end`. With one thread it runs over [0, n) with no parallel region at all: libgomp
 * allocates a thread team even for a region whose if clause is false (~1 µs each). */
#ifdef _OPENMP
#define FG_PARALLEL_NT_ _Pragma("omp parallel num_threads(fg_nt_)")
#else
#define FG_PARALLEL_NT_
#endif
#define FG_FOR_RANGES(nt, n, align, ...)                                                      \
    do {                                                                                      \
        const int fg_nt_ = (nt);                                                              \
        const int64_t fg_n_ = (n);                                                            \
        if (fg_nt_ <= 1) {                                                                    \
            const int64_t begin = 0, end = fg_n_;                                             \
            __VA_ARGS__;                                                                      \
        } else {                                                                              \
            FG_PARALLEL_NT_                                                                   \
            {                                                                                 \
                int64_t begin, end;                                                           \
                fg_split_range(fg_n_, FG_THREAD_COUNT(), FG_THREAD_ID(), (align), &begin, &end); \
                __VA_ARGS__;                                                                  \
            }                                                                                 \
        }                                                                                     \
    } while (0)

#endif
