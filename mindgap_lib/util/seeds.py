"""Seeds derived by hashing names, never by ad-hoc offsets: independent streams that do not collide.

``derive_seed(0, "discriminator", "source_vs_target", "z128", 2)`` is a 62-bit integer that depends
on every part, so two jobs with different names never share a stream however their base seeds
are chosen (``seed + 1`` offsets collide as soon as two bases differ by one).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["derive_seed"]


def derive_seed(base: int, *names: Any) -> int:
    """A deterministic 62-bit seed from `base` and the names of what it seeds."""
    blob = json.dumps([int(base), *[str(n) for n in names]]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 2
