/* The thread count shared by every kernel. OpenMP's own global setting is
 * left alone (other libraries in the process rely on it); each parallel region
 * passes its count explicitly with num_threads(). */
#include "fastgd_kernels.h"
#include "fg_threads.h"

static int num_threads = 1;

int fg_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fg_openmp_version(void)
{
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

void fg_set_num_threads(int n) { num_threads = n < 1 ? 1 : n; }

int fg_get_num_threads(void) { return num_threads; }

int fg_threads_for(int64_t work, int64_t grain)
{
#ifdef _OPENMP
    if (grain < 1) grain = 1;
    const int64_t by_work = work / grain;
    if (by_work <= 1) return 1;
    const int limit = fg_threads_free(num_threads);
    return by_work < limit ? (int)by_work : limit;
#else
    (void)work;
    (void)grain;
    return 1;
#endif
}
