"""Memory safety at the C boundary, the thread contract and divergence, as a user hits them:
optimizer state changed or loaded behind the engine's back, one model used from many threads,
an exploding learning rate."""

import threading

import numpy as np
import pytest

import fastgd
from fastgd import _core, optim
from fastgd.training import DivergenceError


@pytest.fixture
def data(rng):
    X = rng.normal(size=(64, 5))
    y = np.sin(X[:, :2])
    return X, y


def adam_step_numpy(p, g, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    p -= lr / (1 - b1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)


# ---- optimizer state handed to C ---------------------------------------------------------------

@pytest.mark.parametrize("route", ["arrays", "model"])
def test_switching_on_momentum_after_a_step_extends_the_state(rng, route, data, make_mlp):
    """SGD -> SGD with momentum via set_param_groups after the first step: the momentum buffer
    is created then (zero, so with dampening 0 its first update is b = g as in torch), not read
    out of bounds."""
    X, y = data
    model = make_mlp([5, 8, 2])
    opt = optim.SGD(lr=0.05)
    grads = []

    def one_step():
        if route == "model":
            model.train_step(X, y, "mse", opt)
        else:
            opt.step(model.params, model.grads)

    ref = model.params.copy()
    for k in range(3):
        model.loss_and_grad(X, y, "mse")
        grads.append(model.grads.copy())
        if k == 1:
            opt.set_param_groups([(0, model.n_params, {"momentum": 0.9})])
        one_step()
    # torch's rule: plain step, then b = g1 (the buffer created at the switch), then b = 0.9 b + g2
    b = None
    for k, g in enumerate(grads):
        if k == 0:
            ref -= 0.05 * g
        else:
            b = g.copy() if b is None else 0.9 * b + g
            ref -= 0.05 * b
    np.testing.assert_allclose(model.params, ref, rtol=1e-12, atol=1e-14)
    assert opt.state_dict()["state"].size == model.n_params


def test_turning_on_amsgrad_keeps_the_moments(rng):
    n = 37
    p = rng.normal(size=n)
    q, m, v = p.copy(), np.zeros(n), np.zeros(n)
    opt = optim.Adam(lr=1e-2)
    gs = rng.normal(size=(4, n))
    for t, g in enumerate(gs[:3], 1):
        opt.step(p, g)
        adam_step_numpy(q, g, m, v, t, lr=1e-2)
    opt.set_param_groups([(0, 20, {"amsgrad": True}), (20, n, {})])
    opt.step(p, gs[3])
    adam_step_numpy(q, gs[3], m, v, 4, lr=1e-2)  # v_max starts at 0, so max(v_max, v) = v
    np.testing.assert_allclose(p, q, rtol=1e-12)
    state = opt.state_dict()["state"].reshape(3, n)
    np.testing.assert_allclose(state[0], m, rtol=1e-12)
    np.testing.assert_allclose(state[1], v, rtol=1e-12)
    np.testing.assert_allclose(state[2][:20], v[:20], rtol=1e-12)
    np.testing.assert_array_equal(state[2][20:], 0)


def test_turning_on_amsgrad_through_the_model(data, make_mlp):
    X, y = data
    model = make_mlp([5, 8, 2], dtype="float32")
    opt = optim.Adam(lr=1e-2)
    model.train_step(X, y, "mse", opt)
    opt.set_param_groups([(0, model.n_params, {"amsgrad": True})])
    for _ in range(3):
        model.train_step(X, y, "mse", opt)
    assert np.all(np.isfinite(model.params))
    assert opt.state_dict()["state"].size == 3 * model.n_params


def test_rmsprop_centered_after_momentum_keeps_each_buffer_in_its_role(rng):
    n = 10
    opt = optim.RMSProp(lr=1e-2, momentum=0.5)
    p = rng.normal(size=n)
    opt.step(p, rng.normal(size=n))
    square_avg, buf = opt.state_dict()["state"].reshape(2, n)
    opt.set_param_groups([(0, n, {"centered": True})])
    opt._plan(n, p.dtype)
    laid_out = opt.state_dict()["state"].reshape(3, n)  # square_avg, grad_avg, momentum_buffer
    np.testing.assert_array_equal(laid_out[0], square_avg)
    np.testing.assert_array_equal(laid_out[1], 0)
    np.testing.assert_array_equal(laid_out[2], buf)


def test_load_state_dict_with_fewer_slots_is_refused(data, make_mlp):
    X, y = data
    model = make_mlp([5, 8, 2])
    opt = optim.Adam(lr=1e-2, amsgrad=True)
    model.train_step(X, y, "mse", opt)
    sd = opt.state_dict()
    for size in (2 * model.n_params, 0, model.n_params):
        bad = dict(sd, state=sd["state"][:size])
        fresh = optim.Adam(lr=1e-2, amsgrad=True)
        with pytest.raises(ValueError, match=f"must hold 3 slots x n={model.n_params}"):
            fresh.load_state_dict(bad)
    with pytest.raises(ValueError, match="dtype"):
        optim.Adam(amsgrad=True).load_state_dict(dict(sd, dtype="int8"))
    with pytest.raises(ValueError, match="'step'"):
        optim.Adam(amsgrad=True).load_state_dict(dict(sd, step=-1))
    good = optim.Adam(lr=1e-2, amsgrad=True)
    good.load_state_dict(sd)
    model.train_step(X, y, "mse", good)


class _HandMadeSolver:
    """The _plan/_advance protocol of an optimizer the fused step uses, returning whatever a test wants."""

    def __init__(self, state, groups):
        self.state, self.groups = state, _core.optim_groups(groups)

    def _plan(self, n, dtype):
        return self.state, self.groups

    def _advance(self):
        pass


def _adam_cfg():
    opt = optim.Adam(amsgrad=True)
    group = opt._plan(4, np.float64)[1][0]
    return {k: group[k].item() for k in _core.OPTIM_CONFIG_FIELDS}


@pytest.mark.parametrize("case", ["short", "none", "dtype", "unaligned", "readonly", "gap", "past_end",
                                  "aliases_params"])
def test_engine_step_checks_what_it_hands_to_c(data, case, make_mlp):
    X, y = data
    model = make_mlp([5, 3, 2])
    n = model.n_params
    stride = _core.optim_state_stride(n)
    cfg = _adam_cfg()
    state = _core.aligned_zeros(3 * stride, np.float64)
    groups = [(0, n, cfg)]
    if case == "short":
        state = state[:3 * stride - 1]
    elif case == "none":
        state = None
    elif case == "dtype":
        state = state.astype(np.float32)
    elif case == "unaligned":
        raw = np.zeros(3 * stride * 8 + 8, dtype=np.uint8)
        state = raw[1:1 + 3 * stride * 8].view(np.float64)
    elif case == "readonly":
        state.flags.writeable = False
    elif case == "gap":
        groups = [(0, 5, cfg), (6, n, cfg)]
    elif case == "past_end":
        groups = [(0, n + 1, cfg)]
    elif case == "aliases_params":
        state = model.params
    before = model.params.copy()
    with pytest.raises((ValueError, TypeError)):
        model.train_step(X, y, "mse", _HandMadeSolver(state, groups))
    np.testing.assert_array_equal(model.params, before)


def test_unaligned_arrays_are_rejected_by_the_bindings():
    raw = np.zeros(8 * 10 + 1, dtype=np.uint8)
    x = raw[1:].view(np.float64)
    with pytest.raises(ValueError, match="aligned"):
        _core.sum_squares(x)


# ---- dense_backward aliasing ------------------------------------------------------------------

@pytest.mark.parametrize("alias", ["x", "W", "out"])
def test_dense_backward_overwrite_rejects_grad_out_aliasing_inputs(rng, alias):
    from fastgd.ops import dense_backward, dense_forward

    n = k = m = 6
    x = rng.normal(size=(n, k))
    W = rng.normal(size=(k, m))
    out = dense_forward(x, W, rng.normal(size=m), activation="tanh")
    grad_out = {"x": x, "W": W, "out": out}[alias]
    with pytest.raises(ValueError, match=f"grad_out must not share memory with {alias}"):
        dense_backward(grad_out, x, W, out, activation="tanh", overwrite_grad_out=True)
    # a view of part of the array counts too
    with pytest.raises(ValueError, match="must not share memory"):
        big = np.zeros((2 * n, k))
        big[:n] = x
        dense_backward(big[n - 1:2 * n - 1], big[:n], W, out, activation="tanh", overwrite_grad_out=True)


# ---- threads --------------------------------------------------------------------------------

N_THREADS = 6


def _run_threads(fn, n=N_THREADS):
    errors, barrier = [], threading.Barrier(n)

    def body(i):
        try:
            barrier.wait()
            fn(i)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return errors


@pytest.mark.parametrize("threads", [1, 2])
def test_inference_from_many_threads_matches_one_thread(rng, threads, make_mlp):
    fastgd.set_num_threads(threads)
    model = make_mlp([7, 33, 17, 3], dtype="float32", seed=1)
    model.loss = fastgd.losses.get("softmax_cross_entropy")
    inputs = [rng.normal(size=(int(rng.integers(1, 300)), 7)).astype(np.float32) for _ in range(24)]
    expect = [(model.predict(x), model.predict_proba(x), model.forward(x)) for x in inputs]
    labels = [np.argmax(e[0], axis=1) for e in expect]
    losses = [model.evaluate(x, lab, loss="softmax_cross_entropy")["loss"] for x, lab in zip(inputs, labels)]
    mismatches = []

    def worker(i):
        for rep in range(30):
            j = (i * 7 + rep) % len(inputs)
            x = inputs[j]
            got = (model.predict(x), model.predict_proba(x), model.forward(x))
            for a, b in zip(got, expect[j]):
                if not np.array_equal(a, b):
                    mismatches.append((i, rep, j))
            if model.evaluate(x, labels[j], loss="softmax_cross_entropy")["loss"] != losses[j]:
                mismatches.append((i, rep, j, "evaluate"))

    assert _run_threads(worker) == []
    assert mismatches == []


def test_results_are_new_arrays_never_views_of_scratch(rng, make_mlp):
    model = make_mlp([4, 8, 2], seed=2)
    x = rng.normal(size=(5, 4))
    a = model.forward(x)
    first = a.copy()
    model.forward(rng.normal(size=(5, 4)))
    model.predict(rng.normal(size=(9, 4)))
    np.testing.assert_array_equal(a, first)


def test_concurrent_training_of_one_model_is_refused_clearly(rng, make_mlp):
    X = rng.normal(size=(2000, 20))
    y = rng.normal(size=(2000, 1))
    model = make_mlp([20, 64, 1], seed=3)
    started, release, results = threading.Event(), threading.Event(), []

    def train():
        class Signal(fastgd.callbacks.Callback):
            def on_batch_end(self, step, logs):
                if not started.is_set():
                    started.set()
                    release.wait(60)  # hold the fit open while the main thread probes it

        results.append(model.fit(X, y, loss="mse", optimizer=optim.SGD(lr=1e-3), epochs=1, batch_size=64,
                                 progress=False, callbacks=[Signal()]))

    t = threading.Thread(target=train)
    t.start()
    assert started.wait(60)
    refused = []
    for call in (lambda: model.fit(X, y, loss="mse", optimizer=optim.SGD(), epochs=1, progress=False),
                 lambda: model.train_step(X[:8], y[:8], "mse", optim.SGD()),
                 lambda: model.loss_and_grad(X[:8], y[:8], "mse")):
        with pytest.raises(RuntimeError, match="trained in another thread") as info:
            call()
        refused.append(info.value)
    # inference keeps working while the model trains
    assert model.predict(X[:10]).shape == (10, 1)
    release.set()
    t.join(timeout=300)
    assert not t.is_alive() and len(results) == 1 and len(refused) == 3


def test_concurrent_steps_through_one_engine_are_refused_or_serialized(rng, make_mlp):
    """Bare engine steps (no fit around them) from several threads: each either runs alone or
    is refused; the parameters end up equal to some sequence of whole steps."""
    X = rng.normal(size=(4000, 10))
    y = rng.normal(size=(4000, 1))
    model = make_mlp([10, 32, 1], seed=4)
    target = ("rows", np.ascontiguousarray(y))
    loss = fastgd.losses.get("mse")
    done, refused = [], []

    def worker(i):
        for _ in range(40):
            try:
                model._train_step(X, loss_spec=model._loss_spec(loss), target=target)
                done.append(i)
            except RuntimeError as exc:
                assert "another thread" in str(exc)
                refused.append(i)

    assert _run_threads(worker, 4) == []
    assert len(done) + len(refused) == 160 and done
    value, grad = model.loss_and_grad(X, y, "mse")
    expect = make_mlp([10, 32, 1], seed=4).loss_and_grad(X, y, "mse")
    assert value == expect[0]
    np.testing.assert_array_equal(grad, expect[1])


def test_one_optimizer_stepping_from_two_threads_is_refused(rng):
    n = 2_000_000
    params = [np.zeros(n) for _ in range(4)]
    grads = np.ones(n)
    opt = optim.Adam(lr=1e-3)
    opt.step(params[0], grads)  # fixes n and the dtype
    refused, applied = [], []

    def worker(i):
        for _ in range(10):
            try:
                opt.step(params[i], grads)
                applied.append(i)
            except RuntimeError as exc:
                assert "already running a step" in str(exc)
                refused.append(i)

    assert _run_threads(worker, 4) == []
    assert opt.step_count == 1 + len(applied)
    assert len(applied) + len(refused) == 40


@pytest.mark.parametrize("make", [fastgd.LBFGS, fastgd.NewtonCG])
def test_a_closure_driven_optimizer_stepping_from_two_threads_is_refused(make):
    # the second thread's step went on: its points and gradients went into the first run's
    # history (L-BFGS's curvature pairs, Newton-CG's point and radius), silently
    opt, x = make(), np.ones(3)
    inside, release = threading.Event(), threading.Event()

    def waiting(p):
        inside.set()
        release.wait(30)
        return float(p @ p), 2 * p

    first = threading.Thread(target=opt.step, args=(waiting, x))
    first.start()
    try:
        assert inside.wait(30)
        with pytest.raises(RuntimeError, match=f"{make.__name__} is already running a step in another thread"):
            opt.step(lambda p: (float(p @ p), 2 * p), np.full(3, 2.0))
    finally:
        release.set()
        first.join()
    opt.step(lambda p: (float(p @ p), 2 * p), x)  # free again once the first step is done
    assert np.all(np.isfinite(x))


# ---- divergence ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_batch_explosion_keeps_finite_best_parameters_with_the_reported_loss(rng, dtype, make_mlp):
    X = rng.normal(size=(50, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    model = make_mlp([3, 8, 1], dtype=dtype, seed=5)
    start_loss = model.evaluate(X, y, loss="mse")["loss"]
    with pytest.raises(DivergenceError) as info:
        model.fit(X, y, loss="mse", optimizer=optim.SGD(lr=1e30), epochs=50, batch_size=None,
                  shuffle=False, progress=False)
    assert np.all(np.isfinite(model.params))
    kept = model.evaluate(X, y, loss="mse")["loss"]
    history = info.value.history
    # the same parameters, scored by the fused step (history) and by evaluate: equal up to
    # the summation order
    assert kept == start_loss
    np.testing.assert_allclose(min(history.history["loss"]), kept, rtol=1e-5 if dtype == "float32" else 1e-12)
    assert f"training loss {kept:.6g}" in str(info.value)


def test_minibatch_explosion_keeps_finite_parameters(rng, make_mlp):
    X = rng.normal(size=(200, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    model = make_mlp([3, 8, 1], dtype="float32", seed=6)
    with pytest.raises(DivergenceError) as info:
        model.fit(X, y, loss="mse", optimizer=optim.SGD(lr=1e30), epochs=20, batch_size=16, progress=False)
    assert np.all(np.isfinite(model.params))
    kept = model.evaluate(X, y, loss="mse")["loss"]
    assert np.isfinite(kept) and f"training loss {kept:.6g}" in str(info.value)


def test_best_snapshot_is_the_best_full_batch_iterate(rng):
    """A learning rate that first descends then blows up: the kept parameters are those with the
    lowest loss among the iterates, and their loss is exactly that reported."""
    X = rng.normal(size=(40, 2))
    y = X @ np.array([[1.0], [1.0]])
    model = fastgd.Sequential([fastgd.Dense(2, 1, activation="identity")], dtype="float64", seed=7)
    opt = optim.SGD(lr=0.9)  # above 2/L for this problem: each step overshoots further

    class Growing(fastgd.callbacks.Callback):
        def on_epoch_end(self, epoch, logs):
            opt.lr = opt.lr * 1.5

    with pytest.raises(DivergenceError) as info:
        model.fit(X, y, loss="mse", optimizer=opt, epochs=400, batch_size=None, shuffle=False,
                  progress=False, callbacks=[Growing()])
    losses = info.value.history.history["loss"]
    np.testing.assert_allclose(model.evaluate(X, y, loss="mse")["loss"], min(losses), rtol=1e-12)
    assert np.argmin(losses) < len(losses) - 1  # the kept iterate is not the last one


def test_backward_uses_this_threads_forward_input():
    # inference in another thread between this thread's forward and backward leaves its input alone
    m = fastgd.Sequential([fastgd.Dense(4, 8, activation="tanh"), fastgd.Dense(8, 1, activation="identity")],
                          dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    xa, xb, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)) * 10, np.ones((5, 1))
    m.forward(xa)
    m.backward(g)
    expected = m.grads.copy()
    m.forward(xa)
    other = threading.Thread(target=m, args=(xb,))
    other.start()
    other.join()
    m.backward(g)
    np.testing.assert_array_equal(m.grads, expected)
    errors = []  # a thread that ran no forward has nothing to backpropagate

    def backward_elsewhere():
        try:
            m.backward(g)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=backward_elsewhere)
    t.start()
    t.join()
    assert len(errors) == 1 and "forward" in str(errors[0])


@pytest.mark.parametrize("call", ["state_dict", "load_state_dict", "reset"])
def test_optimizer_state_calls_are_refused_while_a_step_runs(call):
    p, g = np.zeros(4), np.ones(4)
    opt = optim.Adam(lr=0.1)
    opt.step(p, g)
    saved = opt.state_dict()
    _core.claim_optimizer(opt)  # as a step running in another thread holds it
    try:
        with pytest.raises(RuntimeError, match="already running a step in another thread"):
            getattr(opt, call)(*([saved] if call == "load_state_dict" else []))
    finally:
        _core.release_optimizer(opt)
    assert opt.step_count == 1
    opt.step(p, g)  # and the optimizer is free again
    assert opt.step_count == 2


def test_a_restore_of_saved_weights_holds_inference_off_until_it_is_whole():
    """A fit's restores (early stopping's best weights, the divergence restore, fit_restarts, the
    estimators' best parameters) write the arena as a training step does: a predict started
    meanwhile waits and then reads the restored weights; NumPy's copy, which releases the GIL,
    let it read half of them. The copy is held open here by a value that converts slowly."""
    model = fastgd.Sequential([fastgd.Dense(3, 2, activation="identity")], dtype="float64", seed=0)
    x = np.ones((1, 3))
    restored = model.params + 1.0
    entered, release = threading.Event(), threading.Event()

    class Slow:
        def __array__(self, dtype=None, copy=None):
            entered.set()
            release.wait(10)
            return restored

    writer = threading.Thread(target=model._assign_params, args=(Slow(),))
    writer.start()
    assert entered.wait(10)
    out = []
    reader = threading.Thread(target=lambda: out.append(model.predict(x)))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive()  # waiting for the restore to finish
    release.set()
    writer.join(10)
    reader.join(10)
    np.testing.assert_array_equal(model.params, restored)
    np.testing.assert_allclose(out[0], x @ model.layers[0].W + model.layers[0].b, rtol=1e-15)
