"""Shared fixtures: the end-to-end tiny build (every chapter, then the HTML book), built once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


def _mindgap(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mindgap_lib.cli.main", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> TinyBuild:
    """Run every existing chapter with the tiny profile via the CLI, then build the book from them."""
    base = tmp_path_factory.mktemp("e2e")
    t0 = time.perf_counter()
    only = os.environ.get("MINDGAP_TEST_CHAPTERS", "").split()  # e.g. "01 02" while developing; default: all
    run = _mindgap("run", "--profile", "tiny", "--out", str(base / "tiny"), "--quiet",
                   *(["--chapters", *only] if only else []), cwd=REPO)
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
