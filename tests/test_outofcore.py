"""Training on memory-mapped data: same results as in memory, bounded memory, per-batch checks."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgd as fg
from fastgd import optim

LOSS = "softmax_cross_entropy"


def _model(dtype, n_in=6):
    return fg.Sequential([fg.Dense(n_in, 9, activation="relu"), fg.Dense(9, 3, activation="identity")],
                         dtype=dtype, seed=2)


def _data(n, n_in=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y, rng.uniform(0.1, 3.0, size=n)


@pytest.mark.parametrize("shuffle", ["epoch", False])
def test_memmap_training_equals_in_memory_bit_for_bit(tmp_path, dtype, shuffle):
    x, y, w = _data(301)
    xv, yv, _ = _data(57, seed=1)
    np.save(tmp_path / "x.npy", x.astype(dtype))
    np.save(tmp_path / "xv.npy", xv.astype(dtype))
    results = []
    for mode in ("r", None):
        xs, xvs = (np.load(tmp_path / name, mmap_mode=mode) for name in ("x.npy", "xv.npy"))
        assert isinstance(xs, np.memmap) == (mode == "r")
        m = _model(dtype)
        h = m.fit(xs, y, loss=LOSS, optimizer=optim.Adam(lr=0.01), epochs=3, batch_size=32, shuffle=shuffle,
                  seed=5, sample_weight=w, validation_data=(xvs, yv), metrics=["accuracy"], tol=1e-9,
                  clip_norm=1.0, progress=False)
        ev = m.evaluate(xvs, yv, metrics=["accuracy"])
        del h.history["seconds"]
        results.append((m.params.copy(), h.history, ev))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    assert results[0][2] == results[1][2]


def test_memmap_of_another_dtype_is_converted_per_batch(tmp_path):
    x, y, _ = _data(90)
    np.save(tmp_path / "x.npy", x)  # float64 on disk, float32 model
    params, probes = [], []
    for xs in (np.load(tmp_path / "x.npy", mmap_mode="r"), x):
        m = _model("float32")
        # the curvature probe's rows too (the engine refused them in the file's dtype)
        h = m.fit(xs, y, loss=LOSS, optimizer="sgd", epochs=2, batch_size=16, seed=1, progress=False,
                  curvature="epoch")
        params.append(m.params.copy())
        probes.append(h.curvature)
    np.testing.assert_array_equal(params[0], params[1])
    assert probes[0] == probes[1] and len(probes[0]["lambda_max"]) == 2


def test_nonfinite_rows_are_found_when_their_batch_is_gathered(tmp_path):
    x, y, _ = _data(100)
    x[77, 2] = np.inf
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    m = _model("float64")
    with pytest.raises(ValueError, match=r"X contains NaN or infinity in rows 64\.\.95"):
        m.fit(xm, y, loss=LOSS, optimizer="sgd", epochs=1, batch_size=32, shuffle=False, progress=False)
    # shuffled, the message lists the first rows of the batch as plain integers
    with pytest.raises(ValueError, match=r"X contains NaN or infinity in the batch of rows starting "
                                         r"\[\d+, \d+, \d+, \d+\]$"):
        m.fit(xm, y, loss=LOSS, optimizer="sgd", epochs=1, batch_size=100, progress=False)
    # in memory the same data is refused up front
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        _model("float64").fit(x, y, loss=LOSS, optimizer="sgd", epochs=1, progress=False)


def test_memmap_input_checks_name_the_problem(tmp_path):
    m = _model("float64")
    bad = np.lib.format.open_memmap(tmp_path / "b.npy", mode="w+", dtype=np.float64, shape=(10, 4))
    with pytest.raises(ValueError, match="X has 4 features per sample, the model expects 6"):
        m.fit(bad, np.zeros(10, dtype=np.int64), loss=LOSS, optimizer="sgd", progress=False)
    cols = np.lib.format.open_memmap(tmp_path / "c.npy", mode="w+", dtype=np.float64, shape=(10, 12))[:, :6]
    with pytest.raises(ValueError, match="must be C-contiguous"):
        m.fit(cols, np.zeros(10, dtype=np.int64), loss=LOSS, optimizer="sgd", progress=False)
    text = np.lib.format.open_memmap(tmp_path / "s.npy", mode="w+", dtype="S3", shape=(10, 6))
    with pytest.raises(TypeError, match="real numbers"):
        m.fit(text, np.zeros(10, dtype=np.int64), loss=LOSS, optimizer="sgd", progress=False)
    with pytest.raises(ValueError, match="LBFGS needs X in memory"):
        m.fit(np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float64, shape=(10, 6)),
              np.zeros(10, dtype=np.int64), loss=LOSS, optimizer=fg.lbfgs.LBFGS(), batch_size=None,
              progress=False)


_RSS_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import fastgd as fg
    path = sys.argv[1]
    x = np.load(path, mmap_mode="r")
    y = (np.arange(x.shape[0]) % 2).astype(np.int64)
    m = fg.Sequential([fg.Dense(x.shape[1], 8), fg.Dense(8, 2, activation="identity")], seed=0)
    m.fit(x[:64], y[:64], loss="softmax_cross_entropy", optimizer="sgd", epochs=1, batch_size=64,
          progress=False)  # buffers and code paths warmed before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    h = m.fit(x, y, loss="softmax_cross_entropy", optimizer="sgd", epochs=1, batch_size=2048, shuffle="epoch",
              seed=0, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024, h.history["loss"][0])
""")


def test_memmap_training_peak_memory_stays_far_below_the_file(tmp_path):
    budget = 48 << 20
    n_features = 256
    rows = 4 * budget // (n_features * 4)  # a float32 file four times the budget
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, n_features))
    rng = np.random.default_rng(0)
    for s in range(0, rows, 8192):
        big[s:s + 8192] = rng.standard_normal((min(8192, rows - s), n_features), dtype=np.float32)
    big.flush()
    del big
    assert os.path.getsize(path) > 4 * budget
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    growth, loss = proc.stdout.split()
    assert np.isfinite(float(loss))
    assert int(growth) < budget, (f"peak resident memory grew by {int(growth) >> 20} MiB during a pass over a "
                                  f"{os.path.getsize(path) >> 20} MiB file (budget {budget >> 20} MiB)")


def test_views_and_copy_on_write_maps_read_the_right_rows(tmp_path):
    x, y, _ = _data(300)
    np.save(tmp_path / "x.npy", x)
    cow = np.load(tmp_path / "x.npy", mmap_mode="c")
    cow[10:20] *= 3.0  # in this process only: the file keeps the old rows
    expected = x.copy()
    expected[10:20] *= 3.0
    cases = [(np.load(tmp_path / "x.npy", mmap_mode="r")[50:250], x[50:250], y[50:250]),
             (cow, expected, y)]
    for lazy, memory, labels in cases:
        params = []
        for xs in (lazy, memory):
            m = _model("float64")
            m.fit(xs, labels, loss=LOSS, optimizer="sgd", epochs=2, batch_size=16, seed=3, progress=False)
            params.append(m.params.copy())
        np.testing.assert_array_equal(params[0], params[1])


_TRUNCATED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import fastgd as fg

    path = sys.argv[1]
    xm = np.load(path, mmap_mode="r")
    with open(path, "r+b") as f:
        f.truncate(8192)  # the mapping now reaches pages past the end of the file
    m = fg.Sequential([fg.Dense(16, 3, activation="identity")], dtype=sys.argv[2], seed=0)
    for call in (lambda: m.predict(xm), lambda: m(xm), lambda: m.predict(xm[100:]),
                 lambda: m.loss_and_grad(xm, np.zeros(len(xm), int), "softmax_cross_entropy")):
        try:
            call()
        except OSError as exc:
            print("OSError", "was the file truncated?" in str(exc))
""")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inference_on_a_truncated_memmap_reports_the_short_file(tmp_path, dtype):
    # predict and forward read a memmap through its mapping: touching a page past the end of a
    # file truncated after it was mapped killed the process with SIGBUS. They read from the
    # file now, as fit and evaluate do, and a short read raises OSError.
    np.save(tmp_path / "x.npy", np.ones((20000, 16), np.float32))
    proc = subprocess.run([sys.executable, "-c", _TRUNCATED_SCRIPT, str(tmp_path / "x.npy"), dtype],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-1] == ["OSError True"] * 4


_TRUNCATED_THROUGH_MAPPING = textwrap.dedent("""
    import sys
    import warnings
    import numpy as np
    import fastgd as fg
    from fastgd.sklearn import MLPClassifier

    folder = sys.argv[1]
    x = np.ones((20000, 16))
    y = np.arange(20000) % 3
    warnings.simplefilter("ignore")  # max_iter=1: ConvergenceWarning
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(x[:50], y[:50])
    np.save(folder + "/c.npy", x)
    np.save(folder + "/f.npy", np.asfortranarray(x))
    cow = np.load(folder + "/c.npy", mmap_mode="c")  # copy-on-write: batches come through the mapping
    xc = np.load(folder + "/c.npy", mmap_mode="r")
    xf = np.load(folder + "/f.npy", mmap_mode="r")  # scattered rows: inference copies through the mapping
    for name in ("c", "f"):
        with open(folder + "/" + name + ".npy", "r+b") as f:
            f.truncate(8192)  # the mappings now reach pages past the end of the files
    m = fg.Sequential([fg.Dense(16, 3, activation="identity")], seed=0)
    for call in (lambda: m.predict(xf), lambda: m(xf),
                 lambda: m.fit(cow, y, loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False),
                 lambda: clf.fit(xc, y), lambda: clf.predict(xc), lambda: clf.partial_fit(xc, y)):
        try:
            call()
        except OSError as exc:
            print("OSError", "was the file truncated?" in str(exc))
""")


def test_reading_a_truncated_memmap_through_its_mapping_is_refused(tmp_path):
    # what reads a memmap through its mapping (inference on a Fortran-order file, fit on a
    # copy-on-write mapping, scikit-learn's checks of X in the estimators) died of SIGBUS on a
    # file truncated after it was mapped; the mapping's file is measured first now
    proc = subprocess.run([sys.executable, "-c", _TRUNCATED_THROUGH_MAPPING, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-1] == ["OSError True"] * 6


def test_a_memmap_of_a_device_is_not_taken_for_a_truncated_file():
    # a device's size (st_size) is 0 however much of it NumPy maps: the truncation check
    # refused every memmap of one ("holds 0 bytes, but its memory map needs 384")
    xm = np.memmap("/dev/zero", dtype=np.float64, mode="r", shape=(16, 6))
    m = _model("float64")
    np.testing.assert_array_equal(m.predict(xm, batch_size=4), m.predict(np.zeros((16, 6))))


def test_inference_on_a_memmap_equals_in_memory(tmp_path):
    x, _, _ = _data(300)
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for dtype in ("float32", "float64"):
        m = _model(dtype)
        np.testing.assert_array_equal(m.predict(xm, batch_size=64), m.predict(x))
        np.testing.assert_array_equal(m(xm[10:50]), m(x[10:50]))


def test_inference_on_a_memmap_of_scattered_rows_or_columns(tmp_path):
    # a Fortran-order file or a column slice of a mapping is not rows one after another: inference
    # copies it through the mapping, as any array (fit refuses it: see the checks above)
    x, _, _ = _data(120)
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    xf = np.load(tmp_path / "f.npy", mmap_mode="r")
    wide = np.lib.format.open_memmap(tmp_path / "w.npy", mode="w+", dtype=x.dtype, shape=(120, 2 * x.shape[1]))
    wide[:, :x.shape[1]] = x
    for xm in (xf, wide[:, :x.shape[1]]):
        assert isinstance(xm, np.memmap) and not xm.flags.c_contiguous
        m = _model("float64")
        np.testing.assert_array_equal(m.predict(xm, batch_size=32), m.predict(x))
        np.testing.assert_array_equal(m(xm), m(x))
        assert m.loss_and_grad(xm, np.zeros(len(x), np.int64), LOSS)[0] == \
            m.loss_and_grad(x, np.zeros(len(x), np.int64), LOSS)[0]


def test_a_file_of_the_same_size_renamed_over_a_memmap_path_is_not_read(tmp_path):
    # after a first read, rows were read from whatever regular file of the mapping's size the path
    # held: another file renamed over it (a pipeline writing the next data set) was trained on
    x, y, _ = _data(120)
    path, other = tmp_path / "x.npy", tmp_path / "next.npy"
    np.save(path, x)
    xs = np.load(path, mmap_mode="r")
    m, expect = _model("float64"), _model("float64")
    np.testing.assert_array_equal(m.predict(xs, batch_size=50), expect.predict(x))  # a first read by path
    np.save(other, np.full_like(x, 7.0))
    os.replace(other, path)
    assert os.path.getsize(path) == xs.base.size()
    np.testing.assert_array_equal(m.predict(xs, batch_size=50), expect.predict(x))
    m.fit(xs, y, loss=LOSS, optimizer=optim.SGD(lr=0.1), epochs=2, batch_size=32, progress=False, seed=0)
    expect.fit(x, y, loss=LOSS, optimizer=optim.SGD(lr=0.1), epochs=2, batch_size=32, progress=False, seed=0)
    np.testing.assert_array_equal(m.params, expect.params)


@pytest.mark.parametrize("then", ["deleted", "replaced by a longer file", "a fifo", "a directory"])
def test_a_memmap_whose_path_no_longer_holds_its_file_is_read_through_the_mapping(tmp_path, then):
    # the rows were read by opening the path again: FileNotFoundError for a file deleted after it
    # was mapped (the mapping still holds it), another file's rows in silence, or an open that
    # waited for a writer for ever
    x, y, _ = _data(120)
    path = tmp_path / "x.npy"
    np.save(path, x)
    xs = np.load(path, mmap_mode="r")
    os.remove(path)
    if then == "replaced by a longer file":
        np.save(path, np.full((240, 6), 7.0))
    elif then == "a fifo":
        os.mkfifo(path)
    elif then == "a directory":
        os.mkdir(path)
    m, expect = _model("float64"), _model("float64")
    np.testing.assert_array_equal(m.predict(xs, batch_size=50), expect.predict(x))
    m.fit(xs, y, loss=LOSS, optimizer=optim.SGD(lr=0.1), epochs=2, batch_size=32, progress=False, seed=0)
    expect.fit(x, y, loss=LOSS, optimizer=optim.SGD(lr=0.1), epochs=2, batch_size=32, progress=False, seed=0)
    np.testing.assert_array_equal(m.params, expect.params)
