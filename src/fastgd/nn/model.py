"""The model: a stack of dense layers over one flat parameter arena."""

from __future__ import annotations

import functools
import numbers
import os
import sys
import threading

from collections.abc import Callable, Iterable
from os import PathLike
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from fastgd import _core, _loop, _outofcore, _validation
from fastgd.nn import init as _init
from fastgd.nn import losses as _losses
from fastgd.nn.layers import MAX_PARAMS, Dense, _buffer_view, copy_into

if TYPE_CHECKING:
    from fastgd.training import History

_Method = TypeVar("_Method", bound=Callable[..., Any])

__all__ = ["Sequential"]


def _is_sparse(x):
    """Whether x is a SciPy sparse matrix/array or a fastgd CSRMatrix (without importing SciPy)."""
    if isinstance(x, _core.CSRMatrix):
        return True
    scipy_sparse = sys.modules.get("scipy.sparse")
    return scipy_sparse is not None and scipy_sparse.issparse(x)


def check_input(name, x, dtype, n_features):
    """x as a C-contiguous 2-D array of `dtype` (no copy when it already is one), or, for sparse
    input (SciPy CSR, or any other format converted once), a :class:`fastgd._core.CSRMatrix`
    of `dtype`; checked for feature count, at least one row and finite values."""
    if not isinstance(x, np.ndarray):
        if _is_sparse(x):
            return _validation.sample_shape(name, _core.as_csr(x, dtype, name), n_features)
        if hasattr(x, "columns") and hasattr(x, "to_numpy"):
            # a pandas DataFrame: its nullable columns (Int64, Float64, boolean) would come out of
            # np.asarray as objects; read them as numbers, a missing value (pd.NA) as NaN
            try:
                x = x.to_numpy(dtype=dtype, na_value=np.nan)
            except (TypeError, ValueError):
                pass  # columns that hold no numbers: refused below by their dtype
        try:
            x = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a 2-D array of numbers, got {type(x).__name__}: {exc}") from None
    if _outofcore.is_lazy(x) and x.flags.c_contiguous:
        # read from the file, not through the mapping: a page past the end of a file truncated
        # since it was mapped kills the process with SIGBUS; a read reports the short file (a
        # mapping of scattered rows or columns is copied through the mapping, as any array, once
        # its file is checked)
        _outofcore.check_lazy_input(name, x, n_features)
        return _outofcore.take(x, slice(0, x.shape[0]), dtype, name)
    if _outofcore.is_lazy(x):
        _outofcore.check_file(name, x)
    _validation.samples(name, x, n_features)
    given, x = x, _validation.c_array(x, dtype)
    if _core.count_nonfinite(x):
        if given.dtype.kind == "f" and bool(np.isfinite(given).all()):
            _validation.finite(name, x, given)  # finite values past the dtype's range, named
        raise ValueError(f"{name} contains NaN or infinity")
    return x


def _training_lock(obj):
    """The lock that :func:`_one_trainer` holds over a training call of ``obj``: one per
    process, as a child of os.fork must not inherit one a parent thread held."""
    return obj.__dict__.setdefault("_training_lock", {}).setdefault(os.getpid(), threading.RLock())


def _one_trainer(method: _Method) -> _Method:
    """`method` refusing to run while another thread trains the same model (the calling
    thread may nest training calls, as fit does). Inference methods are not wrapped: they may
    run in any number of threads, also while the model trains. The scikit-learn estimators'
    fit and partial_fit are wrapped too: their state (classes, feature count, model) is set
    over a whole fit. The lock lives in the instance's ``_training_lock``, keyed by process id (a
    child of os.fork makes its own), and a pickled state leaves it out."""

    @functools.wraps(method)
    def exclusive(self, *args, **kwargs):
        lock = _training_lock(self)
        if not lock.acquire(blocking=False):
            raise RuntimeError(f"{method.__name__}: this {type(self).__name__} is being trained in another thread; "
                               "training calls on one model must not overlap (use one model per thread)")
        try:
            return method(self, *args, **kwargs)
        finally:
            lock.release()

    return cast(_Method, exclusive)


_PACK_LIMIT = 64 << 20  # bytes of x up to which a full-batch fit packs it once (see _pack_input)


class Sequential:
    """A multi-layer perceptron: ``Sequential([Dense(784, 256), Dense(256, 10, activation="identity")])``.

    Parameters
    ----------
    layers : list of Dense
        Consecutive layers must agree: ``layers[i].out_features == layers[i+1].in_features``.
    dtype : "float32" or "float64"
        The element type of parameters, activations and gradients. float32 input in C order is
        used without a copy; any other numeric input is converted once per call.
    seed : int or None
        Seeds the weight initialization (``None``: fresh entropy).

    Attributes
    ----------
    layers : list of Dense
        The layers, in order (also ``model[i]``, ``len(model)``, ``for layer in model``).
    params, grads : ndarray (n_params,)
        The flat parameter and gradient arenas: every layer's W first (in layer order), then
        every layer's b. ``layer.W``, ``layer.b``, ``layer.dW``, ``layer.db`` are views.
        Assigning any of them (``model.params = p``, ``layer.W = w``) copies the values in: it
        takes real numbers of exactly that shape.
    n_params : int
    loss : Loss or None
        The loss of the last fit (used by ``predict_proba`` and ``evaluate``).
    history : History or None
        The History of the last (or the running, or an interrupted) fit.

    A model pickles and deep-copies (architecture, dtype, parameters, loss and history): the
    copy predicts exactly as the original.
    """

    def __init__(self, layers: Iterable[Dense], *, dtype: str | np.dtype[Any] | type = "float32",
                 seed: int | None = None) -> None:
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one Dense layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Dense):
                raise TypeError(f"layers[{i}] must be a fastgd.Dense, got {type(layer).__name__}")
            if layer._model is not None:
                raise ValueError(f"layers[{i}] already belongs to a model; create a new Dense")
            if any(layer is other for other in layers[:i]):
                raise ValueError(f"layers[{i}] is an earlier layer of the list again (each layer holds its own "
                                 "weights); create a new Dense")
            if i and layers[i - 1].out_features != layer.in_features:
                raise ValueError(
                    f"layers[{i}] expects {layer.in_features} inputs but layers[{i-1}] gives "
                    f"{layers[i-1].out_features} outputs")
        self.layers = layers
        self.dtype = _validation.float_dtype(dtype)
        self.seed = seed = _validation.integer("seed", seed, 0, allow_none=True)
        n_w = sum(L.in_features * L.out_features for L in layers)
        self.n_weights = n_w
        self.n_params = n_w + sum(L.out_features for L in layers)
        if self.n_params > MAX_PARAMS:
            raise ValueError(f"layers must hold at most {MAX_PARAMS:,} parameters in all, got {self.n_params:,}")
        try:
            params = _core.aligned_zeros(self.n_params, self.dtype)
            grads = _core.aligned_zeros(self.n_params, self.dtype)
        except MemoryError:
            raise ValueError(f"layers: the model's {self.n_params:,} parameters need "
                             f"{2 * self.n_params * self.dtype.itemsize:,} bytes for the parameter and gradient "
                             "buffers, more than this process can allocate") from None
        for L in layers:
            L._model = self
        self._bind_arenas(params, grads)
        self._last_x = threading.local()  # .x: this thread's last forward input, for its backward
        self.loss = None
        self.history = None
        self.stop_training = False
        try:
            self.reset_parameters(seed)
        except BaseException:  # an initializer refused: the layers stay free for another model
            for L in layers:
                L._model = None
            raise

    def _bind_arenas(self, params, grads):
        """Make ``params`` and ``grads`` (aligned, C-contiguous, ``n_params`` of the model's
        dtype) the model's arenas: the layers' W, b, dW and db become views of them. Their
        contents are left as they are (a data-parallel fit moves the arenas into memory the
        ranks of a node share, and back)."""
        self._params, self._grads = params, grads
        specs = []
        w_off, b_off = 0, self.n_weights
        for L in self.layers:
            k, m = L.in_features, L.out_features
            L._W = params[w_off:w_off + k * m].reshape(k, m)
            L._dW = grads[w_off:w_off + k * m].reshape(k, m)
            L._b = params[b_off:b_off + m]
            L._db = grads[b_off:b_off + m]
            specs.append((k, m, L.activation_id, L.negative_slope, w_off, b_off))
            w_off += k * m
            b_off += m
        self._engine = _core._ModelEngine(params, grads, specs)

    # ---- shapes and parameters -------------------------------------------------

    # The flat arenas; assigning copies into them (the engine and the layers' views keep these
    # buffers).
    params = _buffer_view("params")
    grads = _buffer_view("grads")

    # The sizes every input and target is checked against come from the engine, which laid out
    # the arenas and scratch buffers the kernels use: the layers list is a plain list that code
    # may change, and a check against a changed list would let a kernel read past an input.
    @property
    def n_inputs(self):
        return self._engine.n_in

    @property
    def n_outputs(self):
        return self._engine.n_out

    def reset_parameters(self, seed=None):
        """Re-initialize every layer from its weight_init / bias_init with `seed` (an integer >= 0,
        or None for fresh entropy)."""
        seed = _validation.integer("seed", seed, 0, allow_none=True)
        rng = None  # made at the first layer that draws from it (seeding costs about 0.1 ms)
        largest = float(np.finfo(self.dtype).max)  # a Python float: 1e300 compared with a float32 is cast to one
        for i, L in enumerate(self.layers):
            init = _init.get(L.weight_init)
            if init is _init._zeros:  # nothing to draw
                L.W[...] = 0
            else:
                rng = np.random.default_rng(seed) if rng is None else rng
                name = f"layers[{i}].weight_init(rng, {L.in_features}, {L.out_features}, dtype)"
                copy_into(name, L.W, init(rng, L.in_features, L.out_features, self.dtype))
            if abs(L.bias_init) > largest:  # 1e300 in a float32 model: refused by name, as assigned biases are
                copy_into(f"layers[{i}].bias_init", L.b, np.full(L.b.shape, L.bias_init))
            L.b[...] = L.bias_init
        self.grads[...] = 0
        return self

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters as a list ``[W0, b0, W1, b1, ...]``."""
        out = []
        for L in self.layers:
            out += [L.W.copy(), L.b.copy()]
        return out

    def set_weights(self, weights: Iterable[Any]) -> None:
        """Set the parameters from a list ``[W0, b0, W1, b1, ...]`` (shapes must match)."""
        weights = list(weights)
        if len(weights) != 2 * len(self.layers):
            raise ValueError(f"weights must hold {2 * len(self.layers)} arrays [W0, b0, ...], got {len(weights)}")
        arrays = []
        for i, L in enumerate(self.layers):
            for name, target, value in (("W", L.W, weights[2 * i]), ("b", L.b, weights[2 * i + 1])):
                a = np.asarray(value)
                if a.shape != target.shape:
                    raise ValueError(f"weights[{len(arrays)}] ({name} of layer {i}) must have shape "
                                     f"{target.shape}, got {a.shape}")
                if a.dtype.kind in "fiu":
                    with np.errstate(over="ignore"):  # past the model's dtype: infinite, refused below
                        a = a.astype(target.dtype, copy=False)
                if a.dtype.kind not in "fiu" or not np.all(np.isfinite(a)):
                    raise ValueError(f"weights[{len(arrays)}] ({name} of layer {i}) must be finite real numbers "
                                     f"in the model's dtype ({self.dtype.name})")
                arrays.append((target, a))
        for target, a in arrays:
            target[...] = a

    def get_config(self):
        return {"dtype": self.dtype.name, "layers": [L.get_config() for L in self.layers]}

    @classmethod
    def from_config(cls, cfg):
        """Rebuild a model (freshly initialized) from ``get_config()``."""
        return cls(_layers_from_config("cfg", cfg), dtype=cfg["dtype"])

    # ---- the layers as a sequence, and copies ------------------------------------

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Dense:
        return self.layers[index]

    def __iter__(self):
        return iter(self.layers)

    def __reduce__(self):
        # The C engine holds pointers into the arenas, so a copy is rebuilt from the
        # description and the parameters, as fastgd.load does.
        state = {"config": self.get_config(), "seed": self.seed, "params": self.params.copy(),
                 "loss": None if self.loss is None else self.loss.get_config(),
                 "history": None if self.history is None else self.history.to_dict()}
        return _restore, (type(self), state)

    # ---- forward and backward ------------------------------------------------

    def _check_x(self, x, name="x"):
        return check_input(name, x, self.dtype, self.n_inputs)

    def forward(self, x: Any) -> np.ndarray:
        """The network's output for x (n, in_features): an (n, out_features) array (a copy)."""
        x = self._check_x(x)
        out = self._engine.forward(x)
        self._last_x.x = x
        return out

    __call__ = forward

    @_one_trainer
    def backward(self, grad_out: Any) -> np.ndarray:
        """Backpropagate dL/d(output) of this thread's last :meth:`forward`: fills ``model.grads``
        (and every ``layer.dW``/``layer.db``) and returns dL/dx (n, in_features)."""
        x = getattr(self._last_x, "x", None)
        if x is None:
            raise RuntimeError("backward() needs a forward() first (in the same thread)")
        n = x.shape[0]
        g = np.asarray(grad_out)
        if g.shape != (n, self.n_outputs):
            raise ValueError(f"grad_out must have shape {(n, self.n_outputs)} (the last forward's output), "
                             f"got {g.shape}")
        if g.dtype.kind not in "fiu":
            raise ValueError(f"grad_out must hold finite real numbers, got dtype {g.dtype}")
        given, g = g, _validation.c_array(g, self.dtype)
        _validation.finite("grad_out", g, given)  # 1e300 is infinite in a float32 model: inf and NaN gradients
        return self._engine.backward(x, g, True)

    def predict(self, x: Any, *, batch_size: int = 4096) -> np.ndarray:
        """The network's raw output (logits for classification losses) for x, in chunks of
        batch_size rows so memory stays bounded."""
        batch_size = _validation.integer("batch_size", batch_size, 1)
        if _outofcore.is_lazy(x) and x.flags.c_contiguous:  # read chunk by chunk from its file, as fit does
            x = _outofcore.check_lazy_input("x", x, self.n_inputs)
            return self._forward_chunks(x, batch_size, lambda s, e: _outofcore.rows_of(x, s, e, self.dtype))
        return self._forward_chunks(self._check_x(x), batch_size)

    def predict_proba(self, x: Any, loss: Any = None, *, batch_size: int = 4096) -> np.ndarray:
        """Probabilities: the loss's link applied to :meth:`predict` (softmax for
        SoftmaxCrossEntropy, sigmoid for BinaryCrossEntropy). Uses the loss of the last
        :meth:`fit` unless `loss` is given."""
        loss = self._resolve_loss(loss)
        return loss.link(self.predict(x, batch_size=batch_size))

    def _resolve_loss(self, loss):
        if loss is None:
            if self.loss is None:
                raise ValueError("loss is required (the model has not been fitted with one)")
            return self.loss
        return _losses.get(loss)

    def _step_loss(self, loss):
        """``(loss, _loss_spec(loss))`` for one step-sized call (train_step, loss_and_grad). A
        loss given by name is built once and kept with its spec for the next call with that
        name: a private instance, never handed out, so nothing can change it in between."""
        if not isinstance(loss, str):
            loss = self._resolve_loss(loss)
            return loss, self._loss_spec(loss)
        named = self.__dict__.get("_named_loss")
        if named is None or named[0] != loss:
            resolved = _losses.get(loss)
            named = self._named_loss = (loss, resolved, self._loss_spec(resolved))
        return named[1], named[2]

    def _prepare(self, x, y, loss, sample_weight, positive_sum=True):
        """Check and convert (x, y, sample_weight) once for the model and loss. ``positive_sum``
        False lets the weights be all zero (a rank's shard: the sum over all ranks is checked)."""
        x = self._check_x(x)
        target = _validation.targets(y, x.shape[0], loss, self.n_outputs, self.dtype)
        sw = _validation.sample_weight(sample_weight, x.shape[0], self.dtype, positive_sum=positive_sum)
        return x, target, sw

    @_one_trainer
    def loss_and_grad(self, x: Any, y: Any, loss: Any, sample_weight: Any = None) -> tuple[float, np.ndarray]:
        """``(loss value, gradient)`` of the mean loss over (x, y): the gradient is a copy of
        ``model.grads`` after the backward pass (flat, in the arena's layout)."""
        loss, loss_spec = self._step_loss(loss)
        x, target, sw = self._prepare(x, y, loss, sample_weight)
        value, _norm, _status = self._train_step(x, loss_spec=loss_spec, target=target, sample_weight=sw)
        return float(value), self.grads.copy()

    @_one_trainer
    def train_step(self, x: Any, y: Any, loss: Any, optimizer: Any, sample_weight: Any = None) -> float:
        """One step of gradient descent on the batch (x, y): forward, loss, backward and the
        optimizer update in one C call with the GIL released. Returns the batch loss
        (before the update). A non-finite loss or gradient leaves the parameters and the
        optimizer unchanged and raises :class:`fastgd.DivergenceError` (a ValueError naming x
        when x holds NaN or infinity); ``model.grads`` then holds the refused gradient as it
        was computed, non-finite entries included."""
        if isinstance(optimizer, type) or not hasattr(optimizer, "_plan"):  # a name or a class: a fresh state each call
            raise TypeError("optimizer must be a fastgd.optim optimizer instance, whose state carries over from "
                            f"step to step (e.g. fastgd.optim.Adam(lr=1e-3)), got {_validation.describe(optimizer)}")
        loss, loss_spec = self._step_loss(loss)
        engine = self._engine
        # the common batch (float rows of the model's dtype, int64 labels) checked in one C call,
        # x's values by the step itself (see _core.plain_batch)
        plain = (sample_weight is None and type(loss) is _losses.SoftmaxCrossEntropy and loss.class_weight is None
                 and _core.plain_batch(x, y, self.dtype, engine.n_in, engine.n_out))
        if plain:
            target, sw = ("labels", y), None
        else:
            x, target, sw = self._prepare(x, y, loss, sample_weight)
        value, norm, status = self._train_step(x, loss_spec=loss_spec, target=target, sample_weight=sw,
                                               optimizer=optimizer, grad_norm=False)
        if status:
            if plain:  # a NaN or infinity in x: the error names x
                self._check_x(x)
            from fastgd.training import DivergenceError

            raise DivergenceError(f"train_step: the {'loss' if status == 1 else 'gradient'} is not finite "
                                  f"(loss={value}, grad norm={norm}); parameters were left unchanged. "
                                  "Lower the learning rate or clip gradients.")
        return float(value)

    # ---- training, evaluation, saving, curvature: the loops live in their modules ----

    @_one_trainer
    def fit(self, X: Any, y: Any, *, loss: Any, optimizer: Any, **options: Any) -> History:
        """Train the model by gradient descent and return a :class:`fastgd.History`; the
        options (epochs, batch_size, validation_data, schedule, callbacks, ...) are those of
        :func:`fastgd.training.fit`, which documents them."""
        from fastgd import training

        return training.fit(self, X, y, loss=loss, optimizer=optimizer, **options)

    @_one_trainer
    def partial_fit(self, X: Any, y: Any, *, loss: Any, optimizer: Any, **options: Any) -> float:
        """One pass over (X, y) keeping the optimizer's state; returns the pass's mean loss
        (options as for :func:`fastgd.training.partial_fit`)."""
        from fastgd import training

        return training.partial_fit(self, X, y, loss=loss, optimizer=optimizer, **options)

    def evaluate(self, X: Any, y: Any, loss: Any = None, metrics: Iterable[Any] = (),
                 **options: Any) -> dict[str, float]:
        """The mean loss and the metrics on (X, y) as a dict (options as for
        :func:`fastgd.training.evaluate`)."""
        from fastgd import training

        return training.evaluate(self, X, y, loss, metrics, **options)

    def save(self, path: str | PathLike[str]) -> str:
        """Save the model to ``path`` (see :func:`fastgd.io.save`); returns the path written."""
        from fastgd.training import io

        return io.save(self, path)

    def hvp(self, X: Any, y: Any, v: Any, loss: Any = None, sample_weight: Any = None) -> np.ndarray:
        """H·v, the Hessian of the mean loss times v (see :func:`fastgd.curvature.model_hvp`)."""
        from fastgd import curvature

        return curvature.model_hvp(self, X, y, v, loss, sample_weight)

    def gnvp(self, X: Any, y: Any, v: Any, loss: Any = None, sample_weight: Any = None) -> np.ndarray:
        """G·v, the Gauss-Newton matrix times v (see :func:`fastgd.curvature.model_gnvp`)."""
        from fastgd import curvature

        return curvature.model_gnvp(self, X, y, v, loss, sample_weight)

    # ---- the engine seam: the only calls into the C engine ----------------------

    def _loss_spec(self, loss):
        """What the kernels read of `loss` (a fastgd.losses.Loss), prepared once per fit or
        call: ``(LossSpec, class weights in the model's dtype or None)``."""
        return loss._c_spec(), loss._class_weight_array(self.dtype)

    def _assign_params(self, values):
        """``params[...] = values`` as a training step writes them: concurrent inference reads
        the parameters before or after, never half-copied (a fit's restores of saved weights)."""
        self._engine.assign_params(values)

    def _forward_rows(self, x):
        """The output for x as the engine takes it (C-contiguous rows of the model's dtype, or a
        CSRMatrix), without the checks and bookkeeping of :meth:`forward`."""
        return self._engine.forward(x)

    def _forward_chunks(self, x, batch_size, rows_of=None):
        """The output for every row of x, `batch_size` rows at a time so memory stays bounded.
        ``rows_of(s, e)`` gives rows [s, e) as the engine takes them (``x[s:e]`` by default, for
        x already in that form)."""
        n = x.shape[0]
        out = np.empty((n, self.n_outputs), dtype=self.dtype)
        for s, e in _loop.chunks(n, batch_size):
            out[s:e] = self._engine.forward(x[s:e] if rows_of is None else rows_of(s, e))
        return out

    def _train_step(self, x, *, loss_spec, target, sample_weight=None, indices=None, start=0, n=None,
                    optimizer=None, clip_norm=0.0, clip_value=0.0, grad_norm=True, packed=None):
        """One fused forward, loss and backward (and, with `optimizer`, its update) in one C
        call, on rows `indices` (int64) of x or rows [start, start + n) (n defaults to the rows
        from start on). x, target (``Loss.prepare_target``'s pair) and sample_weight are checked
        already; loss_spec is :meth:`_loss_spec`'s. The optimizer hands its plan (state and
        configuration) here, so the C step reads plain data only, and the C step counts it. Returns
        ``(loss, grad_norm, status)``: status 1 a non-finite loss, 2 a non-finite gradient (the
        parameters are then unchanged). ``grad_norm=False`` without clipping skips measuring the
        gradient (grad_norm NaN; without optimizer, status never 2; with one, a non-finite gradient
        is still found, and its norm measured then). ``packed``: :meth:`_pack_input`'s packing of
        x, for steps over all of its rows (bit-identical, without packing x again)."""
        spec, class_weight = loss_spec
        if n is None:
            n = x.shape[0] - start
        if optimizer is None:
            return self._engine.step(x, indices, start, n, spec, target, sample_weight, class_weight, None,
                                     clip_norm, clip_value, grad_norm, packed)
        _core.claim_optimizer(optimizer)
        try:
            # a fresh optimizer's first plan binds its state to these parameters: a refused step
            # (a non-finite gradient, or x holding NaN) leaves it fresh, free for any model
            fresh = getattr(optimizer, "_state", False) is None
            plan = optimizer._plan(self.n_params, self.dtype)
            value, norm, status = self._engine.step(x, indices, start, n, spec, target, sample_weight,
                                                    class_weight, plan, clip_norm, clip_value, grad_norm,
                                                    packed, optimizer)
            if status and fresh:
                optimizer._unbind()
        finally:
            _core.release_optimizer(optimizer)
        return value, norm, status

    def _pack_input(self, x):
        """x (checked, dense, the model's dtype, C-contiguous) packed once for the first layer's
        products, for many :meth:`_train_step` calls over all of its rows (a full-batch
        optimizer's evaluations). It holds x's content at this call: pack again after writing
        into x. None when x is over ``_PACK_LIMIT`` bytes: the packing holds about two copies of
        x, and on a large x the GEMM's own packing is a small share of each product anyway."""
        if x.nbytes > _PACK_LIMIT:
            return None
        return self._engine.pack_input(x)

    def _release_buffers(self):
        """Give the engine's scratch buffers back to the process's scratch cache (a finished
        fit's last call: the next fit, of this model or another, takes them from there, with
        their pages mapped already, and a model kept for prediction holds none)."""
        self._engine.release_buffers()

    def _hvp(self, x, v, *, loss_spec, target, sample_weight, gauss_newton, denominator, **options):
        """``(loss, H·v)`` (or the Gauss-Newton ``G·v``) over all rows of checked x; options go to
        ``_core.model_hvp`` (chunk_rows, reference, forward_done, out)."""
        if isinstance(x, _core.CSRMatrix):
            raise TypeError(f"X must be a dense array for Hessian-vector products (hvp, gnvp, the curvature "
                            f"functions, NewtonCG), got a sparse matrix of shape {x.shape}; pass X.toarray()")
        spec, class_weight = loss_spec
        return _core.model_hvp(self._engine, x, v, spec, target, sample_weight, gauss_newton, denominator,
                               class_weight=class_weight, **options)

    def _gradient_by_layer(self, x, idx, start, n, loss_spec, target, sw, on_layer):
        """The batch's mean-loss gradient into ``grads``, calling ``on_layer(l)`` as soon as
        layer l's part is final (last layer first); returns (loss, status). Arguments are those
        of :meth:`_train_step`: x dense and checked, target prepared, loss_spec :meth:`_loss_spec`'s."""
        spec, class_weight = loss_spec
        return self._engine.gradient_by_layer(x, idx, start, n, spec, target, sw, class_weight, on_layer)

    # ---- description ------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a table of the layers, their output shapes and parameter counts, as Keras does
        (and return None). ``print_fn`` receives the table as one string: ``model.summary(print_fn=
        lines.append)`` keeps it."""
        rows = [("layer", "output shape", "activation", "params")]
        for i, L in enumerate(self.layers):
            rows.append((f"{i}: Dense", f"(None, {L.out_features})", L.activation, f"{L.n_params:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "  ".join("-" * w for w in widths)
        text = [f"Sequential ({self.dtype.name}, input (None, {self.n_inputs}))", line]
        for j, r in enumerate(rows):
            text.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
            if j == 0:
                text.append(line)
        text += [line, f"total parameters: {self.n_params:,}"]
        print_fn("\n".join(text))

    def __repr__(self):
        inner = ",\n".join(f"  {L!r}" for L in self.layers)
        return (f"Sequential([\n{inner}\n], dtype={self.dtype.name!r})  "
                f"# {self.n_inputs} -> {self.n_outputs}, {self.n_params:,} parameters")


def _layers_from_config(name, cfg):
    """The Dense layers of a model description ``cfg`` (what ``get_config()`` returns), its
    keys and layer descriptions checked; errors call it ``name``."""
    _validation.config(name, cfg, "{'dtype', 'layers'} (what get_config() returns)", ("dtype", "layers"), ())
    layers = cfg["layers"]
    if not isinstance(layers, (list, tuple)):
        raise _validation.ArgumentTypeError(f"{name}['layers'] must be a list of Dense configs, got "
                                            f"{_validation.describe(layers)}")
    return [Dense.from_config(c, f"{name}['layers'][{i}]") for i, c in enumerate(layers)]


def _restore(cls, state):
    """Rebuild a model pickled by Sequential.__reduce__."""
    cfg = _validation.state("state", state, ("config", "seed", "params", "loss", "history"))["config"]
    model = cls(_layers_from_config("config", cfg), dtype=cfg["dtype"], seed=state["seed"])
    model.params[...] = _validation.vector("params", state["params"], model.n_params, model.dtype)
    if state["loss"] is not None:
        model.loss = _losses.from_config(state["loss"])
    if state["history"] is not None:
        from fastgd.training import History

        model.history = History.from_dict(state["history"])
    return model
