"""scikit-learn compatible multi-layer perceptrons: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for :class:`sklearn.neural_network.MLPClassifier` and
:class:`sklearn.neural_network.MLPRegressor` that train with fastgd's fused C step (forward,
loss, backward and optimizer update in one call with the GIL released)::

    from fastgd.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, random_state=0).fit(X, y)
    clf.predict_proba(X_test)

Importing this module imports scikit-learn (an optional dependency); ``import fastgd`` alone
never does.

What matches scikit-learn (1.9) exactly, given the same ``random_state``
--------------------------------------------------------------------------
- Parameters, defaults, fitted attributes (``coefs_, intercepts_, loss_, loss_curve_,
  best_loss_, validation_scores_, best_validation_score_, n_iter_, t_, classes_,
  n_features_in_, feature_names_in_, out_activation_, n_layers_, n_outputs_``), ``fit``,
  ``partial_fit`` (``classes=`` on the first call), ``predict``, ``predict_proba``,
  ``predict_log_proba``, ``score``, ``sample_weight``, ``warm_start``, ``verbose`` messages.
- The warnings (``ConvergenceWarning``, a clipped ``batch_size``, a column-vector ``y``), with
  scikit-learn 1.9's texts and attributed as scikit-learn's are to its MLP module
  (``sklearn.neural_network._multilayer_perceptron``): a filter such as
  ``warnings.filterwarnings("ignore", module="sklearn")`` applies to them.
- Prediction from the fitted attributes as they stand: an ``out_activation_`` assigned after the
  fit (any of scikit-learn's: "identity", "logistic", "tanh", "relu", "softmax", "exp") is the
  output function of ``predict``, ``predict_proba`` and ``_forward_pass_fast``; and ``coefs_``
  and ``intercepts_`` of another length describe another network, which they compute: the
  "hidden features" recipe (``est.coefs_ = est.coefs_[:-1]; est.intercepts_ =
  est.intercepts_[:-1]; est.n_layers_ -= 1; est.out_activation_ = "relu"``) makes
  ``_forward_pass_fast``, ``predict_proba`` and the regressor's ``predict`` give the last hidden
  layer's activations, as in scikit-learn.
- The initialization (Glorot uniform with factor 6, 2 for ``activation="logistic"``, for weights
  and biases, drawn in scikit-learn's order from the same RandomState), the shuffling of every
  epoch, the early-stopping split (stratified for single-output classifiers) and the
  mini-batches: in float64 the run follows scikit-learn's to rounding error.
- The input: dense arrays, and scipy.sparse matrices and arrays (CSR read as is by the first
  layer's sparse kernels, CSC/COO converted to CSR once); the model's dtype follows X's
  (float32 X trains in float32: ``coefs_`` and predictions are float32), as in scikit-learn.
- The objective: half mean squared error, or the half Poisson deviance with a log link for
  ``loss="poisson"`` (regression); log loss summed over the outputs for
  binary / multi-label (sigmoid outputs) and softmax cross-entropy for multi-class, averaged
  over the samples (weighted by ``sample_weight``); plus ``alpha·Σ‖W‖²/(2·Σ_batch s)`` on the
  weights (not the biases).
- The solvers: "sgd" (momentum, Nesterov, learning_rate "constant" / "invscaling" /
  "adaptive" updated once per epoch), "adam" (scikit-learn's placement of epsilon) and
  "lbfgs".
- The optimizer: ``fit`` builds it from ``solver`` and its hyperparameters (``learning_rate_init``,
  ``learning_rate``, ``power_t``, ``momentum``, ``nesterovs_momentum``, ``beta_1``, ``beta_2``,
  ``epsilon``) and ``partial_fit`` keeps the one it finds (building one only on the first call),
  so that ``set_params`` of those between ``partial_fit`` calls takes effect at the next ``fit``.
- Stopping: ``n_iter_no_change`` epochs without the training loss falling by ``tol`` (or,
  with ``early_stopping``, the validation score rising by ``tol``; the best parameters are
  restored), or ``max_iter`` epochs (``ConvergenceWarning``). A ``KeyboardInterrupt`` (Ctrl-C)
  during a stochastic fit or ``partial_fit`` ends it with the warning "Training interrupted by
  user.", the model fitted as far as it got (the best parameters restored with
  ``early_stopping``); during an lbfgs fit it propagates.

How the solvers map onto fastgd's (torch-style) optimizers
-----------------------------------------------------------
fastgd's losses use torch's conventions (each row's loss is the mean over its outputs, the MSE
has no ½), so the fused step's gradient is scikit-learn's divided by a constant ``k``
(1 for softmax, ``n_outputs`` for sigmoid outputs, ``n_outputs/2`` for squared error). Each
solver is fed hyperparameters that make the update identical to scikit-learn's:

- sgd: scikit-learn's velocity ``v ← μv − ηg`` is torch's buffer ``b ← μb + g`` with ``v = −ηb``;
  fastgd runs torch's form with learning rate ``k·η`` and weight decay ``alpha/(k·Σs)``, and
  rescales the buffer by ``η_old/η_new`` whenever the learning rate changes (invscaling,
  adaptive), which keeps ``v`` exactly scikit-learn's. Nesterov: torch's
  ``θ ← θ − η(g + μb)`` equals scikit-learn's ``θ ← θ + μv − ηg``.
- adam: scikit-learn divides by ``√v + ε``, torch by ``√v/√(1−β2^t) + ε``; fastgd's Adam is given
  ``ε_t = ε/(k·√(1−β2^t))`` at step t, which makes the two identical; the L2 term is torch's
  coupled ``weight_decay = alpha/(k·Σs)`` over the weights only (recomputed for every batch).
- fastgd extras: "adagrad", "rmsprop" (decay rate ``beta_2``, eps ``epsilon``, no momentum) use
  the same coupled L2 term; "adamw" uses torch's decoupled decay ``θ ← (1 − η·alpha)·θ`` on the
  weights (not added to the reported loss). ``learning_rate`` schedules apply to "sgd" only, as
  in scikit-learn.
- lbfgs: fastgd's L-BFGS driver in C with the semantics of the SciPy L-BFGS-B scikit-learn uses
  (line search, stopping rules, counting of iterations and evaluations), over fastgd's fused
  objective and gradient (one C call per evaluation): the same iterates (to rounding),
  ``n_iter_``, ``max_fun`` accounting and ``ConvergenceWarning`` as scikit-learn.

Differences
-----------
- Sample weights must be non-negative, and a mini-batch whose weights are all zero is skipped
  (scikit-learn divides by zero there and ends with NaN).
- The reported log loss is computed from the logits (exact), where scikit-learn clips
  probabilities to [eps, 1−eps]: they differ only for saturated predictions (and so may
  ``n_iter_``, which stops on that loss).
- ``loss="poisson"`` refuses negative targets (scikit-learn's documents ``y >= 0`` but trains on
  them); its tags say so (``target_tags.positive_only``).
- ``solver="lbfgs"`` on float32 input trains and ends in float32; scikit-learn's ends with
  float64 ``coefs_`` (SciPy's optimizer hands back float64) and so predicts in float64.
- A fit with ``solver="lbfgs"`` that starts afresh (no ``warm_start``) drops the optimizer of an
  earlier stochastic fit, so a ``partial_fit`` after it builds a new one; scikit-learn's goes on
  with the old one.
- The classifier's ``predict`` and ``score`` need a network of ``n_outputs_`` outputs (ValueError
  otherwise); scikit-learn's decodes labels from whatever its network outputs. A warm start or
  ``partial_fit`` with an ``out_activation_`` other than the one the labels or the loss set
  raises ValueError; scikit-learn's trains through it.
- A warm start or ``partial_fit`` after ``hidden_layer_sizes`` changed raises ValueError;
  scikit-learn's goes on with the old network (same depth) or fails inside (another depth).
- The parameters are checked (``InvalidParameterError``) at every ``fit`` and ``partial_fit``,
  including a ``partial_fit`` of a fitted estimator and under
  ``sklearn.set_config(skip_parameter_validation=True)``, where scikit-learn's skip the check
  and train with whatever was set (``alpha=-1``; a ``partial_fit`` with ``max_iter=0`` does
  nothing).
- ``MLPRegressor(solver="lbfgs")`` has no ``partial_fit`` (``hasattr`` is False), as
  scikit-learn documents and as its ``MLPClassifier`` does; scikit-learn 1.9's
  ``MLPRegressor`` exposes it and runs an L-BFGS fit.
- A warm start or ``partial_fit`` with a ``y`` of another number of outputs than the network's
  raises ValueError; scikit-learn's broadcasts the one against the other and trains on that.
- A warm-start fit with ``early_stopping`` whose validation scores never beat the earlier fits'
  ``best_validation_score_`` ends with the parameters of that best score. scikit-learn's ends
  with its last epoch's: the arrays it restores at the end of a fit become ``coefs_``, which the
  next fit updates in place.
- A warm start or ``partial_fit`` with a stochastic solver after an L-BFGS fit, or with
  ``early_stopping`` switched on or off, trains (the records of the new mode start afresh);
  scikit-learn 1.9's fails (AttributeError for the missing ``loss_curve_``, TypeError for a
  ``best_loss_`` of None).
- A squared error or Poisson loss past the float64 range (targets beyond about 1e154) raises
  ValueError naming the iteration (the fused step takes no step from a non-finite loss);
  scikit-learn's trains on with ``loss_`` infinite.
- ``copy.copy`` of a fitted estimator copies its network (it copies through the pickled state);
  scikit-learn's copy shares the ``coefs_`` arrays with the original.
- The estimators train in one process. Data-parallel training over MPI is
  ``fastgd.Sequential.fit(X_shard, y_shard, ..., comm=comm)`` (README, "Scaling out").
- ``coefs_`` and ``intercepts_`` are views into the flat parameter arena of the underlying
  :class:`fastgd.Sequential` (available as ``model_``): writing into them changes the model, as
  in scikit-learn. Assigning new arrays to them is also honoured (copied into the arena at the
  next ``predict``/``fit``; lists of another length make a new network of the layers they
  describe).

Extra parameters
----------------
dtype : {"auto", "float64", "float32"}, default "auto"
    Precision of parameters and arithmetic. "auto" follows scikit-learn's rule (float32 input
    trains in float32, anything else in float64); "float64"/"float32" force one. float64
    reproduces scikit-learn's numbers; float32 is about twice as fast.
n_threads : int or None
    Kernel threads during fit/predict (None: fastgd's current setting, see
    :func:`fastgd.set_num_threads`).
loss (regressor) : {"squared_error", "poisson", "absolute_error", "huber"}
    scikit-learn's two, and: "absolute_error", the mean absolute error; "huber", the mean
    Huber loss with delta 1.

Linear and logistic regression
------------------------------
``hidden_layer_sizes=()`` leaves a single dense layer: ``MLPRegressor(hidden_layer_sizes=())``
is linear regression (half mean squared error + ``alpha`` ridge penalty) and
``MLPClassifier(hidden_layer_sizes=())`` is (multinomial) logistic regression, both trained by
gradient descent; ``solver="sgd", momentum=0, batch_size=n_samples`` gives plain full-batch
gradient descent, ``batch_size=1`` per-sample stochastic gradient descent.
"""

try:
    import sklearn as _sklearn  # noqa: F401  (the real scikit-learn: absolute import)
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("fastgd.sklearn needs scikit-learn >= 1.6: pip install scikit-learn "
                      "(or, in a fastgd checkout, pip install \".[sklearn]\")") from None

from fastgd.sklearn._classifier import MLPClassifier
from fastgd.sklearn._regressor import MLPRegressor

# The public path, for pickles and reprs, whatever file the class lives in.
MLPClassifier.__module__ = MLPRegressor.__module__ = __name__

__all__ = ["MLPClassifier", "MLPRegressor"]
