"""Worker processes after threaded kernels ran in the parent: multiprocessing pools (fork and
spawn) and scikit-learn's GridSearchCV with joblib workers. Each scenario runs in a fresh
interpreter with a timeout, so a hang fails the test instead of stalling the suite."""

import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 240

PRELUDE = textwrap.dedent("""
    import multiprocessing as mp
    import numpy as np
    import fastgd

    def make_model(seed=0):
        return fastgd.Sequential([fastgd.Dense(64, 256), fastgd.Dense(256, 10, activation="identity")],
                                 dtype="float32", seed=seed)

    X = np.random.default_rng(1).normal(size=(4096, 64)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 10, size=4096)

    def child_work(i):
        model = make_model()
        rows = slice(i * 512, (i + 1) * 512)
        pred = model.predict(X[rows])
        model.fit(X[rows], y[rows], loss="softmax_cross_entropy", optimizer="adam", epochs=2,
                  batch_size=64, progress=False, seed=0)
        return i, pred, model.params.copy(), fastgd.get_num_threads()

    def parent_reference():
        # threaded kernels run in the parent first: the OpenMP pool exists when workers start
        fastgd.set_num_threads(2)
        model = make_model()
        big = model.predict(X)
        with fastgd.threads(1):
            expect = [child_work(i) for i in range(4)]
        return big, expect

    def check(results, expect, big, fork):
        for (i, pred, params, threads), (_, pred1, params1, _) in zip(sorted(results, key=lambda r: r[0]), expect):
            np.testing.assert_allclose(pred, big[i * 512:(i + 1) * 512], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(pred, pred1, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(params, params1, rtol=1e-4, atol=1e-6)
            if fork:
                assert threads == 1, threads
""")


def run_script(tmp_path, body):
    script = tmp_path / "scenario.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scenario did not finish within {TIMEOUT} s (a worker hung)")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK"), proc.stdout[-3000:]
    return proc


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_pool_after_threaded_kernels(tmp_path, method):
    run_script(tmp_path, f"""
        if __name__ == "__main__":
            big, expect = parent_reference()
            with mp.get_context("{method}").Pool(2) as pool:
                results = pool.map(child_work, range(4))
            check(results, expect, big, fork={method == "fork"!r})
            # the parent keeps its threads
            assert fastgd.get_num_threads() == 2
            np.testing.assert_allclose(make_model().predict(X), big, rtol=1e-6)
            print("OK")
    """)


def test_forked_child_cannot_be_talked_into_threads(tmp_path):
    run_script(tmp_path, """
        import os, warnings

        if __name__ == "__main__":
            big, _ = parent_reference()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        fastgd.set_num_threads(2)
                        with fastgd.threads(4):
                            pred = make_model().predict(X)
                    ok = (fastgd.get_num_threads() == 1 and len(caught) == 1
                          and "forked child" in str(caught[0].message)
                          and np.allclose(pred, big, rtol=1e-5, atol=1e-6))
                    code = 0 if ok else 2
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            print("OK")
    """)


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_grid_search_with_two_jobs(tmp_path, backend):
    pytest.importorskip("sklearn")
    run_script(tmp_path, f"""
        import joblib
        from sklearn.model_selection import GridSearchCV
        from fastgd.sklearn import MLPClassifier, MLPRegressor

        if __name__ == "__main__":
            parent_reference()
            Xs, ys = X[:600], y[:600]
            grid = {{"alpha": [1e-4, 1e-2]}}
            searches = []
            for n_jobs in (1, 2):
                with joblib.parallel_backend("{backend}"):
                    clf = GridSearchCV(MLPClassifier(hidden_layer_sizes=(16,), max_iter=15, random_state=0), grid,
                                       cv=2, n_jobs=n_jobs, error_score="raise")
                    clf.fit(Xs, ys)
                    reg = GridSearchCV(MLPRegressor(hidden_layer_sizes=(16,), max_iter=15, random_state=0), grid,
                                       cv=2, n_jobs=n_jobs, error_score="raise")
                    reg.fit(Xs, Xs[:, :2].sum(axis=1))
                searches.append((clf.cv_results_["mean_test_score"], reg.cv_results_["mean_test_score"]))
            (c1, r1), (c2, r2) = searches
            np.testing.assert_allclose(c2, c1, rtol=1e-6)
            np.testing.assert_allclose(r2, r1, rtol=1e-5)
            print("OK")
    """)


@pytest.mark.parametrize("parent_work", ["predict", "backward", "train_step"])
def test_fork_while_another_thread_uses_the_model(tmp_path, parent_work):
    # A forked child inherited the model's count of the inference calls in flight in the
    # parent's other threads, threads it does not have: its first training call waited for them
    # for ever. A child forked in the middle of a parent thread's training step gets a model
    # whose parameters may be half-written: it says so instead of using them.
    run_script(tmp_path, f"""
        import faulthandler, os, threading

        if __name__ == "__main__":
            model, stop = make_model(), threading.Event()
            started = threading.Event()

            def parent_thread():
                opt = fastgd.optim.SGD(lr=1e-6)
                while not stop.is_set():
                    if {parent_work!r} == "predict":
                        model.predict(X)
                    elif {parent_work!r} == "backward":  # gradients only: the parameters stay whole
                        model.forward(X)
                        model.backward(np.ones((X.shape[0], model.n_outputs), X.dtype))
                    else:
                        model.train_step(X, y, "softmax_cross_entropy", opt)
                    started.set()

            t = threading.Thread(target=parent_thread)
            t.start()
            started.wait()
            outcomes = []
            for _ in range(6):
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        faulthandler.dump_traceback_later(60, exit=True)  # a hang fails this child
                        try:
                            model.predict(X[:8])
                            code = 0
                        except RuntimeError as exc:
                            code = 3 if "half-updated" in str(exc) else 2
                        try:
                            model.train_step(X[:8], y[:8], "softmax_cross_entropy", fastgd.optim.SGD(lr=0.1))
                        except RuntimeError as exc:
                            code = code if "another thread" in str(exc) else 2
                    finally:
                        os._exit(code)
                outcomes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
            stop.set()
            t.join()
            allowed = {{0, 3}} if {parent_work!r} == "train_step" else {{0}}
            assert set(outcomes) <= allowed, outcomes
            print("OK")
    """)


def test_forked_child_can_step_an_optimizer_the_parent_was_stepping(tmp_path):
    # the parent's stepping thread is not in the child: its claim on the optimizer is dropped
    run_script(tmp_path, """
        import os
        from fastgd import _core
        opt = fastgd.optim.Adam(lr=1e-3)
        _core.claim_optimizer(opt)  # as a step running in another thread of the parent holds it
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                p = np.zeros(3, np.float32)
                opt.step(p, np.ones(3, np.float32))
                code = 0 if opt.step_count == 1 and (p < 0).all() else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        try:
            opt.step(np.zeros(3, np.float32), np.ones(3, np.float32))
            raise AssertionError("the parent's claim must hold in the parent")
        except RuntimeError:
            pass
        print("OK")
    """)
