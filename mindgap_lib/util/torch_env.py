"""Where torch runs: the device (checked once) and the number of CPU threads (scoped, never global).

Small models (ICNNs, discriminators) run fastest on one thread, and far faster on a busy shared
machine; the tagger wants every core. A stage sets its threads for its own duration only, so a
notebook or a test that runs several stages in one process sees no leftovers.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import torch

from ..errors import MindgapError

__all__ = ["DeviceError", "resolve_device", "torch_threads", "available_cores", "native_bf16"]

# CPU flags of native bfloat16 matrix products: x86 AVX512-BF16 / AMX, Arm's BF16 extension
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


class DeviceError(MindgapError, ValueError):
    """A device that is not a torch device, or CUDA asked for where there is none."""


def available_cores() -> int:
    """Cores this process may run on (its affinity mask), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def native_bf16(device: str | torch.device = "cpu", cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool | None:
    """Whether `device` multiplies bfloat16 matrices in hardware; None where that cannot be told.

    Elsewhere torch emulates them: on an AVX2-only CPU a (1024, 128) x (128, 128) product under
    bf16 autocast was 43x slower than in float32 (2026-12-07), so bf16 only pays where this is True.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type != "cpu":
        return None
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    flags = {f for line in text.splitlines() if line.split(":")[0].strip() in ("flags", "Features")
             for f in line.split(":", 1)[-1].split()}
    return bool(flags & _BF16_FLAGS) if flags else None


def resolve_device(device: str | torch.device) -> torch.device:
    """A usable torch device; an unknown name or CUDA without a GPU is a clear error."""
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise DeviceError(f"device {str(device)!r} is not a torch device ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {str(device)!r} requested but CUDA is not available here (use device='cpu')")
    return dev


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Use `n` intra-op CPU threads inside the block (0/None: every available core, unless
    ``OMP_NUM_THREADS`` is set), then restore the previous setting."""
    old = torch.get_num_threads()
    if n:
        want = n
    elif "OMP_NUM_THREADS" in os.environ:
        want = old
    else:
        want = available_cores()
    if want != old:
        torch.set_num_threads(want)
    try:
        yield want
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)
