"""Shared fixtures: the end-to-end tiny build (every chapter, then the HTML book), built once per session."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class TinyBuild:
    """A ``mindgap run --profile tiny`` + ``mindgap book`` into a temporary folder."""

    root: Path          # <tmp>/tiny: notebooks/, artifacts/, metrics.json
    html: Path          # <tmp>/_build/html
    metrics: dict
    run_seconds: float
    book_seconds: float
    run_log: str
    run_ok: bool = True  # False: a chapter failed (its partial notebook is <name>.failed.ipynb); the book holds the rest


# A tiny run takes ~3 min on an idle 2-core machine; one still going after this long is hung. It is then
# reported with every process's Python stack (a warning in the summary), killed, and run once more over the same
# folder, which reuses what was finished: a second hang fails the test with the stacks of both.
RUN_TIMEOUT = float(os.environ.get("MINDGAP_TEST_RUN_TIMEOUT", "1200"))


def _mindgap(*args: str, cwd: Path, timeout: float = RUN_TIMEOUT, tries: int = 1) -> subprocess.CompletedProcess:
    """``mindgap ARGS`` in a fresh process, up to `tries` times while it outlives `timeout` seconds."""
    cmd, hangs = [sys.executable, "-m", "mindgap_lib.cli.main", *args], []
    for _ in range(tries):
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            stacks = _stacks_of_tree(proc.pid)
            _kill_tree(proc.pid)
            out, err = proc.communicate()
            hangs.append(f"`mindgap {' '.join(args)}` still running after {timeout:g} s (hung). Python stacks of "
                         f"its processes:\n{stacks}\n--- stdout tail\n{out[-3000:]}\n--- stderr tail\n{err[-3000:]}")
            if len(hangs) < tries:
                warnings.warn(f"{hangs[-1]}\n--- killed; running it once more", pytest.PytestWarning, stacklevel=2)
    pytest.fail("\n\n".join(hangs))


def _tree(pid: int) -> list:
    """The process and all its descendants (jupyter kernels start their own session, so no process group will do)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _stacks_of_tree(pid: int) -> str:
    """`py-spy dump` of every Python process under `pid` (the start of each: its main thread): where it waits."""
    spy = Path(sys.executable).with_name("py-spy")
    dumps = []
    for p in _tree(pid):
        try:
            head = f"== pid {p.pid}: {' '.join(p.cmdline())[:200]}"
        except Exception:  # gone meanwhile
            continue
        try:
            dump = subprocess.run([str(spy), "dump", "--pid", str(p.pid)], capture_output=True, text=True, timeout=60)
            dumps.append(f"{head}\n{dump.stdout[:3000]}{dump.stderr[-500:]}")
        except (OSError, subprocess.TimeoutExpired) as err:
            dumps.append(f"{head}\n(py-spy: {err})")
    return "\n".join(dumps)


def _kill_tree(pid: int) -> None:
    import psutil

    procs = _tree(pid)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=30)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> TinyBuild:
    """Run every existing chapter with the tiny profile via the CLI, then build the book from them."""
    base = tmp_path_factory.mktemp("e2e")
    t0 = time.perf_counter()
    only = os.environ.get("MINDGAP_TEST_CHAPTERS", "").split()  # e.g. "01 02" while developing; default: all
    run = _mindgap("run", "--profile", "tiny", "--out", str(base / "tiny"), "--quiet",
                   *(["--chapters", *only] if only else []), cwd=REPO, tries=2)
    run_seconds = time.perf_counter() - t0
    executed = [p for p in (base / "tiny" / "notebooks").glob("*.ipynb") if not p.name.endswith(".failed.ipynb")]
    if run.returncode != 0 and not executed:
        pytest.fail(f"mindgap run --profile tiny failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}")
    # a failing chapter stops the run: the tests check what ran, and test_every_chapter_runs_end_to_end the failure
    t0 = time.perf_counter()
    book = _mindgap("book", "--profile", "tiny", "--build-dir", str(base), "--out", str(base), cwd=REPO)
    if book.returncode != 0:
        pytest.fail(f"mindgap book failed ({book.returncode}):\n{book.stdout[-3000:]}\n{book.stderr[-3000:]}")
    metrics = json.loads((base / "tiny" / "metrics.json").read_text())
    return TinyBuild(base / "tiny", base / "_build" / "html", metrics, run_seconds, time.perf_counter() - t0,
                     run.stdout + run.stderr, run.returncode == 0)


@pytest.fixture(scope="module")
def ridge2():
    """The 2-d ridge pair of the transport tests: (pair, source, target, held-out source, its true image)."""
    import numpy as np
    from mindgap_lib.transport import ridge_pair
    pair = ridge_pair(2, seed=0, sharpness=2.0)
    x, y = pair.samples(4000, seed=1)
    xt = pair.sample_source(3000, np.random.default_rng(5))
    return pair, x, y, xt, pair.true_map(xt)
