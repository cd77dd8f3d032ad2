"""Where torch runs: the device (checked once) and the number of CPU threads (scoped, never global).

Small models (ICNNs, discriminators) run fastest on one thread, and far faster on a busy shared
machine; the tagger wants every core. A stage sets its threads for its own duration only, so a
notebook or a test that runs several stages in one process sees no leftovers.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

from ..errors import MindgapError

__all__ = ["DeviceError", "resolve_device", "torch_threads", "available_cores"]


class DeviceError(MindgapError, ValueError):
    """A device that is not a torch device, or CUDA asked for where there is none."""


def available_cores() -> int:
    """Cores this process may run on (its affinity mask), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
