"""One error type per layer, all under :class:`MindgapError`.

Every message names the file, field or parameter at fault, so the command line can print it as
one line (``mindgap <command>: error: <message>``) without a traceback. Each type is also a
``ValueError``: bad input is a bad value, and callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations

__all__ = ["MindgapError", "ProfileError", "BuildError"]


class MindgapError(Exception):
    """Base of every error this package raises on purpose (bad input, a missing artifact, a lock)."""


class ProfileError(MindgapError, ValueError):
    """A profile or override that cannot be used: unknown or missing key, wrong type, value out of range."""


class BuildError(MindgapError, ValueError):
    """A stage that cannot be planned or run: unknown stage or parameter, an input that is missing."""
