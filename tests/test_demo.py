"""The README's main job: ``python -m fastgd`` trains and reports accuracy and throughput."""

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "fastgd", *args], capture_output=True, text=True, timeout=300)


def test_demo_trains_and_reports():
    r = run("--epochs", "10", "--no-progress", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout and "samples/s" in r.stdout
    acc = float(r.stdout.split("test accuracy")[1].split("%")[0])
    assert acc > 90.0


def test_demo_progress_lines_and_help():
    r = run("--epochs", "2", "--hidden", "16")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("epoch ") == 2  # one line per epoch when stderr is not a terminal
    h = run("--help")
    assert h.returncode == 0 and "--epochs" in h.stdout and "--dataset" in h.stdout
    assert "isa" in run("--config").stdout


def test_demo_bad_arguments():
    for args in (["--epochs", "-1"], ["--hidden", "a,b"], ["--threads", "0"], ["--lr", "-1"],
                 ["--hidden", "0"], ["--seed", "-1"], ["--batch-size", "0"]):
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.startswith("python -m fastgd: "), (args, r.stderr)
