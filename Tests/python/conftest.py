"""pytest setup for the Python interop tests: repo root, the eostrace binary, test files.

The binary comes from $EOSTRACE_BIN (default <repo>/.build/debug/eostrace), the developer tools
(synthetic writers, fuzzer, bench-write) from $EOSTRACE_DEV_BIN (default
<repo>/.build/debug/eostrace-dev). Tests that need them FAIL (never skip) when they are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Python package from this checkout (python/eostrace), ahead of any installed copy;
# `import eostrace_format` is its compatibility name for eostrace.format.
sys.path.insert(0, str(REPO_ROOT / "python"))

import eostrace_format as ef  # noqa: E402


def eostrace_path() -> Path:
    return Path(os.environ.get("EOSTRACE_BIN", REPO_ROOT / ".build" / "debug" / "eostrace"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def eostrace_bin() -> Path:
    path = eostrace_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"eostrace binary not found at {path}: run `swift build` or set EOSTRACE_BIN")
    return path


def eostrace_dev_path() -> Path:
    return Path(os.environ.get("EOSTRACE_DEV_BIN", REPO_ROOT / ".build" / "debug" / "eostrace-dev"))


@pytest.fixture(scope="session")
def eostrace_dev_bin() -> Path:
    path = eostrace_dev_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"eostrace-dev binary not found at {path}: run `swift build` or set EOSTRACE_DEV_BIN")
    return path


def run_eostrace(binary: Path, *args, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"eostrace {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def eostrace(eostrace_bin):
    """Call as eostrace("validate", path) -> CompletedProcess."""
    def call(*args, check=False, timeout=120):
        return run_eostrace(eostrace_bin, *args, check=check, timeout=timeout)
    return call


def synthetic_run(n=7, d=3, k=3, T=25, p=11, seed=1234, step_stride=1, checkpoint_every=5):
    """Arrays for a small recording with awkward float64 values (full mantissas, tiny and
    huge magnitudes, negative zero) so that any precision loss shows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal(n)
    steps = np.arange(T, dtype=np.int64) * step_stride
    F = rng.standard_normal((T, n))
    D = F - Y
    loss = (D ** 2).sum(axis=1) / n
    ev = np.sort(rng.random((T, k)) * 10.0 ** rng.integers(-3, 4, size=(T, 1)), axis=1)[:, ::-1].copy()
    V = rng.standard_normal((T, k, n))
    V /= np.linalg.norm(V, axis=2, keepdims=True)
    # the k eigenvectors of one step are orthonormal (validate checks it)
    V = np.swapaxes(np.linalg.qr(np.swapaxes(V, 1, 2))[0], 1, 2).copy()
    A2 = rng.random(T) * 3 + 1e-300
    dtf = (D * F).sum(axis=1)
    dtf[0] = -0.0
    ck = steps[::checkpoint_every].copy()
    G = rng.standard_normal((2, n, n))
    gram = G @ np.swapaxes(G, 1, 2) * (2.0 / n)  # symmetric up to round-off: make it exact
    gram = np.triu(gram) + np.swapaxes(np.triu(gram, 1), 1, 2)
    theta = rng.standard_normal((ck.shape[0], p)) * np.exp(rng.uniform(-30, 30, size=(ck.shape[0], p)))
    return dict(
        learning_rate=0.1 + 1e-17 * 3,  # not a short decimal
        # a model whose parameter count is p (validate checks /run@n_parameters against it)
        model={"kind": "two_layer_linear", "input_dim": d, "width": p // (d + 1)} if p % (d + 1) == 0 and p > 0
        else {"kind": "external", "input_dim": d},
        X=X, Y=Y, step=steps, loss=loss, residual=D, output_norm_sq=A2, sharpness=ev[:, 0].copy(),
        eigenvalues=ev, eigenvectors=V, dtf=dtf, outputs=F,
        checkpoint_step=ck, parameters=theta, gram_step=steps[[0, T // 2]].copy(), gram=gram,
        seed=seed, data_seed=seed + 1,
        cadences={"checkpoint": checkpoint_every},
    )


@pytest.fixture(scope="session")
def py_run():
    return synthetic_run()


@pytest.fixture(scope="session")
def py_file(tmp_path_factory, py_run) -> Path:
    """A small recording written by the Python helper (session-wide, do not modify)."""
    path = tmp_path_factory.mktemp("py") / "python-written.h5"
    ef.write_recording(path, software="h5py", software_version=ef.h5py.version.version, **py_run)
    return path


@pytest.fixture(scope="session")
def swift_bench_file(tmp_path_factory, eostrace_dev_bin) -> Path:
    """A small recording written by the Swift writer (eostrace-dev bench-write, SWMR on)."""
    out = tmp_path_factory.mktemp("swift")
    proc = run_eostrace(eostrace_dev_bin, "bench-write", "--out", out, "--n", 32, "--k", 3, "--steps", 40,
                    "--params", 13, "--checkpoint-every", 10, check=True)
    res = json.loads(proc.stdout)
    path = Path(res["file"])
    assert path.is_file() and path.parent == out, proc.stdout
    return path


@pytest.fixture(scope="session", params=["bench-write", "sample"])
def swift_file(request, repo_root) -> Path:
    """Swift-written recordings: a fresh bench-write file and samples/synthetic-small.h5."""
    if request.param == "sample":
        path = repo_root / "samples" / "synthetic-small.h5"
        assert path.is_file(), f"{path} missing (written by `eostrace-dev make-sample`)"
        return path
    return request.getfixturevalue("swift_bench_file")


def dump_json(eostrace, path, obj, *extra) -> object:
    proc = eostrace("dump", path, obj, *extra, check=True)
    return json.loads(proc.stdout)
