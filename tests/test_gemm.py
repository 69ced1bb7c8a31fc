"""The packed GEMM with fused epilogue vs its reference twin and NumPy, over
edge shapes (of each CPU target's own register tile), transpositions, beta,
every activation, every CPU target the machine runs."""

import itertools

import numpy as np
import pytest

import fastgd
from fastgd import _core
from fastgd.ops import matmul

from _gemm_oracle import ACTIVATIONS, ALPHA, assert_close, gemm_oracle

def edge_shapes(dtype):
    """(m, n, k) over 0, 1, MR-1, MR, MR+1, 17, 300 of the selected target's tile
    (n also over NR-1, NR, NR+1), at most one dimension 300."""
    tile = _core.gemm_block_sizes(dtype)
    mr, nr = tile["mr"], tile["nr"]
    edge = sorted({0, 1, mr - 1, mr, mr + 1, 17, 300})
    ns = sorted(set(edge) | {nr - 1, nr, nr + 1})
    shapes = [(m, n, k) for m, n, k in itertools.product(edge, ns, edge)
              if (m == 300) + (n == 300) + (k == 300) <= 1]
    # Shapes that take the packed path (m above 32 or 128 by target, n > 16) with several k blocks and
    # edge tiles, and the unpacked path's shapes with several k blocks on every target.
    shapes += [(300, 300, 17), (37, 41, 600), (300, 33, 300), (65, 300, 257), (200, 45, 900)]
    return shapes


def operands(rng, dtype, m, n, k, trans_a, trans_b):
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return A, B


def run_case(rng, dtype, shape, trans_a, trans_b, beta, activation, use_bias, workspace_threads=-1):
    m, n, k = shape
    A, B = operands(rng, dtype, m, n, k, trans_a, trans_b)
    bias = rng.standard_normal(n).astype(dtype) if use_bias else None
    if beta == 0:
        C0 = np.full((m, n), np.nan, dtype=dtype)  # beta = 0 must never read C
    else:
        C0 = rng.standard_normal((m, n)).astype(dtype)
    what = (f"gemm {np.dtype(dtype).name} m,n,k={shape} trans_a={trans_a} trans_b={trans_b} beta={beta} "
            f"act={activation} bias={use_bias} isa={_core.isa_current()}")
    expected, tol = gemm_oracle(C0, A, B, trans_a, trans_b, beta, bias, activation)
    C = C0.copy()
    _core.gemm(C, A, B, trans_a, trans_b, beta, bias, activation, ALPHA, workspace_threads)
    assert_close(C, expected, tol, what)
    R = C0.copy()
    _core.gemm_ref(R, A, B, trans_a, trans_b, beta, bias, activation, ALPHA)
    assert_close(R, expected, tol, "reference twin: " + what)


@pytest.mark.parametrize("trans_a, trans_b", list(itertools.product([False, True], repeat=2)))
def test_edge_shapes(isa, dtype, rng, trans_a, trans_b):
    """Every edge shape; beta 0 (NaN-filled C) or 1, the activation and the bias
    vary with the shape so that each combination of them meets every tile kind
    (test_every_activation covers each activation with each beta densely)."""
    for i, shape in enumerate(edge_shapes(dtype)):
        beta = float((i // len(ACTIVATIONS)) % 2)
        run_case(rng, dtype, shape, trans_a, trans_b, beta, ACTIVATIONS[i % len(ACTIVATIONS)],
                 use_bias=bool((i // 2) % 2))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
def test_every_activation(isa, dtype, rng, activation, beta):
    for shape in [(7, 17, 5), (40, 37, 300), (300, 17, 33), (1, 300, 17)]:
        for trans_a, trans_b in itertools.product([False, True], repeat=2):
            run_case(rng, dtype, shape, trans_a, trans_b, beta, activation, use_bias=True)
    # a narrow xᵀ·g without bias: computed as its transpose
    for trans_b in (False, True):
        run_case(rng, dtype, (100, 10, 300), True, trans_b, beta, activation, use_bias=False)


@pytest.mark.parametrize("shape", [(100, 70, 300), (37, 41, 600), (33, 17, 9)])
def test_without_workspace_runs_unpacked_path(isa, dtype, rng, shape):
    for trans_a, trans_b in itertools.product([False, True], repeat=2):
        run_case(rng, dtype, shape, trans_a, trans_b, 1.0, "relu", True, workspace_threads=0)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape", [(301, 257, 520), (20, 700, 300), (900, 10, 64), (100, 10, 1347)])
def test_results_identical_across_thread_counts(isa, dtype, rng, shape, use_bias):
    """Without bias, xᵀ·g of a narrow C (100, 10, 1347) runs as its transpose."""
    m, n, k = shape
    for trans_a, trans_b in [(False, False), (True, False), (False, True)]:
        A, B = operands(rng, dtype, m, n, k, trans_a, trans_b)
        bias = rng.standard_normal(n).astype(dtype) if use_bias else None
        results = []
        for threads in (1, 2, 3):
            with fastgd.threads(threads):
                C = np.full((m, n), np.nan, dtype=dtype)
                _core.gemm(C, A, B, trans_a, trans_b, 0.0, bias, "relu", ALPHA)
            results.append(C)
        for threads, r in zip((2, 3), results[1:]):
            np.testing.assert_array_equal(
                r, results[0], err_msg=f"{shape} trans_a={trans_a} trans_b={trans_b}: {threads} threads "
                                       f"differ from 1")


@pytest.mark.parametrize("m", [5, 37, 300])
def test_columns_do_not_depend_on_the_product_width(isa, dtype, rng, m):
    """The first columns of C are bit-identical whether they fill a narrow product (an output
    layer's few classes, one vector of columns or less) or lead a wider one: every tile width
    takes the same multiply-adds in the same order."""
    nr = _core.gemm_block_sizes(dtype)["nr"]
    k = 300
    for trans_a in (False, True):
        A, B = operands(rng, dtype, m, nr + 10, k, trans_a, False)
        bias = rng.standard_normal(nr + 10).astype(dtype)
        wide = np.empty((m, nr + 10), dtype=dtype)
        _core.gemm(wide, A, B, trans_a, False, 0.0, bias, "relu", ALPHA)
        for n in (1, 10, nr // 2, nr // 2 + 1):
            narrow = np.empty((m, n), dtype=dtype)
            _core.gemm(narrow, A, np.ascontiguousarray(B[:, :n]), trans_a, False, 0.0, bias[:n], "relu", ALPHA)
            np.testing.assert_array_equal(narrow, wide[:, :n], err_msg=f"m={m} n={n} k={k} trans_a={trans_a}")


def test_nan_and_inf_propagate(isa, dtype):
    A = np.ones((8, 3), dtype=dtype)
    B = np.ones((3, 20), dtype=dtype)
    A[2, 1] = np.nan
    A[4, 0] = np.inf
    C = matmul(A, B)
    assert np.isnan(C[2]).all() and np.isinf(C[4]).all()
    assert np.isfinite(np.delete(C, [2, 4], axis=0)).all()


@pytest.mark.parametrize("trans_a", [False, True])
def test_unpacked_path_gives_the_same_bits_at_any_row_stride_of_b(isa, dtype, rng, trans_a):
    """With few rows (the unpacked path), a target may read B's full panels in place or copy them
    first depending on B's row stride (a multiple of 4 KiB or not): every stride gives the bits of
    a contiguous B, and the oracle's values."""
    m, n, k = 20, 70, 300
    A, B = operands(rng, dtype, m, n, k, trans_a, False)
    contiguous = matmul(A, B, trans_a=trans_a)
    expected, tol = gemm_oracle(np.full((m, n), np.nan, dtype=dtype), A, B, trans_a, False, 0.0, None, "identity")
    assert_close(contiguous, expected, tol, f"m,n,k={(m, n, k)} trans_a={trans_a} isa={_core.isa_current()}")
    per_page = 4096 // np.dtype(dtype).itemsize
    for width in (n + 3, per_page, 2 * per_page, per_page + 16):
        wide = np.zeros((k, width), dtype=dtype)
        wide[:, :n] = B
        np.testing.assert_array_equal(matmul(A, wide[:, :n], trans_a=trans_a), contiguous,
                                      err_msg=f"B rows {width} elements apart, trans_a={trans_a}")


# ---- fastgd.ops.matmul -------------------------------------------------------

def test_matmul_matches_numpy_for_views(isa, dtype, rng):
    a = rng.standard_normal((50, 70)).astype(dtype)
    b = rng.standard_normal((70, 40)).astype(dtype)
    tol = 50 * np.finfo(dtype).eps * 70
    cases = {
        "plain": (a, b),
        "a transposed view": (np.ascontiguousarray(a.T).T, b),
        "b Fortran": (a, np.asfortranarray(b)),
        "row slices": (np.pad(a, ((0, 0), (0, 9)))[:, :70], np.pad(b, ((0, 0), (3, 0)))[:, 3:]),
        "every other row": (np.repeat(a, 2, axis=0)[::2], b),
        "strided both ways": (np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[::2, ::2], b),
    }
    for name, (x, y) in cases.items():
        np.testing.assert_allclose(matmul(x, y), a @ b, rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(matmul(a.T, b.T, trans_a=True, trans_b=True), a @ b, rtol=tol, atol=tol)
    np.testing.assert_allclose(matmul(a, a, trans_b=True), a @ a.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(matmul(a, a, trans_a=True), a.T @ a, rtol=tol, atol=tol)


def test_matmul_out_and_beta(dtype, rng):
    a = rng.standard_normal((9, 5)).astype(dtype)
    b = rng.standard_normal((5, 33)).astype(dtype)
    out = rng.standard_normal((9, 33)).astype(dtype)
    start = out.copy()
    r = matmul(a, b, out=out, beta=1.0)
    assert r is out
    np.testing.assert_allclose(out, start + a @ b, rtol=1e-5, atol=1e-5)
    out[...] = np.nan
    matmul(a, b, out=out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    big = np.full((9, 40), np.nan, dtype=dtype)
    matmul(a, b, out=big[:, 2:35])
    np.testing.assert_allclose(big[:, 2:35], a @ b, rtol=1e-5, atol=1e-5)
    assert np.isnan(big[:, :2]).all() and np.isnan(big[:, 35:]).all()


def test_matmul_empty(dtype):
    assert matmul(np.ones((0, 3), dtype), np.ones((3, 4), dtype)).shape == (0, 4)
    np.testing.assert_array_equal(matmul(np.ones((2, 0), dtype), np.ones((0, 4), dtype)), np.zeros((2, 4)))


@pytest.mark.parametrize("call, exc, message", [
    (lambda: matmul([[1.0]], np.ones((1, 1))), TypeError, "a must be a numpy.ndarray"),
    (lambda: matmul(np.ones((2, 2)), np.ones((2, 2), np.float32)), TypeError,
     r"b must have the dtype of the first operand \(float64\), got float32"),
    (lambda: matmul(np.ones((2, 2), np.int64), np.ones((2, 2))), TypeError, "a must have dtype float32 or"),
    (lambda: matmul(np.ones(2), np.ones((2, 2))), ValueError, "a must be 2-D, got 1-D"),
    (lambda: matmul(np.ones((2, 3)), np.ones((2, 2))), ValueError, "inner dimensions 3 and 2 differ"),
    (lambda: matmul(np.ones((2, 3)), np.ones((2, 3)), trans_b=True, out=np.ones((3, 3))), ValueError,
     r"out must have shape \(2, 2\), got \(3, 3\)"),
    (lambda: matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((2, 2), np.float32)), TypeError,
     "out must have dtype float64, got float32"),
    (lambda: matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((2, 4))[:, ::2]), ValueError,
     "out must be C-contiguous"),
    (lambda: matmul(np.ones((2, 2)), np.ones((2, 2)), beta=1.0), ValueError, "out must be given"),
    (lambda: matmul(np.ones((2, 2)), np.ones((2, 2)), beta=float("nan"), out=np.ones((2, 2))), ValueError,
     "beta must be finite"),
])
def test_matmul_bad_arguments(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_matmul_out_must_not_alias_inputs():
    a = np.ones((3, 3))
    with pytest.raises(ValueError, match="out must not share memory with a"):
        matmul(a, np.ones((3, 3)), out=a)


def test_block_sizes_describe_a_register_tile(dtype):
    for isa in [i for i in _core.isa_compiled() if i in _core.isa_cpu_supported()]:
        previous = _core.isa_current()
        _core.isa_select(isa)
        try:
            sizes = _core.gemm_block_sizes(dtype)
        finally:
            _core.isa_select(previous)
        assert sizes["mr"] >= 1 and sizes["nr"] >= 1, (isa, sizes)
        assert sizes["mc"] % sizes["mr"] == 0 and sizes["nc"] % sizes["nr"] == 0, (isa, sizes)


def test_workspace_size_is_the_same_on_every_target():
    sizes = set()
    for isa in _core.isa_compiled():
        if isa in _core.isa_cpu_supported():
            previous = _core.isa_current()
            _core.isa_select(isa)
            try:
                sizes.add(_core.gemm_workspace_size(np.float32, 500, 300, 700, False, True, 2))
            finally:
                _core.isa_select(previous)
    assert len(sizes) == 1 and sizes.pop() > 0


def test_peak_gflops_is_positive():
    assert _core.peak_gflops(np.float32, 1, seconds=0.01) > 0


def test_workspace_for_fewer_threads_limits_threads_not_results(isa, dtype, rng):
    """A workspace sized for 1 thread makes a 2-thread call run on 1 thread; a
    missing one the unpacked path. All agree with the oracle; the first two
    are bit-identical."""
    m, n, k = 200, 150, 300
    A, B = operands(rng, dtype, m, n, k, False, True)
    results = []
    with fastgd.threads(2):
        for workspace_threads in (2, 1, 0):
            C = np.full((m, n), np.nan, dtype=dtype)
            _core.gemm(C, A, B, False, True, 0.0, None, "relu", ALPHA, workspace_threads)
            results.append(C)
    np.testing.assert_array_equal(results[0], results[1])
    expected, tol = gemm_oracle(results[0], A, B, False, True, 0.0, None, "relu")
    assert_close(results[2], expected, tol, "unpacked path")
