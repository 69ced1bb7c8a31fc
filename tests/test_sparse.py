"""Sparse input: the CSR×dense kernels (forward with fused bias+activation, weight gradient)
against SciPy and their reference twin over edge shapes and structures, on every CPU target;
structure checks that refuse hostile matrices; CSRMatrix row selection; fastgd.Sequential and
fastgd.sklearn trained on sparse X against the same data dense."""

import warnings

import numpy as np
import pytest

import fastgd
from _gemm_oracle import activate
from fastgd import _core

sp = pytest.importorskip("scipy.sparse")

ACTIVATIONS = fastgd.ACTIVATIONS
# (rows, columns, outputs, density): empty matrix, empty rows, one column, output counts around
# the 16-column block that threads split dW by.
SHAPES = [(0, 5, 3, 0.5), (4, 6, 3, 0.0), (1, 1, 1, 1.0), (7, 9, 15, 0.3), (33, 40, 16, 0.1),
          (64, 100, 17, 0.05), (130, 17, 33, 0.4)]


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def random_csr(rng, n, k, density, dtype, *, unsorted=False, duplicates=False, index_dtype=np.int32):
    """A SciPy CSR matrix with ~density·n·k stored values, optionally with unsorted and
    repeated column indices within rows (SciPy allows both; repeats add up)."""
    lengths = rng.binomial(k, density, n) if k else np.zeros(n, dtype=np.int64)
    if duplicates:
        lengths = lengths + (lengths > 0)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(index_dtype)
    indices = np.concatenate([np.sort(rng.choice(k, size=min(L, k), replace=False)) if L else np.zeros(0, int)
                              for L in np.minimum(lengths, k)] + [np.zeros(0, int)])
    if duplicates:  # each non-empty row repeats its first column once more
        rows = [indices[indptr[i]:indptr[i + 1] - 1] for i in range(n)]
        indices = np.concatenate([np.concatenate([r, r[:1]]) if len(r) else r for r in rows] + [np.zeros(0, int)])
    if unsorted:
        for i in range(n):
            rng.shuffle(indices[indptr[i]:indptr[i + 1]])
    data = rng.standard_normal(indices.shape[0])
    return sp.csr_matrix((data.astype(dtype), indices.astype(index_dtype), indptr), shape=(n, k))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("structure", ["sorted", "unsorted", "duplicates", "int64"])
def test_kernels_match_scipy_and_reference(isa, dtype, rng, shape, structure):
    n, k, m, density = shape
    X = random_csr(rng, n, k, density, dtype, unsorted=structure == "unsorted",
                   duplicates=structure == "duplicates", index_dtype=np.int64 if structure == "int64" else np.int32)
    x = _core.as_csr(X, dtype)
    W = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dense = X.toarray().astype(np.float64)
    tol = tolerance(dtype)
    for activation in ACTIVATIONS:
        out = _core.csr_dense_forward(x, W, b, activation=activation)
        ref = _core.csr_dense_forward(x, W, b, activation=activation, reference=True)
        expected = activate(dense @ W.astype(np.float64) + b, activation, alpha=0.01)
        np.testing.assert_allclose(out, expected, **tol, err_msg=f"{activation} {shape} {structure}")
        np.testing.assert_allclose(out, ref, **tol)
    no_bias = _core.csr_dense_forward(x, W, None, activation="identity")
    np.testing.assert_allclose(no_bias, dense @ W, **tol)
    G = rng.standard_normal((n, m)).astype(dtype)
    expected = (X.T @ G.astype(np.float64)) if n else np.zeros((k, m))
    np.testing.assert_allclose(_core.csr_weight_grad(x, G), expected, **tol)
    np.testing.assert_allclose(_core.csr_weight_grad(x, G, reference=True), expected, **tol)
    for beta in (0.0, 1.0, 0.5):
        start = rng.standard_normal((k, m)).astype(dtype)
        start_nan = np.full((k, m), np.nan, dtype=dtype)
        got = _core.csr_weight_grad(x, G, dW=(start_nan if beta == 0 else start.copy()), beta=beta)
        want = expected + (0 if beta == 0 else beta * start)  # beta == 0 never reads dW (NaN there)
        np.testing.assert_allclose(got, want, **tol, err_msg=f"beta={beta}")


def test_row_selection_reads_only_those_rows(isa, dtype, rng):
    X = random_csr(rng, 40, 25, 0.2, dtype, unsorted=True)
    x = _core.as_csr(X, dtype)
    W = rng.standard_normal((25, 18)).astype(dtype)
    rows = np.array([39, 0, 7, 7, 22], dtype=np.int64)
    out = _core.csr_dense_forward(x, W, None, activation="identity", rows=rows)
    np.testing.assert_allclose(out, X[rows].toarray() @ W, **tolerance(dtype))
    G = rng.standard_normal((5, 18)).astype(dtype)
    np.testing.assert_allclose(_core.csr_weight_grad(x, G, rows=rows), X[rows].T @ G, **tolerance(dtype))
    with pytest.raises(ValueError, match=r"rows must be in \[0, 40\)"):
        _core.csr_dense_forward(x, W, rows=np.array([40]))


def test_csr_matrix_slices_and_takes_rows(rng):
    X = random_csr(rng, 30, 12, 0.3, np.float64, duplicates=True)
    x = _core.as_csr(X, np.float64)
    np.testing.assert_array_equal(x.toarray(), X.toarray())
    view = x[5:17]
    assert view.shape == (12, 12) and np.shares_memory(view.data, x.data)
    np.testing.assert_array_equal(view.toarray(), X[5:17].toarray())
    np.testing.assert_array_equal(view[2:4].toarray(), X[7:9].toarray())
    take = np.array([3, -1, 3, 0])
    np.testing.assert_array_equal(x[take].toarray(), X[take].toarray())
    np.testing.assert_array_equal(x[::3].toarray(), X[::3].toarray())
    assert x[30:40].shape == (0, 12)
    with pytest.raises(IndexError):
        x[np.array([30])]


@pytest.mark.parametrize("c", [1, 40, 500])
def test_thread_counts_give_identical_results(dtype, rng, c):
    X = random_csr(rng, 700, 300, 0.05, dtype)
    x = _core.as_csr(X, dtype)
    W = rng.standard_normal((300, c)).astype(dtype)
    G = rng.standard_normal((700, c)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        with fastgd.threads(threads):
            results.append((_core.csr_dense_forward(x, W, None, activation="tanh"), _core.csr_weight_grad(x, G)))
    for out, dW in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(dW, results[0][1])


@pytest.mark.parametrize("activation", _core.ACTIVATIONS_GRAD_FROM_PRE)
def test_model_on_sparse_input_keeping_z_is_identical_across_thread_counts(dtype, activation, rng):
    X, y = random_csr(rng, 300, 40, 0.1, dtype), rng.integers(0, 3, 300)
    model = fastgd.Sequential([fastgd.Dense(40, 256, activation=activation), fastgd.Dense(256, 3)], dtype=dtype,
                              seed=1)
    results = []
    for threads in (1, 2):
        with fastgd.threads(threads):
            results.append(model.loss_and_grad(X, y, "cross_entropy"))
    assert results[1][0] == results[0][0]
    np.testing.assert_array_equal(results[1][1], results[0][1])


def test_hostile_structures_are_refused():
    data, indices, indptr = np.ones(3), np.array([0, 1, 2]), np.array([0, 2, 3])
    cases = [
        (dict(indptr=np.array([0, 3, 2])), ValueError, r"indptr must be non-decreasing.*indptr\[2\] = 2"),
        (dict(indptr=np.array([0, 2, 4])), ValueError, r"within \[0, len\(indices\) = 3\]"),
        (dict(indptr=np.array([-1, 2, 3])), ValueError, r"indptr\[0\] = -1"),
        (dict(indptr=np.array([0, 3])), ValueError, "indptr must have n_rows \\+ 1 = 3 entries"),
        (dict(indices=np.array([0, 1, 3])), ValueError, r"indices must be in \[0, n_cols = 3\), got indices\[2\] = 3"),
        (dict(indices=np.array([0, -5, 1])), ValueError, r"indices\[1\] = -5"),
        (dict(indices=np.array([0.0, 1.0, 2.0])), TypeError, "indices must hold integers"),
        (dict(indptr=np.array([0.0, 2.0, 3.0])), TypeError, "indptr must hold integers"),
        (dict(data=np.ones(2)), ValueError, "data and indices must have the same length"),
        (dict(data=np.ones(3, dtype=np.int64)), TypeError, "data must have dtype float32 or float64"),
        (dict(shape=(2, -1)), ValueError, "shape must be a tuple of two integers"),
        (dict(indices=np.array([0, 1, 2], dtype=np.uint64) + np.uint64(2**63)), ValueError, "int64 range"),
    ]
    for change, exc, message in cases:
        args = dict(indptr=indptr, indices=indices, data=data, shape=(2, 3))
        args.update(change)
        with pytest.raises(exc, match=message):
            _core.CSRMatrix(args["indptr"], args["indices"], args["data"], args["shape"])
    # the same through SciPy: a matrix SciPy builds without checking is refused before C reads it
    bad = sp.csr_matrix((3, 3))
    bad.indptr = np.array([0, 2, 1, 3], dtype=np.int32)
    bad.indices = np.array([0, 1, 9], dtype=np.int32)
    bad.data = np.ones(3)
    with pytest.raises(ValueError, match="X is not a valid CSR matrix"):
        _core.as_csr(bad, np.float64)
    with pytest.raises(ValueError, match="NaN or infinity"):
        _core.as_csr(sp.csr_matrix(np.array([[np.nan, 1.0]])), np.float64)
    with pytest.raises(TypeError, match="scipy.sparse"):
        _core.as_csr(np.ones((2, 2)), np.float64)


def _malformed_other_formats():
    """(label, matrix) pairs of formats other than CSR whose index arrays SciPy's own conversion
    to CSR trusts: each of these crashed the process (a write or read outside SciPy's buffers)
    when converted unchecked."""
    dense = np.arange(1.0, 25.0).reshape(6, 4)
    cases = []
    m = sp.csr_matrix(dense).tocoo()  # fresh: conversions may share index arrays
    m.row[0] = 1000
    cases.append(("coo row past the shape", m))
    m = sp.csr_matrix(dense).tocoo()  # fresh: conversions may share index arrays
    m.col[1] = -3
    cases.append(("coo negative column", m))
    m = sp.csr_matrix(dense).tocsc()
    m.indices[0] = 1000
    cases.append(("csc row index past the shape", m))
    m = sp.csr_matrix(dense).tocsc()
    m.indptr[1] = 10**6
    cases.append(("csc indptr past the arrays", m))
    m = sp.csr_matrix(dense).tocsc()
    m.indptr = m.indptr[:2]
    cases.append(("csc indptr too short", m))
    m = sp.csr_matrix(dense).tobsr(blocksize=(2, 2))
    m.indptr[1] = 1000
    cases.append(("bsr indptr past the arrays", m))
    m = sp.csr_matrix(dense).tobsr(blocksize=(2, 2))
    m.data = np.ones((len(m.indices), 1, 1))
    cases.append(("bsr blocks of another shape", m))
    m = sp.csr_matrix(dense).tobsr(blocksize=(2, 2))
    m.data = m.data[:1]
    cases.append(("bsr fewer blocks than indices", m))
    m = sp.csr_matrix(dense).tolil()
    m.data[0] = [1.0] * 10_000
    cases.append(("lil row with more values than columns", m))
    m = sp.csr_matrix(dense).tolil()
    m.rows[0] = 5
    cases.append(("lil row that is not a list", m))
    m = sp.dia_matrix(np.eye(6, 4))
    m.data = np.ones((3, 4))
    cases.append(("dia more diagonals than offsets", m))
    m = sp.dia_matrix(np.eye(6, 4))
    m.offsets = np.array([2**32], dtype=np.int64)
    cases.append(("dia offset past the index type", m))
    m = sp.dia_matrix(np.eye(6, 4))
    m.data = np.ones(4)
    cases.append(("dia data of one dimension", m))
    return cases


@pytest.mark.parametrize("label, matrix", _malformed_other_formats(), ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_matrices_of_other_formats_are_refused_before_conversion(label, matrix):
    fmt = matrix.format.upper()
    with pytest.raises((TypeError, ValueError), match=f"X is not a valid {fmt} matrix"):
        _core.as_csr(matrix, np.float64)
    model = fastgd.Sequential([fastgd.Dense(4, 2)], dtype="float64")
    with pytest.raises((TypeError, ValueError), match=f"x is not a valid {fmt} matrix"):
        model.predict(matrix)


@pytest.mark.parametrize("fmt, arrays", [("coo", ("row", "col")), ("csc", ("indptr", "indices")),
                                         ("bsr", ("indptr", "indices"))])
def test_mutated_index_arrays_of_other_formats_are_refused_or_read_exactly(fmt, arrays):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(derandomize=True, deadline=None, database=None, max_examples=150)
    @hypothesis.given(name=st.sampled_from(arrays), position=st.integers(0, 40),
                      value=st.one_of(st.integers(-3, 30), st.sampled_from([2**31 - 1, -2**31, 10**6])))
    def check(name, position, value):
        dense = np.arange(1.0, 25.0).reshape(6, 4) * (np.arange(24).reshape(6, 4) % 3 > 0)
        m = sp.csr_matrix(dense).tobsr(blocksize=(2, 2)) if fmt == "bsr" else sp.csr_matrix(dense).asformat(fmt)
        array = getattr(m, name)
        array[position % len(array)] = value
        try:
            x = _core.as_csr(m, np.float64)
        except (TypeError, ValueError):
            return
        # accepted: the structure is valid, so SciPy's own reading of it is safe to compare with
        np.testing.assert_array_equal(x.toarray(), m.toarray())

    check()


def test_csr_matrix_keeps_the_indices_it_checked():
    # the arrays passed in are copied: changing them afterwards cannot move an index that a kernel
    # reads out of range, and the copies themselves are read-only
    indptr, indices = np.array([0, 2, 3]), np.array([0, 1, 2])
    x = _core.CSRMatrix(indptr, indices, np.ones(3), (2, 3))
    indices[0], indptr[1] = 10**9, 10**9
    model = fastgd.Sequential([fastgd.Dense(3, 2)], dtype="float64", seed=0)
    np.testing.assert_array_equal(model.predict(x), model.predict(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])))
    with pytest.raises(ValueError, match="read-only"):
        x.indices[0] = 10**9


def test_other_formats_are_converted_once(rng):
    dense = random_csr(rng, 9, 7, 0.4, np.float64).toarray()
    for make in (sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.coo_array, sp.lil_matrix, sp.bsr_matrix,
                 sp.dia_matrix, sp.dok_matrix, sp.csc_array, sp.lil_array):
        x = _core.as_csr(make(dense), np.float32)
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x.toarray(), dense.astype(np.float32))


def _model(dtype, seed=3):
    return fastgd.Sequential([fastgd.Dense(40, 16, activation="tanh"), fastgd.Dense(16, 3, activation="identity")],
                             dtype=dtype, seed=seed)


def test_sequential_loss_and_gradient_on_sparse_input(dtype, rng):
    X = random_csr(rng, 50, 40, 0.1, dtype, duplicates=True)
    y = rng.integers(0, 3, 50)
    model = _model(dtype)
    value_sparse, grad_sparse = model.loss_and_grad(X, y, "cross_entropy")
    value_dense, grad_dense = model.loss_and_grad(X.toarray(), y, "cross_entropy")
    np.testing.assert_allclose(value_sparse, value_dense, **tolerance(dtype))
    np.testing.assert_allclose(grad_sparse, grad_dense, **tolerance(dtype))
    np.testing.assert_allclose(model.predict(X), model.predict(X.toarray()), **tolerance(dtype))
    np.testing.assert_allclose(model.forward(X), model.predict(X.toarray()), **tolerance(dtype))
    with pytest.raises(TypeError, match="dense input"):
        model.backward(np.ones((50, 3)))


def test_sparse_gradient_matches_central_differences(rng):
    X = random_csr(rng, 12, 40, 0.15, np.float64, unsorted=True)
    y = rng.integers(0, 3, 12)
    model = _model(np.float64)
    _value, grad = model.loss_and_grad(X, y, "cross_entropy")
    params = model.params
    numeric = np.empty_like(grad)
    h = 1e-6
    for i in range(params.size):
        keep = params[i]
        params[i] = keep + h
        up = model.loss_and_grad(X, y, "cross_entropy")[0]
        params[i] = keep - h
        down = model.loss_and_grad(X, y, "cross_entropy")[0]
        params[i] = keep
        numeric[i] = (up - down) / (2 * h)
    assert np.abs(grad - numeric).max() < 1e-7 * max(1.0, np.abs(numeric).max())


def test_sequential_fit_predict_evaluate_sparse_equals_dense(rng):
    X = random_csr(rng, 120, 40, 0.1, np.float64)
    y = rng.integers(0, 3, 120)
    runs = []
    for data in (X, X.toarray(), sp.csc_array(X)):
        model = _model(np.float64, seed=5)
        history = model.fit(data, y, loss="cross_entropy", optimizer=fastgd.optim.Adam(lr=0.01), epochs=4,
                            batch_size=16, seed=1, validation_split=0.25, progress=False)
        runs.append((history.history["loss"], history.history["val_loss"], model.predict(data),
                     model.evaluate(data, y)["loss"]))
    for loss, val_loss, pred, evaluated in runs[1:]:
        np.testing.assert_allclose(loss, runs[0][0], rtol=1e-10)
        np.testing.assert_allclose(val_loss, runs[0][1], rtol=1e-10)
        np.testing.assert_allclose(pred, runs[0][2], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(evaluated, runs[0][3], rtol=1e-10)
    with pytest.raises(ValueError, match="expects 40"):
        _model(np.float64).predict(sp.csr_matrix((3, 41)))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sklearn_estimators_on_sparse_input_match_dense(rng, solver):
    pytest.importorskip("sklearn")
    from fastgd.sklearn import MLPClassifier, MLPRegressor

    X = random_csr(rng, 150, 60, 0.08, np.float64)
    y = rng.integers(0, 3, 150)
    kw = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=15, random_state=0, early_stopping=solver == "sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = MLPClassifier(**kw).fit(X.toarray(), y)
        sparse = MLPClassifier(**kw).fit(X, y)
        reg = MLPRegressor(**kw).fit(sp.coo_matrix(X).astype(np.float32), y.astype(float))
    np.testing.assert_allclose(sparse.loss_, dense.loss_, rtol=1e-8)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()), rtol=1e-8, atol=1e-10)
    assert reg.coefs_[0].dtype == np.float32 and reg.predict(X.astype(np.float32)).dtype == np.float32


def test_sklearn_refuses_a_malformed_csr_matrix():
    pytest.importorskip("sklearn")
    from fastgd.sklearn import MLPClassifier

    X = sp.csr_matrix(np.eye(4))
    X.indices = np.array([0, 1, 7, 3], dtype=np.int32)  # column 7 of 4: SciPy does not check on assignment
    with pytest.raises(ValueError, match=r"indices must be in \[0, n_cols = 4\)"):
        MLPClassifier(max_iter=1).fit(X, [0, 1, 0, 1])
