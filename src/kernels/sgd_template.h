/* Included by sgd.c once per element type T with name suffix SFX. */

/* params -= lr * grads; params, grads (n) */
void FG_FN(FG_CAT2(fg_sgd_step, SFX))(T *FG_RESTRICT params, const T *FG_RESTRICT grads,
                                      int64_t n, double lr)
{
    const T step = (T)lr;
    const int nt = fg_threads_for(n, SGD_GRAIN);
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        int64_t begin, end;
        fg_split_range(n, FG_THREAD_COUNT(), FG_THREAD_ID(), 64, &begin, &end);
        for (int64_t i = begin; i < end; i++) params[i] -= step * grads[i];
    }
}
