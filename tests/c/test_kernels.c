/* Every dispatched kernel of every CPU target this machine can run, against its
 * plain reference twin (*_ref), in C with no Python: the kernels' own test layer.
 *
 * It runs natively on each target the CPU supports and, cross-compiled, under
 * qemu-aarch64 for the aarch64 build (.ci/kernels.sh). Shapes cover 0, 1, the
 * register-tile edges of the target under test (MR-1, MR, MR+1 and NR-1, NR,
 * NR+1, from fg_gemm_block_sizes_*), k odd and k spanning several cache
 * blocks, both element types, every activation, beta 0 with the output
 * prefilled with NaN (the kernel must not read it) and beta 1; every activation
 * also over its whole range, far tails and special values included.
 *
 * Tolerances are rounding-error bounds: for a sum of `terms` products the
 * result may differ from the reference by 2*eps*(terms+4) times the sum of the
 * magnitudes of the products (computed by running the reference on absolute
 * values), plus a few ulps of the result. Kernels documented to agree bit for
 * bit with their twin (optimizer steps, clipping, L-BFGS's differences) are
 * compared exactly, and so are the whole-model forward and backward against the
 * target's own layer kernels called in sequence (the train step, a composition
 * of the kernels checked here, is covered by the Python suite).
 *
 * Exits 0 when every check passes; otherwise prints one line per failing check
 * (kernel, target, shape and the worst index) and exits 1.
 * Usage: test_kernels [--threads N] [target ...]
 *   targets: default every target the CPU supports; threads: each of 1..N (default 2) */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastgd_kernels.h"

static int64_t checks, failures;
static const char *isa_name = "?";

/* xorshift64*: the same data on every platform. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double uniform01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal01(void)
{
    const double u = uniform01() + 1e-300, v = uniform01();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "test_kernels: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* One failed comparison: what, where, and how far off. */
static void report(const char *what, int64_t index, double got, double want, double tol)
{
    failures++;
    if (failures <= 40)
        printf("FAIL [%s] %s: index %lld: got %.9g, reference %.9g (tolerance %.3g)\n", isa_name, what,
               (long long)index, got, want, tol);
    else if (failures == 41)
        printf("... further failures not shown\n");
}

/* |got - want| <= tol, with NaN equal only to NaN and infinities to themselves. */
static int close_enough(double got, double want, double tol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol;
}

static void check_scalar(const char *what, double got, double want, double tol)
{
    checks++;
    if (!close_enough(got, want, tol)) report(what, 0, got, want, tol);
}

static const int64_t EDGE_K[] = {1, 2, 3, 7, 16, 33};

/* Edge sizes around a register-tile size r (MR or NR of the selected target):
 * 1, 2, r-1, r, r+1, 2r+1, without repeats or values below 1. Returns the count. */
static int edge_sizes(int64_t r, int64_t out[6])
{
    const int64_t candidates[6] = {1, 2, r - 1, r, r + 1, 2 * r + 1};
    int count = 0;
    for (int i = 0; i < 6; i++) {
        int seen = candidates[i] < 1;
        for (int j = 0; j < count; j++) seen |= out[j] == candidates[i];
        if (!seen) out[count++] = candidates[i];
    }
    return count;
}
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* GEMM shapes with edge tiles on both sides and k spanning several cache
 * blocks: those with more rows than the target's FG_GEMM_DIRECT_MAX_M (32 or
 * 128) take the packed (blocked) path, the others the unpacked one. On the
 * packed path, 400 rows span two blocks of MC rows, and k = 1021 gives op(A) = A
 * rows 4 KiB (f32) and 8 KiB (f64) apart, which it packs rather than reads in place;
 * n = 4113 spans several blocks of NC columns on every target (NC <= 4080), the last
 * ending in an edge panel. */
static const int64_t PACKED[][3] = {{37, 41, 600}, {300, 33, 65}, {65, 300, 257}, {97, 49, 513}, {64, 128, 784},
                                   {200, 45, 900}, {143, 300, 400}, {400, 20, 100}, {150, 40, 1021},
                                   {130, 4113, 9}};

#define FG_TEMPLATE "test_kernels_template.h"
#include "fg_each_type.h"

static void run_target(int isa)
{
    isa_name = fg_isa_name(isa);
    const int64_t before_checks = checks, before_failures = failures;
    test_gemm_f32();
    test_gemm_f64();
    test_dense_f32();
    test_dense_f64();
    test_dense_input_f32();
    test_dense_input_f64();
    test_dense_resume_f32();
    test_dense_resume_f64();
    test_activation_range_f32();
    test_activation_range_f64();
    test_loss_f32();
    test_loss_f64();
    test_optim_f32();
    test_optim_f64();
    test_vector_f32();
    test_vector_f64();
    test_lbfgs_f32();
    test_lbfgs_f64();
    test_lbfgs_driver_f32();
    test_lbfgs_driver_f64();
    test_model_f32();
    test_model_f64();
    check_scalar("fma_peak_f32 > 0", fg_fma_peak_f32(1000) > 0, 1, 0);
    check_scalar("fma_peak_f64 > 0", fg_fma_peak_f64(1000) > 0, 1, 0);
    printf("%-8s %lld checks, %lld failed\n", isa_name, (long long)(checks - before_checks),
           (long long)(failures - before_failures));
}

int main(int argc, char **argv)
{
    int ran = 0, max_threads = 2, first_target = 1;
    if (argc >= 3 && strcmp(argv[1], "--threads") == 0) {
        max_threads = atoi(argv[2]);
        first_target = 3;
        if (max_threads < 1) {
            fprintf(stderr, "test_kernels: --threads wants a count >= 1, got %s\n", argv[2]);
            return 2;
        }
    }
    for (int a = first_target; a < argc; a++) {
        int known = 0;
        for (int isa = 0; isa < FG_ISA_COUNT; isa++) known |= strcmp(argv[a], fg_isa_name(isa)) == 0;
        if (!known) {
            fprintf(stderr, "test_kernels: unknown target %s\n", argv[a]);
            return 2;
        }
    }
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        int wanted = argc <= first_target;
        for (int a = first_target; a < argc; a++) wanted |= strcmp(argv[a], fg_isa_name(isa)) == 0;
        if (!wanted) continue;
        if (!fg_isa_compiled(isa) || !fg_isa_cpu_supports(isa)) {
            if (argc > first_target) {
                printf("FAIL target %s requested but %s\n", fg_isa_name(isa),
                       fg_isa_compiled(isa) ? "not supported by this CPU" : "not compiled in");
                failures++;
            }
            continue;
        }
        if (fg_isa_select(isa) != 0) {
            printf("FAIL fg_isa_select(%s) refused a compiled, supported target\n", fg_isa_name(isa));
            failures++;
            continue;
        }
        for (int threads = 1; threads <= max_threads; threads++) {
            fg_set_num_threads(threads);
            printf("threads=%d ", threads);
            run_target(isa);
        }
        ran++;
    }
    if (ran == 0 && failures == 0) {
        printf("FAIL no target ran\n");
        failures++;
    }
    printf("%s: %lld checks, %lld failures\n", failures ? "FAILED" : "OK", (long long)checks, (long long)failures);
    return failures ? 1 : 0;
}
