"""The first kernel end to end: the plain SGD step over a flat buffer."""

import numpy as np
import pytest

import fastgd
from fastgd.ops import inplace_sgd_step

SIZES = [0, 1, 2, 7, 8, 9, 31, 63, 64, 65, 1000, 70001]


@pytest.mark.parametrize("n", SIZES)
def test_matches_numpy(isa, dtype, rng, n):
    params = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal(n).astype(dtype)
    expected = params - dtype.type(0.05) * grads
    inplace_sgd_step(params, grads, 0.05)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(params, expected, rtol=rtol, atol=rtol)


def test_thread_counts_give_identical_results(isa, dtype, rng):
    n = 300_001
    start = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal(n).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        params = start.copy()
        with fastgd.threads(threads):
            inplace_sgd_step(params, grads, 0.01)
        results.append(params)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_negative_lr_ascends(rng):
    params = np.zeros(5)
    inplace_sgd_step(params, np.ones(5), -0.5)
    np.testing.assert_array_equal(params, np.full(5, 0.5))


def test_only_params_is_written(rng):
    params = np.ones(10, dtype=np.float32)
    grads = np.arange(10, dtype=np.float32)
    grads_before = grads.copy()
    inplace_sgd_step(params, grads, 1.0)
    np.testing.assert_array_equal(grads, grads_before)


def test_updates_a_contiguous_slice_in_place():
    buf = np.zeros(10)
    inplace_sgd_step(buf[2:5], np.ones(3), 1.0)
    np.testing.assert_array_equal(buf, [0, 0, -1, -1, -1, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("params, grads, lr, exc, message", [
    ([1.0, 2.0], np.ones(2), 0.1, TypeError, "params must be a numpy.ndarray"),
    (np.ones(2), [1.0, 2.0], 0.1, TypeError, "grads must be a numpy.ndarray"),
    (np.ones(2, dtype=np.int64), np.ones(2), 0.1, TypeError, "params must have dtype float32 or float64, got int64"),
    (np.ones(2, dtype=np.complex128), np.ones(2), 0.1, TypeError, "got complex128"),
    (np.ones(2), np.ones(2, dtype=np.float32), 0.1, TypeError, r"grads must have the dtype of params \(float64\), got float32"),
    (np.ones(3), np.ones(2), 0.1, ValueError, r"grads must have the shape of params \(3,\), got \(2,\)"),
    (np.ones((2, 2)), np.ones((2, 2)), 0.1, ValueError, "params must be 1-D, got 2-D array of shape"),
    (np.ones(6)[::2], np.ones(3), 0.1, ValueError, "params must be C-contiguous"),
    (np.ones(3), np.ones(6)[::2], 0.1, ValueError, "grads must be C-contiguous"),
    (np.ones(2), np.ones(2), float("nan"), ValueError, "lr must be finite, got nan"),
    (np.ones(2), np.ones(2), float("inf"), ValueError, "lr must be finite"),
    (np.ones(2), np.ones(2), "0.1", TypeError, "lr must be a real number, got str"),
    (np.ones(2), np.ones(2), None, TypeError, "lr must be a real number, got NoneType"),
])
def test_bad_arguments_raise_clear_errors(params, grads, lr, exc, message):
    with pytest.raises(exc, match=message):
        inplace_sgd_step(params, grads, lr)


def test_read_only_params_raise():
    params = np.ones(4)
    params.flags.writeable = False
    with pytest.raises(ValueError, match="params is read-only"):
        inplace_sgd_step(params, np.ones(4), 0.1)
    np.testing.assert_array_equal(params, np.ones(4))


def test_overlapping_buffers_raise():
    buf = np.ones(10)
    with pytest.raises(ValueError, match="must not share memory"):
        inplace_sgd_step(buf[:5], buf[3:8], 0.1)
    with pytest.raises(ValueError, match="must not share memory"):
        inplace_sgd_step(buf, buf, 0.1)
