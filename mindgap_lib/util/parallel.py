"""Independent calls side by side in Dask processes (transport fits, discriminators, scan points).

Generation shards have their own Dask loop, with a live progress bar (:mod:`mindgap_lib.generation.dataset`).

Each call is a pure function of its arguments (the stage contract), so running them in separate
processes gives the same results as running them in turn; only the wall time changes.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["side_by_side"]


def side_by_side(fn: Callable[..., Any], calls: Sequence[tuple[tuple, dict]], workers: int = 1) -> list[Any]:
    """``[fn(*args, **kwargs) for args, kwargs in calls]``, in up to `workers` processes when there are several.

    `fn` and its arguments must pickle (a module-level function, arrays, dataclasses); with
    ``workers <= 1`` or a single call everything runs here, in order.
    """
    if workers <= 1 or len(calls) <= 1:
        return [fn(*args, **kwargs) for args, kwargs in calls]
    import dask

    tasks = [dask.delayed(fn, pure=True)(*args, **kwargs) for args, kwargs in calls]
    return list(dask.compute(*tasks, scheduler="processes", num_workers=min(workers, len(calls)), chunksize=1))
