/* Threads for a machine that other processes keep busy.
 *
 * An OpenMP thread that finds its core taken waits for it, and a parallel
 * region ends only when its slowest thread does: two threads on two cores of
 * which one runs another process are slower than one thread. So, unless the
 * user fixed the thread count, kernels use no more threads than there are CPUs
 * left over by other processes: the CPUs minus the CPU time other processes
 * used recently (busy time from /proc/stat, minus this process's own CPU time,
 * over the wall time since the last look; refreshed at most every
 * FG_LOAD_PERIOD_NS). One thread too many costs far more (every parallel step
 * waits for it) than one too few (at most that thread's share), so the count
 * leans low: a CPU is free when others left 3/4 of it, the count goes down at
 * once but up only when two periods in a row agree, and it is 1 until the
 * first period has been measured. Results do not depend on the thread count
 * (see fg_threads.h), so this changes speed only.
 *
 * Linux only; elsewhere the limit is the thread count itself. */
/* clock_gettime and its clock ids are POSIX, not ISO C: ask for them before any header. */
#define _POSIX_C_SOURCE 200809L
#include "fastgd_kernels.h"
#include "fg_threads.h"

static int adapt_to_load = 0;

void fg_set_threads_adapt_to_load(int on) { adapt_to_load = on != 0; }

int fg_get_threads_adapt_to_load(void) { return adapt_to_load; }

#if defined(__linux__) && (defined(__GNUC__) || defined(__clang__))

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define FG_LOAD_PERIOD_NS 100000000LL /* 0.1 s */

/* The last sample (written only by the thread holding `refreshing`). */
static int64_t last_wall_ns, last_busy_ticks, last_self_ns;
/* CPUs left over by other processes (0: not measured yet, -1: cannot be
 * measured here), and what the last period alone said. */
static int free_cpus = 0, last_left = 0;
static int64_t next_refresh_ns = 0;
static char refreshing = 0;

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy ticks (every CPU state but idle and iowait) summed over all CPUs, or -1. */
static int64_t busy_ticks(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    const int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                           &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 4) return -1;
    /* user nice system idle iowait irq softirq steal */
    return (int64_t)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
}

static void refresh(int64_t now)
{
    const int64_t busy = busy_ticks(), self = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    const long ticks_per_s = sysconf(_SC_CLK_TCK);
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (busy < 0 || self < 0 || ticks_per_s <= 0 || cpus <= 0) {
        __atomic_store_n(&free_cpus, -1, __ATOMIC_RELAXED);
        return;
    }
    if (last_wall_ns > 0 && now > last_wall_ns) {
        const double wall = (double)(now - last_wall_ns) * 1e-9;
        const double all_busy = (double)(busy - last_busy_ticks) / (double)ticks_per_s;
        const double own = (double)(self - last_self_ns) * 1e-9;
        double others = (all_busy - own) / wall; /* CPUs other processes kept busy */
        if (others < 0) others = 0;
        int left = (int)((double)cpus - others + 0.25);
        if (left < 1) left = 1;
        /* down at once; up only as far as this period and the last one both allow */
        const int current = __atomic_load_n(&free_cpus, __ATOMIC_RELAXED);
        int next = left;
        if (current > 0 && left > current) {
            next = last_left < left ? last_left : left;
            if (next < current) next = current;
        }
        last_left = left;
        __atomic_store_n(&free_cpus, next, __ATOMIC_RELAXED);
    }
    last_wall_ns = now;
    last_busy_ticks = busy;
    last_self_ns = self;
}

int fg_threads_free(int limit)
{
    if (!adapt_to_load || limit <= 1) return limit;
    const int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now >= __atomic_load_n(&next_refresh_ns, __ATOMIC_RELAXED)
        && !__atomic_test_and_set(&refreshing, __ATOMIC_ACQUIRE)) {
        refresh(now);
        __atomic_store_n(&next_refresh_ns, now + FG_LOAD_PERIOD_NS, __ATOMIC_RELAXED);
        __atomic_clear(&refreshing, __ATOMIC_RELEASE);
    }
    const int left = __atomic_load_n(&free_cpus, __ATOMIC_RELAXED);
    if (left == 0) return 1; /* not measured yet */
    return left > 0 && left < limit ? left : limit;
}

#else

int fg_threads_free(int limit) { return limit; }

#endif
