"""The public API's annotations, checked the way a user's type checker sees them: mypy --strict
on a typed script of the README's examples, against the installed package (py.typed, _core.pyi)."""

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "typing", "readme_examples.py")
# the less-used API (curvature, metrics, callback hooks, low-level model methods, sharding)
LESS_USED = os.path.join(os.path.dirname(__file__), "typing", "less_used_api.py")
SCRIPTS = pytest.mark.parametrize("script", [SCRIPT, LESS_USED], ids=["readme", "less_used"])


def _mypy_strict(path, cache_dir):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install mypy, or the package's test extra)")
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-color-output", "--cache-dir",
                           str(cache_dir), path], capture_output=True, text=True, timeout=600)


@SCRIPTS
def test_readme_examples_pass_mypy_strict(tmp_path, script):
    run = _mypy_strict(script, tmp_path / "cache")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout


def test_mypy_strict_sees_the_annotations(tmp_path):
    # Misuse the annotated API: mypy must report each line, so the clean run above means the
    # script was checked against real signatures rather than against Any.
    bad = tmp_path / "misuse.py"
    bad.write_text(
        "import numpy as np\n"
        "import fastgd as fg\n"
        "model = fg.Sequential([fg.Dense(2, 1, activation='identity')])\n"
        "history: int = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), loss='mse', optimizer='sgd')\n"
        "layer = fg.Dense('2', 1)\n"
        "result: int = fg.minimize(lambda x: float(x @ x), np.ones(2))\n"
        "size: str = len(model)\n"
        "kind: int = fg.curvature.classify_stationary(np.ones(2))\n"
        "acc = fg.metrics.accuracy(np.zeros(2), np.zeros(2), threshold='half')\n"
        "out: str = model.forward(np.zeros((4, 2)))\n"
        "class Hook(fg.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch: str, logs: dict[str, float]) -> None: ...\n"
    )
    run = _mypy_strict(str(bad), tmp_path / "cache")
    assert run.returncode == 1, run.stdout + run.stderr
    for line in (4, 5, 6, 7, 8, 9, 10, 12):
        assert f"misuse.py:{line}: error" in run.stdout, run.stdout


@SCRIPTS
def test_readme_examples_run(tmp_path, script):
    run = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert os.listdir(tmp_path) == []
