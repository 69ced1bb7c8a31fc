"""fastgd: fast gradient descent and neural-network training on the CPU."""

from fastgd import _core
from fastgd._runtime import config, get_num_threads, set_num_threads, show_config, threads
from fastgd import ops

__version__: str = _core.BUILD_INFO["version"]

__all__ = [
    "__version__",
    "config",
    "show_config",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "ops",
]

# ---- minimize (issue 7) ----
from fastgd.lbfgs import LBFGS
from fastgd.minimize import OptimizeResult, approx_grad, check_grad, maximize, minimize

__all__ += ["minimize", "maximize", "OptimizeResult", "check_grad", "approx_grad", "LBFGS"]
