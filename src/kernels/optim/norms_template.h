/* Included by norms.c once per element type T (suffix SFX); the type's bit pattern type U, sign
   bit SIGN, exponent bias BIAS and mantissa bits MANT come from norms.c's NORM_*_<suffix>. */

#define NT_(name) FG_CAT2(name, SFX)
#define U FG_CAT2(NORM_BITS, SFX)
#define SIGN FG_CAT2(NORM_SIGN, SFX)
#define BIAS FG_CAT2(NORM_BIAS, SFX)
#define MANT FG_CAT2(NORM_MANT, SFX)

/* Σ x² over one block of at most NORM_BLOCK elements: element j goes to accumulator j mod
   NORM_ACC, and the accumulators are added as a fixed tree. NORM_ACC = 32 doubles are 4 zmm
   (8 ymm) chains of vector additions, enough to hide the addition's latency when the block
   sits in cache; one chain (8 accumulators) ran at a quarter of that. */
#ifndef NORM_ACC
#define NORM_ACC 32
#endif
static double NT_(block_sum_squares)(const T *x, int64_t n)
{
    double acc[NORM_ACC];
    for (int j = 0; j < NORM_ACC; j++) acc[j] = 0;
    int64_t i = 0;
    for (; i + NORM_ACC <= n; i += NORM_ACC)
        for (int j = 0; j < NORM_ACC; j++) acc[j] = NORM_ADD_SQUARE(acc[j], x[i + j]);
    for (int j = 0; i + j < n; j++) acc[j] = NORM_ADD_SQUARE(acc[j], x[i + j]);
    for (int width = NORM_ACC / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++) acc[j] = acc[2 * j] + acc[2 * j + 1];
    return acc[0];
}

/* Entries of x[0:n) whose bits without the sign are >= limit. The count is an int, which the
   vectorizer keeps in lanes as wide as T's bits (n is at most NORM_BLOCK). */
static int NT_(block_count_at_least)(const T *x, int64_t n, U limit)
{
    int count = 0;
    for (int64_t i = 0; i < n; i++) {
        U bits;
        memcpy(&bits, x + i, sizeof bits);
        count += (bits & ~SIGN) >= limit;
    }
    return count;
}

/* op over x[begin:end): NORM_SUM_SQUARES and NORM_COUNT_AT_LEAST write block b's result
   (x[b*NORM_BLOCK ..], read only: its Σx², its count of entries at least `limit`) into
   partial[b]; NORM_SCALE and NORM_CLAMP set x[i] = x[i]·a or clamp(x[i], −a, a). */
static void NT_(range_op)(int op, T *x, int64_t begin, int64_t end, T a, U limit, double *partial)
{
    if (op == NORM_SUM_SQUARES) {
        for (int64_t s = begin; s < end; s += NORM_BLOCK)
            partial[s / NORM_BLOCK] = NT_(block_sum_squares)(x + s, fg_min_i64(NORM_BLOCK, end - s));
    } else if (op == NORM_COUNT_AT_LEAST) {
        for (int64_t s = begin; s < end; s += NORM_BLOCK)
            partial[s / NORM_BLOCK] = NT_(block_count_at_least)(x + s, fg_min_i64(NORM_BLOCK, end - s), limit);
    } else if (op == NORM_SCALE) {
        for (int64_t i = begin; i < end; i++) x[i] = x[i] * a;
    } else {
        for (int64_t i = begin; i < end; i++) {
            const T v = x[i];
            x[i] = v < -a ? -a : (v > a ? a : v); /* comparisons with NaN are false: NaN stays */
        }
    }
}

/* One pass of op over x[0:n), split across threads into contiguous ranges (blocks' results in
   whole blocks). */
static void NT_(parallel_op)(int op, T *x, int64_t n, T a, U limit, double *partial)
{
    const int by_block = op == NORM_SUM_SQUARES || op == NORM_COUNT_AT_LEAST;
    FG_FOR_RANGES(fg_threads_for(n, NORM_GRAIN), n, by_block ? NORM_BLOCK : 64,
                  NT_(range_op)(op, x, begin, end, a, limit, partial));
}

/* The sum of op's block results, added in index order. Threads compute the results of a group of
   up to NORM_GROUP blocks into a local array, so neither the thread count nor the target changes a
   bit. */
static double NT_(blocks_total)(int op, const T *x, int64_t n, U limit)
{
    double total = 0.0;
    double partial[NORM_GROUP];
    for (int64_t g0 = 0; g0 < n; g0 += NORM_BLOCK * NORM_GROUP) {
        const int64_t len = fg_min_i64(n - g0, NORM_BLOCK * NORM_GROUP);
        NT_(parallel_op)(op, (T *)(x + g0), len, 0, limit, partial);
        for (int64_t b = 0; b < (len + NORM_BLOCK - 1) / NORM_BLOCK; b++) total += partial[b];
    }
    return total;
}

double FG_FN(FG_CAT2(fg_sum_squares, SFX))(const T *x, int64_t n)
{
    return NT_(blocks_total)(NORM_SUM_SQUARES, x, n, 0);
}

void FG_FN(FG_CAT2(fg_scale, SFX))(T *x, int64_t n, double s)
{
    NT_(parallel_op)(NORM_SCALE, x, n, (T)s, 0, NULL);
}

void FG_FN(FG_CAT2(fg_clip_value, SFX))(T *x, int64_t n, double clip)
{
    NT_(parallel_op)(NORM_CLAMP, x, n, (T)clip, 0, NULL);
}

/* The bits of 2^exponent, with exponent clamped to [1 − BIAS, BIAS + 1]: the smallest normal
   number at the bottom, infinity's bits at the top. NaN's bits, without the sign, lie
   above EXP; every finite value's below it. */
int64_t FG_FN(FG_CAT2(fg_count_large, SFX))(const T *x, int64_t n, int exponent)
{
    const int e = exponent < 1 - BIAS ? 1 - BIAS : (exponent > BIAS + 1 ? BIAS + 1 : exponent);
    const U limit = (U)(e + BIAS) << MANT;
    return (int64_t)NT_(blocks_total)(NORM_COUNT_AT_LEAST, x, n, limit);
}

int64_t FG_FN(FG_CAT2(fg_count_nonfinite, SFX))(const T *x, int64_t n)
{
    return FG_FN(FG_CAT2(fg_count_large, SFX))(x, n, BIAS + 1);
}

#undef NT_
#undef U
#undef SIGN
#undef BIAS
#undef MANT
