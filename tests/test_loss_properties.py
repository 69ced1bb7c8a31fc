"""Property test: the fused loss kernels agree with the reference twin on random shapes, weights,
smoothing and logit scales, on every CPU target."""

import numpy as np
import pytest

from fastgd import _core
from test_loss_kernels import KINDS, kernel, make_case

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), n=st.integers(1, 40), c=st.integers(1, 40),
       f32=st.booleans(), weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.3]),
       scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 2**32 - 1))
def test_kernel_matches_reference_on_random_cases(kind, n, c, f32, weighted, smoothing, scale, seed):
    dtype = np.dtype(np.float32 if f32 else np.float64)
    rng = np.random.default_rng(seed)
    ce = kind.startswith("ce")
    loss, pred, target, sw = make_case(kind, n, c, dtype, rng, smoothing=smoothing if ce else 0.0,
                                       class_weight=weighted and ce, sample_weight=weighted, soft=weighted)
    if kind == "poisson":  # pred is a log-rate: exp(30·z) passes float32's range, a rate no data has
        scale = min(scale, 2.0)
    pred = (pred * dtype.type(scale)).astype(dtype)
    for isa in [i for i in _core.isa_compiled() if i in _core.isa_cpu_supported()]:
        previous = _core.isa_current()
        _core.isa_select(isa)
        try:
            value, grad = kernel(loss, pred, target, sw)
        finally:
            _core.isa_select(previous)
        ref_value, ref_grad = kernel(loss, pred, target, sw, reference=True)
        tol = dict(rtol=5e-5, atol=1e-6) if f32 else dict(rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(value, ref_value, **tol)
        np.testing.assert_allclose(grad, ref_grad, **tol)
